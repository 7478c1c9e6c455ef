package routing_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// scripted is a next handler that answers per gateway: a status code
// (returned as a StatusError), 200 (answered: written, nil returned) or an
// error. It records every attempt.
type scripted struct {
	mu       sync.Mutex
	outcome  map[string]error // by gateway id; nil means answer
	attempts []attempt
	onCall   func(ctx context.Context, gwid string)
}

type attempt struct {
	gateway  string
	ruri     string
	targets  []sip.Target
	decision routing.Decision
	req      *sip.Request
}

func (s *scripted) ServeSIP(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
	ts := sip.TargetsFrom(ctx)
	d, _ := routing.DecisionFrom(ctx)
	gw := ""
	if len(ts) == 1 {
		gw = ts[0].Gateway
	}
	s.mu.Lock()
	s.attempts = append(s.attempts, attempt{gateway: gw, ruri: r.Recipient.String(), targets: ts, decision: d, req: r})
	err, scripted := s.outcome[gw]
	on := s.onCall
	s.mu.Unlock()
	if on != nil {
		on(ctx, gw)
	}
	if !scripted || err == nil {
		return w.WriteResponse(sip.NewResponse(r, 200, ""))
	}
	return err
}

func (s *scripted) gateways() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, a := range s.attempts {
		out = append(out, a.gateway)
	}
	return out
}

func status(code int) error { return sip.Reject(code, "") }

// failoverData routes prefix 0 to g1, g2, g3 in order.
func failoverData() routing.Data {
	return routing.Data{
		Gateways: gateways(3),
		Rules:    []routing.Rule{{ID: 1, Groups: "0", Prefix: "0", GWList: "g1,g2,g3"}},
	}
}

func invite(ruri string) *sip.Request { return siptest.NewRequest(sip.INVITE, ruri) }

func TestStageFailover(t *testing.T) {
	transport := &sip.StatusError{Code: 503, Reason: "Service Unavailable", Err: errors.New("sending: connection refused")}
	tests := []struct {
		name     string
		failover []int
		outcome  map[string]error
		tried    []string
		code     int
	}{
		{name: "answer at once", tried: []string{"g1"}, code: 200},
		{name: "503 then answer", outcome: map[string]error{"g1": status(503)}, tried: []string{"g1", "g2"}, code: 200},
		{name: "transport error then answer", outcome: map[string]error{"g1": transport}, tried: []string{"g1", "g2"}, code: 200},
		{name: "408 and 500, then answer", outcome: map[string]error{"g1": status(408), "g2": status(500)}, tried: []string{"g1", "g2", "g3"}, code: 200},
		{name: "486 stops", outcome: map[string]error{"g1": status(486)}, tried: []string{"g1"}, code: 486},
		{name: "404 stops", outcome: map[string]error{"g1": status(502), "g2": status(404)}, tried: []string{"g1", "g2"}, code: 404},
		{name: "6xx stops", outcome: map[string]error{"g1": status(603)}, tried: []string{"g1"}, code: 603},
		{name: "all fail: 408 is best", outcome: map[string]error{"g1": status(503), "g2": status(408), "g3": status(500)}, tried: []string{"g1", "g2", "g3"}, code: 408},
		{name: "all fail: 503 is last", outcome: map[string]error{"g1": status(503), "g2": status(504), "g3": status(503)}, tried: []string{"g1", "g2", "g3"}, code: 504},
		{name: "all 503", outcome: map[string]error{"g1": status(503), "g2": transport, "g3": status(503)}, tried: []string{"g1", "g2", "g3"}, code: 503},
		{name: "configured codes: 486 fails over", failover: []int{486}, outcome: map[string]error{"g1": status(486)}, tried: []string{"g1", "g2"}, code: 200},
		{name: "configured codes: 503 stops", failover: []int{486}, outcome: map[string]error{"g1": status(503)}, tried: []string{"g1"}, code: 503},
		{name: "not a status: returned as is", outcome: map[string]error{"g1": errors.New("boom")}, tried: []string{"g1"}, code: 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRouter(t, routing.Config{FailoverCodes: tt.failover}, failoverData(), time.Time{})
			next := &scripted{outcome: tt.outcome}
			rec, err := siptest.Serve(t.Context(), r.Wrap(next), invite("sip:0577232111@voip.unisi.it"))
			if got := siptest.Code(rec, err); got != tt.code {
				t.Errorf("outcome: got %d (%v), want %d", got, err, tt.code)
			}
			if got := next.gateways(); !slices.Equal(got, tt.tried) {
				t.Errorf("tried: got %v, want %v", got, tt.tried)
			}
		})
	}
}

