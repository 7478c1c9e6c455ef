#!/usr/bin/env bash
# bench/rtp.sh CALLS SECONDS [rtpbench.py options...]
#
# Relayed G.711 RTP through Palio's relay run as a daemon
# (cmd/palio-mediabridge, built from this checkout unless PALIO_BIN is
# given), driven over rtpengine's ng protocol by the shared harness
# (rtpbench.py with adapters/rtpengine_ng.py --attach), on loopback only.
# The harness measures the daemon's process (CPU, RSS, sockets) by its PID.
# The same harness's run-rtpengine.sh runs rtpengine at the same load.
# Prints the harness's RESULT line; raw JSON under $BENCH_OUT.
# Env: RTPBENCH_DIR (the harness; default ../shared/bench/rtp beside the
#      main checkout), PALIO_BIN, PALIO_NG (127.0.0.1:2224), PALIO_PORTS
#      (20000-29999), PALIO_WORKERS (GOMAXPROCS), PALIO_METRICS (none),
#      PROCS (2, generator processes), LABEL, BENCH_OUT (/tmp/palio-bench).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
calls=${1:?usage: $0 CALLS SECONDS [rtpbench options]}
secs=${2:?usage: $0 CALLS SECONDS [rtpbench options]}
shift 2
bench=${RTPBENCH_DIR:-$root/../shared/bench/rtp}
if [[ ! -f $bench/rtpbench.py ]]; then # a worktree: beside the main checkout
  common=$(cd "$root" && git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
  [[ -n $common && -f $common/../../shared/bench/rtp/rtpbench.py ]] && bench=$(cd "$common/../../shared/bench/rtp" && pwd)
fi
[[ -f $bench/rtpbench.py ]] || { echo "rtpbench.py not found in $bench: set RTPBENCH_DIR" >&2; exit 2; }
out=${BENCH_OUT:-/tmp/palio-bench}
mkdir -p "$out"
ng=${PALIO_NG:-127.0.0.1:2224}
case ${ng%:*} in 127.*) ;; *) echo "PALIO_NG must be a loopback address" >&2; exit 2 ;; esac
bin=${PALIO_BIN:-}
if [[ -z $bin ]]; then
  bin=$out/palio-mediabridge
  (cd "$root" && go build -o "$bin" ./cmd/palio-mediabridge)
fi
limit=$(( ${secs%.*} + calls / 200 + 90 )) # media + setup + start/stop margin, as run-rtpengine.sh
args=(-ng "$ng" -bind 127.0.0.1 -ports "${PALIO_PORTS:-20000-29999}" -log-level warn)
[[ -n ${PALIO_WORKERS:-} ]] && args+=(-workers "$PALIO_WORKERS")
[[ -n ${PALIO_METRICS:-} ]] && args+=(-metrics "$PALIO_METRICS")
log=$out/palio-mediabridge-$(date +%Y%m%d-%H%M%S).log
timeout -k 5 "$limit" "$bin" "${args[@]}" 2>"$log" &
wrapper=$!
pid=
for _ in $(seq 1 100); do # the daemon under timeout(1)
  pid=$(cat "/proc/$wrapper/task/$wrapper/children" 2>/dev/null | awk '{print $1}')
  [[ -n $pid ]] && ss -lun | grep -q "${ng} " && break
  kill -0 $wrapper 2>/dev/null || { echo "palio-mediabridge exited at start; see $log" >&2; exit 1; }
  sleep 0.05
done
[[ -n $pid ]] || { echo "palio-mediabridge did not start; see $log" >&2; kill $wrapper; exit 1; }
trap 'kill -TERM $pid 2>/dev/null || true; wait $wrapper 2>/dev/null || true' EXIT
rc=0
timeout -k 10 "$limit" python3 "$bench/rtpbench.py" --calls "$calls" --seconds "$secs" --procs "${PROCS:-2}" \
  --label "${LABEL:-palio-${calls}x${secs}}" \
  --adapter "python3 $bench/adapters/rtpengine_ng.py --attach --ng $ng --pid $pid" "$@" || rc=$?
kill -TERM "$pid"
if wait $wrapper; then :; else
  echo "palio-mediabridge exited with status $? after SIGTERM; see $log" >&2
  rc=1
fi
trap - EXIT
exit $rc
