package registrar

import (
	"github.com/palio-voip/palio/internal/promreg"
	"github.com/prometheus/client_golang/prometheus"
)

// The result label of palio_registrar_registrations_total.
const (
	resultAccepted         = "accepted"
	resultRetransmission   = "retransmission"
	resultBadRequest       = "bad-request"
	resultInvalidCSeq      = "invalid-cseq"
	resultIntervalTooBrief = "interval-too-brief"
	resultTooManyContacts  = "too-many-contacts"
	resultUnauthorized     = "unauthorized"
	resultForbidden        = "forbidden"
	resultError            = "error"
)

// metrics are the registrar's Prometheus collectors; every label is
// bounded (results, reasons, event kinds, two status codes).
type metrics struct {
	eventsDropped *prometheus.CounterVec // subscriber
	registrations *prometheus.CounterVec
	authFailures  *prometheus.CounterVec
	authOK        prometheus.Counter
	challenges    *prometheus.CounterVec
	lookups       *prometheus.CounterVec
	events        *prometheus.CounterVec
	bindings      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_registrar_registrations_total",
			Help: "REGISTER requests handled, by result: accepted, retransmission, or the reason of the rejection.",
		}, []string{"result"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_registrar_auth_failures_total",
			Help: "Digest authentication failures, by reason.",
		}, []string{"reason"}),
		authOK: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palio_registrar_auth_success_total",
			Help: "Requests whose digest credentials were accepted.",
		}),
		challenges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_registrar_challenges_total",
			Help: "Digest challenges sent, by status code (401 for REGISTER, 407 for other requests).",
		}, []string{"code"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_registrar_lookups_total",
			Help: "Location lookups of the Lookup stage, by result (found, not-registered, unknown-user).",
		}, []string{"result"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_registrar_binding_events_total",
			Help: "Binding changes, by kind (registered, refreshed, unregistered, expired, evicted, flow-failed).",
		}, []string{"kind"}),
		bindings: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palio_registrar_bindings",
			Help: "Bindings in the location store (recounted at every sweep).",
		}),
		eventsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_registrar_events_dropped_total",
			Help: "Binding events an asynchronous subscriber lost because its queue was full, by subscriber.",
		}, []string{"subscriber"}),
	}
	for _, r := range []string{resultAccepted, resultRetransmission, resultBadRequest, resultInvalidCSeq,
		resultIntervalTooBrief, resultTooManyContacts, resultUnauthorized, resultForbidden, resultError} {
		m.registrations.WithLabelValues(r)
	}
	m.registrations = promreg.Register(reg, m.registrations)
	m.authFailures = promreg.Register(reg, m.authFailures)
	m.authOK = promreg.Register(reg, m.authOK)
	m.challenges = promreg.Register(reg, m.challenges)
	m.lookups = promreg.Register(reg, m.lookups)
	m.events = promreg.Register(reg, m.events)
	m.bindings = promreg.Register(reg, m.bindings)
	m.eventsDropped = promreg.Register(reg, m.eventsDropped)
	return m
}

func (m *metrics) registration(result string) { m.registrations.WithLabelValues(result).Inc() }

func (m *metrics) challenge(code int) {
	if code == 407 {
		m.challenges.WithLabelValues("407").Inc()
		return
	}
	m.challenges.WithLabelValues("401").Inc()
}

func (m *metrics) event(k EventKind) {
	m.events.WithLabelValues(k.String()).Inc()
	switch k {
	case EventRegistered:
		m.bindings.Inc()
	case EventUnregistered, EventExpired, EventEvicted, EventFlowFailed:
		m.bindings.Dec()
	}
}
