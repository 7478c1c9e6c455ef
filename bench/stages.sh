#!/usr/bin/env bash
# bench/stages.sh BEFORE_BINARY [RATE] [SECONDS] [ROUNDS]
#
# What the pipeline's stages cost, side by side in one run: the unisi
# example built from an earlier commit (BEFORE_BINARY), this checkout's with
# [media] policy "never" (the SIP routing alone), the same anchoring every
# call (the harness's 127.0.0.1 is a trusted gateway address: the default
# policy anchors its calls) and Kamailio's reference, taking turns on
# 127.0.0.1:5060 under the shared harness's cps.sh. Each line is a target
# and cps.sh's RESULT fields (cpu_s_per_1k: CPU-seconds per 1000 calls).
# Mind the relay's port range: four ports per anchored call, 2 500 calls
# at once with the default 20000-29999.
# Env: BENCH_DIR (../../shared/bench), BENCH_OUT (/tmp/palio-bench).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
before=${1:?usage: stages.sh BEFORE_BINARY [RATE] [SECONDS] [ROUNDS]}
RATE=${2:-1000} SECS=${3:-10} ROUNDS=${4:-3}
B=${BENCH_DIR:-$(cd "$here/../../shared/bench" 2>/dev/null && pwd)}
[[ -x $B/cps.sh ]] || { echo "stages.sh: no SIPp harness in '$B' (set BENCH_DIR)" >&2; exit 2; }
export BENCH_OUT=${BENCH_OUT:-/tmp/palio-bench}/stages-$(date +%Y%m%d-%H%M%S)
mkdir -p "$BENCH_OUT"
after=$BENCH_OUT/unisi
( cd "$here/.." && go build -o "$after" ./examples/unisi ) || exit 1
common='[log]
level = "warn"
[sip]
udp_buffer = 4194304
[routing]
probe_interval = "0s"'
printf '%s\n[media]\npolicy = "never"\n' "$common" > "$BENCH_OUT/never.toml"
printf '%s\n[media]\npolicy = "nat+gateways"\n' "$common" > "$BENCH_OUT/anchor.toml"
printf '%s\n' "$common" > "$BENCH_OUT/before.toml"

run_palio() { # label binary config
  local db=$BENCH_OUT/$1.db
  rm -f "$db"*
  "$here/prepare.sh" "$2" "$db" "$B/users.csv" >/dev/null 2>&1 || { echo "$1 prepare failed"; return; }
  "$2" -db "$db" -config "$3" -sip 127.0.0.1:5060 -http 127.0.0.1:0 serve >"$BENCH_OUT/$1.log" 2>&1 &
  local pid=$!
  sleep 1.5
  echo "$1 $(TARGET_PID=$pid "$B/cps.sh" 127.0.0.1:5060 "$RATE" "$SECS" 2>/dev/null | tail -1)"
  kill -TERM $pid; wait $pid 2>/dev/null
  sleep 1
}
for _ in $(seq 1 "$ROUNDS"); do
  run_palio before "$before" "$BENCH_OUT/before.toml"
  run_palio never "$after" "$BENCH_OUT/never.toml"
  run_palio anchor "$after" "$BENCH_OUT/anchor.toml"
  if command -v kamailio >/dev/null; then
    "$B/kamailio/run.sh" >"$BENCH_OUT/kamailio.log" 2>&1 & kp=$!
    sleep 2
    echo "kamailio $(TARGET_PID=$kp "$B/cps.sh" 127.0.0.1:5060 "$RATE" "$SECS" 2>/dev/null | tail -1)"
    kill -TERM $kp; wait $kp 2>/dev/null; sleep 1
  fi
done
