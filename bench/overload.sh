#!/usr/bin/env bash
# bench/overload.sh [RATE] [SECONDS] [LOW_RATE]
#
# The router offered more calls than it can carry, with accounting (CDRs
# to SQLite) and HEP capture (to bench/hepsink) on, guard off: the shared
# harness's cps.sh at RATE calls/s for SECONDS, then, on the same process,
# at LOW_RATE for 10 s to show that it recovers. The UAC scenario is the
# harness's uac.xml plus a branch for 503 (bench/overload/uac.xml): a
# refused call is ACKed and counted failed at once, as a real caller
# honouring Retry-After would give up, instead of retransmitting its
# INVITE for 10 s. So cps.sh's "successful" is the goodput.
# Prints cps.sh's line per phase and the router's refused count, the
# requests it admitted above max_pending as a burst, and its RSS.
# Env: BENCH_DIR (../../shared/bench), BENCH_OUT (/tmp/palio-bench),
#      MAX_PENDING ([sip] max_pending; 0 = default, -1 = no bound),
#      MAX_PENDING_DELAY ([sip] max_pending_delay; default 50ms, -1s: max_pending
#      is a hard bound, as before 2026-12-07),
#      MAX_QUEUE_DELAY ([sip] max_queue_delay; default 500ms, -1s = off),
#      DB (a database prepare.sh made, copied; else one is prepared).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RATE=${1:-3000} SECS=${2:-15} LOW=${3:-300}
source "$here/common.sh"
bench_init overload unisi hepsink
mkdir -p "$BENCH_OUT/harness"
# The harness with our UAC scenario (lib.sh finds its files beside itself).
cp "$B/lib.sh" "$B/cps.sh" "$B/uas.xml" "$BENCH_OUT/harness/"
cp "$here/overload/uac.xml" "$BENCH_OUT/harness/uac.xml"
db=$BENCH_OUT/unisi.db
if [[ -n ${DB:-} ]]; then
  cp "$DB" "$db"
else
  "$here/prepare.sh" "$bin" "$db" "$B/users.csv" >/dev/null 2>&1 || { echo "overload.sh: prepare failed" >&2; exit 1; }
fi
cat > "$BENCH_OUT/overload.toml" <<TOML
[log]
level = "warn"
[sip]
udp_buffer = 4194304
max_pending = ${MAX_PENDING:-0}
max_pending_delay = "${MAX_PENDING_DELAY:-50ms}"
max_queue_delay = "${MAX_QUEUE_DELAY:-500ms}"
[routing]
probe_interval = "0s"
[media]
policy = "never"
[mediabox]
enabled = false
[provisioning]
enabled = false
[guard.flood]
enabled = false
[guard.auth]
enabled = false
[guard.fraud]
enabled = false
[hep]
collector = "127.0.0.1:9060"
capture_id = 1
[http]
pprof = ${PPROF:-false}
TOML
for _ in $(seq 1 100); do ss -H -lun "sport = :5060" | grep -q . || break; sleep 0.1; done
if ss -H -lun "sport = :5060" | grep -q .; then echo "overload.sh: UDP 5060 is busy" >&2; exit 1; fi
"$sink" -listen 127.0.0.1:9060 >"$BENCH_OUT/sink.out" 2>&1 &
spid=$!
http=127.0.0.1:$((20000 + RANDOM % 20000))
"$bin" -db "$db" -config "$BENCH_OUT/overload.toml" -sip 127.0.0.1:5060 -http "$http" serve >"$BENCH_OUT/unisi.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid $spid 2>/dev/null; wait $pid $spid 2>/dev/null' EXIT
for _ in $(seq 1 100); do ss -H -lun "sport = :5060" | grep -q . && break; sleep 0.1; done
sleep 1
rss() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status"; }
echo "rss_mb_start=$(rss)"
if [[ ${PPROF:-false} == true ]]; then
  ( sleep $((SECS / 2)); curl -s "http://$http/debug/pprof/goroutine?debug=1" > "$BENCH_OUT/goroutines.txt"
    curl -s "http://$http/debug/pprof/heap" > "$BENCH_OUT/heap.pprof"; curl -s "http://$http/debug/pprof/profile?seconds=5" > "$BENCH_OUT/cpu.pprof" ) &
fi
echo "high $(TARGET_PID=$pid "$BENCH_OUT/harness/cps.sh" 127.0.0.1:5060 "$RATE" "$SECS" 2>/dev/null | tail -1)"
echo "after_high rss_mb=$(rss) $(bench_overload "$http")"
sleep 2
echo "low $(TARGET_PID=$pid "$BENCH_OUT/harness/cps.sh" 127.0.0.1:5060 "$LOW" 10 2>/dev/null | tail -1)"
echo "after_low rss_mb=$(rss) $(bench_overload "$http")"
grep -c "overloaded" "$BENCH_OUT/unisi.log" | sed 's/^/overload_log_lines=/'
echo "raw runs: $BENCH_OUT"
