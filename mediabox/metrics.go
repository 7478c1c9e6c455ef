package mediabox

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/internal/promreg"
)

// metrics are the media box's collectors; labels are bounded (the
// application, the reason, the outcome), never a user or a number.
type metrics struct {
	calls    *prometheus.CounterVec // app
	refused  *prometheus.CounterVec // reason
	active   prometheus.Gauge
	messages prometheus.Counter
	mail     *prometheus.CounterVec // result
	placed   *prometheus.CounterVec // result
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_mediabox_calls_total",
			Help: "Calls the media box answered, by application: ivr, voicemail, voicemail-menu, queue, agent.",
		}, []string{"app"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_mediabox_refused_total",
			Help: "Calls the media box refused or ended, by reason: fax, unknown, busy (too many calls), closing, media-timeout (no RTP from the caller).",
		}, []string{"reason"}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palio_mediabox_active_calls",
			Help: "Calls the media box is serving now.",
		}),
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palio_mediabox_messages_total",
			Help: "Voicemail messages recorded and stored.",
		}),
		mail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_mediabox_mail_total",
			Help: "Voicemail e-mail notifications, by result: sent, failed, dropped (queue full).",
		}, []string{"result"}),
		placed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_mediabox_placed_total",
			Help: "Calls the media box placed through the router (transfers, queue agents), by result: answered, failed.",
		}, []string{"result"}),
	}
	m.calls = promreg.Register(reg, m.calls)
	m.refused = promreg.Register(reg, m.refused)
	m.active = promreg.Register(reg, m.active)
	m.messages = promreg.Register(reg, m.messages)
	m.mail = promreg.Register(reg, m.mail)
	m.placed = promreg.Register(reg, m.placed)
	return m
}
