package routing

import (
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Router and its stage. The zero value puts callers
// without a dr_groups row in group 0, fails over on 408, 500, 502, 503,
// 504 and transport errors, answers 404 No Route when no rule matches,
// raises trunk alarms at 80 % of a channel limit, probes every 30 s, and
// keeps gateway states across reloads and in the store, as OpenSIPS does
// by default.
type Config struct {
	// DefaultGroup is the group of callers without a dr_groups row
	// (OpenSIPS's default_group). To refuse such callers, give this group
	// no rules.
	DefaultGroup int
	// IgnoreDomain matches dr_groups rows by username alone (OpenSIPS's
	// use_domain=0); by default the From host must equal the domain
	// (compared without regard to case, as hosts are).
	IgnoreDomain bool
	// ExactLength makes a rule match only when its prefix is the whole
	// number, and leaves prefix-less rules unused (do_routing's L flag).
	ExactLength bool
	// Fallback lets the stage move on to the next rule when every
	// destination of a rule has failed or been skipped: the next rule of
	// the same prefix, then those of shorter prefixes, then the
	// prefix-less ones (do_routing's F flag).
	Fallback bool
	// ExtraPrefixChars adds characters to the prefix alphabet, which is
	// the digits by default (extra_prefix_chars). Rule prefixes must keep
	// to the alphabet; numbers with other characters match only
	// prefix-less rules.
	ExtraPrefixChars string
	// FailoverCodes are the statuses on which the stage tries the next
	// destination: nil means 408, 500, 502, 503, 504 (the Forwarder
	// reports a timeout as 408 and a transport error as 503); an empty,
	// non-nil list never fails over.
	FailoverCodes []int
	// NoRouteCode and NoRouteReason answer requests no rule matches
	// (default 404 "No Route").
	NoRouteCode   int
	NoRouteReason string
	// DisableCodes are call outcomes that make a gateway inactive, for
	// gateways that are probed (probe_mode 1 or 2), as a script calling
	// dr_disable() on them in its failure route; probing brings the
	// gateway back. Default none.
	DisableCodes []int
	// AlarmThreshold is the share of a channel limit at which the trunk
	// alarm is raised (default 0.8; a negative value disables alarms).
	AlarmThreshold float64
	// Probe configures gateway probing (StartProbing).
	Probe ProbeConfig
	// ReloadState makes each reload take gateway and carrier states from
	// the store; by default the running states are kept by id
	// (OpenSIPS's inherit_state=y) and the store's are read only at New
	// and for new gateways.
	ReloadState bool
	// VolatileState keeps state changes in memory only; by default they
	// are written to the store (OpenSIPS's persistent_state=1).
	VolatileState bool
	// LocalProbeState is for nodes that share a store and each probe the
	// gateways from their own network position: what probes and calls
	// find (a gateway inactive, or active again; DisableCodes,
	// ClearInactive) stays in this Router and only its history entry is
	// written, never the state; and every reload takes from the store
	// the operator's decisions only (a gateway disabled, or enabled
	// again: SetGatewayEnabled on any node, the CLI), leaving the running
	// probe state of the others as it is. A gateway stored inactive (by
	// an older version, or a node without this option) is taken as
	// active until probes say otherwise. Carrier states are taken from
	// the store at every reload, as with ReloadState, which this option
	// replaces for gateways.
	LocalProbeState bool
	// Node names this Router in the history of gateway state changes it
	// writes (StateChange.Node); default the host name.
	Node string
	// CounterTimeout bounds the ChannelCounter's answer to a reservation
	// (default 50 ms): beyond it, the call goes on this node's own counts
	// (WithChannelCounter).
	CounterTimeout time.Duration
	// CounterInterval is the time between the full reports of this node's
	// counts to the ChannelCounter, which also keep the node alive in it
	// (default 1 s); the counter's expiry must be several of them.
	CounterInterval time.Duration
}

// ProbeConfig configures gateway probing.
type ProbeConfig struct {
	// Interval is the time between probe rounds (default 30 s).
	Interval time.Duration
	// Timeout bounds one probe (default 5 s); no final response by then
	// counts as a failure.
	Timeout time.Duration
	// From is the From URI of probes (default "sip:prober@localhost").
	From string
	// ReplyCodes are statuses that count as up besides 200 (OpenSIPS's
	// probing_reply_codes), e.g. 404 for a gateway that answers OPTIONS
	// to an unknown user that way.
	ReplyCodes []int
}

// Option configures a Router.
type Option func(*Router)

// WithLogger sets the logger (default: none). Reloads log at Info,
// discarded rows, gateways going down and alarms at Warn, calls at Debug.
func WithLogger(l *slog.Logger) Option {
	return func(r *Router) {
		if l != nil {
			r.log = l
		}
	}
}

// WithRegisterer registers the palio_routing_* metrics on reg (default:
// not registered).
func WithRegisterer(reg prometheus.Registerer) Option { return func(r *Router) { r.reg = reg } }

// WithClock sets the clock that timerecs and events read (default
// time.Now).
func WithClock(now func() time.Time) Option {
	return func(r *Router) {
		if now != nil {
			r.now = now
		}
	}
}

// WithRand sets the random source of the weighted sort, for tests that
// want a fixed seed (default: the math/rand/v2 global source). The Router
// serializes its use. A nil rnd keeps the default.
func WithRand(rnd *rand.Rand) Option {
	return func(r *Router) {
		if rnd == nil {
			return
		}
		var mu sync.Mutex
		r.intn = func(n int) int {
			mu.Lock()
			defer mu.Unlock()
			return rnd.IntN(n)
		}
	}
}
