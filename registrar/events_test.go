package registrar_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip/siptest"
	"github.com/prometheus/client_golang/prometheus"
)

// events collects a registrar's events.
type events struct {
	mu  sync.Mutex
	evs []registrar.Event
}

func (e *events) add(ev registrar.Event) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
}

// take returns "kind contact" for each event so far and forgets them.
func (e *events) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.evs {
		out = append(out, ev.Kind.String()+" "+ev.Binding.Contact)
	}
	e.evs = nil
	return out
}

func TestEvents(t *testing.T) {
	e := newEnv(t, registrar.Config{MaxContacts: 2, EvictOldest: true})
	var got events
	unsubscribe := e.reg.Subscribe(got.add)
	p := newPhone(t, e.reg, "5002", "secret")
	const a, b, c = "sip:5002@10.0.0.5:5060", "sip:5002@10.0.0.5:5062", "sip:5002@10.0.0.5:5064"
	ctx := context.Background()

	steps := []struct {
		name string
		do   func()
		want []string
	}{
		{"register", func() { p.send(registerReq(t, "5002", "c1", 1, "Contact: <"+a+">", "Expires: 60")) },
			[]string{"registered " + a}},
		{"refresh", func() { p.send(registerReq(t, "5002", "c1", 2, "Contact: <"+a+">", "Expires: 60")) },
			[]string{"refreshed " + a}},
		{"retransmission: no event", func() { p.send(registerReq(t, "5002", "c1", 2, "Contact: <"+a+">", "Expires: 60")) },
			nil},
		{"second contact", func() {
			e.clock.Advance(time.Second)
			p.send(registerReq(t, "5002", "c1", 3, "Contact: <"+b+">", "Expires: 120"))
		}, []string{"registered " + b}},
		{"third contact evicts the oldest", func() {
			e.clock.Advance(time.Second)
			p.send(registerReq(t, "5002", "c1", 4, "Contact: <"+c+">", "Expires: 120"))
		}, []string{"evicted " + a, "registered " + c}},
		{"unregister", func() { p.send(registerReq(t, "5002", "c1", 5, "Contact: <"+c+">;expires=0")) },
			[]string{"unregistered " + c}},
		{"the sweeper expires what was not refreshed", func() {
			e.clock.Advance(121 * time.Second)
			if n, err := e.reg.Sweep(ctx); n != 1 || err != nil {
				t.Errorf("Sweep: got %d, %v; want 1", n, err)
			}
		}, []string{"expired " + b}},
		{"an operator's permanent binding", func() {
			if err := e.reg.AddBinding(ctx, registrar.Binding{AOR: "6000", Contact: "sip:6000@172.20.1.26", Q: 1}); err != nil {
				t.Error(err)
			}
		}, []string{"registered sip:6000@172.20.1.26"}},
		{"the sweeper leaves permanent bindings alone", func() {
			e.clock.Advance(365 * 24 * time.Hour)
			if n, _ := e.reg.Sweep(ctx); n != 0 {
				t.Errorf("Sweep: got %d, want 0", n)
			}
		}, nil},
		{"an operator removes it", func() {
			if err := e.reg.RemoveBinding(ctx, "6000", "sip:6000@172.20.1.26"); err != nil {
				t.Error(err)
			}
		}, []string{"unregistered sip:6000@172.20.1.26"}},
	}
	for _, s := range steps {
		s.do()
		if g := got.take(); !slices.Equal(g, s.want) {
			t.Errorf("%s: got events %q, want %q", s.name, g, s.want)
		}
	}
	unsubscribe()
	p.send(registerReq(t, "5002", "c1", 9, "Contact: <"+a+">", "Expires: 60"))
	if g := got.take(); len(g) != 0 {
		t.Errorf("after unsubscribing: got %q, want nothing", g)
	}
}

// A REGISTER that finds a lapsed binding not yet swept reports its expiry
// before anything else, and the sweeper does not report it again.
func TestEventsExpiredBeforeSweep(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	var got events
	e.reg.Subscribe(got.add)
	p := newPhone(t, e.reg, "5002", "secret")
	const a, b = "sip:5002@10.0.0.5:5060", "sip:5002@10.0.0.5:5062"
	p.send(registerReq(t, "5002", "c1", 1, "Contact: <"+a+">", "Expires: 60"))
	got.take()
	e.clock.Advance(2 * time.Minute)
	p.send(registerReq(t, "5002", "c2", 1, "Contact: <"+b+">", "Contact: <"+a+">", "Expires: 60"))
	if g, want := got.take(), []string{"expired " + a, "registered " + b, "registered " + a}; !slices.Equal(g, want) {
		t.Errorf("got %q, want %q", g, want)
	}
	if n, _ := e.reg.Sweep(context.Background()); n != 0 {
		t.Errorf("Sweep: got %d, want 0", n)
	}
}

