// Package routingtest checks implementations of routing.Store, in the
// manner of testing/fstest: a store package runs TestStore against its
// implementation, and every implementation behaves alike.
//
//	func TestStore(t *testing.T) {
//		routingtest.TestStore(t, func(t *testing.T, seed routing.Data) routing.Store {
//			return newStoreHolding(t, seed) // the rows of seed in fresh tables
//		})
//	}
//
// It also holds the University of Siena's routing tables (UniSI), for
// tests and examples.
package routingtest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/routing"
)

// TestStore runs the conformance suite against the stores newStore
// returns. Each subtest calls newStore once, with the rows the store must
// hold (seed, with every ID set); the store may not add any. The values
// used fit OpenSIPS's column sizes (gwid and carrierid 64 characters,
// address and socket 128, pri_prefix 16, attrs, groupid, timerec, routeid
// and gwlist 255, prefix 64, username 64, domain 128, description 128).
func TestStore(t *testing.T, newStore func(t *testing.T, seed routing.Data) routing.Store) {
	tests := []struct {
		name string
		seed routing.Data
		fn   func(t *testing.T, s routing.Store, seed routing.Data)
	}{
		{"Empty", routing.Data{}, testEmpty},
		{"RoundTrip", fullAndBare(), testRoundTrip},
		{"OrderByID", shuffled(), testOrderByID},
		{"ChannelLimits", limits(), testRoundTrip},
		{"SetGatewayState", routingData(), testSetGatewayState},
		{"SetGatewayStateUnlessDisabled", routingData(), testSetGatewayStateUnlessDisabled},
		{"DisableAmidFoundStates", routingData(), testDisableAmidFoundStates},
		{"SetCarrierState", routingData(), testSetCarrierState},
		{"SetGatewayAddress", routingData(), testSetGatewayAddress},
		{"SetGatewayTLS", routingData(), testSetGatewayTLS},
		{"UnknownIDs", routingData(), testUnknownIDs},
		{"StateHistory", routingData(), testStateHistory},
		{"StateHistoryConcurrent", routingData(), testStateHistoryConcurrent},
		{"ResultsAreCopies", fullAndBare(), testResultsAreCopies},
		{"CanceledContext", routingData(), testCanceledContext},
		{"Concurrent", UniSI(), testConcurrent},
		{"UniSI", UniSI(), testUniSI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t, tt.seed.Clone()), tt.seed.Clone()) })
	}
}

func ctx() context.Context { return context.Background() }

func mustLoad(t *testing.T, s routing.Store) routing.Data {
	t.Helper()
	d, err := s.Load(ctx())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return d
}

