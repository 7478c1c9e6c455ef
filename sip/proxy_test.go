package sip_test

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// testProxy is a Palio proxy on 127.0.0.1 (UDP and TCP on free ports) whose
// pipeline routes by Request-URI user through a table the test fills.
type testProxy struct {
	srv *sip.Server
	fwd *sip.Forwarder

	mu     sync.Mutex
	routes map[string][]sip.Target
	serial map[string]bool
	// before, when set, runs in the routing stage before the targets are
	// looked up (tests write into the call record there).
	before func(ctx context.Context, r *sip.Request)
}

func testLogger() *slog.Logger { return siptest.Logger() }

func leakCheck(t *testing.T) { siptest.LeakCheck(t) }

func newProxy(t *testing.T, fc sip.ForwarderConfig) *testProxy {
	t.Helper()
	p := &testProxy{routes: map[string][]sip.Target{}, serial: map[string]bool{}}
	tp := siptest.NewProxy(t, siptest.ProxyConfig{Forwarder: fc, Stages: []sip.Middleware{p.routeStage}})
	p.srv, p.fwd = tp.Server, tp.Forwarder
	return p
}

// startProxy serves srv with the test pipeline: a route table filled by
// route and routeSerial, then the Forwarder.
func startProxy(t testing.TB, srv *sip.Server, fc sip.ForwarderConfig) *testProxy {
	t.Helper()
	p := &testProxy{routes: map[string][]sip.Target{}, serial: map[string]bool{}}
	tp := siptest.StartProxy(t, srv, siptest.ProxyConfig{Forwarder: fc, Stages: []sip.Middleware{p.routeStage}})
	p.srv, p.fwd = tp.Server, tp.Forwarder
	return p
}

// routeStage sends requests to the targets route and routeSerial set.
func (p *testProxy) routeStage(next sip.Handler) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		p.mu.Lock()
		targets := p.routes[r.Recipient.User]
		serial := p.serial[r.Recipient.User]
		before := p.before
		p.mu.Unlock()
		if before != nil {
			before(ctx, r)
		}
		if len(targets) == 0 {
			return sip.Reject(404, "Not Found")
		}
		if !serial {
			return next.ServeSIP(sip.WithTargets(ctx, targets...), w, r)
		}
		// Serial failover, the way the routing stage does it.
		var err error
		for _, tg := range targets {
			err = next.ServeSIP(sip.WithTargets(ctx, tg), w, r.Clone())
			if !sip.DefaultFailover.FailsOver(err) || ctx.Err() != nil {
				return err
			}
		}
		return err
	})
}

// route sends calls for user to the given UAs (in parallel when several).
func (p *testProxy) route(user string, targets ...sip.Target) {
	p.mu.Lock()
	p.routes[user] = targets
	p.serial[user] = false
	p.mu.Unlock()
}

// routeSerial sends calls for user to the targets one after the other,
// moving on when one fails with 408 or 5xx.
func (p *testProxy) routeSerial(user string, targets ...sip.Target) {
	p.mu.Lock()
	p.routes[user] = targets
	p.serial[user] = true
	p.mu.Unlock()
}

// setBefore sets the function the routing stage runs first.
func (p *testProxy) setBefore(fn func(ctx context.Context, r *sip.Request)) {
	p.mu.Lock()
	p.before = fn
	p.mu.Unlock()
}

func target(t *testing.T, uri string) sip.Target {
	t.Helper()
	u, err := sip.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	return sip.Target{URI: u}
}

func (p *testProxy) udp() string { return p.srv.Local().Addr("udp") }
func (p *testProxy) tcp() string { return p.srv.Local().Addr("tcp") }

func ctxT(t *testing.T, d time.Duration) context.Context { return siptest.Context(t, d) }

// answeredCall places a call from 5001 to 5002 (a siptest UA answering
// 180, 200) through a new proxy and waits for its 200.
func answeredCall(t *testing.T) (*testProxy, *siptest.UA, *siptest.Call, context.Context) {
	t.Helper()
	p := newProxy(t, sip.ForwarderConfig{})
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("5002", target(t, callee.URI()))
	ctx := ctxT(t, 5*time.Second)
	call, err := caller.Invite(ctx, "sip:5002@"+p.udp())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := call.WaitFinal(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("final: %v %v, want 200", res, err)
	}
	return p, callee, call, ctx
}

