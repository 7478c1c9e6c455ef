package sip

import (
	"strconv"

	"github.com/palio-voip/palio/internal/promreg"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus collectors. Labels are bounded: the
// method (unknown methods count as OTHER), the status code, the outcome.
type metrics struct {
	requests  *prometheus.CounterVec
	responses *prometheus.CounterVec
	branches  *prometheus.CounterVec
	panics    prometheus.Counter
	stray     prometheus.Counter
	// strayRelayed counts 2xx retransmissions forwarded statelessly;
	// absorbed, INVITE retransmissions of answered calls.
	strayRelayed prometheus.Counter
	absorbed     prometheus.Counter
	// laneFull counts responses dropped because their transaction had
	// laneQueue of them waiting already (responseorder.go).
	laneFull prometheus.Counter
	dialogs  prometheus.Gauge
	ended    *prometheus.CounterVec
	// inDialogRefused counts in-dialog requests the DialogRelay refused.
	inDialogRefused *prometheus.CounterVec
	// dialogEventsDropped counts dialog events an asynchronous subscriber
	// lost to a full queue.
	dialogEventsDropped *prometheus.CounterVec
	// filterErrors counts call filters that failed on a message.
	filterErrors *prometheus.CounterVec
	// originated counts requests of the proxy's own (Send).
	originated *prometheus.CounterVec
	// flows counts what Flows and the flow tokens did (flow.go).
	flows *prometheus.CounterVec

	// Stream transports (streamlimit.go) and hostile input (logfilter.go).
	streamConns   *prometheus.GaugeVec
	streamRefused *prometheus.CounterVec
	streamClosed  *prometheus.CounterVec
	unparsable    *prometheus.CounterVec
	// malformedAnswered counts the unparsable requests answered 400.
	malformedAnswered prometheus.Counter
	logSuppressed     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_sip_requests_total",
			Help: "SIP requests received, by method.",
		}, []string{"method"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_sip_responses_total",
			Help: "Final responses sent upstream, by status code.",
		}, []string{"code"}),
		branches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_sip_branches_total",
			Help: "Requests forwarded downstream, by outcome (status class, timeout, transport, canceled).",
		}, []string{"outcome"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palio_sip_handler_panics_total",
			Help: "Handler panics recovered and answered with 500.",
		}),
		stray: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palio_sip_stray_responses_total",
			Help: "Responses that matched no transaction and were dropped.",
		}),
		strayRelayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palio_sip_relayed_retransmissions_total",
			Help: "2xx retransmissions forwarded statelessly after their transaction ended.",
		}),
		laneFull: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palio_sip_responses_overflow_total",
			Help: "Responses dropped because too many of their client transaction's were waiting to be handled.",
		}),
		absorbed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palio_sip_absorbed_retransmissions_total",
			Help: "INVITE retransmissions of answered calls, dropped.",
		}),
		dialogs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palio_sip_dialogs",
			Help: "Calls in the dialog table (trying, early or confirmed).",
		}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_sip_dialogs_ended_total",
			Help: "Calls that ended, by cause.",
		}, []string{"cause"}),
		inDialogRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_sip_in_dialog_refused_total",
			Help: "In-dialog requests refused, by reason: unknown-dialog (481), bad-signature (a Route of ours not signed for the dialog, 403), not-a-party (a dialog in the table, but not from one end to the other, 403).",
		}, []string{"reason"}),
		dialogEventsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_sip_dialog_events_dropped_total",
			Help: "Dialog events an asynchronous subscriber lost because its queue was full, by subscriber.",
		}, []string{"subscriber"}),
		originated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_sip_originated_requests_total",
			Help: "Requests of the proxy's own sent with Send (NOTIFY, BYE of a hang-up, MESSAGE...), by method.",
		}, []string{"method"}),
		flows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_sip_flows_total",
			Help: "Flows of phones reached through this node (Flows, RFC 5626 flow tokens in Path and Route), by outcome: path (a Path entry added to a REGISTER), relayed (a request sent over a flow a Route named), failed (430: the flow's connection was gone), forged (403: a token with a wrong signature).",
		}, []string{"outcome"}),
		filterErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_sip_call_filter_errors_total",
			Help: "Messages a call's filter failed on, by kind (request: not sent; response: sent as left).",
		}, []string{"kind"}),
	}
	m.streamConns = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "palio_sip_stream_connections",
		Help: "Accepted TCP, TLS and WebSocket connections open, by transport.",
	}, []string{"transport"})
	m.streamRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "palio_sip_stream_refused_total",
		Help: "Stream connections closed at accept because a cap was reached or the source gate refused the source, by reason (per-ip, total, gate).",
	}, []string{"reason"})
	m.streamClosed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "palio_sip_stream_closed_total",
		Help: "Accepted stream connections closed, by reason (idle, message-timeout, write-timeout, handshake, peer, error, local, gate, origin).",
	}, []string{"reason"})
	m.unparsable = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "palio_sip_unparsable_total",
		Help: "Messages that could not be parsed, by transport.",
	}, []string{"transport"})
	m.malformedAnswered = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "palio_sip_malformed_answered_total",
		Help: "Unparsable requests over UDP answered 400 Bad Request (built from their raw Via, From, To, Call-ID and CSeq; at most 100 a second).",
	})
	m.logSuppressed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "palio_sip_log_suppressed_total",
		Help: "Log lines about hostile input or from sipgo suppressed by rate limiting.",
	})
	for _, t := range []string{"tcp", "tls", "ws", "wss"} {
		m.streamConns.WithLabelValues(t)
	}
	for _, t := range []string{"udp", "tcp", "tls", "ws", "wss"} {
		m.unparsable.WithLabelValues(t)
	}
	for _, r := range []string{refusedPerIP, refusedTotal} {
		m.streamRefused.WithLabelValues(r)
	}
	for _, r := range []string{closedIdle, closedMessage, closedWrite, closedHandshake, closedPeer, closedError, closedLocal} {
		m.streamClosed.WithLabelValues(r)
	}
	m.requests = promreg.Register(reg, m.requests)
	m.responses = promreg.Register(reg, m.responses)
	m.branches = promreg.Register(reg, m.branches)
	m.panics = promreg.Register(reg, m.panics)
	m.stray = promreg.Register(reg, m.stray)
	m.strayRelayed = promreg.Register(reg, m.strayRelayed)
	m.absorbed = promreg.Register(reg, m.absorbed)
	m.laneFull = promreg.Register(reg, m.laneFull)
	m.dialogs = promreg.Register(reg, m.dialogs)
	m.ended = promreg.Register(reg, m.ended)
	m.inDialogRefused = promreg.Register(reg, m.inDialogRefused)
	m.dialogEventsDropped = promreg.Register(reg, m.dialogEventsDropped)
	m.filterErrors = promreg.Register(reg, m.filterErrors)
	m.originated = promreg.Register(reg, m.originated)
	for _, o := range []string{flowPath, flowRelayed, flowFailed, flowForged} {
		m.flows.WithLabelValues(o)
	}
	m.flows = promreg.Register(reg, m.flows)
	m.streamConns = promreg.Register(reg, m.streamConns)
	m.streamRefused = promreg.Register(reg, m.streamRefused)
	m.streamClosed = promreg.Register(reg, m.streamClosed)
	m.unparsable = promreg.Register(reg, m.unparsable)
	m.malformedAnswered = promreg.Register(reg, m.malformedAnswered)
	m.logSuppressed = promreg.Register(reg, m.logSuppressed)
	promreg.Register(reg, newStartingStackGauge())
	return m
}

