package routing_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip/siptest"
)

func TestGatewayPlaceholder(t *testing.T) {
	tests := []struct {
		name, attrs, address string
		want                 bool
	}{
		{"marked", "site=siena;placeholder=198.51.100.11", "198.51.100.11:5060", true},
		{"marked alone, with URI parameters", "placeholder=198.51.100.51", "198.51.100.51:5060;transport=tcp", true},
		{"marked, with a scheme", "placeholder=198.51.100.51", "sip:198.51.100.51", true},
		{"spaces around the field", "a=1; placeholder=198.51.100.11 ;b=2", "198.51.100.11", true},
		{"host name, case", "placeholder=GW.example.net", "sip:gw.EXAMPLE.net:5070", true},
		{"IPv6 with brackets in the mark", "placeholder=[2001:db8::1]", "[2001:db8::1]:5060", true},
		{"IPv6 without brackets in the mark", "placeholder=2001:db8::1", "[2001:DB8::1]:5060", true},
		{"address changed since", "site=siena;placeholder=198.51.100.11", "172.20.0.11:5060", false},
		{"another host of the same network", "placeholder=198.51.100.11", "198.51.100.12:5060", false},
		{"no mark", "site=siena", "198.51.100.11:5060", false},
		{"no attrs", "", "198.51.100.11:5060", false},
		{"a bare word is not the mark", "placeholder", "198.51.100.11:5060", false},
		{"an empty host is not the mark", "placeholder=", "198.51.100.11:5060", false},
		{"the mark inside another field", "note=placeholder=198.51.100.11", "198.51.100.11:5060", false},
		{"bad address", "placeholder=198.51.100.11", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := routing.Gateway{GWID: "gw", Address: tt.address, Attrs: tt.attrs}
			if got := g.Placeholder(); got != tt.want {
				t.Errorf("Gateway{Address: %q, Attrs: %q}.Placeholder(): got %v, want %v", tt.address, tt.attrs, got, tt.want)
			}
		})
	}
}

// placeholderData has a rule through placeholder gateway ph1 then the
// real g1, one through the carrier pstn (placeholders ph2, ph3 and the
// real g2), and one whose only destination is a placeholder.
func placeholderData() routing.Data {
	return routing.Data{
		Gateways: []routing.Gateway{
			{ID: 1, GWID: "g1", Address: "10.0.0.1", ProbeMode: routing.ProbeAlways},
			{ID: 2, GWID: "g2", Address: "10.0.0.2", ProbeMode: routing.ProbeAlways},
			{ID: 3, GWID: "ph1", Address: "198.51.100.11:5060", Attrs: "site=siena;placeholder=198.51.100.11", ProbeMode: routing.ProbeAlways},
			{ID: 4, GWID: "ph2", Address: "198.51.100.12", Attrs: "placeholder=198.51.100.12", ProbeMode: routing.ProbeAlways},
			{ID: 5, GWID: "ph3", Address: "198.51.100.13", Attrs: "placeholder=198.51.100.13", ProbeMode: routing.ProbeWhenInactive, State: routing.StateInactive},
		},
		Carriers: []routing.Carrier{{ID: 1, CarrierID: "pstn", GWList: "ph2,ph3,g2", Flags: routing.CarrierFirstOnly}},
		Rules: []routing.Rule{
			{ID: 1, Groups: "0", Prefix: "1", GWList: "ph1,g1"},
			{ID: 2, Groups: "0", Prefix: "2", GWList: "#pstn"},
			{ID: 3, Groups: "0", Prefix: "3", GWList: "ph1"},
		},
	}
}

// TestPlaceholderSkipped: a placeholder gateway is never a destination.
// Failover goes on to the next one (in a carrier too, even one that takes
// only its first usable gateway); a call whose destinations are all
// placeholders gets 503 without anything tried; Route says why.
func TestPlaceholderSkipped(t *testing.T) {
	r := newRouter(t, routing.Config{}, placeholderData(), time.Time{})
	tests := []struct {
		number  string
		dests   []string
		skipped []routing.Skipped
		code    int
	}{
		{"100", []string{"g1"}, []routing.Skipped{{Gateway: "ph1", Reason: "placeholder address"}}, 200},
		{"200", []string{"g2"}, []routing.Skipped{
			{Gateway: "ph2", Carrier: "pstn", Reason: "placeholder address"},
			{Gateway: "ph3", Carrier: "pstn", Reason: "placeholder address"},
		}, 200},
		{"300", nil, []routing.Skipped{{Gateway: "ph1", Reason: "placeholder address"}}, 503},
	}
	for _, tt := range tests {
		t.Run(tt.number, func(t *testing.T) {
			d, err := r.Route(0, tt.number)
			if err != nil {
				t.Fatal(err)
			}
			if got := gatewaysOf(d); !slices.Equal(got, tt.dests) {
				t.Errorf("destinations: got %v, want %v", got, tt.dests)
			}
			if !slices.Equal(d.Skipped, tt.skipped) {
				t.Errorf("skipped: got %+v, want %+v", d.Skipped, tt.skipped)
			}
			next := &scripted{}
			rec, err := siptest.Serve(t.Context(), r.Wrap(next), invite("sip:"+tt.number+"@voip.unisi.it"))
			if got := siptest.Code(rec, err); got != tt.code {
				t.Errorf("call: got %d (%v), want %d", got, err, tt.code)
			}
			if got := next.gateways(); !slices.Equal(got, tt.dests) {
				t.Errorf("tried: got %v, want %v", got, tt.dests)
			}
		})
	}
}

