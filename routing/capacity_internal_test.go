package routing

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
)

// These tests feed the Router dialog events directly; proxy_test.go checks
// the same against a real proxy and its dialog table.

func capData() Data {
	return Data{
		Gateways: []Gateway{
			{ID: 1, GWID: "pri-1", Address: "10.0.0.1", Channels: 10},
			{ID: 2, GWID: "pri-2", Address: "10.0.0.2", Channels: 10},
			{ID: 3, GWID: "trunk", Address: "10.0.0.3"},
		},
		Carriers: []Carrier{{ID: 1, CarrierID: "pstn", GWList: "pri-1,pri-2", Channels: 15}},
		Rules: []Rule{
			{ID: 1, Groups: "0", Prefix: "1", GWList: "pri-1,trunk"},
			{ID: 2, Groups: "0", Prefix: "2", GWList: "#pstn"},
		},
	}
}

func newCapRouter(t *testing.T, d Data, cfg Config) (*Router, *MemStore) {
	t.Helper()
	cfg.VolatileState = true
	s := NewMemStore(d)
	r, err := New(cfg, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r, s
}

// testCalls are the call records of the tests' calls, by Call-ID, as the
// dialog table would carry them.
var testCalls sync.Map

func callOf(callID string) *sip.Call {
	c, _ := testCalls.LoadOrStore(callID, &sip.Call{CallID: callID, FromTag: "tag-" + callID})
	return c.(*sip.Call)
}

func branch(kind sip.EventKind, callID, gw string) sip.DialogEvent {
	return sip.DialogEvent{Kind: kind, Dialog: sip.Dialog{CallID: callID, FromTag: "tag-" + callID, Call: callOf(callID)}, Leg: sip.Leg{Gateway: gw}}
}

func start(r *Router, callID, gw string) { r.onDialogEvent(branch(sip.EventBranchStarted, callID, gw)) }
func end(r *Router, callID, gw string)   { r.onDialogEvent(branch(sip.EventBranchEnded, callID, gw)) }

func calls(r *Router) map[string]int {
	out := map[string]int{}
	for _, g := range r.Gateways() {
		out[g.GWID] = g.Calls
	}
	for _, c := range r.Carriers() {
		out["#"+c.CarrierID] = c.Calls
	}
	return out
}

func TestCounting(t *testing.T) {
	r, _ := newCapRouter(t, capData(), Config{})
	start(r, "a", "pri-1")
	start(r, "b", "pri-1")
	start(r, "c", "pri-2")
	start(r, "d", "trunk")
	start(r, "e", "")          // a phone: not counted
	start(r, "f", "elsewhere") // a gateway of another stage: counted apart
	r.onDialogEvent(sip.DialogEvent{Kind: sip.EventConfirmed, Leg: sip.Leg{Gateway: "pri-1"}})
	want := map[string]int{"pri-1": 2, "pri-2": 1, "trunk": 1, "#pstn": 3}
	if got := calls(r); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("calls: got %v, want %v", got, want)
	}
	end(r, "a", "pri-1")
	end(r, "c", "pri-2")
	end(r, "c", "pri-2") // a second end never goes below zero
	want = map[string]int{"pri-1": 1, "pri-2": 0, "trunk": 1, "#pstn": 1}
	if got := calls(r); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("calls after ends: got %v, want %v", got, want)
	}
	r.capMu.Lock()
	other := r.gwRT["elsewhere"].legs
	r.capMu.Unlock()
	if other != 1 {
		t.Errorf("calls on an unknown gateway: got %d, want 1", other)
	}
}

func TestReservations(t *testing.T) {
	d := capData()
	d.Gateways[0].Channels = 2
	r, _ := newCapRouter(t, d, Config{})
	g := r.tab.Load().gwByID["pri-1"]
	resA, _, full := r.reserve(t.Context(), g, callOf("res-a"))
	if full {
		t.Fatal("first reservation refused")
	}
	resB, _, full := r.reserve(t.Context(), g, callOf("res-b"))
	if full {
		t.Fatal("second reservation refused")
	}
	_, f, full := r.reserve(t.Context(), g, callOf("res-c"))
	if !full || f.String() != "full: 2 of 2 channels" {
		t.Fatalf("third reservation: got %v %q, want full: 2 of 2 channels", full, f)
	}
	if callOf("res-a").Value(reservationKey{}) != resA {
		t.Fatal("the reservation does not hang on the call's record")
	}
	// The branch of a takes its reservation over: still full.
	start(r, "res-a", "pri-1")
	r.release(resA, callOf("res-a"))
	if _, _, full := r.reserve(t.Context(), g, callOf("res-c")); !full {
		t.Error("reservation taken over by a branch was counted twice or freed")
	}
	// b never started a branch: releasing frees its channel.
	r.release(resB, callOf("res-b"))
	resC, _, full := r.reserve(t.Context(), g, callOf("res-c"))
	if full {
		t.Error("released reservation not freed")
	}
	r.release(resC, callOf("res-c"))
	end(r, "res-a", "pri-1")
	r.capMu.Lock()
	s := r.gwRT["pri-1"]
	legs, pending := s.legs, s.pending
	r.capMu.Unlock()
	if legs != 0 || pending != 0 {
		t.Errorf("after every call ended: legs %d pending %d, want 0 0", legs, pending)
	}
	for _, id := range []string{"res-a", "res-b", "res-c"} {
		if v := callOf(id).Value(reservationKey{}); v != nil {
			t.Errorf("call %s still holds a reservation", id)
		}
	}
}

