package guard

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/internal/promreg"
)

// metrics are the guard's collectors. Labels are bounded (a ban's kind, a
// figure, a level): never an address or a user.
type metrics struct {
	bansTotal     *prometheus.CounterVec // kind
	bans          *prometheus.GaugeVec   // kind
	floodSources  prometheus.Gauge
	blocked       *prometheus.CounterVec // reason
	blockedFlood  prometheus.Counter
	blockedBan    prometheus.Counter
	blockedUser   prometheus.Counter
	blockedFraud  prometheus.Counter
	untracked     prometheus.Counter
	fraudEvents   *prometheus.CounterVec // level, param
	reloads       *prometheus.CounterVec // result
	storeErrors   prometheus.Counter
	eventsDropped *prometheus.CounterVec // subscriber
	peerCalls     *prometheus.CounterVec // result
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		bansTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_guard_bans_total",
			Help: "Bans decided by this node, by kind: flood (a source over the flood threshold), ip and user (authentication failures), fraud (a user's outbound calls blocked).",
		}, []string{"kind"}),
		bans: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "palio_guard_bans",
			Help: "Stored bans in force, by kind (ip, user, fraud); flood blocks are palio_guard_flood_sources.",
		}, []string{"kind"}),
		floodSources: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palio_guard_flood_sources",
			Help: "Sources blocked for flooding now.",
		}),
		blocked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_guard_blocked_total",
			Help: "Packets and requests refused, by reason: flood and ip-ban (packets, before parsing, or requests at the Bans stage), user-ban (requests with a locked account's credentials), fraud (calls of blocked users).",
		}, []string{"reason"}),
		untracked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palio_guard_flood_untracked_total",
			Help: "Packets of new sources not counted by the flood check because it remembered MaxSources already.",
		}),
		fraudEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_guard_fraud_events_total",
			Help: "Fraud thresholds reached, by level (warning, critical) and figure (calls-per-minute, total-calls, concurrent-calls, sequential-calls, total-minutes, call-duration).",
		}, []string{"level", "param"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_guard_reloads_total",
			Help: "Reloads of the bans and fraud rules from the store, by result: ok, error.",
		}, []string{"result"}),
		peerCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_guard_fraud_peer_calls_total",
			Help: "Calls of the other nodes of a cluster (FollowCalls) counted in the fraud figures, by result: counted, untracked (beyond the calls remembered).",
		}, []string{"result"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palio_guard_store_errors_total",
			Help: "Ban changes that could not be written to the store (they hold on this node).",
		}),
		eventsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_guard_events_dropped_total",
			Help: "Guard events an asynchronous subscriber lost to a full queue, by subscriber.",
		}, []string{"subscriber"}),
	}
	m.bansTotal = promreg.Register(reg, m.bansTotal)
	m.bans = promreg.Register(reg, m.bans)
	m.floodSources = promreg.Register(reg, m.floodSources)
	m.blocked = promreg.Register(reg, m.blocked)
	m.untracked = promreg.Register(reg, m.untracked)
	m.fraudEvents = promreg.Register(reg, m.fraudEvents)
	m.reloads = promreg.Register(reg, m.reloads)
	m.storeErrors = promreg.Register(reg, m.storeErrors)
	m.eventsDropped = promreg.Register(reg, m.eventsDropped)
	m.peerCalls = promreg.Register(reg, m.peerCalls)
	m.blockedFlood = m.blocked.WithLabelValues("flood")
	m.blockedBan = m.blocked.WithLabelValues("ip-ban")
	m.blockedUser = m.blocked.WithLabelValues("user-ban")
	m.blockedFraud = m.blocked.WithLabelValues("fraud")
	for _, k := range []BanKind{BanFlood, BanIP, BanUser, BanFraud} {
		m.bansTotal.WithLabelValues(string(k))
	}
	for _, k := range []BanKind{BanIP, BanUser, BanFraud} {
		m.bans.WithLabelValues(string(k))
	}
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("error")
	return m
}

// setBans sets the gauge of bans in force from a set.
func (m *metrics) setBans(s *banSet) {
	m.bans.WithLabelValues(string(BanIP)).Set(float64(len(s.ip)))
	m.bans.WithLabelValues(string(BanUser)).Set(float64(len(s.user)))
	m.bans.WithLabelValues(string(BanFraud)).Set(float64(len(s.fraud)))
}