var knownMethods = map[Method]string{
	INVITE: "INVITE", ACK: "ACK", CANCEL: "CANCEL", BYE: "BYE", REGISTER: "REGISTER",
	OPTIONS: "OPTIONS", SUBSCRIBE: "SUBSCRIBE", NOTIFY: "NOTIFY", REFER: "REFER",
	INFO: "INFO", MESSAGE: "MESSAGE", PRACK: "PRACK", UPDATE: "UPDATE", PUBLISH: "PUBLISH",
}

func (m *metrics) request(method Method) {
	m.requests.WithLabelValues(methodLabel(method)).Inc()
}

// methodLabel is the metric label of a method: its name, or OTHER for an
// extension method (labels stay bounded).
func methodLabel(method Method) string {
	if name, ok := knownMethods[method]; ok {
		return name
	}
	return "OTHER"
}

var codeLabels = func() [700]string {
	var l [700]string
	for i := range l {
		l[i] = strconv.Itoa(i)
	}
	return l
}()

func (m *metrics) response(code int) {
	if code < 100 || code > 699 {
		return
	}
	m.responses.WithLabelValues(codeLabels[code]).Inc()
}

func (m *metrics) branch(outcome string) { m.branches.WithLabelValues(outcome).Inc() }

func (m *metrics) dialogEvent(ev DialogEvent) {
	switch ev.Kind {
	case EventCreated:
		m.dialogs.Inc()
	case EventTerminated:
		m.dialogs.Dec()
		m.ended.WithLabelValues(string(ev.Dialog.Cause)).Inc()
	}
}

