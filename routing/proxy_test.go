package routing_test

// Socket-level tests: a real Palio proxy on 127.0.0.1 whose pipeline is the
// routing stage in front of the Forwarder, with the Router watching the
// proxy's dialog table, and siptest gateways that answer per script.

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

func testLogger() *slog.Logger { return siptest.Logger() }

func leakCheck(t *testing.T) { siptest.LeakCheck(t) }

type testProxy struct {
	srv    *sip.Server
	router *routing.Router
	store  *routing.MemStore
}

func newProxy(t *testing.T, cfg routing.Config, d routing.Data, fc sip.ForwarderConfig) *testProxy {
	t.Helper()
	store := routing.NewMemStore(d)
	r, err := routing.New(cfg, store, routing.WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	tp := siptest.NewProxy(t, siptest.ProxyConfig{Networks: []string{"udp"}, Forwarder: fc, Stages: []sip.Middleware{r.Wrap}})
	t.Cleanup(r.Close) // before the server closes: cleanups run last first
	r.Watch(tp.Server.Dialogs())
	return &testProxy{srv: tp.Server, router: r, store: store}
}

func (p *testProxy) addr() string { return p.srv.Local().Addr("udp") }

func ctxT(t *testing.T, d time.Duration) context.Context { return siptest.Context(t, d) }

// answering returns a gateway that rings, then answers.
func answering(t *testing.T) *siptest.UA {
	return siptest.NewGateway(t, siptest.Respond(180), siptest.Pause(20*time.Millisecond), siptest.Respond(200))
}

// pstnData returns gateways named after addrs (in order) and a rule for
// national numbers (prefix 00) listing them, as UniSI's PSTN gateways:
// strip the outside-line 0.
func pstnData(addrs ...string) routing.Data {
	d := routing.Data{}
	var list []string
	for i, a := range addrs {
		id := fmt.Sprintf("gw%d", i+1)
		d.Gateways = append(d.Gateways, routing.Gateway{ID: i + 1, GWID: id, Address: a, Strip: 1})
		list = append(list, id)
	}
	d.Rules = []routing.Rule{{ID: 1, Groups: "0", Prefix: "00", GWList: strings.Join(list, ",")}}
	return d
}

// callsOn returns the calls in progress per gateway.
func callsOn(r *routing.Router) map[string]int {
	out := map[string]int{}
	for _, g := range r.Gateways() {
		out[g.GWID] = g.Calls
	}
	return out
}

// waitCalls waits until the calls in progress per gateway are want.
func waitCalls(t *testing.T, r *routing.Router, want map[string]int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := callsOn(r)
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls in progress: got %v, want %v", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFailover503(t *testing.T) {
	leakCheck(t)
	gw1 := siptest.NewGateway(t, siptest.Respond(503))
	gw2 := answering(t)
	p := newProxy(t, routing.Config{}, pstnData(gw1.Addr(), gw2.Addr()), sip.ForwarderConfig{})
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.addr()))
	ctx := ctxT(t, 10*time.Second)

	call, err := caller.Invite(ctx, "sip:00577232111@"+p.addr())
	if err != nil {
		t.Fatal(err)
	}
	res, err := call.WaitFinal(ctx)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("final: got %v %v, want 200 from gw2", res, err)
	}
	if n := len(gw1.Received(sip.INVITE)); n != 1 {
		t.Errorf("gw1 got %d INVITEs, want 1", n)
	}
	in, err := gw2.WaitIncoming(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := in.Invite.Recipient.String(), "sip:0577232111@"+gw2.Addr(); got != want {
		t.Errorf("gw2's Request-URI: got %s, want %s", got, want)
	}
	waitCalls(t, p.router, map[string]int{"gw1": 0, "gw2": 1})
	d, ok := p.srv.Dialogs().Get(call.CallID(), call.FromTag())
	if !ok || d.Gateway != "gw2" {
		t.Errorf("dialog: got %+v, want gateway gw2", d)
	}
	if res, err := call.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE: %v %v", res, err)
	}
	waitCalls(t, p.router, map[string]int{"gw1": 0, "gw2": 0})
}

