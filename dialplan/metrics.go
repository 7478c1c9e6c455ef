package dialplan

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/internal/promreg"
)

// metrics are the Plan's Prometheus collectors. Labels are bounded: the
// translation or reload outcome, the rule state.
type metrics struct {
	rewrite, match, noMatch, substFailed prometheus.Counter

	loaded, discarded, disabled prometheus.Gauge

	reloadOK, reloadError prometheus.Counter
	reloadSeconds         prometheus.Histogram
	lastReload            prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	translations := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "palio_dialplan_translations_total",
		Help: "Translations, by outcome: rewrite (matched, output differs), match (matched, output unchanged), no_match, subst_failed (the winning rule's subst_exp did not match).",
	}, []string{"outcome"})
	rules := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "palio_dialplan_rules",
		Help: "Rules in the current snapshot (loaded) and left out of it by the last successful reload (discarded, disabled).",
	}, []string{"state"})
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "palio_dialplan_reloads_total",
		Help: "Reloads, by outcome: ok, or error (the store failed; the previous rules stay).",
	}, []string{"outcome"})
	seconds := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "palio_dialplan_reload_duration_seconds",
		Help:    "Time to read the rules from the store and compile them.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
	})
	last := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "palio_dialplan_last_reload_success_timestamp_seconds",
		Help: "Unix time of the last successful reload.",
	})
	translations = promreg.Register(reg, translations)
	rules = promreg.Register(reg, rules)
	reloads = promreg.Register(reg, reloads)
	seconds = promreg.Register(reg, seconds)
	last = promreg.Register(reg, last)
	return &metrics{
		rewrite:       translations.WithLabelValues("rewrite"),
		match:         translations.WithLabelValues("match"),
		noMatch:       translations.WithLabelValues("no_match"),
		substFailed:   translations.WithLabelValues("subst_failed"),
		loaded:        rules.WithLabelValues("loaded"),
		discarded:     rules.WithLabelValues("discarded"),
		disabled:      rules.WithLabelValues("disabled"),
		reloadOK:      reloads.WithLabelValues("ok"),
		reloadError:   reloads.WithLabelValues("error"),
		reloadSeconds: seconds,
		lastReload:    last,
	}
}

// count records the outcome of one translation.
func (m *metrics) count(res Result, out outcome) {
	switch {
	case out == outcomeNoMatch:
		m.noMatch.Inc()
	case out == outcomeSubstFailed:
		m.substFailed.Inc()
	case res.Output != res.Input:
		m.rewrite.Inc()
	default:
		m.match.Inc()
	}
}
