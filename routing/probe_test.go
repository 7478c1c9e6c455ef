package routing_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// fakePinger answers probes per gateway with a status code, or not at all
// (code 0: it waits for the probe's deadline).
type fakePinger struct {
	mu    sync.Mutex
	code  map[string]int
	pings map[string]int
	last  map[string]sip.Target
	from  string
	seen  chan string
}

func newFakePinger() *fakePinger {
	return &fakePinger{code: map[string]int{}, pings: map[string]int{}, last: map[string]sip.Target{}, seen: make(chan string, 1000)}
}

func (p *fakePinger) set(gw string, code int) {
	p.mu.Lock()
	p.code[gw] = code
	p.mu.Unlock()
}

func (p *fakePinger) count(gw string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pings[gw]
}

func (p *fakePinger) Ping(ctx context.Context, t sip.Target, from string) (*sip.Response, error) {
	p.mu.Lock()
	p.pings[t.Gateway]++
	p.last[t.Gateway] = t
	p.from = from
	code := p.code[t.Gateway]
	p.mu.Unlock()
	select {
	case p.seen <- t.Gateway:
	default:
	}
	if code == 0 {
		<-ctx.Done()
		return nil, fmt.Errorf("sip: ping %s: %w", t, ctx.Err())
	}
	req := siptest.NewRequest(sip.OPTIONS, t.URI.String())
	return sip.NewResponse(req, code, ""), nil
}

func probeData() routing.Data {
	gws := gateways(4)
	gws[0].ProbeMode = routing.ProbeAlways
	gws[1].ProbeMode = routing.ProbeWhenInactive
	gws[2].ProbeMode = routing.ProbeNever
	gws[3].ProbeMode = routing.ProbeAlways
	gws[3].Address = "sip:pbx@172.20.0.21:5070;transport=tcp"
	gws[3].Socket = "tcp:172.20.0.2:5060"
	return routing.Data{Gateways: gws, Rules: []routing.Rule{{ID: 1, Groups: "0", GWList: "g1,g2,g3,g4"}}}
}

func fastProbes() routing.ProbeConfig {
	return routing.ProbeConfig{Interval: 20 * time.Millisecond, Timeout: 50 * time.Millisecond}
}

// waitState waits until gateway gw is in state want.
func waitState(t *testing.T, r *routing.Router, gw string, want routing.State) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, g := range r.Gateways() {
			if g.GWID == gw && g.State == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway %s never became %v: %+v", gw, want, r.Gateways())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitEvent waits for the next event matching match.
func waitEvent(t *testing.T, events <-chan routing.Event, match func(routing.Event) bool) routing.Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-events:
			if match(ev) {
				return ev
			}
		case <-timeout:
			t.Fatal("no such event")
		}
	}
}

