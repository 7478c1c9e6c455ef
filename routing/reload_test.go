package routing_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip/siptest"
)

// flakyStore is a MemStore whose Load and writes fail on demand, and
// whose Load waits for block to close when block is set.
type flakyStore struct {
	*routing.MemStore
	failLoad, failWrite atomic.Bool
	block               chan struct{}
	loads               atomic.Int32
}

var errBroken = errors.New("database is down")

func (s *flakyStore) Load(ctx context.Context) (routing.Data, error) {
	if s.failLoad.Load() {
		return routing.Data{}, errBroken
	}
	if s.block != nil {
		s.loads.Add(1)
		<-s.block
	}
	return s.MemStore.Load(ctx)
}

func (s *flakyStore) SetGatewayState(ctx context.Context, id string, st routing.State) error {
	if s.failWrite.Load() {
		return errBroken
	}
	return s.MemStore.SetGatewayState(ctx, id, st)
}

func TestNewErrors(t *testing.T) {
	s := routing.NewMemStore(failoverData())
	broken := &flakyStore{MemStore: s}
	broken.failLoad.Store(true)
	for _, tt := range []struct {
		name  string
		cfg   routing.Config
		store routing.Store
	}{
		{"nil store", routing.Config{}, nil},
		{"store fails", routing.Config{}, broken},
		{"no-route code", routing.Config{NoRouteCode: 200}, s},
		{"failover code", routing.Config{FailoverCodes: []int{99}}, s},
		{"disable code", routing.Config{DisableCodes: []int{700}}, s},
		{"reply code", routing.Config{Probe: routing.ProbeConfig{ReplyCodes: []int{1000}}}, s},
		{"threshold", routing.Config{AlarmThreshold: 1.5}, s},
		{"probe from", routing.Config{Probe: routing.ProbeConfig{From: "sip:"}}, s},
	} {
		r, err := routing.New(tt.cfg, tt.store)
		if err == nil {
			r.Close()
			t.Errorf("%s: got no error", tt.name)
		} else if !strings.HasPrefix(err.Error(), "routing: ") {
			t.Errorf("%s: error %q does not start with \"routing: \"", tt.name, err)
		}
	}
}

func TestReload(t *testing.T) {
	store := &flakyStore{MemStore: routing.NewMemStore(failoverData())}
	r, err := routing.New(routing.Config{VolatileState: true}, store)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d := failoverData()
	d.Rules[0].GWList = "g3"
	store.Set(d)
	rep, err := r.Reload(t.Context())
	if err != nil || rep.Rules != 1 || rep.Gateways != 3 {
		t.Fatalf("Reload: %v, %v", rep, err)
	}
	if dec, _ := r.Route(0, "0577"); fmt.Sprint(gatewaysOf(dec)) != "[g3]" {
		t.Errorf("after reload: got %v, want [g3]", gatewaysOf(dec))
	}
	// A reload that cannot read the store keeps the current table.
	store.failLoad.Store(true)
	d.Rules[0].GWList = "g1"
	store.Set(d)
	if _, err := r.Reload(t.Context()); !errors.Is(err, errBroken) {
		t.Fatalf("failed Reload: got %v, want the store's error", err)
	}
	if dec, _ := r.Route(0, "0577"); fmt.Sprint(gatewaysOf(dec)) != "[g3]" {
		t.Errorf("after a failed reload: got %v, want the old [g3]", gatewaysOf(dec))
	}
	// One reload at a time: a reload waiting for a slow one gives up with
	// its context, and the slow one completes.
	store.failLoad.Store(false)
	store.block = make(chan struct{})
	slow := make(chan error, 1)
	go func() {
		_, err := r.Reload(context.Background())
		slow <- err
	}()
	for store.loads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.Reload(ctx); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for the running reload") {
		t.Errorf("Reload during a slow one: got %v, want it to give up waiting", err)
	}
	close(store.block)
	if err := <-slow; err != nil {
		t.Errorf("slow reload: %v", err)
	}
	if dec, _ := r.Route(0, "0577"); fmt.Sprint(gatewaysOf(dec)) != "[g1]" {
		t.Errorf("after the slow reload: got %v, want [g1]", gatewaysOf(dec))
	}
}

