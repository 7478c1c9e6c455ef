#!/usr/bin/env bash
# bench/services.sh [RATE] [SECONDS] [ROUNDS]
#
# What each service costs the router per call: the unisi example under
# the shared harness's cps.sh at RATE calls/s, taking turns with the
# services off (bare: the pipeline compare.sh measures against Kamailio),
# then one at a time: the call services (features: forwards, lists, do
# not disturb, secretaries), busy lamps (presence, following every call),
# accounting (CDRs to SQLite), the guard (flood, auth and fraud checks),
# HEP capture to bench/hepsink; then all four services of the issues
# (all; all+hep adds the capture). A variant NAME+NAME turns those on
# together. Each run is a fresh process on a fresh database, warmed up
# unmeasured at 200/s for 5 s, then 5 s of rest, as ab.sh does. Each line
# is a variant and cps.sh's RESULT fields (cpu_s_per_1k: the router's
# CPU-seconds per 1000 calls).
# Env: BENCH_DIR (../../shared/bench), BENCH_OUT (/tmp/palio-bench),
# VARIANTS (default "bare features presence accounting guard hep all").
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RATE=${1:-3000} SECS=${2:-15} ROUNDS=${3:-1}
source "$here/common.sh"
bench_init services unisi hepsink
hep_on='[hep]
collector = "127.0.0.1:9060"
capture_id = 1'

# config VARIANT: the configuration with the variant's services on and
# the others off.
config() {
  local on=+$1+ svc
  [[ $1 == all* ]] && on+=features+presence+accounting+guard+
  printf '%s\n' "$bench_common"
  for svc in features presence accounting guard; do
    [[ $on == *+$svc+* ]] && continue
    local v=bench_${svc}_off
    printf '%s\n' "${!v}"
  done
  [[ $on == *+hep+* ]] && printf '%s\n' "$hep_on"
  return 0
}
for v in ${VARIANTS:-bare features presence accounting guard hep all}; do
  for part in ${v//+/ }; do
    case $part in bare|features|presence|accounting|guard|hep|all) ;; *) echo "services.sh: unknown variant part '$part'" >&2; exit 2 ;; esac
  done
  config "$v" > "$BENCH_OUT/$v.toml"
done

run() { # variant
  local db=$BENCH_OUT/$1.db spid=
  rm -f "$db"* "$BENCH_OUT/cdr.spool"
  "$here/prepare.sh" "$bin" "$db" "$B/users.csv" >/dev/null 2>&1 || { echo "$1 prepare failed"; return; }
  if [[ $1 == *hep* ]]; then
    "$sink" -listen 127.0.0.1:9060 >"$BENCH_OUT/sink-$1.out" 2>&1 &
    spid=$!
  fi
  "$bin" -db "$db" -config "$BENCH_OUT/$1.toml" -sip 127.0.0.1:5060 -http 127.0.0.1:0 serve >"$BENCH_OUT/$1.log" 2>&1 &
  local pid=$!
  sleep 1.5
  TARGET_PID=$pid "$B/cps.sh" 127.0.0.1:5060 200 5 >/dev/null 2>&1
  sleep 5
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
  for v in ${VARIANTS:-bare features presence accounting guard hep all}; do run "$v"; done
done
echo "raw runs: $BENCH_OUT"