// fullAndBare has, in every table, a row with every column set to its
// widest value and a row with every optional column empty (NULL in SQL).
func fullAndBare() routing.Data {
	return routing.Data{
		Gateways: []routing.Gateway{
			{
				ID: 7, GWID: strings.Repeat("g", 60) + "-1.x", Type: 3,
				Address:   "sips:trunk-" + strings.Repeat("a", 80) + ".example.net:5061;transport=tls;lr",
				Strip:     2,
				PriPrefix: "+39" + strings.Repeat("9", 13),
				Attrs:     "site=siena;pri=1;note=\"quoted\" 'single' \\ ü " + strings.Repeat("x", 190),
				ProbeMode: routing.ProbeAlways, State: routing.StateInactive,
				Socket:      "tls:172.20.0.2:5061",
				Description: "Siena PRI\twith a tab and ünïcode",
				Channels:    30,
				TLS: routing.GatewayTLS{
					CAFile:      "/etc/palio/tls/" + strings.Repeat("c", 234) + ".pem",
					Fingerprint: "sha256/" + strings.TrimSuffix(strings.Repeat("AB:", 32), ":"),
					ServerName:  strings.Repeat("n", 63) + "." + strings.Repeat("m", 63) + "." + strings.Repeat("o", 63) + "." + strings.Repeat("p", 58) + ".it",
				},
			},
			{ID: 8, GWID: "bare", Address: "10.0.0.1"},
		},
		Carriers: []routing.Carrier{
			{
				ID: 3, CarrierID: strings.Repeat("c", 64),
				GWList:  "bare=10, " + strings.Repeat("g", 60) + "-1.x=90|bare",
				Flags:   routing.CarrierFirstOnly | routing.CarrierOff,
				SortAlg: routing.SortWeight, State: routing.StateDisabled,
				Attrs: strings.Repeat("a", 255), Description: "first only, off",
				Channels: 120,
			},
			{ID: 4, CarrierID: "bare-carrier"},
		},
		Rules: []routing.Rule{
			{
				ID: 5, Groups: "0,1|2," + strings.Repeat("9", 240), Prefix: strings.Repeat("0", 64),
				TimeRec:  "Europe/Rome|20260105T080000||PT10H|weekly|||MO,TU,WE,TH,FR & !(Europe/Rome|20261224T000000|20261227T000000)",
				Priority: -3, RouteID: "route_" + strings.Repeat("r", 200),
				GWList:  "#" + strings.Repeat("c", 64) + "=5,bare",
				SortAlg: routing.SortQuality, SortProfile: 4,
				Attrs: "national", Description: strings.Repeat("d", 128),
			},
			{ID: 6, Groups: "0"},
		},
		Groups: []routing.GroupMember{
			{ID: 2, Username: strings.Repeat("u", 64), Domain: strings.Repeat("d", 119) + ".unisi.it", Group: 7, Description: "ü"},
			{ID: 3, Username: "5890"},
		},
	}
}

// shuffled has rows whose IDs are not in insertion order.
func shuffled() routing.Data {
	return routing.Data{
		Gateways: []routing.Gateway{{ID: 30, GWID: "c", Address: "10.0.0.3"}, {ID: 10, GWID: "a", Address: "10.0.0.1"}, {ID: 20, GWID: "b", Address: "10.0.0.2"}},
		Carriers: []routing.Carrier{{ID: 9, CarrierID: "z"}, {ID: 1, CarrierID: "y"}},
		Rules:    []routing.Rule{{ID: 300, Groups: "0"}, {ID: 3, Groups: "0"}, {ID: 30, Groups: "0"}},
		Groups:   []routing.GroupMember{{ID: 5, Username: "b"}, {ID: 4, Username: "a"}},
	}
}

// limits has gateways and carriers with and without channel limits.
func limits() routing.Data {
	return routing.Data{
		Gateways: []routing.Gateway{
			{ID: 1, GWID: "pri-1", Address: "10.0.0.1", Channels: 30},
			{ID: 2, GWID: "sip-trunk", Address: "10.0.0.2", Channels: 0},
			{ID: 3, GWID: "bri", Address: "10.0.0.3", Channels: 2},
		},
		Carriers: []routing.Carrier{
			{ID: 1, CarrierID: "pstn", GWList: "pri-1,bri", Channels: 32},
			{ID: 2, CarrierID: "open", GWList: "sip-trunk"},
		},
	}
}

// routingData is a small table for the state tests.
func routingData() routing.Data {
	return routing.Data{
		Gateways: []routing.Gateway{
			{ID: 1, GWID: "gw-a", Address: "10.0.0.1", ProbeMode: routing.ProbeAlways, Channels: 30, Attrs: "a"},
			{ID: 2, GWID: "gw-b", Address: "10.0.0.2", State: routing.StateDisabled},
		},
		Carriers: []routing.Carrier{
			{ID: 1, CarrierID: "pstn", GWList: "gw-a,gw-b", SortAlg: routing.SortWeight, Channels: 60},
			{ID: 2, CarrierID: "backup", GWList: "gw-b", State: routing.StateDisabled},
		},
		Rules: []routing.Rule{{ID: 1, Groups: "0", Prefix: "0", GWList: "#pstn"}},
	}
}

