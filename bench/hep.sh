#!/usr/bin/env bash
# bench/hep.sh [RATE] [SECONDS] [ROUNDS]
#
# What HEP capture ([hep], sip.HEPClient) costs the router: the unisi
# example under the shared harness's cps.sh, taking turns with [hep] off
# and on (UDP to bench/hepsink on 127.0.0.1:9060, which counts what
# arrives). Each line is a target and cps.sh's RESULT fields (cpu_s_per_1k:
# the router's CPU-seconds per 1000 calls); "on" lines add the sink's
# counts (hep_packets should be about 12 per successful call: INVITE, 180,
# 200, ACK, BYE, 200, each in and out, plus 100 Trying and
# retransmissions).
# Env: BENCH_DIR (../../shared/bench), BENCH_OUT (/tmp/palio-bench).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RATE=${1:-3000} SECS=${2:-15} ROUNDS=${3:-2}
source "$here/common.sh"
bench_init hep unisi hepsink
printf '%s\n' "$bench_common" > "$BENCH_OUT/off.toml"
printf '%s\n[hep]\ncollector = "127.0.0.1:9060"\ncapture_id = 1\n' "$bench_common" > "$BENCH_OUT/on.toml"

run() { # label
  local db=$BENCH_OUT/$1.db spid=
  rm -f "$db"*
  "$here/prepare.sh" "$bin" "$db" "$B/users.csv" >/dev/null 2>&1 || { echo "$1 prepare failed"; return; }
  if [[ $1 == on ]]; then
    "$sink" -listen 127.0.0.1:9060 >"$BENCH_OUT/sink.out" 2>&1 &
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
    line="$line $(cat "$BENCH_OUT/sink.out")"
  fi
  echo "$1 $line"
  sleep 1
}
for _ in $(seq 1 "$ROUNDS"); do
  run off
  run on
done
echo "raw runs: $BENCH_OUT"
