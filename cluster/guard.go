package cluster

import (
	"cmp"
	"encoding/json"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/internal/promreg"
)

// GuardPeers returns the guard.Peers of this node over the Bus's NATS
// connection, for guard.Share: the bans, fraud blocks and flood blocks
// one node decides reach the others' guards within milliseconds, on the
// subject palio.<Cluster>.guard. A notice published while NATS is
// unreachable waits in nats.go's reconnect buffer or is lost (counted);
// stored bans still reach the others through the store, flood blocks are
// renewed every second.
func (b *Bus) GuardPeers() guard.Peers {
	b.guardOnce.Do(func() {
		b.guardSubject = "palio." + cmp.Or(b.cfg.Cluster, "default") + ".guard"
		b.gm = newGuardMetrics(b.reg)
	})
	return guardPeers{b: b}
}

type guardPeers struct{ b *Bus }

// guardWire is a notice on the wire: version 1, short keys.
type guardWire struct {
	V       int    `json:"v"`
	Node    string `json:"n"`
	Lifted  bool   `json:"l,omitempty"`
	Why     string `json:"w,omitempty"`
	Kind    string `json:"k"`
	Subject string `json:"s"`
	Reason  string `json:"r,omitempty"`
	Created int64  `json:"c,omitempty"` // Unix ms
	Until   int64  `json:"u,omitempty"` // Unix ms, 0: none
	Sent    int64  `json:"t"`           // Unix ns, for the delay histogram
}

func unixMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func (p guardPeers) Publish(n guard.Notice) {
	b := p.b
	data, err := json.Marshal(guardWire{V: 1, Node: b.cfg.Node, Lifted: n.Lifted, Why: n.Why, Kind: string(n.Ban.Kind),
		Subject: n.Ban.Subject, Reason: n.Ban.Reason, Created: unixMS(n.Ban.Created), Until: unixMS(n.Ban.Until), Sent: time.Now().UnixNano()})
	if err == nil {
		err = b.nc.Publish(b.guardSubject, data)
	}
	if err != nil {
		b.gm.notices.WithLabelValues("dropped").Inc()
		return
	}
	b.gm.notices.WithLabelValues("sent").Inc()
}

func (p guardPeers) Subscribe(fn func(guard.Notice)) (unsubscribe func()) {
	b := p.b
	sub, err := b.nc.Subscribe(b.guardSubject, func(m *nats.Msg) {
		var w guardWire
		if json.Unmarshal(m.Data, &w) != nil || w.V != 1 {
			b.gm.notices.WithLabelValues("malformed").Inc()
			return
		}
		if w.Node == b.cfg.Node {
			return // no-echo: another process with our name
		}
		b.gm.notices.WithLabelValues("received").Inc()
		if w.Sent > 0 {
			b.gm.delay.Observe(time.Since(time.Unix(0, w.Sent)).Seconds())
		}
		fn(guard.Notice{Lifted: w.Lifted, Why: w.Why, Ban: guard.Ban{Kind: guard.BanKind(w.Kind), Subject: w.Subject,
			Reason: w.Reason, Created: fromMS(w.Created), Until: fromMS(w.Until)}})
	})
	if err != nil {
		b.log.Error("cluster: subscribing to the guard's notices", "subject", b.guardSubject, "error", err)
		return func() {}
	}
	// The subscription is in place on the server before Share returns
	// (when NATS is up): a ban decided just after is not missed.
	_ = b.nc.FlushTimeout(time.Second)
	var once sync.Once
	return func() { once.Do(func() { sub.Unsubscribe() }) }
}

type guardMetrics struct {
	notices *prometheus.CounterVec
	delay   prometheus.Histogram
}

func newGuardMetrics(reg prometheus.Registerer) *guardMetrics {
	m := &guardMetrics{
		notices: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_cluster_guard_notices_total", Help: "Guard notices (bans, blocks and their ends), by result: sent, received, dropped (not handed to NATS), malformed.",
		}, []string{"result"}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "palio_cluster_guard_notice_delay_seconds", Help: "From a guard notice on another node to its delivery here (the nodes' clocks must agree).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}),
	}
	m.notices = promreg.Register(reg, m.notices)
	m.delay = promreg.Register(reg, m.delay)
	return m
}
