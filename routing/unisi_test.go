package routing_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/routing/routingtest"
)

// newUniSI returns a Router over the UniSI tables.
func newUniSI(t *testing.T, cfg routing.Config, opts ...routing.Option) *routing.Router {
	t.Helper()
	cfg.ExtraPrefixChars = routingtest.UniSIPrefixChars
	cfg.VolatileState = true
	r, err := routing.New(cfg, routing.NewMemStore(routingtest.UniSI()), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func gatewaysOf(d routing.Decision) []string {
	var out []string
	for _, dst := range d.Destinations {
		out = append(out, dst.Gateway)
	}
	return out
}

// TestUniSIExplain routes a number of each UniSI class through the UniSI
// tables, as the CLI's route command explains it.
func TestUniSIExplain(t *testing.T) {
	r := newUniSI(t, routing.Config{})
	siena := []string{"gw-siena-1", "gw-siena-2", "gw-siena-3", "gw-siena-4"}
	md110 := []string{"md110-siena", "md110-arezzo", "md110-grosseto"}
	tests := []struct {
		name    string
		group   int
		number  string
		rule    int
		attrs   string
		first   []string // the destinations in order, before the Siena PRIs in any order
		siena   bool     // the four Siena PRIs follow, in a weighted random order
		user    string
		noRoute bool
	}{
		{name: "national Siena", number: "00577232111", rule: 10, attrs: "national", siena: true, user: "0577232111"},
		{name: "national Rome", number: "0063456789", rule: 10, attrs: "national", siena: true, user: "063456789"},
		{name: "national Arezzo prefers Arezzo", number: "00575123456", rule: 11, attrs: "national", first: []string{"gw-arezzo"}, siena: true, user: "0575123456"},
		{name: "national Grosseto prefers Grosseto", number: "00564987654", rule: 12, attrs: "national", first: []string{"gw-grosseto"}, siena: true, user: "0564987654"},
		{name: "mobile", number: "03351234567", rule: 13, attrs: "mobile", siena: true, user: "3351234567"},
		{name: "international", number: "00044207946000", rule: 14, attrs: "international", siena: true, user: "0044207946000"},
		{name: "legacy extension", number: "2169", rule: 20, attrs: "legacy", first: md110, user: "2169"},
		{name: "legacy 80", number: "8012", rule: 21, attrs: "legacy", first: md110, user: "8012"},
		{name: "toip", number: "05771530123", rule: 30, attrs: "toip", first: []string{"toip"}, user: "05771530123"},
		{name: "media", number: "8801", rule: 40, attrs: "media", first: []string{"media-asterisk"}, user: "8801"},
		{name: "fax account", number: "FAX_5500", rule: 41, attrs: "media", first: []string{"media-asterisk"}, user: "FAX_5500"},
		{name: "ivr account", number: "IVR_5000", rule: 42, attrs: "media", first: []string{"media-asterisk"}, user: "IVR_5000"},
		{name: "E.164 with plus: no prefix-less rule", number: "+390577232111", noRoute: true},
		{name: "voip extension is not routed here", number: "5002", noRoute: true},
		{name: "library counter: no PSTN", group: 1, number: "00577232111", noRoute: true},
		{name: "library counter: legacy", group: 1, number: "2169", rule: 20, attrs: "legacy", first: md110, user: "2169"},
		{name: "unknown group", group: 7, number: "2169", noRoute: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := r.Explain(tt.group, tt.number)
			if tt.noRoute {
				if !errors.Is(err, routing.ErrNoRoute) {
					t.Fatalf("Explain(%d, %q): got %v, %v; want ErrNoRoute", tt.group, tt.number, ds, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Explain(%d, %q): %v", tt.group, tt.number, err)
			}
			if len(ds) != 1 {
				t.Fatalf("Explain without fallback: got %d decisions, want 1", len(ds))
			}
			d := ds[0]
			if d.Rule != tt.rule || d.Attrs != tt.attrs || d.Number != tt.number || d.Group != tt.group {
				t.Errorf("got rule %d attrs %q number %q group %d, want rule %d attrs %q number %q group %d",
					d.Rule, d.Attrs, d.Number, d.Group, tt.rule, tt.attrs, tt.number, tt.group)
			}
			got := gatewaysOf(d)
			n := len(tt.first)
			if len(got) < n || !slices.Equal(got[:n], tt.first) {
				t.Fatalf("destinations: got %v, want %v first", got, tt.first)
			}
			rest := slices.Clone(got[n:])
			slices.Sort(rest)
			if tt.siena && !slices.Equal(rest, siena) {
				t.Errorf("destinations after %v: got %v, want the four Siena PRIs", tt.first, got[n:])
			}
			if !tt.siena && len(rest) != 0 {
				t.Errorf("destinations: got %v, want only %v", got, tt.first)
			}
			for _, dst := range d.Destinations {
				if dst.User != tt.user {
					t.Errorf("%s: user %q, want %q", dst.Gateway, dst.User, tt.user)
				}
				if strings.HasPrefix(dst.Gateway, "gw-siena-") && dst.Carrier != "pstn-siena" {
					t.Errorf("%s: carrier %q, want pstn-siena", dst.Gateway, dst.Carrier)
				}
			}
			if len(d.Skipped) != 0 {
				t.Errorf("skipped: got %v, want none", d.Skipped)
			}
		})
	}
}

// TestUniSITargets checks the targets the stage would hand the Forwarder.
func TestUniSITargets(t *testing.T) {
	r := newUniSI(t, routing.Config{})
	for _, tt := range []struct {
		number, want, transport string
	}{
		{"00575123456", "sip:0575123456@172.20.16.11:5060", ""},
		{"05771530123", "sip:05771530123@172.20.0.31:5060;transport=tcp", ""},
		{"FAX_5500", "sip:FAX_5500@172.20.0.41:5060", ""},
	} {
		d, err := r.Route(0, tt.number)
		if err != nil {
			t.Fatalf("Route(0, %s): %v", tt.number, err)
		}
		tg := d.Destinations[0].Target()
		if got := tg.URI.String(); got != tt.want || tg.Transport != tt.transport || tg.Gateway != d.Destinations[0].Gateway {
			t.Errorf("Route(0, %s): target %s transport %q gateway %q, want %s transport %q gateway %q",
				tt.number, got, tg.Transport, tg.Gateway, tt.want, tt.transport, d.Destinations[0].Gateway)
		}
	}
}