// TestConcurrentReservations checks that concurrent calls cannot overshoot
// a limit: of 100 calls racing for 10 channels, 10 get one.
func TestConcurrentReservations(t *testing.T) {
	r, _ := newCapRouter(t, capData(), Config{})
	g := r.tab.Load().gwByID["pri-1"]
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint("conc-", i)
			if _, _, full := r.reserve(t.Context(), g, callOf(id)); !full {
				start(r, id, "pri-1")
				mu.Lock()
				got++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if got != 10 {
		t.Errorf("calls placed: got %d, want 10", got)
	}
	if c := calls(r)["pri-1"]; c != 10 {
		t.Errorf("calls counted: got %d, want 10", c)
	}
}

// TestCarrierLimit checks that a carrier's limit counts the calls of all
// its gateways, however they were routed.
func TestCarrierLimit(t *testing.T) {
	r, _ := newCapRouter(t, capData(), Config{})
	for i := range 9 {
		start(r, fmt.Sprint("x", i), "pri-1") // routed to pri-1 directly
	}
	for i := range 6 {
		start(r, fmt.Sprint("y", i), "pri-2")
	}
	d, err := r.Route(0, "2000")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Destinations) != 0 || len(d.Skipped) != 2 || d.Skipped[0].Reason != "carrier pstn full: 15 of 15 channels" {
		t.Errorf("pstn at 15 of 15: got destinations %v skipped %v, want both gateways skipped, carrier full", d.Destinations, d.Skipped)
	}
	// pri-1 alone is not full (9 of 10), but its carrier is.
	d, _ = r.Route(0, "1000")
	if len(d.Destinations) != 1 || d.Destinations[0].Gateway != "trunk" {
		t.Errorf("rule 1: got %v, want only trunk (pri-1's carrier is full)", d.Destinations)
	}
	end(r, "y0", "pri-2")
	d, _ = r.Route(0, "1000")
	if len(d.Destinations) != 2 {
		t.Errorf("rule 1 after one call ended: got %v, want pri-1 and trunk", d.Destinations)
	}
}

// TestAlarm checks that the trunk alarm fires once at the threshold and
// clears once below it.
func TestAlarm(t *testing.T) {
	r, s := newCapRouter(t, capData(), Config{})
	events := make(chan Event, 100)
	defer r.Subscribe(func(ev Event) { events <- ev })()
	for i := range 10 {
		start(r, fmt.Sprint(i), "pri-1") // 8 of 10 raises, 9 and 10 do not again
	}
	end(r, "9", "pri-1")
	end(r, "8", "pri-1")   // 8: still raised
	end(r, "7", "pri-1")   // 7: cleared
	start(r, "7", "pri-1") // 8 again: raised again
	want := []string{
		"gateway pri-1: alarm, 8 of 10 channels in use",
		"gateway pri-1: alarm cleared, 7 of 10 channels in use",
		"gateway pri-1: alarm, 8 of 10 channels in use",
	}
	for i, w := range want {
		select {
		case ev := <-events:
			if ev.String() != w {
				t.Errorf("event %d: got %q, want %q", i, ev, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d: none, want %q", i, w)
		}
	}
	// The carrier (15 channels, alarm at 12) has seen 8 calls at most.
	// Removing pri-1's limit clears its alarm.
	d := capData()
	d.Gateways[0].Channels = 0
	s.Set(d)
	if _, err := r.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev.Kind != EventTrunkAlarmCleared || ev.Gateway != "pri-1" {
			t.Errorf("after the limit was removed: got %v, want pri-1's alarm cleared", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("alarm not cleared when the limit was removed")
	}
	select {
	case ev := <-events:
		t.Errorf("unexpected event %v", ev)
	case <-time.After(50 * time.Millisecond):
	}
	if c := calls(r)["pri-1"]; c != 8 {
		t.Errorf("calls kept across the reload: got %d, want 8", c)
	}
}

func TestCarrierAlarm(t *testing.T) {
	r, _ := newCapRouter(t, capData(), Config{AlarmThreshold: 0.5})
	events := make(chan Event, 100)
	defer r.Subscribe(func(ev Event) { events <- ev })()
	for i := range 4 {
		start(r, fmt.Sprint("a", i), "pri-1")
		start(r, fmt.Sprint("b", i), "pri-2")
	}
	// pstn: 15 channels, alarm at 8 (half, rounded up); pri-1, pri-2: 5 of 10.
	select {
	case ev := <-events:
		if ev.String() != "carrier pstn: alarm, 8 of 15 channels in use" {
			t.Errorf("got %q, want pstn's alarm at 8 of 15", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no carrier alarm")
	}
	for _, c := range r.Carriers() {
		if c.CarrierID == "pstn" && !c.Alarm {
			t.Error("Carriers(): pstn alarm not raised")
		}
	}
}

func TestAlarmAt(t *testing.T) {
	for _, tt := range []struct {
		channels  int
		threshold float64
		want      int
	}{
		{30, 0.8, 24}, {10, 0.8, 8}, {2, 0.8, 2}, {1, 0.8, 1}, {15, 0.5, 8}, {30, 1, 30}, {30, 0.01, 1},
		{0, 0.8, 0}, {30, -1, 0},
	} {
		if got := alarmAt(tt.channels, tt.threshold); got != tt.want {
			t.Errorf("alarmAt(%d, %v): got %d, want %d", tt.channels, tt.threshold, got, tt.want)
		}
	}
}
