package alert

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/internal/promreg"
)

// metrics are the Dispatcher's collectors; labels are bounded (the kinds,
// the configured notifiers, three results).
type metrics struct {
	events        *prometheus.CounterVec // kind
	notifications *prometheus.CounterVec // notifier, result
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_alert_events_total",
			Help: "Events published, by kind (trunk-near-limit, gateway-down, fraud-critical, ban, database-unreachable, …).",
		}, []string{"kind"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_alert_notifications_total",
			Help: "Events handed to notifiers, by notifier and result: sent, failed (the notifier gave up after its retries), dropped (its queue was full, or the dispatcher closed).",
		}, []string{"notifier", "result"}),
	}
	m.events = promreg.Register(reg, m.events)
	m.notifications = promreg.Register(reg, m.notifications)
	return m
}