// TestReloadState checks that running states survive reloads by gwid, and
// that Config.ReloadState takes them from the store instead.
func TestReloadState(t *testing.T) {
	for _, fromStore := range []bool{false, true} {
		t.Run(fmt.Sprint("ReloadState=", fromStore), func(t *testing.T) {
			store := routing.NewMemStore(failoverData())
			r, err := routing.New(routing.Config{VolatileState: true, ReloadState: fromStore}, store)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			events := make(chan routing.Event, 10)
			defer r.Subscribe(func(ev routing.Event) { events <- ev })()
			if err := r.SetGatewayEnabled(t.Context(), "g2", false); err != nil {
				t.Fatal(err)
			}
			waitEvent(t, events, func(ev routing.Event) bool { return ev.Cause == routing.CauseOperator })
			// The store still says active (state changes are volatile);
			// a new gateway g4 comes in disabled.
			d := failoverData()
			d.Gateways = append(d.Gateways, routing.Gateway{ID: 4, GWID: "g4", Address: "10.0.0.4", State: routing.StateDisabled})
			store.Set(d)
			if _, err := r.Reload(t.Context()); err != nil {
				t.Fatal(err)
			}
			states := map[string]routing.State{}
			for _, g := range r.Gateways() {
				states[g.GWID] = g.State
			}
			wantG2 := routing.StateDisabled
			if fromStore {
				wantG2 = routing.StateActive
				ev := waitEvent(t, events, func(ev routing.Event) bool { return ev.Gateway == "g2" })
				if ev.Cause != routing.CauseReload || ev.State != routing.StateActive {
					t.Errorf("event: got %+v, want g2 active by reload", ev)
				}
			}
			if states["g2"] != wantG2 || states["g4"] != routing.StateDisabled || states["g1"] != routing.StateActive {
				t.Errorf("states after reload: got %v, want g2 %v, g4 disabled (new, from the store), g1 active", states, wantG2)
			}
		})
	}
}

