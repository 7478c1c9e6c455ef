package accounting

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/internal/promreg"
)

// metrics are the recorder's collectors; labels are bounded (the
// outcome), never a user or a number.
type metrics struct {
	cdrs        *prometheus.CounterVec // result
	written     prometheus.Counter
	spooled     prometheus.Counter
	dropped     prometheus.Counter
	writeErrors prometheus.Counter
	writeTime   prometheus.Histogram
	queued      prometheus.Gauge
	inSpool     prometheus.Gauge
	reloads     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		cdrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_accounting_cdrs_total",
			Help: "Call records by outcome: written (to the store), spooled (kept in the spool while the store failed; written later), dropped (lost: the queue or the spool was full).",
		}, []string{"result"}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palio_accounting_write_errors_total",
			Help: "Batches of call records the store failed to write (an outage, a timeout).",
		}),
		writeTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "palio_accounting_write_seconds",
			Help:    "Time to write a batch of call records to the store.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palio_accounting_queued_cdrs",
			Help: "Call records waiting in memory to be written.",
		}),
		inSpool: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palio_accounting_spooled_cdrs",
			Help: "Call records in the spool, waiting for the store to answer again.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_accounting_rate_reloads_total",
			Help: "Reloads of the rate table, by result: ok, error.",
		}, []string{"result"}),
	}
	m.cdrs = promreg.Register(reg, m.cdrs)
	m.writeErrors = promreg.Register(reg, m.writeErrors)
	m.writeTime = promreg.Register(reg, m.writeTime)
	m.queued = promreg.Register(reg, m.queued)
	m.inSpool = promreg.Register(reg, m.inSpool)
	m.reloads = promreg.Register(reg, m.reloads)
	m.written = m.cdrs.WithLabelValues("written")
	m.spooled = m.cdrs.WithLabelValues("spooled")
	m.dropped = m.cdrs.WithLabelValues("dropped")
	return m
}