func TestCallSetupAndTeardown(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("5002", target(t, callee.URI()))

	var events []sip.EventKind
	var mu sync.Mutex
	unsub := p.srv.Dialogs().Subscribe(func(ev sip.DialogEvent) {
		mu.Lock()
		events = append(events, ev.Kind)
		mu.Unlock()
	})
	defer unsub()

	ctx := ctxT(t, 5*time.Second)
	call, err := caller.Invite(ctx, "sip:5002@"+p.udp())
	if err != nil {
		t.Fatal(err)
	}
	res, err := call.WaitFinal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("final: got %d, want 200", res.StatusCode)
	}
	if got := call.Codes(); len(got) < 3 || got[0] != 100 || got[1] != 180 {
		t.Errorf("responses: got %v, want the proxy's 100 Trying, then 180 relayed before the 200", got)
	}
	in, err := callee.WaitIncoming(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if rr := in.Invite.GetHeaders("Record-Route"); len(rr) != 1 {
		t.Errorf("callee saw %d Record-Route, want 1", len(rr))
	}
	if err := in.WaitAck(ctx); err != nil {
		t.Fatal(err)
	}
	ack := callee.Received(sip.ACK)[0]
	if n := len(ack.GetHeaders("Via")); n != 2 {
		t.Errorf("ACK reached the callee with %d Vias, want 2 (it went through the proxy)", n)
	}
	d, ok := p.srv.Dialogs().Get(call.CallID(), call.FromTag())
	if !ok || d.State != sip.DialogConfirmed {
		t.Fatalf("dialog: got %+v %v, want confirmed", d, ok)
	}

	bye, err := call.Bye(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if bye.StatusCode != 200 {
		t.Fatalf("BYE: got %d, want 200", bye.StatusCode)
	}
	if err := in.WaitBye(ctx); err != nil {
		t.Fatal(err)
	}
	if b := callee.Received(sip.BYE)[0]; len(b.GetHeaders("Via")) != 2 {
		t.Errorf("BYE did not go through the proxy")
	}
	if _, ok := p.srv.Dialogs().Get(call.CallID(), call.FromTag()); ok {
		t.Errorf("dialog still in the table after BYE")
	}
	mu.Lock()
	defer mu.Unlock()
	want := []sip.EventKind{sip.EventCreated, sip.EventBranchStarted, sip.EventEarly, sip.EventConfirmed, sip.EventBranchEnded, sip.EventTerminated}
	if len(events) != len(want) {
		t.Fatalf("events: got %v, want %v", events, want)
	}
	for i := range want {
		if events[i] != want[i] {
			t.Fatalf("events: got %v, want %v", events, want)
		}
	}
}

func TestByeFromCallee(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("5002", target(t, callee.URI()))
	ended := make(chan sip.Dialog, 1)
	defer p.srv.Dialogs().Subscribe(func(ev sip.DialogEvent) {
		if ev.Kind == sip.EventTerminated {
			ended <- ev.Dialog
		}
	})()

	ctx := ctxT(t, 5*time.Second)
	call, err := caller.Invite(ctx, "sip:5002@"+p.udp())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := call.WaitFinal(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("final: %v %v", res, err)
	}
	in, _ := callee.WaitIncoming(ctx, 1)
	if err := in.WaitAck(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := in.Bye(ctx)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("callee BYE: %v %v", res, err)
	}
	if err := call.WaitEnded(ctx); err != nil {
		t.Fatal("the caller never got the BYE")
	}
	bye := caller.Received(sip.BYE)[0]
	if n := len(bye.GetHeaders("Via")); n != 2 {
		t.Errorf("BYE reached the caller with %d Vias, want 2", n)
	}
	select {
	case d := <-ended:
		if d.Cause != sip.CauseByeCallee {
			t.Errorf("cause: got %q, want %q", d.Cause, sip.CauseByeCallee)
		}
		if d.Answered.IsZero() || d.Ended.Before(d.Answered) {
			t.Errorf("times: answered %v ended %v", d.Answered, d.Ended)
		}
	case <-ctx.Done():
		t.Fatal("no terminated event")
	}
}

func TestReInvite(t *testing.T) {
	leakCheck(t)
	p, callee, call, ctx := answeredCall(t)
	res, err := call.ReInvite(ctx)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("re-INVITE: %v %v", res, err)
	}
	if len(res.Body()) == 0 {
		t.Error("re-INVITE answer lost its SDP")
	}
	reinv, err := callee.WaitRequest(ctx, sip.INVITE, 2)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(reinv.GetHeaders("Via")); n != 2 {
		t.Errorf("re-INVITE reached the callee with %d Vias, want 2", n)
	}
	if _, err := callee.WaitRequest(ctx, sip.ACK, 2); err != nil {
		t.Fatal("the ACK of the re-INVITE's 2xx never reached the callee")
	}
	if d, ok := p.srv.Dialogs().Get(call.CallID(), call.FromTag()); !ok || d.State != sip.DialogConfirmed {
		t.Errorf("dialog after re-INVITE: %+v %v", d, ok)
	}
	if res, err := call.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE: %v %v", res, err)
	}
}

