package features

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/internal/promreg"
)

// metrics are the call services' collectors; labels are bounded (the
// service and the outcome), never a user or a number.
type metrics struct {
	reloads *prometheus.CounterVec // result
	applied *prometheus.CounterVec // service
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_features_reloads_total",
			Help: "Reloads of the call services' settings and blacklists, by result: ok, error.",
		}, []string{"result"}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_features_applied_total",
			Help: "Call services applied to calls, by service: blacklist, anonymous, dnd, forward-always, secretary, boss, forward-busy, forward-noanswer, forward-unreachable, loop.",
		}, []string{"service"}),
	}
	m.reloads = promreg.Register(reg, m.reloads)
	m.applied = promreg.Register(reg, m.applied)
	return m
}
