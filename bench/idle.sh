#!/usr/bin/env bash
# bench/idle.sh [SECONDS]
#
# What the UniSI example costs with nothing to do (issue 24's idle
# target: < 0.5 % of one core and < 60 MB RSS with 1000 phones
# registered and no traffic). It builds the example, prepares a fresh
# SQLite database with the harness's 1000 accounts (prepare.sh), starts it
# with its shipped defaults (media box, accounting, guard, presence,
# provisioning on as unisi.toml ships them; the seed's placeholder
# gateways are never probed), registers the 1000 phones with the
# harness's reg.sh, lets it settle, then reads the process's own CPU time
# (utime+stime), RSS, threads and context switches (its wake-ups) over
# SECONDS (default 60), and Kamailio's with its reference configuration
# the same way when kamailio is installed.
# Prints one line per target:
#   idle target=palio seconds=60 cpu_pct=0.21 rss_mb=38.2 threads=9 wakeups_per_s=41
# Palio listens on IDLE_PORT (default 5460, not the harness's 5060: a load
# run elsewhere on the machine must not reach the idle process); Kamailio's
# reference configuration takes 5060, which must be free.
# Env: BENCH_DIR (the SIPp harness), BENCH_OUT (/tmp/palio-bench), IDLE_PORT.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BENCH_DIR=${BENCH_DIR:-$(cd "$here/../../shared/bench" 2>/dev/null && pwd)}
[[ -x $BENCH_DIR/reg.sh ]] || { echo "idle.sh: no SIPp harness in '$BENCH_DIR' (set BENCH_DIR)" >&2; exit 2; }
SECS=${1:-60}
export BENCH_OUT=${BENCH_OUT:-/tmp/palio-bench}/idle-$(date +%Y%m%d-%H%M%S)
mkdir -p "$BENCH_OUT"
work=$BENCH_OUT/palio
mkdir -p "$work"
( cd "$here/.." && go build -o "$work/unisi" ./examples/unisi ) || exit 1
"$here/prepare.sh" "$work/unisi" "$work/unisi.db" "$BENCH_DIR/users.csv" >/dev/null || exit 1
printf '[log]\nlevel = "warn"\n' > "$work/idle.toml"

TPID=
stop_target() { [[ -n $TPID ]] && { kill -TERM "$TPID" 2>/dev/null; wait "$TPID" 2>/dev/null; }; TPID=; sleep 1; }
trap stop_target EXIT

# ticks PID: utime+stime of the process, in clock ticks.
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
# switches PID: voluntary and involuntary context switches of all threads.
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {n+=$2} END {print n+0}'; }

measure() { # measure LABEL PID
  local hz t0 t1 s0 s1 rss threads
  hz=$(getconf CLK_TCK)
  t0=$(ticks "$2"); s0=$(switches "$2")
  sleep "$SECS"
  t1=$(ticks "$2"); s1=$(switches "$2")
  rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$2/status")
  threads=$(awk '/Threads/ {print $2}' "/proc/$2/status")
  awk -v l="$1" -v s="$SECS" -v d=$((t1 - t0)) -v hz="$hz" -v rss="$rss" -v th="$threads" -v w=$((s1 - s0)) \
    'BEGIN { printf "idle target=%s seconds=%d cpu_pct=%.3f rss_mb=%s threads=%s wakeups_per_s=%.1f\n", l, s, 100*d/hz/s, rss, th, w/s }'
}

PORT=${IDLE_PORT:-5460}
busy() { ss -H -lun "sport = :$1" | grep -q .; }
wait_port() { for _ in $(seq 1 100); do busy "$1" && return 0; sleep 0.1; done; return 1; }

if busy "$PORT"; then echo "idle.sh: UDP $PORT busy" >&2; exit 1; fi
( cd "$work" && exec ./unisi -db unisi.db -sip 127.0.0.1:$PORT -http 127.0.0.1:0 -config idle.toml ) > "$BENCH_OUT/palio.log" 2>&1 &
TPID=$!
wait_port "$PORT" || { echo "idle.sh: the example did not start (see $BENCH_OUT/palio.log)" >&2; exit 1; }
sleep 1
"$BENCH_DIR/reg.sh" 127.0.0.1:$PORT 200 5 | tail -1 > "$BENCH_OUT/palio-reg.txt"
bound=$("$work/unisi" -db "$work/unisi.db" location list 2>/dev/null | grep -c '^user1')
sleep 10
line=$(measure palio "$TPID")
echo "$line registered=$bound" | tee -a "$BENCH_OUT/idle.txt"
stop_target

if busy 5060; then
  echo "idle.sh: UDP 5060 busy: Kamailio not measured" >&2
elif command -v kamailio >/dev/null 2>&1 && [[ -x $BENCH_DIR/kamailio/run.sh ]]; then
  "$BENCH_DIR/kamailio/run.sh" > "$BENCH_OUT/kamailio.log" 2>&1 &
  TPID=$!
  wait_port 5060 || { echo "idle.sh: kamailio did not start" >&2; exit 1; }
  sleep 1
  "$BENCH_DIR/reg.sh" 127.0.0.1:5060 200 5 | tail -1 > "$BENCH_OUT/kamailio-reg.txt"
  sleep 10
  # Kamailio is several processes: measure them all (the run.sh PID's
  # children included).
  kpids=$(pgrep -d' ' -x kamailio)
  hz=$(getconf CLK_TCK); t0=0; t1=0; rss=0
  for p in $kpids; do t0=$((t0 + $(ticks "$p"))); done
  sleep "$SECS"
  for p in $kpids; do t1=$((t1 + $(ticks "$p"))); rss=$((rss + $(awk '/VmRSS/ {print $2}' "/proc/$p/status"))); done
  awk -v s="$SECS" -v d=$((t1 - t0)) -v hz="$hz" -v rss="$rss" -v n="$(wc -w <<<"$kpids")" \
    'BEGIN { printf "idle target=kamailio seconds=%d cpu_pct=%.3f rss_mb=%.1f processes=%s (RSS summed, shared pages counted in each)\n", s, 100*d/hz/s, rss/1024, n }' | tee -a "$BENCH_OUT/idle.txt"
  stop_target
  pkill -x kamailio 2>/dev/null
fi
