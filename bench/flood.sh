#!/usr/bin/env bash
# bench/flood.sh [UNISI_BINARY]
#
# The INVITE flood of issue 12, measured: the example server (built from
# this checkout unless a binary is given) on a fresh bench database
# (prepare.sh), legitimate calls through it (../shared/bench/cps.sh, from
# 127.0.0.1, a trusted source) while a flood of unauthenticated INVITEs that
# never ACK comes from 127.0.0.2 and up (bench/flood). Prints the failed
# legitimate calls, the responses and bytes the flood drew per INVITE, and
# the server's peak and final RSS.
# Env: FLOOD_RATE (5000), FLOOD_SECONDS (10), FLOOD_SOURCES (8), CALL_RATE (300),
#      CALL_SECONDS (25), DRAIN (35s), BENCH_OUT.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bench=${BENCH_DIR:-$root/../shared/bench}
out=${BENCH_OUT:-/tmp/palio-bench}/flood-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
bin=${1:-}
if [[ -z $bin ]]; then
  bin=$out/unisi
  (cd "$root" && go build -o "$bin" ./examples/unisi)
fi
flood=$out/flood
(cd "$root" && go build -o "$flood" ./bench/flood)
db=$out/unisi.db
"$here/prepare.sh" "$bin" "$db" >/dev/null
cat > "$out/unisi.toml" <<TOML
[log]
level = "error"
[routing]
probe_interval = "0s"
# The SIP flood alone: the trusted 127.0.0.1's calls are not anchored.
[media]
policy = "never"
[mediabox]
enabled = false
[accounting]
enabled = false
TOML
"$bin" -db "$db" -config "$out/unisi.toml" -http 127.0.0.1:0 serve 2>"$out/server.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  ss -lun | grep -q '127.0.0.1:5060 ' && break
  sleep 0.1
done
peak=0
( while kill -0 $pid 2>/dev/null; do
    rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status 2>/dev/null || echo 0)
    echo "$rss"
    sleep 0.5
  done ) > "$out/rss.txt" &
sampler=$!
TARGET_PID=$pid "$bench/cps.sh" 127.0.0.1:5060 "${CALL_RATE:-300}" "${CALL_SECONDS:-25}" > "$out/cps.txt" 2>&1 &
cps=$!
sleep 3
"$flood" -target 127.0.0.1:5060 -rate "${FLOOD_RATE:-5000}" -seconds "${FLOOD_SECONDS:-10}" \
  -sources "${FLOOD_SOURCES:-8}" -drain "${DRAIN:-35s}" > "$out/flood.txt"
wait $cps || true
final=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
kill $sampler 2>/dev/null || true
peak=$(sort -n "$out/rss.txt" | tail -1)
echo "calls: $(tail -1 "$out/cps.txt")"
echo "flood: $(cat "$out/flood.txt")"
echo "rss_peak_mb=$((peak / 1024)) rss_final_mb=$((final / 1024)) (raw: $out)"