func testEmpty(t *testing.T, s routing.Store, _ routing.Data) {
	d := mustLoad(t, s)
	if n := len(d.Gateways) + len(d.Carriers) + len(d.Rules) + len(d.Groups); n != 0 {
		t.Errorf("Load of an empty store: got %d rows (%+v), want 0", n, d)
	}
	if err := s.SetGatewayState(ctx(), "gw-a", routing.StateDisabled); !errors.Is(err, routing.ErrNotFound) {
		t.Errorf("SetGatewayState on an empty store: got %v, want ErrNotFound", err)
	}
	if err := s.SetCarrierState(ctx(), "pstn", routing.StateDisabled); !errors.Is(err, routing.ErrNotFound) {
		t.Errorf("SetCarrierState on an empty store: got %v, want ErrNotFound", err)
	}
	if err := s.SetGatewayAddress(ctx(), "gw-a", "10.0.0.9", ""); !errors.Is(err, routing.ErrNotFound) {
		t.Errorf("SetGatewayAddress on an empty store: got %v, want ErrNotFound", err)
	}
	if err := s.SetGatewayTLS(ctx(), "gw-a", routing.GatewayTLS{ServerName: "gw.unisi.it"}); !errors.Is(err, routing.ErrNotFound) {
		t.Errorf("SetGatewayTLS on an empty store: got %v, want ErrNotFound", err)
	}
}

func testRoundTrip(t *testing.T, s routing.Store, seed routing.Data) {
	got := mustLoad(t, s)
	want := sortedByID(seed)
	compare(t, "Load", got, want)
}

func testOrderByID(t *testing.T, s routing.Store, _ routing.Data) {
	d := mustLoad(t, s)
	var gw, cr, ru, gr []int
	for _, g := range d.Gateways {
		gw = append(gw, g.ID)
	}
	for _, c := range d.Carriers {
		cr = append(cr, c.ID)
	}
	for _, r := range d.Rules {
		ru = append(ru, r.ID)
	}
	for _, g := range d.Groups {
		gr = append(gr, g.ID)
	}
	for _, c := range []struct {
		what      string
		got, want []int
	}{
		{"gateway ids", gw, []int{10, 20, 30}},
		{"carrier ids", cr, []int{1, 9}},
		{"rule ids", ru, []int{3, 30, 300}},
		{"group member ids", gr, []int{4, 5}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("Load: %s: got %v, want %v (ascending)", c.what, c.got, c.want)
		}
	}
}

func testSetGatewayState(t *testing.T, s routing.Store, seed routing.Data) {
	for _, st := range []routing.State{routing.StateInactive, routing.StateDisabled, routing.StateActive} {
		if err := s.SetGatewayState(ctx(), "gw-a", st); err != nil {
			t.Fatalf("SetGatewayState(gw-a, %v): %v", st, err)
		}
		want := sortedByID(seed)
		want.Gateways[0].State = st
		compare(t, fmt.Sprintf("Load after SetGatewayState(gw-a, %v)", st), mustLoad(t, s), want)
	}
	// Setting the state a gateway already has is not an error.
	if err := s.SetGatewayState(ctx(), "gw-b", routing.StateDisabled); err != nil {
		t.Errorf("SetGatewayState(gw-b, its current state): %v", err)
	}
}

// testSetGatewayStateUnlessDisabled: a found state (a probe's, a call's)
// is stored over active and inactive, never over an operator's disable.
func testSetGatewayStateUnlessDisabled(t *testing.T, s routing.Store, seed routing.Data) {
	want := sortedByID(seed)
	for _, c := range []struct {
		before, found routing.State
		stored        bool
	}{
		{routing.StateActive, routing.StateInactive, true},
		{routing.StateInactive, routing.StateInactive, true}, // the same state again
		{routing.StateInactive, routing.StateActive, true},
		{routing.StateDisabled, routing.StateActive, false},
		{routing.StateDisabled, routing.StateInactive, false},
	} {
		if err := s.SetGatewayState(ctx(), "gw-a", c.before); err != nil {
			t.Fatalf("SetGatewayState(gw-a, %v): %v", c.before, err)
		}
		stored, err := s.SetGatewayStateUnlessDisabled(ctx(), "gw-a", c.found)
		if err != nil || stored != c.stored {
			t.Errorf("SetGatewayStateUnlessDisabled(gw-a, %v) over %v: got %v, %v; want %v, nil", c.found, c.before, stored, err, c.stored)
		}
		want.Gateways[0].State = c.before
		if c.stored {
			want.Gateways[0].State = c.found
		}
		compare(t, fmt.Sprintf("Load after SetGatewayStateUnlessDisabled(gw-a, %v) over %v", c.found, c.before), mustLoad(t, s), want)
	}
}

