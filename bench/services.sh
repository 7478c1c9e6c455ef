#!/usr/bin/env bash
# bench/services.sh [RATE] [SECONDS] [ROUNDS]
#
# What each service of issue 19 costs the router per call: the unisi
# example under the shared harness's cps.sh at RATE calls/s, taking turns
# with the services off (the bare pipeline compare.sh measures), then one
# at a time (accounting writing CDRs to SQLite, guard's flood, auth and
# fraud checks, HEP capture to bench/hepsink), then all on. Each line is
# a variant and cps.sh's RESULT fields (cpu_s_per_1k: the router's
# CPU-seconds per 1000 calls).
# Env: BENCH_DIR (../../shared/bench), BENCH_OUT (/tmp/palio-bench),
# VARIANTS (default "bare accounting guard hep all").
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RATE=${1:-3000} SECS=${2:-15} ROUNDS=${3:-1}
source "$here/common.sh"
bench_init services unisi hepsink
common=$bench_common acct_off=$bench_accounting_off guard_off=$bench_guard_off
hep_on='[hep]
collector = "127.0.0.1:9060"
capture_id = 1'
printf '%s\n%s\n%s\n' "$common" "$acct_off" "$guard_off" > "$BENCH_OUT/bare.toml"
printf '%s\n%s\n' "$common" "$guard_off" > "$BENCH_OUT/accounting.toml"
printf '%s\n%s\n' "$common" "$acct_off" > "$BENCH_OUT/guard.toml"
printf '%s\n%s\n%s\n%s\n' "$common" "$acct_off" "$guard_off" "$hep_on" > "$BENCH_OUT/hep.toml"
printf '%s\n%s\n' "$common" "$hep_on" > "$BENCH_OUT/all.toml"
# Pairs, to tell which services interact.
printf '%s\n' "$common" > "$BENCH_OUT/accounting+guard.toml"
printf '%s\n%s\n%s\n' "$common" "$acct_off" "$hep_on" > "$BENCH_OUT/guard+hep.toml"
printf '%s\n%s\n%s\n' "$common" "$guard_off" "$hep_on" > "$BENCH_OUT/accounting+hep.toml"

run() { # variant
  local db=$BENCH_OUT/$1.db spid=
  rm -f "$db"* "$BENCH_OUT/cdr.spool"
  "$here/prepare.sh" "$bin" "$db" "$B/users.csv" >/dev/null 2>&1 || { echo "$1 prepare failed"; return; }
  if [[ $1 == *hep* || $1 == all ]]; then
    "$sink" -listen 127.0.0.1:9060 >"$BENCH_OUT/sink-$1.out" 2>&1 &
    spid=$!
  fi
  "$bin" -db "$db" -config "$BENCH_OUT/$1.toml" -sip 127.0.0.1:5060 -http 127.0.0.1:0 serve >"$BENCH_OUT/$1.log" 2>&1 &
  local pid=$!
  sleep 1.5
  local line
  line=$(TARGET_PID=$pid "$B/cps.sh" 127.0.0.1:5060 "$RATE" "$SECS" 2>/dev/null | tail -1)
  kill -TERM $pid; wait $pid 2>/dev/null
  if [[ -n $spid ]]; then
    kill -TERM "$spid"; wait "$spid" 2>/dev/null
  fi
  echo "$1 $line"
  sleep 1
}
for _ in $(seq 1 "$ROUNDS"); do
  for v in ${VARIANTS:-bare accounting guard hep all}; do run $v; done
done
echo "raw runs: $BENCH_OUT"
