package enum

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Lookup outcomes, the values of the outcome label of
// palio_enum_lookups_total.
const (
	outcomeFound    = "found"
	outcomeNotFound = "not_found"
	outcomeTimeout  = "timeout"
	outcomeError    = "error"
	outcomeInvalid  = "invalid"
)

// metrics are the resolver's Prometheus collectors. The hot path (a cache
// hit) touches two counters resolved at start-up: no label lookups.
type metrics struct {
	lookupFound, lookupNotFound, lookupTimeout, lookupError, lookupInvalid prometheus.Counter

	hits, misses prometheus.Counter
	seconds      prometheus.Histogram
	queries      *prometheus.CounterVec
	callers      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "palio_enum_lookups_total",
		Help: "ENUM lookups of a number, by outcome (found, not_found, timeout, error, invalid).",
	}, []string{"outcome"})
	hits := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "palio_enum_cache_hits_total",
		Help: "ENUM lookups answered from the cache, positive or negative.",
	})
	misses := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "palio_enum_cache_misses_total",
		Help: "ENUM lookups that went to DNS.",
	})
	seconds := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "palio_enum_lookup_seconds",
		Help:    "Time spent resolving ENUM lookups that missed the cache.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	})
	queries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "palio_enum_dns_queries_total",
		Help: "DNS queries sent, by transport and outcome (the response code, timeout, error, truncated).",
	}, []string{"transport", "outcome"})
	callers := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "palio_enum_caller_checks_total",
		Help: "Caller checks (is_from_user_enum), by outcome (found, verified, mismatch, not_found, not_e164, error).",
	}, []string{"outcome"})
	if reg != nil {
		lookups = register(reg, lookups)
		hits = register(reg, hits)
		misses = register(reg, misses)
		seconds = register(reg, seconds)
		queries = register(reg, queries)
		callers = register(reg, callers)
	}
	return &metrics{
		lookupFound:    lookups.WithLabelValues(outcomeFound),
		lookupNotFound: lookups.WithLabelValues(outcomeNotFound),
		lookupTimeout:  lookups.WithLabelValues(outcomeTimeout),
		lookupError:    lookups.WithLabelValues(outcomeError),
		lookupInvalid:  lookups.WithLabelValues(outcomeInvalid),
		hits:           hits,
		misses:         misses,
		seconds:        seconds,
		queries:        queries,
		callers:        callers,
	}
}

// register registers c, or returns the collector already registered under
// its name (two resolvers sharing one registry share their counters).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

// lookup counts a lookup by the outcome err stands for.
func (m *metrics) lookup(err error) {
	switch {
	case err == nil:
		m.lookupFound.Inc()
	case errors.Is(err, ErrNotFound):
		m.lookupNotFound.Inc()
	case errors.Is(err, ErrNotE164):
		m.lookupInvalid.Inc()
	case isTimeout(err):
		m.lookupTimeout.Inc()
	default:
		m.lookupError.Inc()
	}
}