func TestBusyStops(t *testing.T) {
	leakCheck(t)
	gw1 := siptest.NewGateway(t, siptest.Respond(180), siptest.Respond(486))
	gw2 := answering(t)
	p := newProxy(t, routing.Config{}, pstnData(gw1.Addr(), gw2.Addr()), sip.ForwarderConfig{})
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.addr()))
	ctx := ctxT(t, 10*time.Second)

	call, err := caller.Invite(ctx, "sip:00577232111@"+p.addr())
	if err != nil {
		t.Fatal(err)
	}
	res, err := call.WaitFinal(ctx)
	if err != nil || res.StatusCode != 486 {
		t.Fatalf("final: got %v %v, want gw1's 486", res, err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(gw2.Received(sip.INVITE)); n != 0 {
		t.Errorf("gw2 got %d INVITEs after gw1's 486, want 0", n)
	}
	waitCalls(t, p.router, map[string]int{"gw1": 0, "gw2": 0})
}

// TestSilenceFailsOver checks that a gateway that never answers costs the
// Forwarder's first-response timer (408), then the call goes to the next,
// and that the 408 makes the probed gateway inactive (DisableCodes).
func TestSilenceFailsOver(t *testing.T) {
	leakCheck(t)
	hole := siptest.NewBlackhole(t)
	gw2 := answering(t)
	d := pstnData(hole.Addr(), gw2.Addr())
	d.Gateways[0].ProbeMode = routing.ProbeWhenInactive
	p := newProxy(t, routing.Config{DisableCodes: []int{408}}, d, sip.ForwarderConfig{FirstResponse: 300 * time.Millisecond})
	events := make(chan routing.Event, 10)
	defer p.router.Subscribe(func(ev routing.Event) { events <- ev })()
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.addr()))
	ctx := ctxT(t, 10*time.Second)

	start := time.Now()
	call, err := caller.Invite(ctx, "sip:00577232111@"+p.addr())
	if err != nil {
		t.Fatal(err)
	}
	res, err := call.WaitFinal(ctx)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("final: got %v %v, want 200 from gw2", res, err)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("answered after %v, want after the 300 ms first-response timer", took)
	}
	if hole.Packets() == 0 {
		t.Error("the silent gateway got nothing")
	}
	ev := waitEvent(t, events, func(ev routing.Event) bool { return ev.Kind == routing.EventGatewayState })
	if ev.Gateway != "gw1" || ev.State != routing.StateInactive || ev.Cause != routing.CauseCall {
		t.Errorf("event: got %v, want gw1 inactive after its 408", ev)
	}
	if _, err := call.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	waitCalls(t, p.router, map[string]int{"gw1": 0, "gw2": 0})
}

