package alert_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/palio-voip/palio/alert"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// recorder is a Notifier that keeps what it gets.
type recorder struct {
	name string
	mu   sync.Mutex
	got  []alert.Event
	hold chan struct{} // when set, Notify waits for it (or ctx)
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Notify(ctx context.Context, ev alert.Event) error {
	if r.hold != nil {
		select {
		case <-r.hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	r.got = append(r.got, ev)
	r.mu.Unlock()
	return nil
}

func (r *recorder) events() []alert.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]alert.Event(nil), r.got...)
}

// counter reads palio_alert_notifications_total for a notifier and result.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == k && l.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// TestDispatcherRoutes: each notifier gets the kinds and severities its
// route takes, with Time and Severity filled in; Close delivers what is
// queued; the counters say so.
func TestDispatcherRoutes(t *testing.T) {
	all := &recorder{name: "log"}
	trunks := &recorder{name: "webhook"}
	critical := &recorder{name: "telegram"}
	reg := prometheus.NewRegistry()
	d, err := alert.New(alert.Config{Routes: []alert.Route{
		{Notifier: all},
		{Notifier: trunks, Kinds: []alert.Kind{alert.KindTrunkNearLimit, alert.KindTrunkCleared}},
		{Notifier: critical, MinSeverity: alert.SeverityCritical},
	}}, alert.WithLogger(quiet()), alert.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	d.Publish(alert.Event{Kind: alert.KindTrunkNearLimit, Subject: "gw-siena-1", Message: "24 of 30 channels in use"})
	d.Publish(alert.Event{Kind: alert.KindGatewayDown, Subject: "gw-arezzo-1", Message: "no answer to OPTIONS"})
	d.Publish(alert.Event{Kind: alert.KindBan, Severity: alert.SeverityCritical, Subject: "192.0.2.7", Message: "banned"})
	d.Close()
	d.Publish(alert.Event{Kind: alert.KindGatewayUp}) // after Close: dropped

	kinds := func(evs []alert.Event) []alert.Kind {
		var ks []alert.Kind
		for _, e := range evs {
			ks = append(ks, e.Kind)
		}
		return ks
	}
	for _, tt := range []struct {
		r    *recorder
		want []alert.Kind
	}{
		{all, []alert.Kind{alert.KindTrunkNearLimit, alert.KindGatewayDown, alert.KindBan}},
		{trunks, []alert.Kind{alert.KindTrunkNearLimit}},
		{critical, []alert.Kind{alert.KindGatewayDown, alert.KindBan}},
	} {
		got := kinds(tt.r.events())
		if len(got) != len(tt.want) {
			t.Errorf("%s got %v, want %v", tt.r.name, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s got %v, want %v", tt.r.name, got, tt.want)
			}
		}
	}
	ev := all.events()[0]
	if ev.Severity != alert.SeverityWarning || ev.Time.Before(before) || ev.Time.After(time.Now()) {
		t.Errorf("trunk event: severity %v, time %v; want warning, now", ev.Severity, ev.Time)
	}
	if got := all.events()[1].Severity; got != alert.SeverityCritical {
		t.Errorf("gateway-down severity %v, want critical", got)
	}
	if got := counter(t, reg, "palio_alert_notifications_total", map[string]string{"notifier": "log", "result": "sent"}); got != 3 {
		t.Errorf("log sent = %v, want 3", got)
	}
	if got := counter(t, reg, "palio_alert_notifications_total", map[string]string{"notifier": "log", "result": "dropped"}); got != 1 {
		t.Errorf("log dropped = %v, want 1 (the event published after Close)", got)
	}
	if got := counter(t, reg, "palio_alert_events_total", map[string]string{"kind": "gateway-down"}); got != 1 {
		t.Errorf("events gateway-down = %v, want 1", got)
	}
	if _, err := alert.New(alert.Config{Routes: []alert.Route{{Notifier: all}, {Notifier: &recorder{name: "log"}}}}); err == nil {
		t.Error("two notifiers named log: no error")
	}
}

// TestDispatcherNeverBlocks: a notifier that never returns fills its queue;
// Publish stays fast, the other notifier gets everything, the overflow is
// counted as dropped, and Close gives up on the stuck one after
// DrainTimeout.
func TestDispatcherNeverBlocks(t *testing.T) {
	stuck := &recorder{name: "stuck", hold: make(chan struct{})}
	fast := &recorder{name: "fast"}
	reg := prometheus.NewRegistry()
	d, err := alert.New(alert.Config{Queue: 1000, DrainTimeout: 100 * time.Millisecond, Routes: []alert.Route{
		{Notifier: stuck}, {Notifier: fast},
	}}, alert.WithLogger(quiet()), alert.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	var slowest time.Duration
	for i := range n {
		start := time.Now()
		d.Publish(alert.Event{Kind: alert.KindBan, Message: "flood"})
		slowest = max(slowest, time.Since(start))
		if i%1000 == 999 {
			// Let the fast notifier keep up; the stuck one cannot.
			for deadline := time.Now().Add(5 * time.Second); len(fast.events()) < i+1 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
		}
	}
	if slowest > 100*time.Millisecond {
		t.Errorf("the slowest Publish took %v: it waited for a notifier", slowest)
	}
	if got := len(fast.events()); got != n {
		t.Errorf("the fast notifier got %d events, want %d", got, n)
	}
	dropped := counter(t, reg, "palio_alert_notifications_total", map[string]string{"notifier": "stuck", "result": "dropped"})
	if dropped < n-1000-1 {
		t.Errorf("stuck notifier: %v dropped, want at least %d", dropped, n-1000-1)
	}
	closeStart := time.Now()
	d.Close()
	if el := time.Since(closeStart); el > 2*time.Second {
		t.Errorf("Close took %v with a stuck notifier, want about the 100ms DrainTimeout", el)
	}
	total := counter(t, reg, "palio_alert_notifications_total", map[string]string{"notifier": "stuck"})
	if total != n {
		t.Errorf("stuck notifier: sent+failed+dropped = %v, want %d (every event accounted for)", total, n)
	}
	t.Logf("slowest of %d Publish calls: %v", n, slowest)
}
