package alias

import (
	"github.com/palio-voip/palio/internal/promreg"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	lookups *prometheus.CounterVec
	reloads *prometheus.CounterVec
	entries prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_alias_lookups_total", Help: "Alias lookups of the stage, by outcome (hit, miss).",
		}, []string{"outcome"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_alias_reloads_total", Help: "Alias table reloads, by outcome (ok, error).",
		}, []string{"outcome"}),
		entries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palio_alias_entries", Help: "Aliases in the running snapshot.",
		}),
	}
	m.lookups = promreg.Register(reg, m.lookups)
	m.reloads = promreg.Register(reg, m.reloads)
	m.entries = promreg.Register(reg, m.entries)
	return m
}
