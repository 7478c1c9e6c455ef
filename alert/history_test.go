package alert_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/palio-voip/palio/alert"
)

// failing is a Notifier that never delivers.
type failing struct{ name string }

func (f failing) Name() string { return f.name }
func (f failing) Notify(context.Context, alert.Event) error {
	return errors.New("502 from the receiver")
}

// settled waits until no delivery of d's records is pending, and
// returns them.
func settled(t *testing.T, d *alert.Dispatcher) []alert.Record {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		recs := d.Recent()
		pending := false
		for _, r := range recs {
			for _, dl := range r.Deliveries {
				pending = pending || dl.Result == alert.ResultPending
			}
		}
		if !pending {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries still pending: %+v", recs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRecentBounded: the Dispatcher keeps the last History alerts,
// newest first, and forgets the older ones.
func TestRecentBounded(t *testing.T) {
	ok := &recorder{name: "ok"}
	d, err := alert.New(alert.Config{Routes: []alert.Route{{Notifier: ok}}, History: 3}, alert.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i := 1; i <= 5; i++ {
		d.Publish(alert.Event{Kind: alert.KindGatewayDown, Subject: fmt.Sprintf("gw-%d", i), Message: "no answer"})
	}
	recs := settled(t, d)
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%d %s %v", r.Seq, r.Event.Subject, r.Delivered()))
	}
	if want := []string{"5 gw-5 true", "4 gw-4 true", "3 gw-3 true"}; !slices.Equal(got, want) {
		t.Errorf("recent: got %q, want %q", got, want)
	}
	if recs[0].Event.Severity != alert.SeverityCritical || recs[0].Event.Time.IsZero() {
		t.Errorf("the record's event: got %+v, want the severity and time Publish filled in", recs[0].Event)
	}
}

// TestRecentDeliveries: each notifier's result is recorded: sent,
// failed with its error, dropped by a full queue; an event no route
// takes is recorded without deliveries.
func TestRecentDeliveries(t *testing.T) {
	held := &recorder{name: "held", hold: make(chan struct{})}
	d, err := alert.New(alert.Config{Queue: 1, Routes: []alert.Route{
		{Notifier: &recorder{name: "log"}, Kinds: []alert.Kind{alert.KindBan}},
		{Notifier: failing{"webhook"}, Kinds: []alert.Kind{alert.KindBan}},
		{Notifier: held, Kinds: []alert.Kind{alert.KindTrunkNearLimit}},
	}}, alert.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.Publish(alert.Event{Kind: alert.KindBan, Subject: "ip 203.0.113.9", Message: "10 auth failures", Fields: map[string]string{"until": "1h"}})
	d.Publish(alert.Event{Kind: alert.KindDailyReport, Subject: "2026-12-05"})
	// The held notifier takes the first from its queue and waits; the
	// second fills the queue; the third finds it full.
	for i := 1; i <= 3; i++ {
		d.Publish(alert.Event{Kind: alert.KindTrunkNearLimit, Subject: fmt.Sprintf("trunk %d", i)})
		if i == 1 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	recs := d.Recent()
	if len(recs) != 5 {
		t.Fatalf("got %d records, want 5", len(recs))
	}
	if got := recs[0].Deliveries; len(got) != 1 || got[0] != (alert.Delivery{Notifier: "held", Result: alert.ResultDropped}) {
		t.Errorf("trunk 3, past a full queue: got %+v, want dropped at held", got)
	}
	close(held.hold)
	recs = settled(t, d)
	ban := recs[4]
	want := []alert.Delivery{{Notifier: "log", Result: alert.ResultSent}, {Notifier: "webhook", Result: alert.ResultFailed, Error: "502 from the receiver"}}
	if !slices.Equal(ban.Deliveries, want) || ban.Delivered() {
		t.Errorf("the ban's deliveries: got %+v (delivered %v), want %+v (not delivered)", ban.Deliveries, ban.Delivered(), want)
	}
	if r := recs[3]; r.Event.Kind != alert.KindDailyReport || len(r.Deliveries) != 0 || r.Delivered() {
		t.Errorf("an event no route takes: got %+v, want it recorded, undelivered", r)
	}
	if r := recs[2]; !r.Delivered() || r.Event.Subject != "trunk 1" {
		t.Errorf("trunk 1, once released: got %+v, want delivered", r)
	}
	recs[4].Event.Fields["until"] = "changed"
	if got := d.Recent()[4].Event.Fields["until"]; got != "1h" {
		t.Errorf("Recent's records share the Dispatcher's: a field changed to %q", got)
	}
}

// TestRecentOff: a negative History keeps nothing.
func TestRecentOff(t *testing.T) {
	d, err := alert.New(alert.Config{History: -1}, alert.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.Publish(alert.Event{Kind: alert.KindBan})
	if recs := d.Recent(); len(recs) != 0 {
		t.Errorf("got %+v, want nothing kept", recs)
	}
}