func TestCancelWhileRinging(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	callee := siptest.NewGateway(t, siptest.Respond(180), siptest.Hold())
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("5002", target(t, callee.URI()))
	ctx := ctxT(t, 5*time.Second)
	call, err := caller.Invite(ctx, "sip:5002@"+p.udp())
	if err != nil {
		t.Fatal(err)
	}
	if err := call.WaitCode(ctx, 180); err != nil {
		t.Fatal(err)
	}
	in, _ := callee.WaitIncoming(ctx, 1)
	res, err := call.Cancel(ctx)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("CANCEL: %v %v", res, err)
	}
	final, err := call.WaitFinal(ctx)
	if err != nil || final.StatusCode != 487 {
		t.Fatalf("INVITE final: %v %v, want 487", final, err)
	}
	if err := in.WaitCancel(ctx); err != nil {
		t.Fatal(err)
	}
	// The proxy's CANCEL matched the callee's transaction, which answered
	// 487; the dialog ends as cancelled.
	if err := waitFor(ctx, func() bool { return p.srv.Dialogs().Len() == 0 }); err != nil {
		t.Fatalf("dialog still in the table: %v", p.srv.Dialogs().Active())
	}
}

// TestTryingLetsCallerCancel: the proxy answers an INVITE it forwards
// with one 100 Trying, whatever the next hop does and however many hops
// a serial failover tries, so a caller can CANCEL before anything rings
// (RFC 3261 §9.1 forbids a CANCEL before a provisional response).
func TestTryingLetsCallerCancel(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	down := siptest.NewGateway(t, siptest.Respond(503))
	silent := siptest.NewGateway(t, siptest.Hold()) // never responds
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.routeSerial("5002", target(t, down.URI()), target(t, silent.URI()))
	ctx := ctxT(t, 10*time.Second)
	call, err := caller.Invite(ctx, "sip:5002@"+p.udp())
	if err != nil {
		t.Fatal(err)
	}
	if err := call.WaitCode(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := silent.WaitIncoming(ctx, 1); err != nil {
		t.Fatal(err)
	}
	res, err := call.Cancel(ctx)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("CANCEL: %v %v", res, err)
	}
	final, err := call.WaitFinal(ctx)
	if err != nil || final.StatusCode != 487 {
		t.Fatalf("INVITE final: %v %v, want 487", final, err)
	}
	if got := call.Codes(); !slices.Equal(got, []int{100, 487}) {
		t.Errorf("upstream got %v, want one 100 Trying then 487", got)
	}
	if err := waitFor(ctx, func() bool { return p.srv.Dialogs().Len() == 0 }); err != nil {
		t.Fatalf("dialog still in the table: %v", p.srv.Dialogs().Active())
	}
}

func TestBusyRelayed(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	callee := siptest.NewGateway(t, siptest.Respond(180), siptest.RespondReason(486, "Busy Here"))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("5002", target(t, callee.URI()))
	var cause sip.Dialog
	got := make(chan struct{})
	defer p.srv.Dialogs().Subscribe(func(ev sip.DialogEvent) {
		if ev.Kind == sip.EventTerminated {
			cause = ev.Dialog
			close(got)
		}
	})()
	ctx := ctxT(t, 5*time.Second)
	call, _ := caller.Invite(ctx, "sip:5002@"+p.udp())
	final, err := call.WaitFinal(ctx)
	if err != nil || final.StatusCode != 486 {
		t.Fatalf("final: %v %v, want 486", final, err)
	}
	if n := len(final.GetHeaders("Via")); n != 1 {
		t.Errorf("486 reached the caller with %d Vias, want 1", n)
	}
	<-got
	if cause.Cause != sip.CauseRejected || cause.Code != 486 {
		t.Errorf("dialog end: got %q %d, want rejected 486", cause.Cause, cause.Code)
	}
}

// waitFor polls cond every 5 ms until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

