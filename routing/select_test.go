package routing_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
)

// gateways returns n gateways g1..gn at 10.0.0.1..n.
func gateways(n int) []routing.Gateway {
	out := make([]routing.Gateway, n)
	for i := range out {
		out[i] = routing.Gateway{ID: i + 1, GWID: fmt.Sprintf("g%d", i+1), Address: fmt.Sprintf("10.0.0.%d", i+1)}
	}
	return out
}

// newRouter returns a Router over d with a clock stopped at now (if not
// zero) and state changes kept in memory.
func newRouter(t testing.TB, cfg routing.Config, d routing.Data, now time.Time, opts ...routing.Option) *routing.Router {
	t.Helper()
	cfg.VolatileState = true
	if !now.IsZero() {
		opts = append(opts, routing.WithClock(func() time.Time { return now }))
	}
	r, err := routing.New(cfg, routing.NewMemStore(d), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func rome(t testing.TB, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Skip("no tz database:", err)
	}
	tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

const officeHours = "Europe/Rome|20260105T080000||PT10H|weekly|||MO,TU,WE,TH,FR"

// selectionData exercises prefix depth, priority, time windows, groups and
// ties.
func selectionData() routing.Data {
	return routing.Data{
		Gateways: gateways(5),
		Rules: []routing.Rule{
			{ID: 1, Groups: "0", Prefix: "0577", GWList: "g1"},
			{ID: 2, Groups: "0", Prefix: "0577", Priority: 10, TimeRec: officeHours, GWList: "g2"},
			{ID: 3, Groups: "0", Prefix: "05", GWList: "g3"},
			{ID: 4, Groups: "0", Prefix: "", GWList: "g4"},
			{ID: 5, Groups: "1", Prefix: "0577", GWList: "g5"},
			{ID: 6, Groups: "0", Prefix: "0577232", TimeRec: "20200101T000000|20200102T000000", GWList: "g5"},
			{ID: 8, Groups: "0", Prefix: "0575", Priority: 5, GWList: "g2"},
			{ID: 7, Groups: "0", Prefix: "0575", Priority: 5, GWList: "g1"},
			{ID: 9, Groups: "0,2", Prefix: "06", Priority: -1, GWList: "g1"},
			{ID: 10, Groups: "0", Prefix: "06", Priority: 3, GWList: "g2"},
		},
	}
}

func TestRuleSelection(t *testing.T) {
	monday10 := rome(t, "2026-03-02 10:00")
	monday20 := rome(t, "2026-03-02 20:00")
	tests := []struct {
		name   string
		exact  bool
		when   time.Time
		group  int
		number string
		want   int // rule id; 0 for no route
		prefix string
	}{
		{name: "longest prefix, time-valid, highest priority", when: monday10, number: "0577111", want: 2, prefix: "0577"},
		{name: "outside the time window: next priority", when: monday20, number: "0577111", want: 1, prefix: "0577"},
		{name: "deeper prefix not time-valid: walk up", when: monday10, number: "0577232111", want: 2, prefix: "0577"},
		{name: "deeper prefix not time-valid, evening", when: monday20, number: "0577232111", want: 1},
		{name: "shorter prefix", when: monday10, number: "0561", want: 3, prefix: "05"},
		{name: "number shorter than a prefix", when: monday10, number: "057", want: 3},
		{name: "prefix-less", when: monday10, number: "0123", want: 4, prefix: ""},
		{name: "empty number", when: monday10, number: "", want: 4},
		{name: "plus sign: prefix-less only", when: monday10, number: "+390577111", want: 4},
		{name: "letter inside: prefix-less only", when: monday10, number: "0577x1", want: 4},
		{name: "equal priority: lower id", when: monday10, number: "0575111", want: 7},
		{name: "group 0 priority", when: monday10, number: "0612", want: 10},
		{name: "other group, same prefix", when: monday10, group: 2, number: "0612", want: 9},
		{name: "group 1", when: monday10, group: 1, number: "0577111", want: 5},
		{name: "group 1 has no prefix-less rule", when: monday10, group: 1, number: "0123", want: 0},
		{name: "unknown group", when: monday10, group: 9, number: "0577111", want: 0},
		{name: "exact: whole number", exact: true, when: monday10, number: "0577", want: 2},
		{name: "exact: evening", exact: true, when: monday20, number: "0577", want: 1},
		{name: "exact: longer number", exact: true, when: monday10, number: "05771", want: 0},
		{name: "exact: shorter prefix matches", exact: true, when: monday10, number: "05", want: 3},
		{name: "exact: no prefix-less", exact: true, when: monday10, number: "0123", want: 0},
		{name: "exact: plus sign", exact: true, when: monday10, number: "+39", want: 0},
		{name: "exact: empty number", exact: true, when: monday10, number: "", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRouter(t, routing.Config{ExactLength: tt.exact}, selectionData(), tt.when)
			d, err := r.Route(tt.group, tt.number)
			if tt.want == 0 {
				if !errors.Is(err, routing.ErrNoRoute) {
					t.Fatalf("Route(%d, %q): got rule %d, %v; want ErrNoRoute", tt.group, tt.number, d.Rule, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Route(%d, %q): %v", tt.group, tt.number, err)
			}
			if d.Rule != tt.want {
				t.Errorf("Route(%d, %q): got rule %d, want %d", tt.group, tt.number, d.Rule, tt.want)
			}
			if tt.prefix != "" && d.Prefix != tt.prefix {
				t.Errorf("Route(%d, %q): got prefix %q, want %q", tt.group, tt.number, d.Prefix, tt.prefix)
			}
		})
	}
}

// TestRuleFallback lists the rules the stage moves through with the F
// flag: the next rule under the same prefix, then shorter prefixes, then
// the prefix-less ones, skipping rules out of their time window.
func TestRuleFallback(t *testing.T) {
	monday10 := rome(t, "2026-03-02 10:00")
	monday20 := rome(t, "2026-03-02 20:00")
	tests := []struct {
		name   string
		exact  bool
		when   time.Time
		number string
		want   []int
	}{
		{name: "office hours", when: monday10, number: "0577232111", want: []int{2, 1, 3, 4}},
		{name: "evening", when: monday20, number: "0577232111", want: []int{1, 3, 4}},
		{name: "ties", when: monday10, number: "0575", want: []int{7, 8, 3, 4}},
		{name: "prefix-less only", when: monday10, number: "+39", want: []int{4}},
		{name: "exact stays on its prefix", exact: true, when: monday10, number: "0577", want: []int{2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRouter(t, routing.Config{Fallback: true, ExactLength: tt.exact}, selectionData(), tt.when)
			ds, err := r.Explain(0, tt.number)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, d := range ds {
				got = append(got, d.Rule)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Explain(0, %q) rules: got %v, want %v", tt.number, got, tt.want)
			}
		})
	}
	// Without the F flag, Explain stops at the first rule.
	r := newRouter(t, routing.Config{}, selectionData(), monday10)
	if ds, _ := r.Explain(0, "0577232111"); len(ds) != 1 {
		t.Errorf("Explain without Fallback: got %d decisions, want 1", len(ds))
	}
}

func TestExtraPrefixChars(t *testing.T) {
	d := routing.Data{
		Gateways: gateways(2),
		Rules: []routing.Rule{
			{ID: 1, Groups: "0", Prefix: "*98", GWList: "g1"},
			{ID: 2, Groups: "0", Prefix: "", GWList: "g2"},
		},
	}
	r := newRouter(t, routing.Config{ExtraPrefixChars: "*#"}, d, time.Time{})
	if got, err := r.Route(0, "*981"); err != nil || got.Rule != 1 {
		t.Errorf("with * in the alphabet: Route(*981): got rule %d, %v; want 1", got.Rule, err)
	}
	if got, err := r.Route(0, "#1"); err != nil || got.Rule != 2 {
		t.Errorf("with # in the alphabet: Route(#1): got rule %d, %v; want 2 (no # prefix)", got.Rule, err)
	}
	r2 := routing.NewMemStore(d)
	rt, err := routing.New(routing.Config{VolatileState: true}, r2)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	rep, _ := rt.Reload(t.Context())
	if rep.Rules != 1 || rep.Discarded() != 1 || !strings.Contains(rep.Problems[0].Reason, "'*'") {
		t.Errorf("without * in the alphabet: report %v %v, want rule 1 discarded for its '*'", rep, rep.Problems)
	}
	if got, err := rt.Route(0, "*981"); err != nil || got.Rule != 2 {
		t.Errorf("without * in the alphabet: Route(*981): got rule %d, %v; want the prefix-less 2", got.Rule, err)
	}
}

// TestLoadReport checks what a reload leaves out, and that the rest loads.
func TestLoadReport(t *testing.T) {
	d := routing.Data{
		Gateways: []routing.Gateway{
			{ID: 1, GWID: "ok", Address: "10.0.0.1", Socket: "udp:10.0.0.254:5060"},
			{ID: 2, GWID: "ok", Address: "10.0.0.2"},
			{ID: 3, GWID: "bad id", Address: "10.0.0.3"},
			{ID: 4, GWID: "no-address"},
			{ID: 5, GWID: "bad-probe", Address: "10.0.0.5", ProbeMode: 3},
			{ID: 6, GWID: "bad-state", Address: "10.0.0.6", State: 7},
			{ID: 7, GWID: "bad-strip", Address: "10.0.0.7", Strip: -1},
			{ID: 8, GWID: "bad-channels", Address: "10.0.0.8", Channels: -30},
			{ID: 9, GWID: "odd-socket", Address: "10.0.0.9", Socket: "sctp:10.0.0.254:5060"},
			{ID: 10, GWID: "sips", Address: "SIPS:User@trunk.example.net:5061;transport=tls"},
		},
		Carriers: []routing.Carrier{
			{ID: 1, CarrierID: "c1", GWList: "ok,ghost", SortAlg: routing.SortQuality},
			{ID: 2, CarrierID: "c2", GWList: "#c1"},
			{ID: 3, CarrierID: "c1", GWList: "ok"},
			{ID: 4, CarrierID: "c3", GWList: "ok,,"},
		},
		Rules: []routing.Rule{
			{ID: 1, Groups: "0", Prefix: "1", GWList: "ok,ghost,#c1,#nocarrier"},
			{ID: 2, Groups: "x", Prefix: "2", GWList: "ok"},
			{ID: 3, Groups: "0", Prefix: "3", TimeRec: "bogus|x", GWList: "ok"},
			{ID: 4, Groups: "0", Prefix: "4", GWList: "ok=="},
			{ID: 5, Groups: "0", Prefix: "5", GWList: "ok", SortAlg: "Z"},
		},
		Groups: []routing.GroupMember{
			{ID: 1, Username: "5001", Domain: "voip.unisi.it", Group: 1},
			{ID: 2, Username: "5001", Domain: "voip.unisi.it", Group: 2},
			{ID: 3, Username: "", Group: 1},
		},
	}
	s := routing.NewMemStore(d)
	r, err := routing.New(routing.Config{VolatileState: true}, s)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rep, err := r.Reload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Gateways != 3 || rep.Carriers != 1 || rep.Rules != 2 || rep.Groups != 1 {
		t.Errorf("loaded: got %v, want 3 gateways (ok, odd-socket, sips), 1 carrier, 2 rules, 1 group member", rep)
	}
	type key struct {
		table, id string
		discarded bool
	}
	var got []key
	for _, p := range rep.Problems {
		got = append(got, key{p.Table, p.ID, p.Discarded})
	}
	want := []key{
		{"dr_gateways", "ok", true},
		{"dr_gateways", "bad id", true},
		{"dr_gateways", "no-address", true},
		{"dr_gateways", "bad-probe", true},
		{"dr_gateways", "bad-state", true},
		{"dr_gateways", "bad-strip", true},
		{"dr_gateways", "bad-channels", true},
		{"dr_gateways", "odd-socket", false},
		{"dr_carriers", "c1", false}, // ghost dropped
		{"dr_carriers", "c1", false}, // sort Q
		{"dr_carriers", "c2", true},
		{"dr_carriers", "c1", true}, // duplicate
		{"dr_carriers", "c3", true},
		{"dr_rules", "1", false}, // ghost
		{"dr_rules", "1", false}, // nocarrier
		{"dr_rules", "2", true},
		{"dr_rules", "3", true},
		{"dr_rules", "4", true},
		{"dr_rules", "5", false},
		{"dr_groups", "2", true},
		{"dr_groups", "3", true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n got %v\nwant %v", got, want)
		for _, p := range rep.Problems {
			t.Log(p)
		}
	}
	if n := rep.Discarded(); n != 15 {
		t.Errorf("Discarded(): got %d, want 15", n)
	}
	// Rule 1 keeps its known entries: ok, then c1's gateway ok.
	dec, err := r.Route(0, "1")
	if err != nil {
		t.Fatal(err)
	}
	if got := gatewaysOf(dec); !slices.Equal(got, []string{"ok", "ok"}) {
		t.Errorf("rule 1 destinations: got %v, want [ok ok]", got)
	}
	// The sips gateway keeps its scheme and parameters, not its user.
	if gs := r.Gateways(); len(gs) != 3 || gs[2].GWID != "sips" {
		t.Fatalf("Gateways(): got %+v", gs)
	}
	if !strings.Contains(rep.String(), "15 discarded, 6 other problems") {
		t.Errorf("report: got %q", rep.String())
	}
}

// TestGroup checks the caller's group as the stage and the dry run see
// it: by From user and host (host without regard to case), by user alone
// with IgnoreDomain, else the default group.
func TestGroup(t *testing.T) {
	d := routing.Data{Groups: []routing.GroupMember{
		{ID: 1, Username: "5890", Domain: "voip.unisi.it", Group: 1},
		{ID: 2, Username: "5891", Domain: "other.example", Group: 2},
	}}
	tests := []struct {
		name         string
		ignoreDomain bool
		from         string
		want         int
	}{
		{"member", false, "sip:5890@voip.unisi.it", 1},
		{"host case", false, "sip:5890@VOIP.Unisi.IT", 1},
		{"other domain", false, "sip:5890@elsewhere.example", 9},
		{"not a member", false, "sip:5002@voip.unisi.it", 9},
		{"user alone", true, "sip:5891@voip.unisi.it", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRouter(t, routing.Config{DefaultGroup: 9, IgnoreDomain: tt.ignoreDomain}, d, time.Time{})
			req := invite("sip:0577232111@voip.unisi.it")
			u, err := sip.ParseURI(tt.from)
			if err != nil {
				t.Fatal(err)
			}
			req.From().Address = u
			if got := r.Group(req); got != tt.want {
				t.Errorf("Group: got %d, want %d", got, tt.want)
			}
		})
	}
}
