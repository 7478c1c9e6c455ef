package sip_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// holdStage is a stage that keeps the requests held says it should in the
// pipeline, each counted on entered, until release is closed (or its
// transaction ends): they stay pending.
func holdStage(held func(*sip.Request) bool, entered chan<- struct{}, release <-chan struct{}) sip.Middleware {
	return func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			if held(r) {
				entered <- struct{}{}
				select {
				case <-release:
				case <-ctx.Done():
					return context.Cause(ctx)
				}
			}
			return next.ServeSIP(ctx, w, r)
		})
	}
}

// holdCalls places n calls from ua to uri that a holdStage keeps, and
// returns once each has entered it.
func holdCalls(ctx context.Context, t *testing.T, ua *siptest.UA, uri string, n int, entered <-chan struct{}) []*siptest.Call {
	t.Helper()
	var held []*siptest.Call
	for range n {
		c, err := ua.Invite(ctx, uri)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		select {
		case <-entered:
		case <-ctx.Done():
			t.Fatal("a held INVITE never reached the stage")
		}
	}
	return held
}

// TestOverloadRefusesNewRequests holds the pipeline busy (a stage that
// waits) so that MaxPending initial requests are pending, and checks over
// real sockets that the next INVITE, over UDP and over TCP, is refused at
// once with 503 and Retry-After, that a call already established still
// ends (its BYE is not refused), that the held calls complete once the
// stage lets them go, and that the server then answers as before.
func TestOverloadRefusesNewRequests(t *testing.T) {
	leakCheck(t)
	release := make(chan struct{})
	entered := make(chan struct{}, 8)
	var holding atomic.Bool
	hold := holdStage(func(*sip.Request) bool { return holding.Load() }, entered, release)
	reg := prometheus.NewRegistry()
	p := siptest.NewProxy(t, siptest.ProxyConfig{
		Stages:  []sip.Middleware{hold},
		Options: []sip.Option{sip.WithOverload(sip.OverloadConfig{MaxPending: 2, RetryAfter: 7e9}), sip.WithRegisterer(reg)},
	})
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.Addr("udp")))
	tcpCaller := siptest.NewUA(t, siptest.WithUser("5003"), siptest.WithTransport("tcp"), siptest.WithProxy(p.Addr("tcp")))
	ctx := ctxT(t, 10e9)
	uri := "sip:5002@" + callee.Addr()

	established, err := caller.Invite(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	if err := established.WaitCode(ctx, 200); err != nil {
		t.Fatalf("call before the overload: %v", err)
	}

	holding.Store(true)
	held := holdCalls(ctx, t, caller, uri, 2, entered)

	for _, ua := range []*siptest.UA{caller, tcpCaller} {
		c, err := ua.Invite(ctx, uri)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.WaitFinal(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 503 {
			t.Fatalf("INVITE with 2 of 2 pending: got %d, want 503", res.StatusCode)
		}
		if h := res.GetHeader("Retry-After"); h == nil || h.Value() != "7" {
			t.Errorf("503 Retry-After: got %v, want 7", h)
		}
	}
	if got := gathered(t, reg, "palio_sip_overload_refused_total", "method", "INVITE"); got != 2 {
		t.Errorf("palio_sip_overload_refused_total{method=INVITE}: got %v, want 2", got)
	}
	if got := gathered(t, reg, "palio_sip_pending_requests"); got != 2 {
		t.Errorf("palio_sip_pending_requests: got %v, want 2", got)
	}

	// In-dialog requests are never refused.
	if res, err := established.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE during the overload: %v %v, want 200", res, err)
	}

	holding.Store(false)
	close(release)
	for i, c := range held {
		if err := c.WaitCode(ctx, 200); err != nil {
			t.Fatalf("held call %d: %v", i, err)
		}
	}
	for _, ua := range []*siptest.UA{caller, tcpCaller} {
		c, err := ua.Invite(ctx, uri)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.WaitCode(ctx, 200); err != nil {
			t.Fatalf("call after the overload: %v (codes %v)", err, c.Codes())
		}
	}
	if got := gathered(t, reg, "palio_sip_overload_refused_total"); got != 2 {
		t.Errorf("palio_sip_overload_refused_total after the overload: got %v, want 2", got)
	}
}