func TestSerialFailover(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	gwA := siptest.NewGateway(t, siptest.Respond(503))
	gwB := siptest.NewGateway(t, siptest.Respond(180), siptest.Pause(10*time.Millisecond), siptest.Respond(200))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	a, b := target(t, gwA.URI()), target(t, gwB.URI())
	a.Gateway, b.Gateway = "gw-a", "gw-b"
	p.routeSerial("0577123456", a, b)

	var mu sync.Mutex
	var legs []string
	defer p.srv.Dialogs().Subscribe(func(ev sip.DialogEvent) {
		mu.Lock()
		defer mu.Unlock()
		switch ev.Kind {
		case sip.EventBranchStarted:
			legs = append(legs, "+"+ev.Leg.Gateway)
		case sip.EventBranchEnded:
			legs = append(legs, "-"+ev.Leg.Gateway+"/"+itoa(ev.Leg.Code))
		case sip.EventCreated, sip.EventTerminated:
			legs = append(legs, ev.Kind.String())
		}
	})()

	ctx := ctxT(t, 5*time.Second)
	call, _ := caller.Invite(ctx, "sip:0577123456@"+p.udp())
	final, err := call.WaitFinal(ctx)
	if err != nil || final.StatusCode != 200 {
		t.Fatalf("final: %v %v, want 200 from gw-b", final, err)
	}
	for _, c := range call.Codes() {
		if c == 503 || c == 500 {
			t.Errorf("the caller saw %d before gw-b was tried: %v", c, call.Codes())
		}
	}
	if n := len(gwA.Received(sip.INVITE)); n != 1 {
		t.Errorf("gw-a got %d INVITEs, want 1", n)
	}
	if _, err := gwA.WaitRequest(ctx, sip.ACK, 1); err != nil {
		t.Errorf("gw-a's 503 was not ACKed hop by hop: %v", err)
	}
	in, _ := gwB.WaitIncoming(ctx, 1)
	if err := in.WaitAck(ctx); err != nil {
		t.Fatal(err)
	}
	d, _ := p.srv.Dialogs().Get(call.CallID(), call.FromTag())
	if d.Gateway != "gw-b" {
		t.Errorf("dialog gateway: got %q, want gw-b", d.Gateway)
	}
	if res, err := call.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE: %v %v", res, err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := "created +gw-a -gw-a/503 +gw-b -gw-b/200 terminated"
	if got := strings.Join(legs, " "); got != want {
		t.Errorf("legs: got %q, want %q", got, want)
	}
}

func TestAllFailoverTargetsFail(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	gwA := siptest.NewGateway(t, siptest.Respond(503))
	gwB := siptest.NewGateway(t, siptest.Respond(503))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.routeSerial("0577123456", target(t, gwA.URI()), target(t, gwB.URI()))
	ctx := ctxT(t, 5*time.Second)
	call, _ := caller.Invite(ctx, "sip:0577123456@"+p.udp())
	final, err := call.WaitFinal(ctx)
	// RFC 3261 §16.7: the last gateway's 503 reaches the caller as 500.
	if err != nil || final.StatusCode != 500 {
		t.Fatalf("final: %v %v, want 500", final, err)
	}
}

func TestNoAnswerTimerC(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{TimerC: 300 * time.Millisecond})
	callee := siptest.NewGateway(t, siptest.Respond(180), siptest.Hold())
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("5002", target(t, callee.URI()))
	ctx := ctxT(t, 5*time.Second)
	start := time.Now()
	call, _ := caller.Invite(ctx, "sip:5002@"+p.udp())
	final, err := call.WaitFinal(ctx)
	if err != nil || final.StatusCode != 408 {
		t.Fatalf("final: %v %v, want 408", final, err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("408 after %v: Timer C was 300ms", el)
	}
	in, _ := callee.WaitIncoming(ctx, 1)
	if err := in.WaitCancel(ctx); err != nil {
		t.Fatal("Timer C did not CANCEL the ringing branch")
	}
	c := callee.Received(sip.CANCEL)
	if len(c) == 0 || c[0].GetHeader("Reason") == nil {
		t.Errorf("CANCEL without a Reason header")
	}
}

func TestSilentGatewayFailsOver(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{FirstResponse: 300 * time.Millisecond})
	dead := siptest.NewBlackhole(t)
	gwB := siptest.NewUA(t, siptest.WithUser("gw-b"))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.routeSerial("0577123456", target(t, "sip:0577123456@"+dead.Addr()), target(t, gwB.URI()))
	ctx := ctxT(t, 5*time.Second)
	call, _ := caller.Invite(ctx, "sip:0577123456@"+p.udp())
	final, err := call.WaitFinal(ctx)
	if err != nil || final.StatusCode != 200 {
		t.Fatalf("final: %v %v, want 200 from the second gateway", final, err)
	}
	if dead.Packets() == 0 {
		t.Error("the silent gateway never got the INVITE")
	}
	// The silent gateway alone: 408.
	p.route("0577999999", target(t, "sip:0577999999@"+dead.Addr()))
	call2, _ := caller.Invite(ctx, "sip:0577999999@"+p.udp())
	if final, err := call2.WaitFinal(ctx); err != nil || final.StatusCode != 408 {
		t.Fatalf("final: %v %v, want 408", final, err)
	}
}

func TestTransportErrorIs503(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	closed := freeTCPPort(t)
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("5002", target(t, "sip:5002@"+closed+";transport=tcp"))
	ctx := ctxT(t, 5*time.Second)
	call, _ := caller.Invite(ctx, "sip:5002@"+p.udp())
	final, err := call.WaitFinal(ctx)
	if err != nil || final.StatusCode != 503 {
		t.Fatalf("final: %v %v, want 503", final, err)
	}
}