// testDisableAmidFoundStates: an operator's disable, written while
// probes keep writing what they find, is never undone by them (the CLI
// disables a gateway the server is probing).
func testDisableAmidFoundStates(t *testing.T, s routing.Store, seed routing.Data) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	disabled := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				st := []routing.State{routing.StateActive, routing.StateInactive}[(w+n)%2]
				if _, err := s.SetGatewayStateUnlessDisabled(ctx(), "gw-a", st); err != nil {
					errs <- fmt.Errorf("SetGatewayStateUnlessDisabled(gw-a, %v): %w", st, err)
					return
				}
				select {
				case <-disabled:
					if n > 40 {
						return
					}
				default:
				}
			}
		}()
	}
	if err := s.SetGatewayState(ctx(), "gw-a", routing.StateDisabled); err != nil {
		t.Fatalf("SetGatewayState(gw-a, disabled): %v", err)
	}
	close(disabled)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want := sortedByID(seed)
	want.Gateways[0].State = routing.StateDisabled
	compare(t, "Load after a disable amid found states", mustLoad(t, s), want)
}

func testSetCarrierState(t *testing.T, s routing.Store, seed routing.Data) {
	if err := s.SetCarrierState(ctx(), "pstn", routing.StateDisabled); err != nil {
		t.Fatalf("SetCarrierState(pstn, disabled): %v", err)
	}
	if err := s.SetCarrierState(ctx(), "backup", routing.StateActive); err != nil {
		t.Fatalf("SetCarrierState(backup, active): %v", err)
	}
	want := sortedByID(seed)
	want.Carriers[0].State = routing.StateDisabled
	want.Carriers[1].State = routing.StateActive
	compare(t, "Load after SetCarrierState", mustLoad(t, s), want)
}

func testSetGatewayAddress(t *testing.T, s routing.Store, seed routing.Data) {
	for _, c := range []struct{ address, attrs string }{
		{"sip:trunk.example.net:5061;transport=tls", "site=siena;pri=1"},
		{"10.0.0.9", ""},
		{"10.0.0.9", ""}, // what the row already holds: not an error
	} {
		if err := s.SetGatewayAddress(ctx(), "gw-a", c.address, c.attrs); err != nil {
			t.Fatalf("SetGatewayAddress(gw-a, %q, %q): %v", c.address, c.attrs, err)
		}
		want := sortedByID(seed)
		want.Gateways[0].Address, want.Gateways[0].Attrs = c.address, c.attrs
		compare(t, fmt.Sprintf("Load after SetGatewayAddress(gw-a, %q, %q)", c.address, c.attrs), mustLoad(t, s), want)
	}
}

func testSetGatewayTLS(t *testing.T, s routing.Store, seed routing.Data) {
	for _, c := range []routing.GatewayTLS{
		{CAFile: "/etc/palio/tls/gw-ca.pem", ServerName: "gw.unisi.it"},
		{Fingerprint: "AB:CD:" + strings.Repeat("00:", 29) + "EF"},
		{Fingerprint: "AB:CD:" + strings.Repeat("00:", 29) + "EF"}, // what the row already holds: not an error
		{}, // clears them
	} {
		if err := s.SetGatewayTLS(ctx(), "gw-a", c); err != nil {
			t.Fatalf("SetGatewayTLS(gw-a, %+v): %v", c, err)
		}
		want := sortedByID(seed)
		want.Gateways[0].TLS = c
		compare(t, fmt.Sprintf("Load after SetGatewayTLS(gw-a, %+v)", c), mustLoad(t, s), want)
	}
	// Clearing settings a gateway does not have is not an error either.
	if err := s.SetGatewayTLS(ctx(), "gw-b", routing.GatewayTLS{}); err != nil {
		t.Errorf("SetGatewayTLS(gw-b, none): %v", err)
	}
}