// TestStageKeepsResponse checks that the stage returns a gateway's own
// final response (its StatusError), for the edge to relay.
func TestStageKeepsResponse(t *testing.T) {
	r := newRouter(t, routing.Config{}, failoverData(), time.Time{})
	req := invite("sip:0577232111@voip.unisi.it")
	busy := &sip.StatusError{Code: 486, Response: sip.NewResponse(req, 486, "Busy Here")}
	_, err := siptest.Serve(t.Context(), r.Wrap(&scripted{outcome: map[string]error{"g1": busy}}), req)
	if se, ok := sip.AsStatus(err); !ok || se != busy {
		t.Errorf("outcome: got %v, want the gateway's own 486", err)
	}
}

func TestStageNoRoute(t *testing.T) {
	for _, tt := range []struct {
		cfg    routing.Config
		code   int
		reason string
	}{
		{routing.Config{}, 404, "No Route"},
		{routing.Config{NoRouteCode: 480}, 480, ""},
		{routing.Config{NoRouteCode: 503, NoRouteReason: "No Route To Destination"}, 503, "No Route To Destination"},
	} {
		r := newRouter(t, tt.cfg, failoverData(), time.Time{})
		next := &scripted{}
		_, err := siptest.Serve(t.Context(), r.Wrap(next), invite("sip:5002@voip.unisi.it"))
		se, ok := sip.AsStatus(err)
		if !ok || se.Code != tt.code || se.Reason != tt.reason {
			t.Errorf("config %+v: got %v, want %d %q", tt.cfg, err, tt.code, tt.reason)
		}
		if n := len(next.gateways()); n != 0 {
			t.Errorf("next called %d times, want 0", n)
		}
	}
}

// TestStageRequests checks what each attempt gets: a clone of the
// request with the gateway's Request-URI, the gateway as the only target,
// and the decision with the attempt's index.
func TestStageRequests(t *testing.T) {
	gws := gateways(2)
	gws[0].Strip, gws[0].Address = 1, "sip:172.20.0.11:5060"
	gws[1].PriPrefix, gws[1].Address, gws[1].Socket = "9", "trunk.example.net;transport=tcp", "tcp:172.20.0.2:5060"
	r := newRouter(t, routing.Config{}, routing.Data{
		Gateways: gws,
		Rules:    []routing.Rule{{ID: 7, Groups: "0", Prefix: "00", GWList: "g1,g2", Attrs: "national"}},
	}, time.Time{})
	next := &scripted{outcome: map[string]error{"g1": status(503), "g2": status(503)}}
	req := invite("sip:00577232111@voip.unisi.it;user=phone")
	if _, err := siptest.Serve(t.Context(), r.Wrap(next), req); sip.StatusOf(err) != 503 {
		t.Fatalf("outcome: got %v, want 503", err)
	}
	if got := req.Recipient.String(); got != "sip:00577232111@voip.unisi.it;user=phone" {
		t.Errorf("the original request changed: %s", got)
	}
	want := []struct{ ruri, transport string }{
		{"sip:0577232111@172.20.0.11:5060", ""},
		{"sip:900577232111@trunk.example.net;transport=tcp", "TCP"},
	}
	if len(next.attempts) != 2 {
		t.Fatalf("attempts: got %d, want 2", len(next.attempts))
	}
	for i, a := range next.attempts {
		if a.req == req {
			t.Errorf("attempt %d: got the original request, want a clone", i)
		}
		if a.ruri != want[i].ruri {
			t.Errorf("attempt %d: Request-URI %s, want %s", i, a.ruri, want[i].ruri)
		}
		if len(a.targets) != 1 || a.targets[0].URI.String() != want[i].ruri || a.targets[0].Transport != want[i].transport {
			t.Errorf("attempt %d: targets %v, want one target %s transport %q", i, a.targets, want[i].ruri, want[i].transport)
		}
		d := a.decision
		if d.Rule != 7 || d.Attrs != "national" || d.Attempt != i || len(d.Destinations) != 2 || d.Number != "00577232111" {
			t.Errorf("attempt %d: decision %+v, want rule 7, national, attempt %d of 2", i, d, i)
		}
	}
	if next.attempts[0].req == next.attempts[1].req {
		t.Errorf("both attempts got the same request, want a clone each")
	}
}