func TestParallelFork(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	desk := siptest.NewGateway(t, siptest.Respond(180), siptest.Pause(100*time.Millisecond), siptest.Respond(200))
	mobile := siptest.NewGateway(t, siptest.Respond(180), siptest.Hold())
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("5002", target(t, desk.URI()), target(t, mobile.URI()))
	ctx := ctxT(t, 5*time.Second)
	call, _ := caller.Invite(ctx, "sip:5002@"+p.udp())
	final, err := call.WaitFinal(ctx)
	if err != nil || final.StatusCode != 200 {
		t.Fatalf("final: %v %v, want 200", final, err)
	}
	in, _ := mobile.WaitIncoming(ctx, 1)
	if err := in.WaitCancel(ctx); err != nil {
		t.Fatal("the ringing branch was not cancelled")
	}
	reason := mobile.Received(sip.CANCEL)[0].GetHeader("Reason")
	if reason == nil || !strings.Contains(reason.Value(), "cause=200") {
		t.Errorf("CANCEL Reason: got %v, want cause=200 (RFC 3326)", reason)
	}
	if res, err := call.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE: %v %v", res, err)
	}
	if n := len(desk.Received(sip.BYE)); n != 1 {
		t.Errorf("the answering phone got %d BYEs, want 1", n)
	}
}

func TestParallelForkBestResponse(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	busy := siptest.NewGateway(t, siptest.Respond(486))
	unavailable := siptest.NewGateway(t, siptest.Respond(503))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("5002", target(t, unavailable.URI()), target(t, busy.URI()))
	ctx := ctxT(t, 5*time.Second)
	call, _ := caller.Invite(ctx, "sip:5002@"+p.udp())
	final, err := call.WaitFinal(ctx)
	if err != nil || final.StatusCode != 486 {
		t.Fatalf("final: %v %v, want 486 (the lowest class wins over 503)", final, err)
	}
}

// WithBranches tells the stage that chose the targets how each branch
// ended, by the target's index: the registrar drops a binding whose flow
// failed this way.
func TestBranchResults(t *testing.T) {
	leakCheck(t)
	busy := siptest.NewGateway(t, siptest.Respond(486))
	unavailable := siptest.NewGateway(t, siptest.Respond(503))
	var mu sync.Mutex
	var got []sip.BranchResult
	stage := func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			bctx, branches := sip.WithBranches(ctx)
			err := next.ServeSIP(sip.WithTargets(bctx, target(t, unavailable.URI()), target(t, busy.URI())), w, r)
			mu.Lock()
			got = branches.Results()
			mu.Unlock()
			return err
		})
	}
	tp := siptest.NewProxy(t, siptest.ProxyConfig{Stages: []sip.Middleware{stage}})
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(tp.Server.Local().Addr("udp")))
	ctx := ctxT(t, 5*time.Second)
	call, _ := caller.Invite(ctx, "sip:5002@"+tp.Server.Local().Addr("udp"))
	if final, err := call.WaitFinal(ctx); err != nil || final.StatusCode != 486 {
		t.Fatalf("final: %v %v, want 486", final, err)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(got, func(a, b sip.BranchResult) int { return a.Index - b.Index })
	if want := []sip.BranchResult{{Index: 0, Code: 503}, {Index: 1, Code: 486}}; !slices.Equal(got, want) {
		t.Errorf("branch results: got %+v, want %+v", got, want)
	}
}

func TestTCPCallerToUDPCallee(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithTransport("tcp"), siptest.WithProxy(p.tcp()))
	p.route("5002", target(t, callee.URI()))
	ctx := ctxT(t, 5*time.Second)
	call, err := caller.Invite(ctx, "sip:5002@"+p.tcp()+";transport=tcp")
	if err != nil {
		t.Fatal(err)
	}
	final, err := call.WaitFinal(ctx)
	if err != nil || final.StatusCode != 200 {
		t.Fatalf("final: %v %v", final, err)
	}
	in, _ := callee.WaitIncoming(ctx, 1)
	rr := in.Invite.GetHeaders("Record-Route")
	if len(rr) != 2 || !strings.Contains(rr[0].Value(), "transport=udp") || !strings.Contains(rr[1].Value(), "transport=tcp") {
		t.Errorf("double Record-Route (RFC 5658): got %v", rr)
	}
	if via := in.Invite.Via(); via.Transport != "UDP" {
		t.Errorf("callee leg transport: got %s, want UDP", via.Transport)
	}
	if err := in.WaitAck(ctx); err != nil {
		t.Fatal(err)
	}
	// The callee hangs up: the BYE crosses from UDP back to the caller's TCP.
	if res, err := in.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("callee BYE: %v %v", res, err)
	}
	if err := call.WaitEnded(ctx); err != nil {
		t.Fatal("the TCP caller never got the BYE")
	}
}