func testUnknownIDs(t *testing.T, s routing.Store, seed routing.Data) {
	for _, id := range []string{"gw-c", "GW-A", "gw-a ", "pstn", ""} {
		if err := s.SetGatewayState(ctx(), id, routing.StateDisabled); !errors.Is(err, routing.ErrNotFound) {
			t.Errorf("SetGatewayState(%q): got %v, want ErrNotFound", id, err)
		}
		if _, err := s.SetGatewayStateUnlessDisabled(ctx(), id, routing.StateInactive); !errors.Is(err, routing.ErrNotFound) {
			t.Errorf("SetGatewayStateUnlessDisabled(%q): got %v, want ErrNotFound", id, err)
		}
	}
	for _, id := range []string{"gw-a", "PSTN", ""} {
		if err := s.SetCarrierState(ctx(), id, routing.StateDisabled); !errors.Is(err, routing.ErrNotFound) {
			t.Errorf("SetCarrierState(%q): got %v, want ErrNotFound", id, err)
		}
	}
	for _, id := range []string{"gw-c", "GW-A", "gw-a ", "pstn", ""} {
		if err := s.SetGatewayAddress(ctx(), id, "10.0.0.9", ""); !errors.Is(err, routing.ErrNotFound) {
			t.Errorf("SetGatewayAddress(%q): got %v, want ErrNotFound", id, err)
		}
		if err := s.SetGatewayTLS(ctx(), id, routing.GatewayTLS{ServerName: "gw.unisi.it"}); !errors.Is(err, routing.ErrNotFound) {
			t.Errorf("SetGatewayTLS(%q): got %v, want ErrNotFound", id, err)
		}
	}
	compare(t, "Load after failed state changes", mustLoad(t, s), sortedByID(seed))
}

func testResultsAreCopies(t *testing.T, s routing.Store, seed routing.Data) {
	d := mustLoad(t, s)
	d.Gateways[0].Address = "changed"
	d.Carriers[0].GWList = "changed"
	d.Rules[0].Prefix = "changed"
	d.Groups[0].Group = 99
	d.Gateways = append(d.Gateways[:1], routing.Gateway{ID: 100, GWID: "added"})
	compare(t, "Load after changing an earlier result", mustLoad(t, s), sortedByID(seed))
}

func testCanceledContext(t *testing.T, s routing.Store, seed routing.Data) {
	c, cancel := context.WithCancel(ctx())
	cancel()
	if _, err := s.Load(c); !errors.Is(err, context.Canceled) {
		t.Errorf("Load with a cancelled context: got %v, want context.Canceled", err)
	}
	if err := s.SetGatewayState(c, "gw-a", routing.StateDisabled); !errors.Is(err, context.Canceled) {
		t.Errorf("SetGatewayState with a cancelled context: got %v, want context.Canceled", err)
	}
	if _, err := s.SetGatewayStateUnlessDisabled(c, "gw-a", routing.StateInactive); !errors.Is(err, context.Canceled) {
		t.Errorf("SetGatewayStateUnlessDisabled with a cancelled context: got %v, want context.Canceled", err)
	}
	if err := s.SetCarrierState(c, "pstn", routing.StateDisabled); !errors.Is(err, context.Canceled) {
		t.Errorf("SetCarrierState with a cancelled context: got %v, want context.Canceled", err)
	}
	if err := s.SetGatewayAddress(c, "gw-a", "10.0.0.9", ""); !errors.Is(err, context.Canceled) {
		t.Errorf("SetGatewayAddress with a cancelled context: got %v, want context.Canceled", err)
	}
	if err := s.SetGatewayTLS(c, "gw-a", routing.GatewayTLS{ServerName: "gw.unisi.it"}); !errors.Is(err, context.Canceled) {
		t.Errorf("SetGatewayTLS with a cancelled context: got %v, want context.Canceled", err)
	}
	if err := s.AddStateChange(c, routing.StateChange{Gateway: "gw-a", Time: time.Now()}); !errors.Is(err, context.Canceled) {
		t.Errorf("AddStateChange with a cancelled context: got %v, want context.Canceled", err)
	}
	if _, err := s.StateHistory(c, "gw-a", 1); !errors.Is(err, context.Canceled) {
		t.Errorf("StateHistory with a cancelled context: got %v, want context.Canceled", err)
	}
	compare(t, "Load after cancelled calls", mustLoad(t, s), sortedByID(seed))
}