// TestStageCallerGone checks that the stage stops when the caller cancels
// during an attempt.
func TestStageCallerGone(t *testing.T) {
	r := newRouter(t, routing.Config{}, failoverData(), time.Time{})
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	next := &scripted{
		outcome: map[string]error{"g1": status(408), "g2": status(503)},
		onCall: func(ctx context.Context, gw string) {
			if gw == "g1" {
				cancel(sip.ErrCanceled)
			}
		},
	}
	_, err := siptest.Serve(ctx, r.Wrap(next), invite("sip:0577232111@voip.unisi.it"))
	if got := next.gateways(); !slices.Equal(got, []string{"g1"}) {
		t.Errorf("tried: got %v, want only g1", got)
	}
	if sip.StatusOf(err) != 408 {
		t.Errorf("outcome: got %v, want g1's 408", err)
	}
}

func TestStageGroups(t *testing.T) {
	data := routing.Data{
		Gateways: gateways(3),
		Rules: []routing.Rule{
			{ID: 1, Groups: "0", Prefix: "0", GWList: "g1"},
			{ID: 2, Groups: "1", Prefix: "0", GWList: "g2"},
			{ID: 3, Groups: "5", Prefix: "0", GWList: "g3"},
		},
		Groups: []routing.GroupMember{
			{ID: 1, Username: "5890", Domain: "voip.unisi.it", Group: 1},
			{ID: 2, Username: "5002", Domain: "voip.unisi.it", Group: 5},
		},
	}
	tests := []struct {
		name        string
		cfg         routing.Config
		user, host  string
		wantGateway string
	}{
		{"member", routing.Config{}, "5890", "voip.unisi.it", "g2"},
		{"member, host in capitals", routing.Config{}, "5890", "VOIP.UniSI.it", "g2"},
		{"user is case-sensitive", routing.Config{IgnoreDomain: true}, "FAX_5890", "voip.unisi.it", "g1"},
		{"other domain", routing.Config{}, "5890", "10.0.0.9", "g1"},
		{"other domain, domain ignored", routing.Config{IgnoreDomain: true}, "5890", "10.0.0.9", "g2"},
		{"not a member", routing.Config{}, "5001", "voip.unisi.it", "g1"},
		{"default group", routing.Config{DefaultGroup: 5}, "5001", "voip.unisi.it", "g3"},
		{"member of group 5", routing.Config{}, "5002", "voip.unisi.it", "g3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRouter(t, tt.cfg, data, time.Time{})
			next := &scripted{}
			req := invite("sip:0577232111@voip.unisi.it")
			req.From().Address.User, req.From().Address.Host = tt.user, tt.host
			if _, err := siptest.Serve(t.Context(), r.Wrap(next), req); err != nil {
				t.Fatal(err)
			}
			if got := next.gateways(); !slices.Equal(got, []string{tt.wantGateway}) {
				t.Errorf("from %s@%s: got %v, want %s", tt.user, tt.host, got, tt.wantGateway)
			}
		})
	}
}