func TestMaxForwardsZero(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("5002", target(t, callee.URI()))
	ctx := ctxT(t, 5*time.Second)
	call, _ := caller.Invite(ctx, "sip:5002@"+p.udp(), siptest.MaxForwards(0))
	final, err := call.WaitFinal(ctx)
	if err != nil || final.StatusCode != 483 {
		t.Fatalf("final: %v %v, want 483", final, err)
	}
	if n := len(callee.Received(sip.INVITE)); n != 0 {
		t.Errorf("the callee got %d INVITEs", n)
	}
	// Max-Forwards 1 is forwarded with 0.
	call2, _ := caller.Invite(ctx, "sip:5002@"+p.udp(), siptest.MaxForwards(1))
	if final, err := call2.WaitFinal(ctx); err != nil || final.StatusCode != 200 {
		t.Fatalf("MF 1: %v %v", final, err)
	}
	inv := callee.Received(sip.INVITE)[0]
	if mf := inv.MaxForwards(); mf == nil || mf.Val() != 0 {
		t.Errorf("forwarded Max-Forwards: got %v, want 0", mf)
	}
}

func TestLoopDetected(t *testing.T) {
	leakCheck(t)
	a := newProxy(t, sip.ForwarderConfig{})
	b := newProxy(t, sip.ForwarderConfig{})
	a.route("5002", target(t, "sip:5002@"+b.udp()))
	b.route("5002", target(t, "sip:5002@"+a.udp()))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(a.udp()))
	ctx := ctxT(t, 5*time.Second)
	call, _ := caller.Invite(ctx, "sip:5002@"+a.udp())
	final, err := call.WaitFinal(ctx)
	if err != nil || final.StatusCode != 482 {
		t.Fatalf("final: %v %v, want 482", final, err)
	}
}

func TestTwoXXRetransmissionsRelayed(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	callee := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithExtra2xx(2))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("5002", target(t, callee.URI()))
	ctx := ctxT(t, 5*time.Second)
	call, _ := caller.Invite(ctx, "sip:5002@"+p.udp())
	if err := call.WaitOKs(ctx, 3); err != nil {
		t.Fatalf("the caller got %v, want the 200 and its two retransmissions", call.Codes())
	}
}

func freeTCPPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func itoa(n int) string { return strconv.Itoa(n) }

// rawUAS is a UAS on a bare UDP socket that answers exactly as the test
// says, even wrongly: what a real phone does when a race goes its way.
type rawUAS struct {
	t    *testing.T
	pc   net.PacketConn
	msgs chan rawMsg
}

type rawMsg struct {
	msg  sipmsg.Message
	from net.Addr
}

func newRawUAS(t *testing.T) *rawUAS {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUAS{t: t, pc: pc, msgs: make(chan rawMsg, 64)}
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				close(u.msgs)
				return
			}
			m, err := sipmsg.ParseMessage(append([]byte(nil), buf[:n]...))
			if err == nil {
				u.msgs <- rawMsg{m, from}
			}
		}
	}()
	t.Cleanup(func() { pc.Close() })
	return u
}

func (u *rawUAS) addr() string { return u.pc.LocalAddr().String() }

// expect returns the next request of method, skipping others.
func (u *rawUAS) expect(ctx context.Context, method sip.Method) (*sip.Request, net.Addr) {
	u.t.Helper()
	for {
		select {
		case m, ok := <-u.msgs:
			if !ok {
				u.t.Fatalf("raw UAS closed while waiting for %s", method)
			}
			if r, ok := m.msg.(*sip.Request); ok && r.Method == method {
				return r, m.from
			}
		case <-ctx.Done():
			u.t.Fatalf("raw UAS: no %s", method)
		}
	}
}

func (u *rawUAS) respond(req *sip.Request, to net.Addr, code int, tag string) *sip.Response {
	res := sip.NewResponse(req, code, "")
	res.To().Params.Add("tag", tag)
	if code >= 200 && code < 300 && req.IsInvite() {
		res.AppendHeader(&sipmsg.ContactHeader{Address: sip.URI{Scheme: "sip", User: "uas", Host: "127.0.0.1", Port: mustPort(u.addr())}})
	}
	u.send(res, to)
	return res
}

func (u *rawUAS) send(m sipmsg.Message, to net.Addr) {
	if _, err := u.pc.WriteTo([]byte(m.String()), to); err != nil {
		u.t.Fatal(err)
	}
}

func mustPort(hp string) int {
	_, p, _ := net.SplitHostPort(hp)
	n, _ := strconv.Atoi(p)
	return n
}