// change is the i-th state change of a history test: every field set,
// the time at millisecond precision (what stores keep).
func change(gwid string, i int) routing.StateChange {
	base := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	return routing.StateChange{
		Gateway: gwid, Time: base.Add(time.Duration(i) * 1500 * time.Millisecond),
		From: routing.State(i % 3), To: routing.State((i + 1) % 3),
		Cause: routing.CauseProbe, Reason: fmt.Sprintf("408 Request Timeout #%d", i), Node: "node-1",
	}
}

// testStateHistory: changes come back newest first, every field kept,
// per gateway, bounded to routing.HistoryKeep.
func testStateHistory(t *testing.T, s routing.Store, seed routing.Data) {
	if h, err := s.StateHistory(ctx(), "gw-a", 10); err != nil || len(h) != 0 {
		t.Fatalf("history of a gateway without changes: got %v %v, want none", h, err)
	}
	total := routing.HistoryKeep + 5
	for i := range total {
		if err := s.AddStateChange(ctx(), change("gw-a", i)); err != nil {
			t.Fatalf("AddStateChange %d: %v", i, err)
		}
	}
	if err := s.AddStateChange(ctx(), change("gw-b", 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddStateChange(ctx(), change("gw-gone", 0)); err != nil {
		t.Fatalf("AddStateChange of a gateway not in the tables: %v, want it recorded", err)
	}
	h, err := s.StateHistory(ctx(), "gw-a", 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []routing.StateChange{change("gw-a", total-1), change("gw-a", total-2), change("gw-a", total-3)}
	if len(h) != len(want) {
		t.Fatalf("last 3: got %d changes, want 3: %+v", len(h), h)
	}
	for i := range want {
		if !h[i].Time.Equal(want[i].Time) {
			t.Errorf("change %d: time %v, want %v", i, h[i].Time, want[i].Time)
		}
		h[i].Time = want[i].Time
		if !reflect.DeepEqual(h[i], want[i]) {
			t.Errorf("change %d: got %+v, want %+v", i, h[i], want[i])
		}
	}
	all, err := s.StateHistory(ctx(), "gw-a", total+10)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != routing.HistoryKeep {
		t.Fatalf("all of gw-a: got %d changes, want the last %d", len(all), routing.HistoryKeep)
	}
	if oldest := all[len(all)-1]; oldest.Reason != change("gw-a", total-routing.HistoryKeep).Reason {
		t.Errorf("oldest kept: got %q, want %q", oldest.Reason, change("gw-a", total-routing.HistoryKeep).Reason)
	}
	if b, err := s.StateHistory(ctx(), "gw-b", 10); err != nil || len(b) != 1 || b[0].Gateway != "gw-b" {
		t.Errorf("gw-b: got %+v %v, want its one change", b, err)
	}
	if g, err := s.StateHistory(ctx(), "GW-A", 10); err != nil || len(g) != 0 {
		t.Errorf("GW-A: got %d changes %v, want none (gwids are exact)", len(g), err)
	}
	compare(t, "Load after history changes", mustLoad(t, s), sortedByID(seed))
}

// testStateHistoryConcurrent: changes added at once by several writers
// (the nodes of a cluster) succeed, and the next write brings the
// history back to its bound.
func testStateHistoryConcurrent(t *testing.T, s routing.Store, _ routing.Data) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range routing.HistoryKeep / 2 {
				if err := s.AddStateChange(ctx(), change("gw-a", w*100+i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := s.AddStateChange(ctx(), change("gw-a", 1000)); err != nil {
		t.Fatal(err)
	}
	h, err := s.StateHistory(ctx(), "gw-a", routing.HistoryKeep*4)
	if err != nil || len(h) != routing.HistoryKeep || h[0].Reason != change("gw-a", 1000).Reason {
		t.Errorf("got %d changes %v, want %d, the last one first", len(h), err, routing.HistoryKeep)
	}
}

func testConcurrent(t *testing.T, s routing.Store, seed routing.Data) {
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i, g := range seed.Gateways {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for n := range 5 {
				st := routing.State((i + n) % 3)
				if err := s.SetGatewayState(ctx(), g.GWID, st); err != nil {
					errs <- fmt.Errorf("SetGatewayState(%s, %v): %w", g.GWID, st, err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := s.Load(ctx()); err != nil {
				errs <- fmt.Errorf("Load: %w", err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every writer ended on state (i+4)%3.
	want := sortedByID(seed)
	for i := range want.Gateways {
		want.Gateways[i].State = routing.State((i + 4) % 3)
	}
	compare(t, "Load after concurrent state changes", mustLoad(t, s), want)
}

// testUniSI loads the UniSI tables into a Router through the store and
// checks that a national call to Siena goes out through the Siena PRIs.
func testUniSI(t *testing.T, s routing.Store, seed routing.Data) {
	compare(t, "Load", mustLoad(t, s), sortedByID(seed))
	r, err := routing.New(routing.Config{ExtraPrefixChars: UniSIPrefixChars, VolatileState: true}, s)
	if err != nil {
		t.Fatalf("routing.New over the store: %v", err)
	}
	defer r.Close()
	d, err := r.Route(0, "00577232111")
	if err != nil {
		t.Fatalf("Route(0, 00577232111): %v", err)
	}
	if d.Rule != 10 || len(d.Destinations) != 4 {
		t.Fatalf("Route(0, 00577232111): got rule %d with %d destinations, want rule 10 with the 4 Siena PRIs", d.Rule, len(d.Destinations))
	}
	for _, dst := range d.Destinations {
		if !strings.HasPrefix(dst.Gateway, "gw-siena-") || dst.User != "0577232111" || dst.Carrier != "pstn-siena" {
			t.Errorf("destination %v: want a gw-siena-N of pstn-siena with user 0577232111", dst)
		}
	}
}

// sortedByID returns d with every table in ascending ID order, as Load
// returns it.
func sortedByID(d routing.Data) routing.Data {
	m := routing.NewMemStore(d)
	out, _ := m.Load(ctx())
	return out
}

// compare reports the differences between two Data, row by row.
func compare(t *testing.T, what string, got, want routing.Data) {
	t.Helper()
	check := func(table string, g, w any) {
		gv, wv := reflect.ValueOf(g), reflect.ValueOf(w)
		if gv.Len() != wv.Len() {
			t.Errorf("%s: %s: got %d rows, want %d:\n got %+v\nwant %+v", what, table, gv.Len(), wv.Len(), g, w)
			return
		}
		for i := 0; i < gv.Len(); i++ {
			if !reflect.DeepEqual(gv.Index(i).Interface(), wv.Index(i).Interface()) {
				t.Errorf("%s: %s row %d:\n got %+v\nwant %+v", what, table, i, gv.Index(i).Interface(), wv.Index(i).Interface())
			}
		}
	}
	check("dr_gateways", got.Gateways, want.Gateways)
	check("dr_carriers", got.Carriers, want.Carriers)
	check("dr_rules", got.Rules, want.Rules)
	check("dr_groups", got.Groups, want.Groups)
}
