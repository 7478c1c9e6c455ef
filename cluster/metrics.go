package cluster

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/internal/promreg"
)

// Why an event was dropped: the values of the reason label.
const (
	dropQueue     = "queue"         // the publish queue was full
	dropPublish   = "publish"       // NATS refused it (closed, or its reconnect buffer full)
	dropSlow      = "slow_consumer" // the NATS client dropped incoming messages we were too slow for
	dropMalformed = "malformed"     // a message that does not decode, or of another version
	dropSameNode  = "same_node"     // another process calls itself by our node name
)

// Where a delivered event came from: the values of the origin label.
const (
	originEvent    = "event"    // an event another node published
	originSnapshot = "snapshot" // implied by a snapshot (after lost events, or a node newly heard)
	originTimeout  = "timeout"  // a silent node's call taken as ended
)

type metrics struct {
	published  prometheus.Counter
	received   *prometheus.CounterVec
	dropped    *prometheus.CounterVec
	missed     prometheus.Counter
	snapshots  prometheus.Counter
	connected  prometheus.Gauge
	reconnects prometheus.Counter
	nodes      prometheus.Gauge
	delay      prometheus.Histogram
	hangups    *prometheus.CounterVec // side, result
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palio_cluster_events_published_total", Help: "Dialog events of this node handed to NATS.",
		}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_cluster_events_received_total", Help: "Dialog events of other nodes delivered here, by origin (event, snapshot, timeout).",
		}, []string{"origin"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_cluster_events_dropped_total", Help: "Dialog events dropped, by reason (queue, publish, slow_consumer, malformed, same_node).",
		}, []string{"reason"}),
		missed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palio_cluster_events_missed_total", Help: "Events of other nodes that never arrived (gaps in their sequence numbers).",
		}),
		snapshots: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palio_cluster_snapshots_total", Help: "Snapshots of this node's active dialogs published.",
		}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palio_cluster_connected", Help: "1 while the bus is connected to NATS, else 0.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palio_cluster_reconnects_total", Help: "Reconnections to NATS after the connection was lost.",
		}),
		nodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palio_cluster_nodes", Help: "Other nodes heard from within NodeTimeout.",
		}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "palio_cluster_event_delay_seconds", Help: "From a dialog event on another node to its delivery here (the nodes' clocks must agree).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}),
	}
	m.published = promreg.Register(reg, m.published)
	m.received = promreg.Register(reg, m.received)
	m.dropped = promreg.Register(reg, m.dropped)
	m.missed = promreg.Register(reg, m.missed)
	m.snapshots = promreg.Register(reg, m.snapshots)
	m.connected = promreg.Register(reg, m.connected)
	m.reconnects = promreg.Register(reg, m.reconnects)
	m.nodes = promreg.Register(reg, m.nodes)
	m.delay = promreg.Register(reg, m.delay)
	m.hangups = promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "palio_cluster_hangups_total", Help: "Hang-ups of calls between nodes, by side (asked: this node asked another; served: this node hung up its call for another) and result (ok, no_dialog, error, busy).",
	}, []string{"side", "result"}))
	for _, r := range []string{dropQueue, dropPublish, dropSlow, dropMalformed, dropSameNode} {
		m.dropped.WithLabelValues(r)
	}
	for _, o := range []string{originEvent, originSnapshot, originTimeout} {
		m.received.WithLabelValues(o)
	}
	return m
}