func TestProbing(t *testing.T) {
	store := routing.NewMemStore(probeData())
	r, err := routing.New(routing.Config{Probe: fastProbes()}, store)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	events := make(chan routing.Event, 100)
	defer r.Subscribe(func(ev routing.Event) { events <- ev })()
	p := newFakePinger()
	for _, g := range []string{"g1", "g2", "g3", "g4"} {
		p.set(g, 200)
	}
	if err := r.StartProbing(p); err != nil {
		t.Fatal(err)
	}
	if err := r.StartProbing(p); err == nil {
		t.Error("StartProbing twice: got no error")
	}

	// g1 answers 503: inactive.
	p.set("g1", 503)
	ev := waitEvent(t, events, func(ev routing.Event) bool { return ev.Gateway == "g1" })
	if ev.State != routing.StateInactive || ev.Previous != routing.StateActive || ev.Cause != routing.CauseProbe ||
		ev.Detail != "503 Service Unavailable" || ev.Address != "10.0.0.1" {
		t.Errorf("event: got %+v, want g1 active -> inactive by probe, 503", ev)
	}
	if d, _ := r.Route(0, "1"); len(d.Destinations) != 3 || d.Destinations[0].Gateway != "g2" {
		t.Errorf("while g1 is inactive: got %v, want g2, g3, g4", gatewaysOf(d))
	}
	// The state went to the store.
	waitStored(t, store, "g1", routing.StateInactive)

	// g1 answers again: active.
	p.set("g1", 200)
	ev = waitEvent(t, events, func(ev routing.Event) bool { return ev.Gateway == "g1" })
	if ev.State != routing.StateActive || ev.Detail != "200 OK" {
		t.Errorf("event: got %+v, want g1 active again", ev)
	}
	waitStored(t, store, "g1", routing.StateActive)

	// g1 goes silent: the timeout makes it inactive.
	p.set("g1", 0)
	ev = waitEvent(t, events, func(ev routing.Event) bool { return ev.Gateway == "g1" })
	if ev.State != routing.StateInactive {
		t.Errorf("event: got %+v, want g1 inactive after a timeout", ev)
	}
	for _, g := range r.Gateways() {
		if g.GWID == "g1" && g.Probe.Err == nil {
			t.Errorf("g1's last probe: got %v, want the timeout", g.Probe)
		}
	}

	// An operator disables g4: probes that answer do not bring it back.
	if err := r.SetGatewayEnabled(t.Context(), "g4", false); err != nil {
		t.Fatal(err)
	}
	n := p.count("g4")
	for p.count("g4") < n+3 {
		time.Sleep(5 * time.Millisecond)
	}
	waitState(t, r, "g4", routing.StateDisabled)
	// ... nor do probes that fail change it.
	p.set("g4", 500)
	n = p.count("g4")
	for p.count("g4") < n+3 {
		time.Sleep(5 * time.Millisecond)
	}
	waitState(t, r, "g4", routing.StateDisabled)
	if err := r.SetGatewayEnabled(t.Context(), "g4", true); err != nil {
		t.Fatal(err)
	}
	ev = waitEvent(t, events, func(ev routing.Event) bool {
		return ev.Gateway == "g4" && ev.Cause == routing.CauseProbe
	})
	if ev.State != routing.StateInactive || ev.Previous != routing.StateActive {
		t.Errorf("re-enabled g4 answering 500: got %+v, want it inactive again", ev)
	}

	// g2 (probe only while inactive) and g3 (never) are not probed.
	if c := p.count("g2"); c != 0 {
		t.Errorf("g2 (probe_mode 1, active) probed %d times, want 0", c)
	}
	if c := p.count("g3"); c != 0 {
		t.Errorf("g3 (probe_mode 0) probed %d times, want 0", c)
	}
	p.mu.Lock()
	target, from := p.last["g4"], p.from
	p.mu.Unlock()
	if target.URI.String() != "sip:172.20.0.21:5070;transport=tcp" || target.Transport != "TCP" || from != "sip:prober@localhost" {
		t.Errorf("probe of g4: got %s transport %q from %s, want sip:172.20.0.21:5070;transport=tcp over TCP from sip:prober@localhost", target.URI.String(), target.Transport, from)
	}
}