// TestPlaceholderNotProbed: probing leaves placeholders alone, whatever
// their probe_mode and state, and probes them once configured.
func TestPlaceholderNotProbed(t *testing.T) {
	store := routing.NewMemStore(placeholderData())
	r, err := routing.New(routing.Config{Probe: fastProbes(), VolatileState: true}, store)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := newFakePinger()
	for _, g := range []string{"g1", "g2", "ph1", "ph2", "ph3"} {
		p.set(g, 200)
	}
	if err := r.StartProbing(p); err != nil {
		t.Fatal(err)
	}
	for p.count("g1") < 5 || p.count("g2") < 5 {
		time.Sleep(5 * time.Millisecond)
	}
	for _, g := range []string{"ph1", "ph2", "ph3"} {
		if n := p.count(g); n != 0 {
			t.Errorf("placeholder %s probed %d times, want 0", g, n)
		}
	}
	if err := r.SetGatewayAddress(t.Context(), "ph3", "10.0.0.3"); err != nil {
		t.Fatal(err)
	}
	waitState(t, r, "ph3", routing.StateActive) // probe_mode 1, inactive: probed, and it answers
	if p.count("ph1") != 0 || p.count("ph2") != 0 {
		t.Errorf("the other placeholders were probed: ph1 %d, ph2 %d times", p.count("ph1"), p.count("ph2"))
	}
}

// logRecorder keeps the messages logged at each level.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string // "LEVEL message"
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Level.String()+" "+r.Message)
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// take returns the messages containing sub logged since the last take.
func (l *logRecorder) take(sub string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, m := range l.msgs {
		if strings.Contains(m, sub) {
			out = append(out, m)
		}
	}
	l.msgs = nil
	return out
}

