package admin

import (
	"net/http"
	"time"

	"github.com/palio-voip/palio/alert"
)

// AlertSource is the record of the alerts raised lately: an
// *alert.Dispatcher has it (Recent, newest first). It is the process's
// own, in memory: each node shows the alerts it raised.
type AlertSource interface {
	Recent() []alert.Record
}

// Alert is an alert as the API shows it: the event and what became of
// it at each notifier its route sent it to.
type Alert struct {
	Seq      uint64            `json:"seq"`
	Time     time.Time         `json:"time"`
	Kind     string            `json:"kind"`
	Severity string            `json:"severity"`
	Subject  string            `json:"subject"`
	Message  string            `json:"message"`
	Fields   map[string]string `json:"fields"`
	// Delivered is true when every notifier that took it delivered it.
	Delivered  bool            `json:"delivered"`
	Deliveries []AlertDelivery `json:"deliveries"`
}

// AlertDelivery is an alert's fate at one notifier: pending, sent,
// failed (with the error) or dropped.
type AlertDelivery struct {
	Notifier string `json:"notifier"`
	Result   string `json:"result"`
	Error    string `json:"error,omitempty"`
}

func alertOf(r alert.Record) Alert {
	a := Alert{Seq: r.Seq, Time: r.Event.Time, Kind: string(r.Event.Kind), Severity: r.Event.Severity.String(),
		Subject: r.Event.Subject, Message: r.Event.Message, Fields: r.Event.Fields, Delivered: r.Delivered(), Deliveries: []AlertDelivery{}}
	if a.Fields == nil {
		a.Fields = map[string]string{}
	}
	for _, d := range r.Deliveries {
		a.Deliveries = append(a.Deliveries, AlertDelivery{d.Notifier, string(d.Result), d.Error})
	}
	return a
}

// alerts returns the recent alerts, newest first, or errNotConfigured.
func (h *Handler) alerts() ([]Alert, error) {
	if h.cfg.Alerts == nil {
		return nil, errNotConfigured
	}
	out := []Alert{}
	for _, r := range h.cfg.Alerts.Recent() {
		out = append(out, alertOf(r))
	}
	return out, nil
}

// listAlerts answers the recent alerts, newest first.
func (h *Handler) listAlerts(w http.ResponseWriter, r *http.Request) error {
	out, err := h.alerts()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// alertsPage lists the recent alerts, newest first, with their delivery.
func (h *Handler) alertsPage(r *http.Request) (string, string, any, error) {
	out, err := h.alerts()
	if err != nil {
		return "", "", nil, err
	}
	return "alerts", "Alerts", map[string]any{"Alerts": out}, nil
}