// outcomeLabel is the branch outcome label of a status code.
func outcomeLabel(code int) string {
	switch {
	case code >= 600:
		return "6xx"
	case code >= 500:
		return "5xx"
	case code >= 400:
		return "4xx"
	case code >= 300:
		return "3xx"
	default:
		return "2xx"
	}
}

// tlsMetrics are a TLS's collectors (WithTLSRegisterer).
type tlsMetrics struct {
	expiry            *prometheus.GaugeVec
	reloads           *prometheus.CounterVec
	handshakeFailures *prometheus.CounterVec
	redials           *prometheus.CounterVec
}

func newTLSMetrics() *tlsMetrics {
	m := &tlsMetrics{
		expiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "palio_sip_tls_certificate_expiry_days",
			Help: "Days left before each loaded server certificate expires, by certificate name.",
		}, []string{"name"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_sip_tls_reloads_total",
			Help: "Reloads of the TLS certificates, by outcome (ok, error).",
		}, []string{"outcome"}),
		handshakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_sip_tls_handshake_failures_total",
			Help: "TLS handshakes refused by Palio's own checks, by side (server: a peer connecting without a certificate for its name, or a trunk's bad client certificate; client: a dialled gateway refused by its entry's CA or pin).",
		}, []string{"side"}),
		redials: newRedials(),
	}
	for _, o := range []string{"ok", "error"} {
		m.reloads.WithLabelValues(o)
	}
	for _, s := range []string{"server", "client"} {
		m.handshakeFailures.WithLabelValues(s)
	}
	return m
}

// newRedials returns the counter of the pooled connections the server
// dialled that were dropped and dialled again (streamDialer): a TLS's
// (WithTLSRegisterer), or without Config.TLS the server's (WithRegisterer).
// The name stays the TLS one it had before capture made TCP dials the
// server's own too.
func newRedials() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "palio_sip_tls_redials_total",
		Help: "Pooled connections the server dialled (TLS to gateways by address; with HEP capture, every TCP and TLS one) dropped and dialled again, by cause (closed: known closed before a send; failed: a send failed on it and was made again).",
	}, []string{"cause"})
	for _, cause := range []string{"closed", "failed"} {
		c.WithLabelValues(cause)
	}
	return c
}

// register registers the collectors with reg (the expiry gauge keeps the
// values set before).
func (m *tlsMetrics) register(reg prometheus.Registerer) {
	m.expiry = promreg.Register(reg, m.expiry)
	m.reloads = promreg.Register(reg, m.reloads)
	m.handshakeFailures = promreg.Register(reg, m.handshakeFailures)
	m.redials = promreg.Register(reg, m.redials)
}