func TestStageRuleFallback(t *testing.T) {
	data := routing.Data{
		Gateways: gateways(3),
		Rules: []routing.Rule{
			{ID: 1, Groups: "0", Prefix: "0577", Priority: 1, GWList: "g1"},
			{ID: 2, Groups: "0", Prefix: "0577", GWList: ""},
			{ID: 3, Groups: "0", Prefix: "05", GWList: "g2"},
			{ID: 4, Groups: "0", GWList: "g3"},
		},
	}
	outcome := map[string]error{"g1": status(503), "g2": status(502)}
	for _, tt := range []struct {
		fallback bool
		tried    []string
		code     int
	}{
		{false, []string{"g1"}, 503},
		{true, []string{"g1", "g2", "g3"}, 200},
	} {
		r := newRouter(t, routing.Config{Fallback: tt.fallback}, data, time.Time{})
		next := &scripted{outcome: outcome}
		rec, err := siptest.Serve(t.Context(), r.Wrap(next), invite("sip:0577232111@voip.unisi.it"))
		if got := siptest.Code(rec, err); got != tt.code {
			t.Errorf("fallback %v: outcome %d, want %d", tt.fallback, got, tt.code)
		}
		if got := next.gateways(); !slices.Equal(got, tt.tried) {
			t.Errorf("fallback %v: tried %v, want %v", tt.fallback, got, tt.tried)
		}
		if tt.fallback {
			if d := next.attempts[2].decision; d.Rule != 4 || d.Prefix != "" {
				t.Errorf("third attempt: decision for rule %d prefix %q, want the prefix-less rule 4", d.Rule, d.Prefix)
			}
		}
	}
}

// TestStageUnavailable checks the 503 of a call with no usable
// destination.
func TestStageUnavailable(t *testing.T) {
	gws := gateways(2)
	gws[0].State, gws[1].State = routing.StateDisabled, routing.StateInactive
	r := newRouter(t, routing.Config{}, routing.Data{Gateways: gws, Rules: []routing.Rule{{ID: 1, Groups: "0", GWList: "g1,g2"}}}, time.Time{})
	next := &scripted{}
	_, err := siptest.Serve(t.Context(), r.Wrap(next), invite("sip:0577232111@voip.unisi.it"))
	if sip.StatusOf(err) != 503 {
		t.Errorf("outcome: got %v, want 503", err)
	}
	if n := len(next.gateways()); n != 0 {
		t.Errorf("next called %d times, want 0", n)
	}
}

// TestStageDisableCodes checks that a failed call makes a probed gateway
// inactive (and only a probed one), with an event.
func TestStageDisableCodes(t *testing.T) {
	gws := gateways(3)
	gws[0].ProbeMode = routing.ProbeWhenInactive
	gws[1].ProbeMode = routing.ProbeNever
	r := newRouter(t, routing.Config{DisableCodes: []int{408}}, routing.Data{
		Gateways: gws, Rules: []routing.Rule{{ID: 1, Groups: "0", GWList: "g1,g2,g3"}},
	}, time.Time{})
	events := make(chan routing.Event, 10)
	defer r.Subscribe(func(ev routing.Event) { events <- ev })()
	next := &scripted{outcome: map[string]error{"g1": status(408), "g2": status(408)}}
	rec, err := siptest.Serve(t.Context(), r.Wrap(next), invite("sip:0577232111@voip.unisi.it"))
	if siptest.Code(rec, err) != 200 {
		t.Fatalf("outcome: got %v, want 200 from g3", err)
	}
	states := map[string]routing.State{}
	for _, g := range r.Gateways() {
		states[g.GWID] = g.State
	}
	if states["g1"] != routing.StateInactive || states["g2"] != routing.StateActive || states["g3"] != routing.StateActive {
		t.Errorf("states: got %v, want g1 inactive (probed), g2 and g3 active", states)
	}
	select {
	case ev := <-events:
		if ev.Kind != routing.EventGatewayState || ev.Gateway != "g1" || ev.State != routing.StateInactive || ev.Cause != routing.CauseCall || ev.Detail != "408 Request Timeout" {
			t.Errorf("event: got %+v, want g1 inactive, cause call, 408", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	// The next call skips g1.
	next = &scripted{}
	if _, err := siptest.Serve(t.Context(), r.Wrap(next), invite("sip:0577232111@voip.unisi.it")); err != nil {
		t.Fatal(err)
	}
	if got := next.gateways(); !slices.Equal(got, []string{"g2"}) {
		t.Errorf("after g1 went inactive: tried %v, want [g2]", got)
	}
}
