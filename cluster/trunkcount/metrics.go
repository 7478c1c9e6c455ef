package trunkcount

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/internal/promreg"
)

const (
	opReserve = iota
	opReport
)

// metrics are the Counter's collectors, resolved once so that the hot
// path only adds to them.
type metrics struct {
	ok, failed [2]prometheus.Counter
	seconds    [2]prometheus.Observer
}

func newMetrics(reg prometheus.Registerer) *metrics {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "palio_trunkcount_requests_total",
		Help: "Requests to Redis for the shared trunk channel counts, by operation (reserve: a call's attempt; report: this node's counts) and result (ok, error).",
	}, []string{"op", "result"})
	seconds := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "palio_trunkcount_request_seconds",
		Help:    "Time of a request to Redis for the shared trunk channel counts, by operation.",
		Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1},
	}, []string{"op"})
	requests = promreg.Register(reg, requests)
	seconds = promreg.Register(reg, seconds)
	m := &metrics{}
	for i, op := range []string{"reserve", "report"} {
		m.ok[i] = requests.WithLabelValues(op, "ok")
		m.failed[i] = requests.WithLabelValues(op, "error")
		m.seconds[i] = seconds.WithLabelValues(op)
	}
	return m
}

func (m *metrics) observe(op int, start time.Time, err error) {
	m.seconds[op].Observe(time.Since(start).Seconds())
	if err != nil {
		m.failed[op].Inc()
		return
	}
	m.ok[op].Inc()
}
