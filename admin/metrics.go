package admin

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/internal/promreg"
)

// metrics are the admin's collectors. Labels are bounded: the route's
// pattern (a fixed set) and the status code.
type metrics struct {
	requests *prometheus.CounterVec // route, code
	logins   *prometheus.CounterVec // result
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		requests: promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_admin_requests_total",
			Help: "Admin API and page requests, by route pattern and status code.",
		}, []string{"route", "code"})),
		logins: promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_admin_logins_total",
			Help: "Logins to the admin page, by result (ok, failed).",
		}, []string{"result"})),
	}
}

func (m *metrics) observe(pattern string, code int) {
	if pattern == "" {
		pattern = "none"
	}
	m.requests.WithLabelValues(pattern, strconv.Itoa(code)).Inc()
}