// TestAnswerAfterCancelIsHungUp covers the race of RFC 3261 §16.7/§9.1: the
// caller's CANCEL is answered 487 upstream, then the callee's 200 arrives;
// the proxy must not leak that call: it ACKs and BYEs it downstream, and
// ACKs the 200's retransmissions again.
func TestAnswerAfterCancelIsHungUp(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	uas := newRawUAS(t)
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("5002", target(t, "sip:5002@"+uas.addr()))
	ctx := ctxT(t, 5*time.Second)
	ended := make(chan sip.Dialog, 4)
	unsub := p.srv.Dialogs().Subscribe(func(ev sip.DialogEvent) {
		if ev.Kind == sip.EventTerminated {
			ended <- ev.Dialog
		}
	})
	defer unsub()

	call, _ := caller.Invite(ctx, "sip:5002@"+p.udp())
	inv, from := uas.expect(ctx, sip.INVITE)
	uas.respond(inv, from, 180, "uas1")
	if err := call.WaitCode(ctx, 180); err != nil {
		t.Fatal(err)
	}
	if _, err := call.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	cancel, cfrom := uas.expect(ctx, sip.CANCEL)
	uas.respond(cancel, cfrom, 200, "uas1")
	ok := uas.respond(inv, from, 200, "uas1") // answers anyway: it lost the race

	ack, _ := uas.expect(ctx, sip.ACK)
	if ack.CSeq().SeqNo != inv.CSeq().SeqNo || ack.Recipient.User != "uas" {
		t.Errorf("ACK: got %s CSeq %d, want to the Contact with the INVITE's CSeq %d", ack.Recipient.String(), ack.CSeq().SeqNo, inv.CSeq().SeqNo)
	}
	bye, bfrom := uas.expect(ctx, sip.BYE)
	if tag, _ := bye.To().Params.Get("tag"); tag != "uas1" {
		t.Errorf("BYE To tag: got %q, want uas1", tag)
	}
	uas.respond(bye, bfrom, 200, "uas1")

	// The 200 retransmitted: the proxy ACKs it again instead of relaying it.
	uas.send(ok, from)
	uas.expect(ctx, sip.ACK)

	final, err := call.WaitFinal(ctx)
	if err != nil || final.StatusCode != 487 {
		t.Fatalf("caller final: %v %v, want 487", final, err)
	}
	select {
	case d := <-ended:
		if d.Code != 487 || d.Cause != sip.CauseCanceled || !d.Answered.IsZero() {
			t.Errorf("the call ended as %d %s (answered %v), want an unanswered 487, cancelled", d.Code, d.Cause, d.Answered)
		}
	case <-ctx.Done():
		t.Fatal("the dialog never ended")
	}
	time.Sleep(50 * time.Millisecond)
	for _, c := range call.Codes() {
		if c == 200 {
			t.Errorf("the caller got the late 200: %v", call.Codes())
		}
	}
}