func TestAdminBindings(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	ctx := context.Background()
	bad := []registrar.Binding{
		{Contact: "sip:6000@172.20.1.26"},
		{AOR: "6000", Contact: "not a uri"},
		{AOR: "6000", Contact: "tel:+390577232111"},
		{AOR: "6000", Contact: "sip:6000@172.20.1.26", Q: 2},
	}
	for _, b := range bad {
		if err := e.reg.AddBinding(ctx, b); err == nil || !strings.HasPrefix(err.Error(), "registrar: ") {
			t.Errorf("AddBinding(%+v): got %v, want a registrar error", b, err)
		}
	}
	if err := e.reg.RemoveBinding(ctx, "6000", "sip:6000@172.20.1.26"); !errors.Is(err, registrar.ErrNotFound) {
		t.Errorf("RemoveBinding of nothing: got %v, want ErrNotFound", err)
	}
	if err := e.reg.AddBinding(ctx, registrar.Binding{AOR: "6000", Contact: "sip:6000@172.20.1.26;line=r13vjkwh", Q: 1}); err != nil {
		t.Fatal(err)
	}
	targets, err := e.reg.Targets(ctx, mustURI(t, "sip:6000@voip.unisi.it"))
	if err != nil || len(targets) != 1 || targets[0].URI.String() != "sip:6000@172.20.1.26;line=r13vjkwh" {
		t.Errorf("Targets: got %v, %v; want the permanent binding", targets, err)
	}
}

// The sweeper runs on its own every SweepInterval, and Close stops it.
func TestSweeperRuns(t *testing.T) {
	e := newEnv(t, registrar.Config{SweepInterval: 10 * time.Millisecond})
	var got events
	e.reg.Subscribe(got.add)
	p := newPhone(t, e.reg, "5002", "secret")
	p.send(registerReq(t, "5002", "c1", 1, "Contact: <sip:5002@10.0.0.5>", "Expires: 60"))
	got.take()
	e.clock.Advance(time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if g := got.take(); len(g) == 1 && strings.HasPrefix(g[0], "expired") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not expire the binding within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := e.reg.Close(); err != nil {
		t.Fatal(err)
	}
	e.reg.Close() // idempotent
}

// metricValue returns the value of the metric name with the given labels
// in reg, or -1.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				if !found {
					continue metric
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return -1
}

func TestMetrics(t *testing.T) {
	promReg := prometheus.NewRegistry()
	e := newEnv(t, registrar.Config{}, registrar.WithRegisterer(promReg))
	ctx := context.Background()
	p := newPhone(t, e.reg, "5002", "secret")
	p.send(registerReq(t, "5002", "c1", 1, "Contact: <sip:5002@10.0.0.5:5060>", "Contact: <sip:5002@10.0.0.5:5062>", "Expires: 60"))
	p.send(registerReq(t, "5002", "c1", 1, "Contact: <sip:5002@10.0.0.5:5060>", "Expires: 60")) // retransmission
	p.send(registerReq(t, "5002", "c1", 0, "Contact: <sip:5002@10.0.0.5:5060>", "Expires: 60")) // lower CSeq
	newPhone(t, e.reg, "5002", "guess").send(registerReq(t, "5002", "c9", 1, "Contact: <sip:5002@10.0.0.5>"))
	newPhone(t, e.reg, "5003", "secret").send(registerReq(t, "5003", "c9", 1, "Contact: <sip:5003@10.0.0.5>"))
	siptest.Serve(ctx, e.reg.Lookup(&terminal{}), inviteReq(t, "5001", "5002"))
	siptest.Serve(ctx, e.reg.Lookup(&terminal{}), inviteReq(t, "5001", "5009"))

	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"palio_registrar_registrations_total", []string{"result", "accepted"}, 1},
		{"palio_registrar_registrations_total", []string{"result", "retransmission"}, 1},
		{"palio_registrar_registrations_total", []string{"result", "invalid-cseq"}, 1},
		{"palio_registrar_registrations_total", []string{"result", "unauthorized"}, 4}, // 3 first challenges and the wrong password
		{"palio_registrar_registrations_total", []string{"result", "forbidden"}, 1},
		{"palio_registrar_auth_failures_total", []string{"reason", "wrong-password"}, 1},
		{"palio_registrar_auth_failures_total", []string{"reason", "blocked"}, 1},
		{"palio_registrar_challenges_total", []string{"code", "401"}, 4},
		{"palio_registrar_auth_success_total", nil, 3},
		{"palio_registrar_binding_events_total", []string{"kind", "registered"}, 2},
		{"palio_registrar_bindings", nil, 2},
		{"palio_registrar_lookups_total", []string{"result", "found"}, 1},
		{"palio_registrar_lookups_total", []string{"result", "not-registered"}, 1},
	}
	for _, c := range checks {
		if got := metricValue(t, promReg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v: got %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// The sweep recounts the gauge from the store.
	e.clock.Advance(time.Hour)
	e.reg.Sweep(ctx)
	if got := metricValue(t, promReg, "palio_registrar_bindings"); got != 0 {
		t.Errorf("bindings after the sweep: got %v, want 0", got)
	}
}