// TestOverloadBurstAdmitted: with MaxPending requests held in the
// pipeline while other calls keep going through quickly, a new call above
// MaxPending is admitted (a burst: requests still leave within
// MaxPendingDelay) and counted; once nothing has left for two 100 ms
// intervals, the next call above MaxPending is refused 503 (a backlog).
func TestOverloadBurstAdmitted(t *testing.T) {
	leakCheck(t)
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	hold := holdStage(func(r *sip.Request) bool { return r.Recipient.User == "hold" }, entered, release)
	reg := prometheus.NewRegistry()
	p := siptest.NewProxy(t, siptest.ProxyConfig{
		Stages: []sip.Middleware{hold},
		Options: []sip.Option{sip.WithRegisterer(reg), sip.WithOverload(sip.OverloadConfig{
			MaxPending: 2, MaxPendingDelay: 5 * time.Second, MaxQueueDelay: -1})},
	})
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.Addr("udp")))
	pacer := siptest.NewUA(t, siptest.WithUser("5003"), siptest.WithProxy(p.Addr("udp")))
	ctx := ctxT(t, 20*time.Second)
	call := func(ua *siptest.UA, user string) (*siptest.Call, int) {
		c, err := ua.Invite(ctx, "sip:"+user+"@"+callee.Addr())
		if err != nil {
			t.Error(err)
			return nil, 0
		}
		res, err := c.WaitFinal(ctx)
		if err != nil {
			t.Error(err)
			return nil, 0
		}
		if res.StatusCode == 200 {
			if res, err := c.Bye(ctx); err != nil || res.StatusCode != 200 {
				t.Errorf("BYE: %v %v", res, err)
			}
		}
		return c, res.StatusCode
	}

	// The pacer's calls go through one after the other, publishing how
	// quickly requests leave.
	stop := make(chan struct{})
	var paced sync.WaitGroup
	paced.Add(1)
	go func() {
		defer paced.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, code := call(pacer, "5002"); code == 0 {
				return
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	held := holdCalls(ctx, t, caller, "sip:hold@"+callee.Addr(), 2, entered)
	// A loaded machine may stall the pacer for two intervals: a few tries.
	code := 0
	for try := 0; try < 5 && code != 200; try++ {
		_, code = call(caller, "5002")
	}
	if code != 200 {
		t.Errorf("a call above MaxPending while calls flow: got %d, want 200", code)
	}
	if got := gathered(t, reg, "palio_sip_overload_burst_admitted_total"); got < 1 {
		t.Errorf("palio_sip_overload_burst_admitted_total: got %v, want at least 1", got)
	}

	close(stop)
	paced.Wait()
	for gathered(t, reg, "palio_sip_pending_requests") != 2 {
		if ctx.Err() != nil {
			t.Fatal("the pacer's calls stayed pending")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if _, code := call(caller, "5002"); code != 503 {
		t.Errorf("a call above MaxPending with nothing leaving for 300 ms: got %d, want 503", code)
	}
	close(release)
	for i, c := range held {
		if err := c.WaitCode(ctx, 200); err != nil {
			t.Fatalf("held call %d: %v", i, err)
		}
		if res, err := c.Bye(ctx); err != nil || res.StatusCode != 200 {
			t.Errorf("held call %d BYE: %v %v", i, res, err)
		}
	}
}

// TestOverloadDeadNextHop: an INVITE sent to a next hop that does not
// answer at all (a trunk gone dark: no 100 Trying either) stops counting
// as pending once T1 (500 ms) has passed without an answer, the time
// after which its transaction retransmits: how long a dead hop keeps it
// is not the proxy's load. Before 2026-12-07 it stayed pending until the
// Forwarder gave up on it (FirstResponse, 32 s by default), so a trunk
// gone dark made MaxPending calls to it pending within a busy minute and
// the server refused every new call, to any destination, with 503. With
// MaxPending 2 and two calls to a silent socket, a call to a phone is
// refused at first and goes through after T1; the silent calls end 408.
func TestOverloadDeadNextHop(t *testing.T) {
	leakCheck(t)
	reg := prometheus.NewRegistry()
	p := siptest.NewProxy(t, siptest.ProxyConfig{
		Forwarder: sip.ForwarderConfig{FirstResponse: 4 * time.Second},
		Options:   []sip.Option{sip.WithOverload(sip.OverloadConfig{MaxPending: 2}), sip.WithRegisterer(reg)},
	})
	dead, err := net.ListenPacket("udp", "127.0.0.1:0") // reads nothing, answers nothing
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.Addr("udp")))
	ctx := ctxT(t, 10e9)

	var held []*siptest.Call
	for range 2 {
		c, err := caller.Invite(ctx, "sip:trunk@"+dead.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	for gathered(t, reg, "palio_sip_pending_requests") != 2 {
		if ctx.Err() != nil {
			t.Fatal("the two calls to the dead hop never became pending")
		}
		time.Sleep(5 * time.Millisecond)
	}
	sent := time.Now()
	c, err := caller.Invite(ctx, "sip:5002@"+callee.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.WaitFinal(ctx); err != nil || res.StatusCode != 503 {
		t.Fatalf("a call with 2 of 2 pending: got %v %v, want 503", res, err)
	}
	for gathered(t, reg, "palio_sip_pending_requests") != 0 {
		if ctx.Err() != nil {
			t.Fatal("the calls to the dead hop stayed pending")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if waited := time.Since(sent); waited > 3*time.Second {
		t.Errorf("pending went back to 0 after %v, want about T1 (500 ms), well before FirstResponse (4 s)", waited)
	}
	c, err = caller.Invite(ctx, "sip:5002@"+callee.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitCode(ctx, 200); err != nil {
		t.Fatalf("a call after T1: %v (codes %v)", err, c.Codes())
	}
	if res, err := c.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE: %v %v", res, err)
	}
	for i, h := range held {
		res, err := h.WaitFinal(ctx)
		if err != nil {
			t.Fatalf("call %d to the dead hop: %v", i, err)
		}
		if res.StatusCode != 408 {
			t.Errorf("call %d to the dead hop: got %d, want 408", i, res.StatusCode)
		}
	}
}

// TestOverloadStateless: REGISTER over UDP is served without a
// transaction by a pool of workers and a queue; with every worker held
// and the queue full, the requests beyond them take pending slots, and
// past MaxPending they are answered 503 with Retry-After on the read
// loop. Once the handler is let go, a REGISTER is answered 200 again.
func TestOverloadStateless(t *testing.T) {
	leakCheck(t)
	release := make(chan struct{})
	var releaseOnce sync.Once
	let := func() { releaseOnce.Do(func() { close(release) }) }
	reg := prometheus.NewRegistry()
	srv, err := sip.NewServer(sip.Config{Listen: []sip.Listen{{Network: "udp", Addr: "127.0.0.1:0"}}, UDPBuffer: 4 << 20},
		sip.WithLogger(testLogger()), sip.WithRegisterer(reg), sip.WithOverload(sip.OverloadConfig{MaxPending: 2, RetryAfter: 3e9}))
	if err != nil {
		t.Fatal(err)
	}
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		<-release
		return w.WriteResponse(sip.NewResponse(r, 200, "OK"))
	})
	if err := srv.Start(h); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	defer let()
	u := newRawUDP(t, srv.Local().Addr("udp"))

	// Workers and queue hold some 1100; send until one is refused.
	var refused string
	for sent := 0; refused == "" && sent < 20000; {
		for range 200 {
			sent++
			u.send(u.register(fmt.Sprintf("ov%d", sent), sent, ""))
		}
		for res := u.read(100 * time.Millisecond); res != ""; res = u.read(100 * time.Millisecond) {
			if strings.HasPrefix(res, "SIP/2.0 503 ") {
				refused = res
				break
			}
		}
	}
	if refused == "" {
		t.Fatal("no REGISTER refused with every worker held and the queue full")
	}
	if !strings.Contains(refused, "Retry-After: 3") {
		t.Errorf("503 without Retry-After 3: %q", refused)
	}
	if got := gathered(t, reg, "palio_sip_overload_refused_total", "method", "REGISTER"); got < 1 {
		t.Errorf("palio_sip_overload_refused_total{method=REGISTER}: got %v, want at least 1", got)
	}

	let()
	// The held REGISTERs are answered now; then a new one is, too (sent
	// again while its answer may be lost among theirs: it is stateless).
	for u.read(300*time.Millisecond) != "" {
	}
	for attempt := 0; ; attempt++ {
		if attempt == 10 {
			t.Fatal("no 200 to a REGISTER after the overload")
		}
		u.send(u.register("after", 1, ""))
		for res := u.read(time.Second); res != ""; res = u.read(time.Second) {
			if strings.HasPrefix(res, "SIP/2.0 200 ") && strings.Contains(res, "branch=z9hG4bKafter") {
				return
			}
		}
	}
}

func TestOverloadConfigCheck(t *testing.T) {
	tests := []struct {
		cfg  sip.OverloadConfig
		want string // "" for valid
	}{
		{sip.OverloadConfig{}, ""},
		{sip.OverloadConfig{MaxPending: -1, MaxQueueDelay: -1}, ""},
		{sip.OverloadConfig{MaxPending: 500, RetryAfter: 30 * time.Second}, ""},
		{sip.OverloadConfig{MaxPending: -5}, "MaxPending -5"},
		{sip.OverloadConfig{RetryAfter: -time.Second}, "RetryAfter"},
	}
	for _, tt := range tests {
		err := tt.cfg.Check()
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: Check() = %v, want %q", tt.cfg, err, tt.want)
		}
	}
}
