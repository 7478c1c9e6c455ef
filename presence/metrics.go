package presence

import (
	"github.com/palio-voip/palio/internal/promreg"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	subscriptions prometheus.Gauge
	notifies      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palio_presence_subscriptions", Help: "Active subscriptions (Event: dialog).",
		}),
		notifies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_presence_notifies_total", Help: "NOTIFYs sent, by result (ok: a 2xx came back; failed: anything else).",
		}, []string{"result"}),
	}
	m.subscriptions = promreg.Register(reg, m.subscriptions)
	m.notifies = promreg.Register(reg, m.notifies)
	return m
}