// TestCancelDuringFailover checks that the caller's CANCEL, while the
// second gateway rings, ends the call: that gateway gets the CANCEL and
// the third is never tried.
func TestCancelDuringFailover(t *testing.T) {
	leakCheck(t)
	gw1 := siptest.NewGateway(t, siptest.Respond(503))
	gw2 := siptest.NewGateway(t, siptest.Respond(180), siptest.Hold())
	gw3 := answering(t)
	p := newProxy(t, routing.Config{}, pstnData(gw1.Addr(), gw2.Addr(), gw3.Addr()), sip.ForwarderConfig{})
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.addr()))
	ctx := ctxT(t, 10*time.Second)

	call, err := caller.Invite(ctx, "sip:00577232111@"+p.addr())
	if err != nil {
		t.Fatal(err)
	}
	if err := call.WaitCode(ctx, 180); err != nil {
		t.Fatal(err)
	}
	waitCalls(t, p.router, map[string]int{"gw1": 0, "gw2": 1, "gw3": 0})
	if _, err := call.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := call.WaitFinal(ctx)
	if err != nil || res.StatusCode != 487 {
		t.Fatalf("final: got %v %v, want 487", res, err)
	}
	in, err := gw2.WaitIncoming(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.WaitCancel(ctx); err != nil {
		t.Errorf("gw2: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(gw3.Received(sip.INVITE)); n != 0 {
		t.Errorf("gw3 got %d INVITEs after the caller cancelled, want 0", n)
	}
	waitCalls(t, p.router, map[string]int{"gw1": 0, "gw2": 0, "gw3": 0})
}

// TestTrunkCapacity places calls at once on a gateway limited to 2
// channels: 2 go there, the others to the next gateway, and with no next
// gateway they get 503. The alarm (80 % of 2 = 2 calls) fires once and
// clears once, when the gateway hangs one call up.
func TestTrunkCapacity(t *testing.T) {
	leakCheck(t)
	pri := answering(t)
	trunk := answering(t)
	d := pstnData(pri.Addr(), trunk.Addr())
	d.Gateways[0].Channels = 2
	d.Rules = append(d.Rules, routing.Rule{ID: 2, Groups: "0", Prefix: "01", GWList: "gw1"})
	p := newProxy(t, routing.Config{}, d, sip.ForwarderConfig{})
	var mu sync.Mutex
	var alarms []string
	defer p.router.Subscribe(func(ev routing.Event) {
		if ev.Kind == routing.EventTrunkAlarm || ev.Kind == routing.EventTrunkAlarmCleared {
			mu.Lock()
			alarms = append(alarms, ev.String())
			mu.Unlock()
		}
	})()
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.addr()))
	ctx := ctxT(t, 15*time.Second)

	// Five national calls at once: two on gw1, three on gw2.
	calls := make([]*siptest.Call, 5)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := caller.Invite(ctx, fmt.Sprintf("sip:0057723210%d@%s", i, p.addr()))
			if err != nil {
				t.Error(err)
				return
			}
			if res, err := c.WaitFinal(ctx); err != nil || res.StatusCode != 200 {
				t.Errorf("call %d: got %v %v, want 200", i, res, err)
			}
			calls[i] = c
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if a, b := len(pri.Received(sip.INVITE)), len(trunk.Received(sip.INVITE)); a != 2 || b != 3 {
		t.Errorf("INVITEs: gw1 got %d, gw2 %d; want 2 and 3", a, b)
	}
	waitCalls(t, p.router, map[string]int{"gw1": 2, "gw2": 3})

	// A call that may only use gw1: 503, and gw1 never sees it.
	c, err := caller.Invite(ctx, "sip:0123456@"+p.addr())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.WaitFinal(ctx); err != nil || res.StatusCode != 503 {
		t.Errorf("call over the limit: got %v %v, want 503", res, err)
	}
	if n := len(pri.Received(sip.INVITE)); n != 2 {
		t.Errorf("gw1 got %d INVITEs, want still 2", n)
	}

	// gw1 hangs one call up: 1 of 2, the alarm clears; the other call is
	// hung up by the caller.
	in, err := pri.WaitIncoming(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := in.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("gw1's BYE: %v %v", res, err)
	}
	waitCalls(t, p.router, map[string]int{"gw1": 1, "gw2": 3})
	for _, c := range calls {
		if !c.Ended() {
			if _, err := c.Bye(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitCalls(t, p.router, map[string]int{"gw1": 0, "gw2": 0})
	want := []string{
		"gateway gw1: alarm, 2 of 2 channels in use",
		"gateway gw1: alarm cleared, 1 of 2 channels in use",
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := slices.Clone(alarms)
		mu.Unlock()
		if slices.Equal(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alarm events: got %q, want %q", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestProbingOverSockets probes a gateway with the proxy's own OPTIONS
// (sip.Server.Ping): a silent gateway goes inactive and calls skip it; when
// a UA answers on its address again, it comes back.
func TestProbingOverSockets(t *testing.T) {
	leakCheck(t)
	hole := siptest.NewBlackhole(t)
	addr := hole.Addr()
	backup := answering(t)
	d := pstnData(addr, backup.Addr())
	d.Gateways[0].ProbeMode = routing.ProbeAlways
	cfg := routing.Config{Probe: routing.ProbeConfig{Interval: 50 * time.Millisecond, Timeout: 200 * time.Millisecond}}
	p := newProxy(t, cfg, d, sip.ForwarderConfig{})
	events := make(chan routing.Event, 10)
	defer p.router.Subscribe(func(ev routing.Event) { events <- ev })()
	if err := p.router.StartProbing(p.srv); err != nil {
		t.Fatal(err)
	}

	ev := waitEvent(t, events, func(ev routing.Event) bool { return ev.Kind == routing.EventGatewayState })
	if ev.Gateway != "gw1" || ev.State != routing.StateInactive || ev.Cause != routing.CauseProbe {
		t.Fatalf("event: got %v, want gw1 inactive by probe", ev)
	}
	if hole.Packets() == 0 {
		t.Error("no probe reached the silent gateway")
	}
	dec, err := p.router.Route(0, "00577232111")
	if err != nil || fmt.Sprint(gatewaysOf(dec)) != "[gw2]" {
		t.Errorf("while gw1 is inactive: got %v %v, want [gw2]", gatewaysOf(dec), err)
	}

	// The gateway comes back on the same address.
	hole.Close()
	gw := siptest.NewUA(t, siptest.WithUser("gw"), siptest.WithListen(addr))
	ev = waitEvent(t, events, func(ev routing.Event) bool { return ev.Kind == routing.EventGatewayState })
	if ev.Gateway != "gw1" || ev.State != routing.StateActive || ev.Detail != "200 OK" {
		t.Fatalf("event: got %v, want gw1 active again", ev)
	}
	if n := len(gw.Received(sip.OPTIONS)); n == 0 {
		t.Error("the gateway got no OPTIONS")
	} else if from := gw.Received(sip.OPTIONS)[0].From().Address.String(); from != "sip:prober@localhost" {
		t.Errorf("probe From: got %s, want sip:prober@localhost", from)
	}
	for _, g := range p.router.Gateways() {
		if g.GWID == "gw1" && (g.Probe.Code != 200 || g.Probe.Time.IsZero()) {
			t.Errorf("gw1's last probe: got %+v, want 200", g.Probe)
		}
	}
	// Calls reach it again.
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.addr()))
	ctx := ctxT(t, 10*time.Second)
	call, err := caller.Invite(ctx, "sip:00577232111@"+p.addr())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := call.WaitFinal(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("final: got %v %v, want 200 from gw1", res, err)
	}
	if n := len(gw.Received(sip.INVITE)); n != 1 {
		t.Errorf("gw1 got %d INVITEs, want 1", n)
	}
	if _, err := call.Bye(ctx); err != nil {
		t.Fatal(err)
	}
}