// TestReloadWhileRouting swaps tables under concurrent routing: each
// decision comes whole from one table or the other (run with -race).
func TestReloadWhileRouting(t *testing.T) {
	a := failoverData()
	b := failoverData()
	b.Rules[0].GWList = "g3,g2,g1"
	b.Rules[0].ID = 2
	store := routing.NewMemStore(a)
	r, err := routing.New(routing.Config{VolatileState: true}, store)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	bad := make(chan string, 10)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				d, err := r.Route(0, "0577")
				got := fmt.Sprint(d.Rule, gatewaysOf(d))
				if err != nil || (got != "1 [g1 g2 g3]" && got != "2 [g3 g2 g1]") {
					select {
					case bad <- fmt.Sprint(got, err):
					default:
					}
				}
			}
		}()
	}
	var rwg sync.WaitGroup
	for i := range 40 {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			if i%2 == 0 {
				store.Set(a)
			} else {
				store.Set(b)
			}
			if _, err := r.Reload(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	rwg.Wait()
	close(stop)
	wg.Wait()
	close(bad)
	for s := range bad {
		t.Errorf("a decision mixed tables: %s", s)
	}
}

func TestSetEnabled(t *testing.T) {
	d := failoverData()
	d.Carriers = []routing.Carrier{{ID: 1, CarrierID: "pstn", GWList: "g1,g2"}}
	d.Rules = append(d.Rules, routing.Rule{ID: 2, Groups: "0", Prefix: "3", GWList: "#pstn,g3"})
	store := &flakyStore{MemStore: routing.NewMemStore(d)}
	r, err := routing.New(routing.Config{}, store)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	events := make(chan routing.Event, 10)
	defer r.Subscribe(func(ev routing.Event) { events <- ev })()

	if err := r.SetGatewayEnabled(t.Context(), "nope", false); !errors.Is(err, routing.ErrNotFound) {
		t.Errorf("unknown gateway: got %v, want ErrNotFound", err)
	}
	if err := r.SetCarrierEnabled(t.Context(), "nope", false); !errors.Is(err, routing.ErrNotFound) {
		t.Errorf("unknown carrier: got %v, want ErrNotFound", err)
	}
	if err := r.SetGatewayEnabled(t.Context(), "g1", false); err != nil {
		t.Fatal(err)
	}
	// The write is done when SetGatewayEnabled returns.
	stored, _ := store.Load(t.Context())
	if stored.Gateways[0].State != routing.StateDisabled {
		t.Errorf("stored state of g1: got %v, want disabled", stored.Gateways[0].State)
	}
	ev := <-events
	if ev.String() != "gateway g1 (10.0.0.1): active -> disabled, operator" {
		t.Errorf("event: got %q", ev)
	}
	if err := r.SetCarrierEnabled(t.Context(), "pstn", false); err != nil {
		t.Fatal(err)
	}
	if ev := <-events; ev.String() != "carrier pstn: active -> disabled, operator" {
		t.Errorf("event: got %q", ev)
	}
	dec, _ := r.Route(0, "3000")
	if fmt.Sprint(gatewaysOf(dec)) != "[g3]" || len(dec.Skipped) != 1 || dec.Skipped[0].Reason != "carrier off" {
		t.Errorf("with pstn off: got %v skipped %v, want [g3], pstn off", gatewaysOf(dec), dec.Skipped)
	}
	stored, _ = store.Load(t.Context())
	if stored.Carriers[0].State != routing.StateDisabled {
		t.Errorf("stored state of pstn: got %v, want disabled", stored.Carriers[0].State)
	}
	// A write that fails: the state applies, the error says it was not
	// stored.
	store.failWrite.Store(true)
	err = r.SetGatewayEnabled(t.Context(), "g1", true)
	if !errors.Is(err, errBroken) || !strings.Contains(err.Error(), "not stored") {
		t.Errorf("failed write: got %v, want the store's error", err)
	}
	if dec, _ := r.Route(0, "0577"); fmt.Sprint(gatewaysOf(dec)) != "[g1 g2 g3]" {
		t.Errorf("g1 re-enabled: got %v, want [g1 g2 g3]", gatewaysOf(dec))
	}
}

// metricValue returns the value of the counter or gauge called name with
// the given labels, or -1 when there is none.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue metrics
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	d := failoverData()
	d.Gateways[0].Channels = 30
	d.Gateways[1].State = routing.StateInactive
	r := newRouter(t, routing.Config{}, d, time.Time{}, routing.WithRegisterer(reg))
	next := &scripted{outcome: map[string]error{"g1": status(503)}}
	for _, number := range []string{"0577", "0577", "5002"} {
		_, _ = siptest.Serve(t.Context(), r.Wrap(next), invite("sip:"+number+"@voip.unisi.it"))
	}
	next.outcome["g3"] = status(486)
	_, _ = siptest.Serve(t.Context(), r.Wrap(next), invite("sip:0577@voip.unisi.it"))
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"palio_routing_calls_total", map[string]string{"outcome": "answered"}, 2},
		{"palio_routing_calls_total", map[string]string{"outcome": "no_route"}, 1},
		{"palio_routing_calls_total", map[string]string{"outcome": "rejected"}, 1},
		{"palio_routing_attempts_total", map[string]string{"outcome": "failover"}, 3},
		{"palio_routing_attempts_total", map[string]string{"outcome": "answered"}, 2},
		{"palio_routing_attempts_total", map[string]string{"outcome": "rejected"}, 1},
		{"palio_routing_gateway_state", map[string]string{"gateway": "g2"}, 2},
		{"palio_routing_gateway_state", map[string]string{"gateway": "g1"}, 0},
		{"palio_routing_trunk_channels", map[string]string{"kind": "gateway", "trunk": "g1"}, 30},
		{"palio_routing_trunk_channels", map[string]string{"kind": "gateway", "trunk": "g2"}, -1},
		{"palio_routing_gateway_calls", map[string]string{"gateway": "g1"}, 0},
		{"palio_routing_loaded", map[string]string{"table": "dr_gateways"}, 3},
		{"palio_routing_loaded", map[string]string{"table": "dr_rules"}, 1},
		{"palio_routing_reloads_total", map[string]string{"outcome": "ok"}, 1},
	} {
		if got := metricValue(t, reg, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v: got %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	// A second Router on the same registry shares the collectors.
	r2 := newRouter(t, routing.Config{}, d, time.Time{}, routing.WithRegisterer(reg))
	_, _ = siptest.Serve(t.Context(), r2.Wrap(&scripted{}), invite("sip:5002@voip.unisi.it"))
	if got := metricValue(t, reg, "palio_routing_calls_total", map[string]string{"outcome": "no_route"}); got != 2 {
		t.Errorf("calls no_route with two routers: got %v, want 2", got)
	}
}

// TestCarrierStoredOff checks that a carrier stored as off is skipped, and
// that an operator can switch it on although the store still says off.
func TestCarrierStoredOff(t *testing.T) {
	d := failoverData()
	d.Carriers = []routing.Carrier{
		{ID: 1, CarrierID: "pstn", GWList: "g1,g2", State: routing.StateDisabled},
		{ID: 2, CarrierID: "flagged", GWList: "g3", Flags: routing.CarrierOff},
	}
	d.Rules = []routing.Rule{{ID: 1, Groups: "0", GWList: "#pstn,#flagged"}}
	r := newRouter(t, routing.Config{}, d, time.Time{})
	if dec, _ := r.Route(0, "1"); len(dec.Destinations) != 0 || len(dec.Skipped) != 2 {
		t.Errorf("both carriers off: got %v skipped %v, want nothing", gatewaysOf(dec), dec.Skipped)
	}
	if cs := r.Carriers(); cs[0].State != routing.StateDisabled || cs[1].State != routing.StateActive {
		t.Errorf("Carriers(): states %v and %v, want disabled and active (off by its flags)", cs[0].State, cs[1].State)
	}
	for _, id := range []string{"pstn", "flagged"} {
		if err := r.SetCarrierEnabled(t.Context(), id, true); err != nil {
			t.Fatal(err)
		}
	}
	if dec, _ := r.Route(0, "1"); fmt.Sprint(gatewaysOf(dec)) != "[g1 g2]" {
		t.Errorf("pstn switched on: got %v, want [g1 g2] (flagged stays off by its flags)", gatewaysOf(dec))
	}
}

// TestCheck: Check reports what a reload would, without a Router: rows
// left out, and gwlist entries naming nothing marked Dangling.
func TestCheck(t *testing.T) {
	d := routing.Data{
		Gateways: []routing.Gateway{{ID: 1, GWID: "gw-a", Address: "192.0.2.1"}, {ID: 2, GWID: "gw-b", Address: "sip:[bad"}},
		Carriers: []routing.Carrier{{ID: 1, CarrierID: "c1", GWList: "gw-a,gw-x"}},
		Rules: []routing.Rule{
			{ID: 1, Groups: "0", Prefix: "00", GWList: "gw-a,#c1,#c2"},
			{ID: 2, Groups: "0", Prefix: "A1", GWList: "gw-a"},
		},
	}
	tests := []struct {
		name     string
		cfg      routing.Config
		problems []string
	}{
		{"digits only", routing.Config{}, []string{
			"dr_gateways gw-b discarded", "dr_carriers c1 dangling", "dr_rules 1 dangling", "dr_rules 2 discarded"}},
		{"letters in prefixes", routing.Config{ExtraPrefixChars: "A"}, []string{
			"dr_gateways gw-b discarded", "dr_carriers c1 dangling", "dr_rules 1 dangling"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range routing.Check(tt.cfg, d).Problems {
				what := "warning"
				if p.Discarded {
					what = "discarded"
				} else if p.Dangling {
					what = "dangling"
				}
				got = append(got, p.Table+" "+p.ID+" "+what)
			}
			if strings.Join(got, "; ") != strings.Join(tt.problems, "; ") {
				t.Errorf("got %v, want %v", got, tt.problems)
			}
		})
	}
	if err := routing.ValidateGateway(routing.Gateway{GWID: "gw", Address: "sip:[bad"}); err == nil {
		t.Error("ValidateGateway accepted an unparsable address")
	}
	if err := routing.ValidateGateway(routing.Gateway{GWID: "gw", Address: "sip:192.0.2.1:5060;transport=tcp"}); err != nil {
		t.Errorf("ValidateGateway: %v", err)
	}
}