// TestShutdownDrains: during Shutdown a call in progress completes, a new
// one gets 503 with Retry-After.
func TestShutdownDrains(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	callee := siptest.NewGateway(t, siptest.Respond(180), siptest.Pause(300*time.Millisecond), siptest.Respond(200))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("5002", target(t, callee.URI()))
	ctx := ctxT(t, 5*time.Second)
	call, _ := caller.Invite(ctx, "sip:5002@"+p.udp())
	if err := call.WaitCode(ctx, 180); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.srv.Shutdown(ctx) }()
	time.Sleep(50 * time.Millisecond)
	late, _ := caller.Invite(ctx, "sip:5002@"+p.udp())
	res, err := late.WaitFinal(ctx)
	if err != nil || res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Fatalf("call during shutdown: %v %v, want 503 with Retry-After", res, err)
	}
	if res, err := call.WaitFinal(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("call in progress: %v %v, want 200", res, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestPing(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	gw := siptest.NewUA(t, siptest.WithUser("gw"))
	dead := siptest.NewBlackhole(t)
	ctx := ctxT(t, 5*time.Second)
	res, err := p.srv.Ping(ctx, target(t, gw.URI()), "sip:prober@localhost")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("ping: %v %v", res, err)
	}
	opt := gw.Received(sip.OPTIONS)
	if len(opt) != 1 || opt[0].From().Address.User != "prober" {
		t.Fatalf("the gateway got %v", opt)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := p.srv.Ping(short, target(t, "sip:gw@"+dead.Addr()), ""); err == nil {
		t.Fatal("ping of a dead gateway succeeded")
	}
}

// TestInviteRetransmissionAfterAnswer: the proxy ends an INVITE's
// transactions once the 2xx is relayed; an INVITE retransmitted after that
// (a caller that missed the 2xx) must not start a second call. The
// callee's 2xx retransmissions still reach the caller, statelessly.
func TestInviteRetransmissionAfterAnswer(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	p.route("5002", target(t, callee.URI()))
	caller := newRawUAS(t) // a bare socket, playing the caller
	ctx := ctxT(t, 5*time.Second)

	inv := "INVITE sip:5002@" + p.udp() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + caller.addr() + ";branch=z9hG4bK-raw-1;rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:5001@127.0.0.1>;tag=raw\r\nTo: <sip:5002@127.0.0.1>\r\n" +
		"Call-ID: retrans-after-answer\r\nCSeq: 1 INVITE\r\nContact: <sip:5001@" + caller.addr() + ">\r\nContent-Length: 0\r\n\r\n"
	proxy, _ := net.ResolveUDPAddr("udp", p.udp())
	if _, err := caller.pc.WriteTo([]byte(inv), proxy); err != nil {
		t.Fatal(err)
	}
	var ok *sip.Response
	for ok == nil {
		select {
		case m := <-caller.msgs:
			if r, isRes := m.msg.(*sip.Response); isRes && r.StatusCode == 200 {
				ok = r
			}
		case <-ctx.Done():
			t.Fatal("no 200")
		}
	}
	// Retransmit the INVITE as if the 200 were lost, after the proxy ended
	// its transactions.
	time.Sleep(50 * time.Millisecond)
	if _, err := caller.pc.WriteTo([]byte(inv), proxy); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(callee.Received(sip.INVITE)); n != 1 {
		t.Fatalf("the callee got %d INVITEs, want 1: a retransmission started a second call", n)
	}
}

// TestAnswerRecordedBeforeRelay: the dialog table records a 2xx before the
// caller can have it, so an ACK or BYE sent the moment it arrives finds the
// call answered. The call's filter sees the 200 just before it leaves.
func TestAnswerRecordedBeforeRelay(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("5002", target(t, callee.URI()))
	states := make(chan sip.DialogState, 4)
	p.setBefore(func(ctx context.Context, r *sip.Request) {
		sip.CallFrom(ctx).AddFilter(func(m sip.Message, from sip.Side) error {
			if res, ok := m.(*sip.Response); ok && res.StatusCode == 200 && res.CSeq().MethodName == sip.INVITE {
				for _, d := range p.srv.Dialogs().Active() {
					select {
					case states <- d.State:
					default: // a retransmitted 200 under load: the first one counts
					}
				}
			}
			return nil
		})
	})
	var mu sync.Mutex
	var ends []sip.Dialog
	unsub := p.srv.Dialogs().Subscribe(func(ev sip.DialogEvent) {
		if ev.Kind == sip.EventTerminated {
			mu.Lock()
			ends = append(ends, ev.Dialog)
			mu.Unlock()
		}
	})
	defer unsub()

	ctx := ctxT(t, 5*time.Second)
	call, _ := caller.Invite(ctx, "sip:5002@"+p.udp())
	if res, err := call.WaitFinal(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("final: %v %v", res, err)
	}
	select {
	case st := <-states:
		if st != sip.DialogConfirmed {
			t.Fatalf("while the 200 was on its way the dialog was %v, want confirmed", st)
		}
	default:
		t.Fatal("the filter did not see the 200 with the dialog in the table")
	}
	// Hang up at once: the BYE ends an answered call.
	if _, err := call.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(ends)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ends) != 1 || ends[0].Code != 200 || ends[0].Cause != sip.CauseByeCaller || ends[0].Answered.IsZero() {
		t.Fatalf("ended: %+v, want one answered call (200) ended by the caller's BYE", ends)
	}
}

// TestCancelAfterAnswer: a CANCEL that comes after the proxy relayed the
// 2xx (the caller hung up as the callee answered) finds no INVITE
// transaction, since the proxy ends it at the 2xx without RFC 6026's
// Accepted state: it is answered 481, no 487 follows the 2xx, the callee
// sees no CANCEL, and the call stays up until its BYE.
func TestCancelAfterAnswer(t *testing.T) {
	leakCheck(t)
	p, callee, call, ctx := answeredCall(t)
	res, err := call.Cancel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 481 {
		t.Errorf("CANCEL after the 2xx: got %d, want 481", res.StatusCode)
	}
	if err := call.Ack(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // room for a wrong 487 or CANCEL to arrive
	for _, c := range call.Codes() {
		if c == 487 {
			t.Errorf("the caller got a 487 after the 2xx: %v", call.Codes())
		}
	}
	if got := callee.Received(sip.CANCEL); len(got) != 0 {
		t.Errorf("the CANCEL reached the callee after its 2xx (%d)", len(got))
	}
	if d, ok := p.srv.Dialogs().Get(call.CallID(), call.FromTag()); !ok || d.State != sip.DialogConfirmed {
		t.Fatalf("dialog after the late CANCEL: %+v %v, want confirmed", d, ok)
	}
	if res, err := call.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE: %v %v", res, err)
	}
}
