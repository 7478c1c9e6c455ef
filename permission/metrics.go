package permission

import (
	"github.com/palio-voip/palio/internal/promreg"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	sources   *prometheus.CounterVec
	reloads   *prometheus.CounterVec
	entries   prometheus.Gauge
	discarded prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		sources: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_permission_sources_total", Help: "Requests checked by the source stage, by outcome (trusted, untrusted, rejected).",
		}, []string{"outcome"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_permission_reloads_total", Help: "Address table reloads, by outcome (ok, error).",
		}, []string{"outcome"}),
		entries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palio_permission_addresses", Help: "Address rows in the running snapshot.",
		}),
		discarded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palio_permission_addresses_skipped", Help: "Address rows skipped by the last load.",
		}),
	}
	m.sources = promreg.Register(reg, m.sources)
	m.reloads = promreg.Register(reg, m.reloads)
	m.entries = promreg.Register(reg, m.entries)
	m.discarded = promreg.Register(reg, m.discarded)
	return m
}
