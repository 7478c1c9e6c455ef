#!/usr/bin/env bash
# bench/ab.sh KIND RATE SECONDS ROUNDS BIN_A BIN_B [EXTRA_TOML]
#
# A/B of two builds of the example (go build -o DIR/unisi ./examples/unisi
# at two commits), alternated ROUNDS times: on this kind of VM the same
# binary varies by 15-30 % from run to run, so only alternated runs
# compare. Each run is a fresh process on a fresh database (prepare.sh),
# the bare pipeline (the configuration of compare.sh: the call services,
# busy lamps, accounting and the guard off, [store] poll 0s), an
# unmeasured warm-up at 200/s for 5 s, 5 s of rest, then the harness's
# KIND.sh (cps or reg) at RATE for SECONDS. EXTRA_TOML is appended to the
# configuration (printf %b, so '[registrar]\nwrite_back = "60s"' works).
# Env: SERVICES=1 (the services on, as compare.sh's services-on server),
# PALIO_ENV (extra environment for the example), PERF_SECONDS (perf
# record -g the process that long, 3 s into the run; perf.data in the
# run's folder), AB_HTTP_PORT (the example's HTTP port, 18765),
# BENCH_DIR, BENCH_OUT.
# Prints one line per run: the label (A or B), the harness's final line,
# for cps the 180s the caller received (ringing=), the requests refused
# by overload protection and admitted as a burst (refused=, bursts=:
# /metrics), and the process's
# write system calls (syscw), minor page faults and context switches over
# the run.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"
[[ $# -ge 6 ]] || { echo "usage: $0 cps|reg RATE SECONDS ROUNDS BIN_A BIN_B [EXTRA_TOML]" >&2; exit 2; }
kind=$1 rate=$2 secs=$3 rounds=$4 bin_a=$5 bin_b=$6 extra=${7:-}
[[ $kind == cps || $kind == reg ]] || { echo "ab.sh: KIND is cps or reg" >&2; exit 2; }
for n in "$rate" "$secs" "$rounds"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "ab.sh: RATE, SECONDS and ROUNDS are positive integers, not '$n'" >&2; exit 2; }
done
for b in "$bin_a" "$bin_b"; do
  [[ -x $b ]] || { echo "ab.sh: no executable at '$b' (go build -o DIR/unisi ./examples/unisi)" >&2; exit 2; }
done
bench_init ab
out=$BENCH_OUT
ab_http=127.0.0.1:${AB_HTTP_PORT:-18765} # /metrics, read after each run

counters() { # PID -> "syscw minflt ctxsw"
  echo "$(awk '/syscw/{print $2}' "/proc/$1/io") $(awk '{print $10}' "/proc/$1/stat") \
$(cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/{s+=$2} END{print s}')"
}

one() { # LABEL BIN N
  local w=$out/$1-$3 pid pp=
  mkdir -p "$w" && cp "$2" "$w/unisi" || exit 1
  "$here/prepare.sh" "$w/unisi" "$w/unisi.db" "$B/users.csv" >/dev/null 2>&1 || { echo "ab.sh: prepare failed" >&2; exit 1; }
  local off=$bench_services_off
  [[ ${SERVICES:-0} == 1 ]] && off=
  { printf '%s\n%s\n[store]\npoll = "0s"\n' "$bench_common" "$off"
    [[ -n $extra ]] && printf '%b\n' "$extra"; } > "$w/bench.toml"
  if ss -H -lun "sport = :5060" | grep -q .; then echo "ab.sh: UDP 5060 busy" >&2; exit 1; fi
  (cd "$w" && exec env ${PALIO_ENV:-} ./unisi -db unisi.db -http "$ab_http" -config bench.toml) > "$w/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do ss -H -lun "sport = :5060" | grep -q . && break; sleep 0.1; done
  sleep 1
  BENCH_OUT=$w TARGET_PID=$pid "$B/$kind.sh" 127.0.0.1:5060 200 5 >/dev/null 2>&1
  sleep 5
  read -r w0 f0 c0 <<<"$(counters "$pid")"
  if [[ ${PERF_SECONDS:-0} -gt 0 ]]; then
    ( sleep 3; perf record -F 999 -g -p "$pid" -o "$w/perf.data" -- sleep "$PERF_SECONDS" >/dev/null 2>&1 ) &
    pp=$!
  fi
  line=$(BENCH_OUT=$w TARGET_PID=$pid "$B/$kind.sh" 127.0.0.1:5060 "$rate" "$secs" | tail -1)
  [[ $kind == cps ]] && line+=" ringing=$(BENCH_OUT=$w bench_ringing "$rate" "$secs")"
  line+=" $(bench_overload "$ab_http")"
  read -r w1 f1 c1 <<<"$(counters "$pid")"
  [[ -n $pp ]] && wait "$pp"
  echo "$1 $line syscw=$((w1 - w0)) minflt=$((f1 - f0)) ctxsw=$((c1 - c0))" | tee -a "$out/ab.log"
  kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  sleep 2
}

for n in $(seq 1 "$rounds"); do
  one A "$bin_a" "$n"
  one B "$bin_b" "$n"
done
echo "raw runs: $out"
