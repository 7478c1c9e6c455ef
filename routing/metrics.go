package routing

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/internal/promreg"
)

// metrics are the Router's Prometheus collectors. Labels are bounded:
// outcomes, table names, and gateway and carrier ids, which operators
// define and which number a few dozen at most (UniSI: eleven gateways,
// two carriers). Numbers, users and Call-IDs never become labels.
type metrics struct {
	calls    *prometheus.CounterVec // outcome
	attempts *prometheus.CounterVec // outcome

	gwState      *prometheus.GaugeVec   // gateway
	stateChanges *prometheus.CounterVec // gateway, state
	// stateRefused counts the found states (probes, calls) the store
	// refused because an operator disabled the gateway there.
	stateRefused prometheus.Counter
	probes       *prometheus.CounterVec // gateway, result
	gwCalls      *prometheus.GaugeVec   // gateway
	crCalls      *prometheus.GaugeVec   // carrier
	channels     *prometheus.GaugeVec   // kind, trunk
	alarm        *prometheus.GaugeVec   // kind, trunk
	full         *prometheus.CounterVec // kind, trunk

	loaded   *prometheus.GaugeVec // table
	problems prometheus.Gauge
	// placeholders counts the gateways of the current table whose
	// address is a placeholder.
	placeholders prometheus.Gauge
	reloads      *prometheus.CounterVec // outcome
	reloadTime   prometheus.Histogram
	lastReload   prometheus.Gauge
	// eventsDropped counts the events an asynchronous subscriber lost.
	eventsDropped *prometheus.CounterVec // subscriber

	// The ChannelCounter's (WithChannelCounter).
	counterUp     prometheus.Gauge
	counterErrors *prometheus.CounterVec // op
	counterLocal  prometheus.Counter
}

// newMetrics makes the Router's collectors and registers them on reg;
// those of the ChannelCounter only when shared.
func newMetrics(reg prometheus.Registerer, shared bool) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_routing_calls_total",
			Help: "Requests through the routing stage, by outcome: answered, canceled (the caller cancelled), rejected (a destination's final answer that stops failover: 4xx, 6xx), exhausted (every destination failed over), unavailable (no destination usable: disabled, inactive, placeholder or full), no_route (no rule), error.",
		}, []string{"outcome"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_routing_attempts_total",
			Help: "Destinations tried by the routing stage, by outcome: answered, failover (a failover status: next destination), rejected (a final answer that stops failover), canceled (the caller went away), error, full (not tried: over the channel limit).",
		}, []string{"outcome"}),
		gwState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "palio_routing_gateway_state",
			Help: "Running state of each gateway, OpenSIPS's numbering: 0 active, 1 disabled by an operator, 2 inactive (probing or a failed call).",
		}, []string{"gateway"}),
		stateChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_routing_gateway_state_changes_total",
			Help: "Gateway state changes, by the state entered.",
		}, []string{"gateway", "state"}),
		stateRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palio_routing_gateway_state_refused_total",
			Help: "Gateway states found by probes or calls that were not stored because an operator had disabled the gateway in the store (from the CLI or another node) since the last reload.",
		}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_routing_probes_total",
			Help: "OPTIONS probes, by result: up (200 or a configured code), down (>= 400, timeout, transport error), other (ignored codes).",
		}, []string{"gateway", "result"}),
		gwCalls: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "palio_routing_gateway_calls",
			Help: "Calls in progress on each gateway, from the dialog table.",
		}, []string{"gateway"}),
		crCalls: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "palio_routing_carrier_calls",
			Help: "Calls in progress on each carrier's gateways, from the dialog table.",
		}, []string{"carrier"}),
		channels: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "palio_routing_trunk_channels",
			Help: "Channel limit of each gateway and carrier that has one.",
		}, []string{"kind", "trunk"}),
		alarm: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "palio_routing_trunk_alarm",
			Help: "1 while the calls in progress on a trunk are at or above the alarm threshold of its channel limit.",
		}, []string{"kind", "trunk"}),
		full: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_routing_trunk_full_total",
			Help: "Destinations skipped because a gateway or carrier was at its channel limit.",
		}, []string{"kind", "trunk"}),
		loaded: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "palio_routing_loaded",
			Help: "Rows in the current routing table, by table: dr_gateways, dr_carriers, dr_rules, dr_groups.",
		}, []string{"table"}),
		problems: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palio_routing_load_problems",
			Help: "Problems the last successful reload reported: rows discarded, unknown gwlist ids dropped, unsupported settings.",
		}),
		placeholders: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palio_routing_placeholder_gateways",
			Help: "Gateways of the current routing table whose address is a placeholder (attrs placeholder=HOST): never probed, never sent a call.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_routing_reloads_total",
			Help: "Reloads, by outcome: ok, or error (the store failed; the previous table stays).",
		}, []string{"outcome"}),
		reloadTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "palio_routing_reload_duration_seconds",
			Help:    "Time to read the routing tables from the store and compile them.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}),
		lastReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palio_routing_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful reload.",
		}),
		eventsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_routing_events_dropped_total",
			Help: "Routing events (gateway states, trunk alarms) an asynchronous subscriber lost because its queue was full, by subscriber.",
		}, []string{"subscriber"}),
		counterUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palio_routing_counter_up",
			Help: "1 while the shared channel counter answers (channel limits apply to the cluster's calls), 0 while this node counts its own calls only.",
		}),
		counterErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_routing_counter_errors_total",
			Help: "Failed requests to the shared channel counter, by operation: reserve (a call's attempt), report (this node's counts).",
		}, []string{"op"}),
		counterLocal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palio_routing_counter_local_total",
			Help: "Attempts on capped trunks admitted on this node's own counts because the shared channel counter did not answer.",
		}),
	}
	m.calls = promreg.Register(reg, m.calls)
	m.attempts = promreg.Register(reg, m.attempts)
	m.gwState = promreg.Register(reg, m.gwState)
	m.stateChanges = promreg.Register(reg, m.stateChanges)
	m.stateRefused = promreg.Register(reg, m.stateRefused)
	m.probes = promreg.Register(reg, m.probes)
	m.gwCalls = promreg.Register(reg, m.gwCalls)
	m.crCalls = promreg.Register(reg, m.crCalls)
	m.channels = promreg.Register(reg, m.channels)
	m.alarm = promreg.Register(reg, m.alarm)
	m.full = promreg.Register(reg, m.full)
	m.loaded = promreg.Register(reg, m.loaded)
	m.problems = promreg.Register(reg, m.problems)
	m.placeholders = promreg.Register(reg, m.placeholders)
	m.reloads = promreg.Register(reg, m.reloads)
	m.reloadTime = promreg.Register(reg, m.reloadTime)
	m.lastReload = promreg.Register(reg, m.lastReload)
	m.eventsDropped = promreg.Register(reg, m.eventsDropped)
	if shared {
		m.counterUp = promreg.Register(reg, m.counterUp)
		m.counterErrors = promreg.Register(reg, m.counterErrors)
		m.counterLocal = promreg.Register(reg, m.counterLocal)
	}
	return m
}
