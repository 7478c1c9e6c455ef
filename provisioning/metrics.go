package provisioning

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/internal/promreg"
)

// metrics are the provisioner's collectors; labels are bounded (protocol,
// result, reason), never a MAC or an address.
type metrics struct {
	fetches *prometheus.CounterVec // proto, result
	refused *prometheus.CounterVec // reason
	unknown prometheus.Counter
	bans    prometheus.Counter
	resyncs *prometheus.CounterVec // result
}

func newMetrics(reg prometheus.Registerer, banned func() float64) *metrics {
	m := &metrics{
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_provisioning_fetches_total",
			Help: "Requests for provisioning files, by protocol (http, https, tftp) and result (device, model, firmware, notfound, refused, error).",
		}, []string{"proto", "result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_provisioning_refused_total",
			Help: "Requests refused, by reason: network, banned, rate, wrong-key, malformed-mac, unknown-mac, wrong-model, mac-mismatch, wrong-password, no-auth-over-tftp, too-busy.",
		}, []string{"reason"}),
		unknown: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palio_provisioning_unknown_total",
			Help: "Requests naming a MAC no device has (recorded as unknown devices).",
		}),
		bans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palio_provisioning_bans_total",
			Help: "Source addresses banned after repeated failures (unknown or malformed MACs, wrong url key or password).",
		}),
		resyncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_provisioning_resyncs_total",
			Help: "Resync NOTIFYs sent, by result: ok (2xx), rejected (a final error response), failed (no answer, unreachable), unregistered (no contact to send to).",
		}, []string{"result"}),
	}
	m.fetches = promreg.Register(reg, m.fetches)
	m.refused = promreg.Register(reg, m.refused)
	m.unknown = promreg.Register(reg, m.unknown)
	m.bans = promreg.Register(reg, m.bans)
	m.resyncs = promreg.Register(reg, m.resyncs)
	promreg.Register(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "palio_provisioning_banned",
		Help: "Source addresses banned now.",
	}, banned))
	return m
}