func waitStored(t *testing.T, s *routing.MemStore, gw string, want routing.State) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, _ := s.Load(context.Background())
		for _, g := range d.Gateways {
			if g.GWID == gw && g.State == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("store never held %s %v", gw, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestProbeWhenInactive checks probe_mode 1: a gateway made inactive by a
// failed call is probed until it answers, then no more.
func TestProbeWhenInactive(t *testing.T) {
	r := newRouter(t, routing.Config{Probe: fastProbes(), DisableCodes: []int{503}}, probeData(), time.Time{})
	p := newFakePinger()
	p.set("g2", 200)
	p.set("g1", 200)
	p.set("g4", 200)
	if err := r.StartProbing(p); err != nil {
		t.Fatal(err)
	}
	next := &scripted{outcome: map[string]error{"g1": status(408), "g2": status(503)}}
	if _, err := siptest.Serve(t.Context(), r.Wrap(next), invite("sip:123@voip.unisi.it")); err != nil {
		t.Fatal(err)
	}
	// g2 went inactive on its 503, was probed, answered 200: active again.
	deadline := time.Now().Add(5 * time.Second)
	for p.count("g2") == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	waitState(t, r, "g2", routing.StateActive)
	n := p.count("g2")
	if n == 0 {
		t.Fatal("inactive g2 never probed")
	}
	time.Sleep(100 * time.Millisecond) // five more rounds
	if c := p.count("g2"); c > n+1 {
		t.Errorf("active g2 still probed: %d probes after it came back, want at most 1 in flight", c-n)
	}
}

func TestProbeReplyCodes(t *testing.T) {
	for _, tt := range []struct {
		codes []int
		want  routing.State
	}{
		{nil, routing.StateInactive},
		{[]int{404}, routing.StateActive},
	} {
		cfg := routing.Config{Probe: fastProbes()}
		cfg.Probe.ReplyCodes = tt.codes
		gws := gateways(1)
		gws[0].ProbeMode, gws[0].State = routing.ProbeAlways, routing.StateInactive
		if tt.want == routing.StateInactive {
			gws[0].State = routing.StateActive
		}
		r := newRouter(t, cfg, routing.Data{Gateways: gws}, time.Time{})
		p := newFakePinger()
		p.set("g1", 404)
		if err := r.StartProbing(p); err != nil {
			t.Fatal(err)
		}
		waitState(t, r, "g1", tt.want)
	}
}

func TestProbingAfterClose(t *testing.T) {
	r, err := routing.New(routing.Config{VolatileState: true}, routing.NewMemStore(probeData()))
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if err := r.StartProbing(newFakePinger()); err == nil {
		t.Error("StartProbing after Close: got no error")
	}
	r.Close() // twice is fine
}

// syncLog is a goroutine-safe log buffer.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// countAfter waits up to 5 s for n lines with s (a state change is
// published before its line is written) and returns how many there are.
func (l *syncLog) countAfter(s string, n int) int {
	for deadline := time.Now().Add(5 * time.Second); l.count(s) < n && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	return l.count(s)
}

// TestProbeLogsStateChangesOnly: a gateway that stays unreachable is
// logged once, whether probing takes it down or it was down already
// (stored inactive), and then only when its state changes.
func TestProbeLogsStateChangesOnly(t *testing.T) {
	tests := []struct {
		name   string
		stored routing.State
		want   string // the line of the first failure
	}{
		{"goes down", routing.StateActive, "active -> inactive, probe"},
		{"stored inactive", routing.StateInactive, "still inactive, probe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := probeData()
			d.Gateways[0].State = tt.stored
			var logs syncLog
			log := slog.New(slog.NewTextHandler(&logs, nil))
			r, err := routing.New(routing.Config{Probe: fastProbes()}, routing.NewMemStore(d), routing.WithLogger(log))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			p := newFakePinger()
			p.set("g1", 503)
			for _, g := range []string{"g2", "g3", "g4"} {
				p.set(g, 200)
			}
			if err := r.StartProbing(p); err != nil {
				t.Fatal(err)
			}
			for p.count("g1") < 5 {
				time.Sleep(5 * time.Millisecond)
			}
			waitState(t, r, "g1", routing.StateInactive)
			time.Sleep(10 * time.Millisecond) // the last probe's outcome
			if n := logs.count("gateway g1 "); n != 1 {
				t.Errorf("after %d failed probes: %d lines about g1, want 1", p.count("g1"), n)
			}
			if n := logs.count(tt.want); n != 1 {
				t.Errorf("got %d lines with %q, want 1", n, tt.want)
			}
			p.set("g1", 200)
			waitState(t, r, "g1", routing.StateActive)
			p.set("g1", 503)
			waitState(t, r, "g1", routing.StateInactive)
			down := 1 + boolInt(tt.stored == routing.StateActive)
			if n := logs.countAfter("active -> inactive", down); n != down {
				t.Errorf("got %d down lines, want one per state change", n)
			}
			if n := logs.countAfter("inactive -> active", 1); n != 1 {
				t.Errorf("got %d up lines, want 1", n)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestClearInactive: gateways a probe or a call marked inactive become
// active again, written to the store when asked; disabled ones stay
// disabled.
func TestClearInactive(t *testing.T) {
	tests := []struct {
		name       string
		persist    bool
		wantStored routing.State
	}{
		{"persisted", true, routing.StateActive},
		{"in memory only", false, routing.StateInactive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := probeData()
			d.Gateways[0].State = routing.StateInactive
			d.Gateways[1].State = routing.StateDisabled
			d.Gateways[2].State = routing.StateInactive
			store := routing.NewMemStore(d)
			r, err := routing.New(routing.Config{}, store)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			events := make(chan routing.Event, 10)
			defer r.Subscribe(func(ev routing.Event) { events <- ev })()
			ids, err := r.ClearInactive(context.Background(), tt.persist)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(ids, ","); got != "g1,g3" {
				t.Errorf("cleared %q, want g1,g3", got)
			}
			want := map[string]routing.State{"g1": routing.StateActive, "g2": routing.StateDisabled, "g3": routing.StateActive, "g4": routing.StateActive}
			for _, g := range r.Gateways() {
				if g.State != want[g.GWID] {
					t.Errorf("%s: got %v, want %v", g.GWID, g.State, want[g.GWID])
				}
			}
			ev := waitEvent(t, events, func(ev routing.Event) bool { return ev.Gateway == "g1" })
			if ev.Cause != routing.CauseProbingOff || ev.State != routing.StateActive || ev.Previous != routing.StateInactive {
				t.Errorf("event: got %+v, want inactive -> active, probing-off", ev)
			}
			stored, _ := store.Load(context.Background())
			if got := stored.Gateways[0].State; got != tt.wantStored {
				t.Errorf("stored g1: got %v, want %v", got, tt.wantStored)
			}
			if got := stored.Gateways[1].State; got != routing.StateDisabled {
				t.Errorf("stored g2: got %v, want disabled", got)
			}
		})
	}
}

// g1Down returns a Router on store, as a single server runs it (node
// name node, ReloadState), probing with the fakePinger it returns, which
// finds g1 answering 503 and the others 200; g1 is inactive already.
func g1Down(t *testing.T, node string, store routing.Store, opts ...routing.Option) (*routing.Router, *fakePinger) {
	t.Helper()
	r, err := routing.New(routing.Config{Probe: fastProbes(), Node: node, ReloadState: true}, store, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	p := newFakePinger()
	p.set("g1", 503)
	for _, g := range []string{"g2", "g3", "g4"} {
		p.set(g, 200)
	}
	if err := r.StartProbing(p); err != nil {
		t.Fatal(err)
	}
	waitState(t, r, "g1", routing.StateInactive)
	return r, p
}

// TestGatewayHistory: the changes a Router makes (a probe taking a
// gateway down, an operator disabling it) are recorded in the store's
// history with their cause, reason and node, newest first; a change a
// reload took from the store is not recorded again.
func TestGatewayHistory(t *testing.T) {
	store := routing.NewMemStore(probeData())
	r, _ := g1Down(t, "node-a", store)
	ctx := context.Background()
	if err := r.SetGatewayEnabled(ctx, "g1", false); err != nil {
		t.Fatal(err)
	}
	if err := store.SetGatewayState(ctx, "g4", routing.StateDisabled); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	var h []routing.StateChange
	var err error
	for deadline := time.Now().Add(5 * time.Second); len(h) < 2 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if h, err = r.GatewayHistory(ctx, "g1", 0); err != nil {
			t.Fatal(err)
		}
	}
	want := []struct {
		from, to routing.State
		cause    routing.Cause
		reason   string
	}{
		{routing.StateInactive, routing.StateDisabled, routing.CauseOperator, ""},
		{routing.StateActive, routing.StateInactive, routing.CauseProbe, "503 "},
	}
	if len(h) != len(want) {
		t.Fatalf("history of g1: got %+v, want %d changes", h, len(want))
	}
	for i, w := range want {
		if h[i].From != w.from || h[i].To != w.to || h[i].Cause != w.cause || !strings.HasPrefix(h[i].Reason, w.reason) || h[i].Node != "node-a" || h[i].Time.IsZero() {
			t.Errorf("change %d: got %+v, want %v -> %v %s %q by node-a", i, h[i], w.from, w.to, w.cause, w.reason)
		}
	}
	if h4, err := r.GatewayHistory(ctx, "g4", 0); err != nil || len(h4) != 0 {
		t.Errorf("history of g4 (changed in the store, reloaded): got %+v %v, want none", h4, err)
	}
}

// TestDisableElsewhereSurvivesProbes: an operator disables a gateway
// from another process (the CLI, a Router of its own on the server's
// store) while the server probes it. The server's next probe finds it up
// again before the server reloads; that must not write the operator's
// disable away: the store keeps it, the refusal is counted, the history
// shows no probe change after the disable, and the reload applies it.
func TestDisableElsewhereSurvivesProbes(t *testing.T) {
	store := routing.NewMemStore(probeData())
	reg := prometheus.NewRegistry()
	srv, p := g1Down(t, "server", store, routing.WithRegisterer(reg))

	ctx := context.Background()
	cli, err := routing.New(routing.Config{Node: "cli"}, store, routing.WithRegisterer(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	err = cli.SetGatewayEnabled(ctx, "g1", false)
	cli.Close()
	if err != nil {
		t.Fatal(err)
	}
	p.set("g1", 200) // the server's probes find g1 up again
	waitState(t, srv, "g1", routing.StateActive)
	for deadline := time.Now().Add(5 * time.Second); metricValue(t, reg, "palio_routing_gateway_state_refused_total", nil) < 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the probe's write of g1 active was not refused")
		}
	}
	stored, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := stored.Gateways[0].State; got != routing.StateDisabled {
		t.Errorf("stored g1 after the server's probe found it up: got %v, want disabled", got)
	}
	h, err := srv.GatewayHistory(ctx, "g1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].Cause != routing.CauseOperator || h[0].Node != "cli" || h[0].To != routing.StateDisabled ||
		h[1].Cause != routing.CauseProbe || h[1].To != routing.StateInactive {
		t.Errorf("history of g1: got %+v, want the CLI's disable, then the probe's inactive", h)
	}
	if _, err := srv.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * fastProbes().Interval) // probes go on finding g1 up
	if got := stateOf(srv, "g1"); got != routing.StateDisabled {
		t.Errorf("g1 on the server after its reload: got %v, want disabled", got)
	}
}

// stateOf returns gateway gw's running state in r.
func stateOf(r *routing.Router, gw string) routing.State {
	for _, g := range r.Gateways() {
		if g.GWID == gw {
			return g.State
		}
	}
	return -1
}

// Two nodes on one store with LocalProbeState: node A's probes find g1
// down, node B's find it up (a gateway reachable from B's network only).
// A's view stays A's: the store keeps g1 active, B never sees it inactive
// however often it reloads, and nothing flaps. An operator's disable on A
// reaches B at its next reload, probes on neither node undo it, and the
// enable that follows brings each node back to its own probes' view.
func TestLocalProbeStateTwoNodes(t *testing.T) {
	d := probeData()
	store := routing.NewMemStore(d)
	cfg := routing.Config{Probe: fastProbes(), LocalProbeState: true}
	var nodes [2]*routing.Router
	var pingers [2]*fakePinger
	var events [2]chan routing.Event
	for i := range nodes {
		cfg.Node = fmt.Sprintf("node-%c", 'a'+i)
		r, err := routing.New(cfg, store)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		events[i] = make(chan routing.Event, 1000)
		defer r.Subscribe(func(ev routing.Event) { events[i] <- ev })()
		pingers[i] = newFakePinger()
		for _, g := range []string{"g1", "g2", "g3", "g4"} {
			pingers[i].set(g, 200)
		}
		nodes[i] = r
	}
	a, b := nodes[0], nodes[1]
	pingers[0].set("g1", 503) // A cannot reach g1; B can
	for i, r := range nodes {
		if err := r.StartProbing(pingers[i]); err != nil {
			t.Fatal(err)
		}
	}
	waitState(t, a, "g1", routing.StateInactive)
	reloadAll := func() {
		t.Helper()
		for _, r := range nodes {
			if _, err := r.Reload(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Many probe rounds and reloads later: B still has g1 active, A
	// inactive, the store active, and neither node changed g1 again.
	for n := pingers[1].count("g1"); pingers[1].count("g1") < n+5; {
		reloadAll()
		time.Sleep(10 * time.Millisecond)
	}
	if got := stateOf(b, "g1"); got != routing.StateActive {
		t.Errorf("node B's g1 after node A's failed probes: got %v, want active", got)
	}
	if got := stateOf(a, "g1"); got != routing.StateInactive {
		t.Errorf("node A's g1: got %v, want inactive (its own probes)", got)
	}
	if loaded, _ := store.Load(t.Context()); loaded.Gateways[0].State != routing.StateActive {
		t.Errorf("the stored state of g1: got %v, want active (probe results are not shared)", loaded.Gateways[0].State)
	}
	changes := func(i int) []routing.Event {
		var out []routing.Event
		for {
			select {
			case ev := <-events[i]:
				if ev.Gateway == "g1" {
					out = append(out, ev)
				}
			default:
				return out
			}
		}
	}
	if got := changes(0); len(got) != 1 || got[0].State != routing.StateInactive {
		t.Errorf("node A's g1 changes: got %+v, want one, to inactive", got)
	}
	if got := changes(1); len(got) != 0 {
		t.Errorf("node B's g1 changes: got %+v, want none (no flapping)", got)
	}
	if h, _ := a.GatewayHistory(t.Context(), "g1", 0); len(h) != 1 || h[0].Node != "node-a" || h[0].To != routing.StateInactive {
		t.Errorf("g1's history: got %+v, want node A's one change", h)
	}

	// The operator disables g1 on A: B obeys at its next reload; probes
	// that answer do not bring it back on B.
	if err := a.SetGatewayEnabled(t.Context(), "g1", false); err != nil {
		t.Fatal(err)
	}
	reloadAll()
	for _, r := range nodes {
		if got := stateOf(r, "g1"); got != routing.StateDisabled {
			t.Errorf("g1 after the operator's disable and a reload: got %v, want disabled", got)
		}
	}
	for n := pingers[1].count("g1"); pingers[1].count("g1") < n+3; {
		time.Sleep(5 * time.Millisecond)
	}
	reloadAll()
	if got := stateOf(b, "g1"); got != routing.StateDisabled {
		t.Errorf("node B's g1 after probes that answer: got %v, want disabled still", got)
	}
	// Enabled again, on B this time: A takes it at its reload, and its own
	// probes make it inactive again there; B keeps it active.
	if err := b.SetGatewayEnabled(t.Context(), "g1", true); err != nil {
		t.Fatal(err)
	}
	reloadAll()
	waitState(t, a, "g1", routing.StateInactive)
	if got := stateOf(b, "g1"); got != routing.StateActive {
		t.Errorf("node B's g1 after the enable: got %v, want active", got)
	}
}