// TestPlaceholderLog: each placeholder is logged once when a load finds
// it, not at every reload; a reload that configures one says so; one
// that brings a new placeholder warns about that one only.
func TestPlaceholderLog(t *testing.T) {
	logs := &logRecorder{}
	reg := prometheus.NewRegistry()
	store := routing.NewMemStore(placeholderData())
	r, err := routing.New(routing.Config{VolatileState: true}, store, routing.WithLogger(slog.New(logs)), routing.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	gauge := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "palio_routing_placeholder_gateways" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no palio_routing_placeholder_gateways")
		return -1
	}
	want := []string{
		"WARN routing: gateway ph1 has a placeholder address: not probed, calls to it fail with 503 until configured",
		"WARN routing: gateway ph2 has a placeholder address: not probed, calls to it fail with 503 until configured",
		"WARN routing: gateway ph3 has a placeholder address: not probed, calls to it fail with 503 until configured",
	}
	if got := logs.take("placeholder"); !slices.Equal(got, want) {
		t.Errorf("at start:\n got %q\nwant %q", got, want)
	}
	if g := gauge(); g != 3 {
		t.Errorf("placeholder gauge at start: got %v, want 3", g)
	}
	for range 3 {
		if _, err := r.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got := logs.take("placeholder"); len(got) != 0 {
		t.Errorf("reloads of the same tables logged %q, want nothing", got)
	}

	// ph1 configured by an edit of its address alone (the stale mark
	// stays in its attrs); g2 becomes a placeholder.
	d := placeholderData()
	d.Gateways[2].Address = "10.0.0.11"
	d.Gateways[1].Address, d.Gateways[1].Attrs = "203.0.113.2", "placeholder=203.0.113.2"
	store.Set(d)
	if _, err := r.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := logs.take("gateway")
	want = []string{
		"WARN routing: gateway g2 has a placeholder address: not probed, calls to it fail with 503 until configured",
		"INFO routing: gateway ph1 configured: 10.0.0.11",
	}
	if !slices.Equal(got, want) {
		t.Errorf("after the edit:\n got %q\nwant %q", got, want)
	}
	if g := gauge(); g != 3 {
		t.Errorf("placeholder gauge after the edit: got %v, want 3 (g2, ph2, ph3)", g)
	}
	if d, _ := r.Route(0, "300"); !slices.Equal(gatewaysOf(d), []string{"ph1"}) {
		t.Errorf("rule 3 after ph1 was configured: got %v, want ph1", gatewaysOf(d))
	}
}

// TestSetGatewayAddress: setting a gateway's address validates it,
// stores it with the placeholder mark removed (the other attrs kept) and
// applies at once; a row a reload discarded can be mended.
func TestSetGatewayAddress(t *testing.T) {
	d := placeholderData()
	d.Gateways = append(d.Gateways, routing.Gateway{ID: 6, GWID: "broken", Address: "sip:"})
	d.Rules = append(d.Rules, routing.Rule{ID: 4, Groups: "0", Prefix: "4", GWList: "broken"})
	store := routing.NewMemStore(d)
	r, err := routing.New(routing.Config{VolatileState: true}, store)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stored := func(gwid string) routing.Gateway {
		t.Helper()
		d, err := store.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range d.Gateways {
			if g.GWID == gwid {
				return g
			}
		}
		t.Fatalf("no gateway %s in the store", gwid)
		return routing.Gateway{}
	}

	if err := r.SetGatewayAddress(t.Context(), "ph1", " 172.20.0.11:5060 "); err != nil {
		t.Fatal(err)
	}
	if g := stored("ph1"); g.Address != "172.20.0.11:5060" || g.Attrs != "site=siena" || g.Placeholder() {
		t.Errorf("ph1 in the store: got address %q attrs %q placeholder %v, want 172.20.0.11:5060, site=siena, false", g.Address, g.Attrs, g.Placeholder())
	}
	if d, _ := r.Route(0, "300"); !slices.Equal(gatewaysOf(d), []string{"ph1"}) {
		t.Errorf("rule 3 after set-address: got %v, want ph1", d.Destinations)
	} else if u := d.Destinations[0].Target().URI; u.String() != "sip:300@172.20.0.11:5060" {
		t.Errorf("rule 3 after set-address: got target %s, want sip:300@172.20.0.11:5060", u.String())
	}
	for _, g := range r.Gateways() {
		if g.GWID == "ph1" && (g.Placeholder() || g.Address != "172.20.0.11:5060") {
			t.Errorf("Gateways: ph1 is %+v", g.Gateway)
		}
	}

	// Errors change nothing.
	before, _ := store.Load(t.Context())
	for _, tt := range []struct {
		gwid, address, want string
		is                  error
	}{
		{"ph2", "", "address: empty", nil},
		{"ph2", "sip:", "no host", nil},
		{"ph2", "10.0.0.2:99999", "port 99999 out of range", nil},
		{"nowhere", "10.0.0.9", "", routing.ErrNotFound},
		{"PH2", "10.0.0.9", "", routing.ErrNotFound},
	} {
		err := r.SetGatewayAddress(t.Context(), tt.gwid, tt.address)
		switch {
		case err == nil:
			t.Errorf("SetGatewayAddress(%s, %q): got no error", tt.gwid, tt.address)
		case tt.is != nil && !errors.Is(err, tt.is):
			t.Errorf("SetGatewayAddress(%s, %q): got %v, want %v", tt.gwid, tt.address, err, tt.is)
		case !strings.Contains(err.Error(), tt.want):
			t.Errorf("SetGatewayAddress(%s, %q): got %v, want it to say %q", tt.gwid, tt.address, err, tt.want)
		}
	}
	after, _ := store.Load(t.Context())
	if !slices.Equal(before.Gateways, after.Gateways) {
		t.Errorf("failed calls changed the store:\n got %+v\nwant %+v", after.Gateways, before.Gateways)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := r.SetGatewayAddress(ctx, "ph2", "10.0.0.2"); !errors.Is(err, context.Canceled) {
		t.Errorf("with a cancelled context: got %v, want context.Canceled", err)
	}

	// The row discarded for its address is mended.
	for _, g := range r.Gateways() {
		if g.GWID == "broken" {
			t.Fatalf("the gateway with address \"sip:\" was loaded: %+v", g.Gateway)
		}
	}
	if err := r.SetGatewayAddress(t.Context(), "broken", "10.0.0.6"); err != nil {
		t.Fatal(err)
	}
	if d, err := r.Route(0, "400"); err != nil || !slices.Equal(gatewaysOf(d), []string{"broken"}) {
		t.Errorf("rule 4 after mending: got %v %v, want gateway broken", gatewaysOf(d), err)
	}
}
