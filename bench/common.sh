# bench/common.sh: what the bench scripts share. Source it after setting
# `here` (the bench folder):
#   bench_init NAME [unisi] [hepsink]
# sets B (the SIPp harness: BENCH_DIR, else ../shared/bench beside the
# main checkout, also from a git worktree), exports BENCH_OUT as a fresh
# folder NAME-DATE under BENCH_OUT (default /tmp/palio-bench), and builds
# there what is named: bin (the example) and sink (bench/hepsink).

# The example's configuration for SIPp runs: quiet logs, a large UDP
# buffer, nothing probed, no media anchored, the media box and provisioning
# off; and the sections that turn the services off (the call services,
# busy lamps, accounting, the guard), each and all (bench_services_off).
bench_common='[log]
level = "warn"
[sip]
udp_buffer = 4194304
[routing]
probe_interval = "0s"
[media]
policy = "never"
[mediabox]
enabled = false
[provisioning]
enabled = false'
bench_features_off='[features]
enabled = false'
bench_presence_off='[presence]
enabled = false'
bench_accounting_off='[accounting]
enabled = false'
bench_guard_off='[guard.flood]
enabled = false
[guard.auth]
enabled = false
[guard.fraud]
enabled = false'

# bench_ringing RATE SECONDS: the 180 Ringing responses the caller
# received in the newest cps.sh run of that rate and length under
# BENCH_OUT (SIPp's final screen; the harness's callee sends 180 and 200
# back to back, so a proxy that relays responses out of order loses the
# 180); "-" when there is no such run.
bench_ringing() {
  local d
  d=$(ls -dt "$BENCH_OUT"/cps-*-r"$1"-s"$2"-* 2>/dev/null | head -1)
  [[ -n $d && -f $d/uac.out ]] || { echo -; return; }
  awk '$1 == "180" && $2 ~ /^<-/ {n = $3} END {print (n == "" ? "-" : n)}' "$d/uac.out"
}

# bench_overload HOST:PORT: "refused=N bursts=N", the initial requests
# the example serving HTTP there refused 503 (overload protection) and
# admitted above max_pending as a burst, from its /metrics; "-" for what
# cannot be read.
bench_overload() {
  curl -s --max-time 5 "http://$1/metrics" | awk '
    /^palio_sip_/ {up = 1}
    /^palio_sip_overload_refused_total/ {r += $2}
    /^palio_sip_overload_burst_admitted_total/ {b = $2}
    END {printf "refused=%s bursts=%s\n", (up ? r + 0 : "-"), (b == "" ? "-" : b)}'
}

bench_services_off="$bench_features_off
$bench_presence_off
$bench_accounting_off
$bench_guard_off"

bench_init() {
  local name=$1 what
  shift
  B=${BENCH_DIR:-}
  if [[ -z $B ]]; then
    B=$(cd "$here/../../shared/bench" 2>/dev/null && pwd)
    if [[ -z $B ]]; then # a worktree: beside the main checkout
      local common
      common=$(cd "$here" && git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
      [[ -n $common ]] && B=$(cd "$common/../../shared/bench" 2>/dev/null && pwd)
    fi
  fi
  [[ -n $B && -x $B/cps.sh ]] || { echo "$name.sh: no SIPp harness in '$B' (set BENCH_DIR)" >&2; exit 2; }
  export BENCH_OUT=${BENCH_OUT:-/tmp/palio-bench}/$name-$(date +%Y%m%d-%H%M%S)
  mkdir -p "$BENCH_OUT"
  bin=$BENCH_OUT/unisi sink=$BENCH_OUT/hepsink
  for what in "$@"; do
    case $what in
      unisi) (cd "$here/.." && go build -o "$bin" ./examples/unisi) || exit 1 ;;
      hepsink) (cd "$here/.." && go build -o "$sink" ./bench/hepsink) || exit 1 ;;
    esac
  done
}
