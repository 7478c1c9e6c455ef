package mediabridge

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/internal/promreg"
)

// metrics are the Relay's Prometheus collectors. The per-packet counters
// are not prometheus.Counters: each poller counts in its own atomics and
// the collector sums them at scrape time, so that packets never contend
// on one cache line. Labels are bounded: the packet kind, the drop and
// timeout reasons. Call-IDs and addresses never become labels.
type metrics struct {
	timeouts  *prometheus.CounterVec // reason
	exhausted prometheus.Counter
	// The Stage's: calls by decision, SDP bodies by outcome.
	calls  *prometheus.CounterVec // decision
	bodies *prometheus.CounterVec // outcome
}

func newMetrics(r *Relay, reg prometheus.Registerer) *metrics {
	m := &metrics{
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_mediabridge_timeouts_total",
			Help: "Sessions the relay ended by itself, by reason: no_media (no packet either way for NoMediaTimeout), hold (a held stream silent for HoldTimeout), offer (never answered within OfferTimeout).",
		}, []string{"reason"}),
		exhausted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palio_mediabridge_port_exhausted_total",
			Help: "Stream legs refused with ErrNoPorts: the port range was full, or every pair tried was held by another process.",
		}),
	}
	m.calls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "palio_mediabridge_calls_total",
		Help: "Initial INVITEs the media stage decided on, by decision: anchor, mandatory (anchor, refusing the call if it cannot), direct.",
	}, []string{"decision"})
	m.bodies = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "palio_mediabridge_sdp_total",
		Help: "SDP bodies of anchored calls, by outcome: rewritten, refused (the request answered 488 or 503), passed (sent on unchanged: unparsable or not anchorable with anchoring optional).",
	}, []string{"outcome"})
	m.calls = promreg.Register(reg, m.calls)
	m.bodies = promreg.Register(reg, m.bodies)
	m.timeouts = promreg.Register(reg, m.timeouts)
	m.exhausted = promreg.Register(reg, m.exhausted)
	promreg.Register(reg, newCollector(r))
	return m
}

var (
	sessionsOpts = prometheus.Opts{
		Name: "palio_mediabridge_sessions",
		Help: "Live relay sessions (anchored calls).",
	}
	portsOpts = prometheus.Opts{
		Name: "palio_mediabridge_ports_in_use",
		Help: "Relay ports held by live streams: four a stream (RTP and RTCP on each leg).",
	}
	packetsOpts = prometheus.Opts{
		Name: "palio_mediabridge_packets_total",
		Help: "Packets relayed (received on one leg and sent out of the other), by kind: rtp, rtcp.",
	}
	bytesOpts = prometheus.Opts{
		Name: "palio_mediabridge_bytes_total",
		Help: "UDP payload bytes relayed, by kind: rtp, rtcp.",
	}
	droppedOpts = prometheus.Opts{
		Name: "palio_mediabridge_dropped_total",
		Help: "Packets received and not relayed, by reason: no_peer (a leg's SDP address not known yet), source (from an address other than the latched one, or with StrictSource not the SDP's), send_error (the kernel refused to send).",
	}
)

// collector reads the Relay's gauges and the pollers' counters at scrape
// time.
type collector struct {
	r                                      *Relay
	sessions, ports, packets, bytes, drops *prometheus.Desc
}

func newCollector(r *Relay) *collector {
	d := func(o prometheus.Opts, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(o.Name, o.Help, labels, nil)
	}
	return &collector{
		r:        r,
		sessions: d(sessionsOpts),
		ports:    d(portsOpts),
		packets:  d(packetsOpts, "kind"),
		bytes:    d(bytesOpts, "kind"),
		drops:    d(droppedOpts, "reason"),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.sessions
	ch <- c.ports
	ch <- c.packets
	ch <- c.bytes
	ch <- c.drops
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(c.r.Sessions()))
	ch <- prometheus.MustNewConstMetric(c.ports, prometheus.GaugeValue, float64(c.r.PortsInUse()))
	var packets, bytes [2]uint64
	var drops [nDrops]uint64
	for _, p := range c.r.pollers {
		for k := range packets {
			packets[k] += p.packets[k].Load()
			bytes[k] += p.bytes[k].Load()
		}
		for i := range drops {
			drops[i] += p.dropped[i].Load()
		}
	}
	for k, kind := range [2]string{"rtp", "rtcp"} {
		ch <- prometheus.MustNewConstMetric(c.packets, prometheus.CounterValue, float64(packets[k]), kind)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(bytes[k]), kind)
	}
	for i, reason := range dropReasons {
		ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(drops[i]), reason)
	}
}

// Counters are the Relay's cumulative packet counters (what the metrics
// show), for an adapter or a status page without Prometheus.
type Counters struct {
	Packets, Bytes, RTCPPackets, RTCPBytes, Dropped uint64
}

// Counters sums the pollers' counters.
func (r *Relay) Counters() Counters {
	var c Counters
	for _, p := range r.pollers {
		c.Packets += p.packets[kindRTP].Load()
		c.Bytes += p.bytes[kindRTP].Load()
		c.RTCPPackets += p.packets[kindRTCP].Load()
		c.RTCPBytes += p.bytes[kindRTCP].Load()
		for i := range p.dropped {
			c.Dropped += p.dropped[i].Load()
		}
	}
	return c
}
