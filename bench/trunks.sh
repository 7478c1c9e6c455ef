#!/usr/bin/env bash
# bench/trunks.sh [RATE] [SECONDS] [ROUNDS]
#
# What the cluster-wide trunk channel counts cost the router per call
# (issue 22): the unisi example under the shared harness's cps.sh at RATE
# calls/s, every call routed to a gateway with a channel limit (the seed's
# Siena PRIs pointed at the harness's UAS, limits raised so that none is
# reached), taking turns with the counts kept by the node alone ("local")
# and kept in Redis for the cluster ("redis", [cluster] redis). Each line
# is a variant and cps.sh's RESULT fields (cpu_s_per_1k: the router's
# CPU-seconds per 1000 calls; redis_cpu_s: the Redis server's CPU-seconds
# during the run, when its PID is found).
# Env: BENCH_DIR (../../shared/bench), BENCH_OUT (/tmp/palio-bench),
# REDIS_URL (redis://127.0.0.1:6379/9; the run deletes its own keys at
# the end and nothing else),
# NUMBER (0247123456, a national number the seed routes to gw-siena-1).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RATE=${1:-3000} SECS=${2:-15} ROUNDS=${3:-1}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/9}
NUMBER=${NUMBER:-0247123456}
source "$here/common.sh"
bench_init trunks unisi
common=$(printf '%s\n%s\n%s' "$bench_common" "$bench_accounting_off" "$bench_guard_off")
printf '%s\n' "$common" > "$BENCH_OUT/local.toml"
printf '%s\n[cluster]\nnode = "bench"\nname = "bench%s"\nredis = "%s"\n' "$common" "$$" "$REDIS_URL" > "$BENCH_OUT/redis.toml"

redis_pid=$(pgrep -x redis-server | head -1)
cpu_of() { # pid -> CPU-seconds (user+system) so far
  [[ -n $1 && -r /proc/$1/stat ]] || { echo 0; return; }
  awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)/hz}' "/proc/$1/stat"
}
run() { # variant
  local db=$BENCH_OUT/$1.db g
  rm -f "$db"*
  "$here/prepare.sh" "$bin" "$db" "$B/users.csv" >/dev/null 2>&1 || { echo "$1 prepare failed"; return; }
  for g in 1 2 3 4; do "$bin" -db "$db" gateway set-address "gw-siena-$g" 127.0.0.1:5090 >/dev/null; done
  sqlite3 "$db" "UPDATE palio_dr_limits SET channels = 100000" || { echo "$1: sqlite3 missing"; return; }
  "$bin" -db "$db" -config "$BENCH_OUT/$1.toml" -sip 127.0.0.1:5060 -http 127.0.0.1:0 serve >"$BENCH_OUT/$1.log" 2>&1 &
  local pid=$!
  sleep 1.5
  local line r0 r1
  r0=$(cpu_of "$redis_pid")
  line=$(TARGET_PID=$pid "$B/cps.sh" 127.0.0.1:5060 "$RATE" "$SECS" "$NUMBER" 2>/dev/null | tail -1)
  r1=$(cpu_of "$redis_pid")
  kill -TERM $pid; wait $pid 2>/dev/null
  echo "$1 $line redis_cpu_s=$(awk -v a="$r0" -v b="$r1" 'BEGIN{printf "%.2f", b-a}')"
  sleep 1
}
for _ in $(seq 1 "$ROUNDS"); do
  for v in ${VARIANTS:-local redis}; do run $v; done
done
# The counts this run left in Redis (the cluster name is this run's).
redis-cli -u "$REDIS_URL" --scan --pattern "palio:{bench$$}:*" | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null
echo "raw runs: $BENCH_OUT"
