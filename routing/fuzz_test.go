package routing_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/routing"
)

// FuzzParseGWList parses arbitrary gwlists: nothing may panic, and a list
// that parses prints back to a list that parses to the same entries.
func FuzzParseGWList(f *testing.F) {
	for _, s := range []string{"", "gw-siena-1", "a=70,b=20|c", "#pstn-siena=3 | gw-arezzo", " a = 5 , ", "a,,b", "#", "a=", "a=-1", "a b", "ü", "a=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		list, err := routing.ParseGWList(s)
		if err != nil {
			return
		}
		parts := make([]string, len(list))
		for i, e := range list {
			if !routing.ValidID(e.ID) && len(e.ID) <= 64 {
				t.Fatalf("ParseGWList(%q): entry %+v has an invalid id", s, e)
			}
			if e.Weight < 0 {
				t.Fatalf("ParseGWList(%q): negative weight in %+v", s, e)
			}
			parts[i] = e.String()
		}
		again, err := routing.ParseGWList(strings.Join(parts, ","))
		if err != nil || !slices.Equal(again, list) {
			t.Fatalf("ParseGWList(%q) = %+v, printed back and parsed: %+v, %v", s, list, again, err)
		}
		if _, err := routing.ParseGroupIDs(s); err == nil && strings.ContainsAny(s, "#=") {
			t.Fatalf("ParseGroupIDs(%q) accepted a gwlist", s)
		}
	})
}

// FuzzRoute routes arbitrary numbers through a small table built from
// arbitrary prefixes, gwlists and timerecs: nothing may panic, and every
// decision must be one the table allows.
func FuzzRoute(f *testing.F) {
	f.Add("0577", "05", "g1,g2", "#c=2,g3", "", uint8(0), "0577232111")
	f.Add("", "00", "g3=1,g1=9", "#c", officeHours, uint8(1), "+39")
	f.Add("1", "12", "nope,#nope", "g1,,g2", "bogus", uint8(2), "")
	f.Add("*9", "9", "g1", "g2|g3", "20200101T000000|20200102T000000", uint8(3), "*91")
	f.Fuzz(func(t *testing.T, p1, p2, list1, list2, timerec string, flags uint8, number string) {
		gws := gateways(3)
		gws[0].Strip, gws[0].PriPrefix = int(flags>>4), "+39"
		gws[1].State = routing.StateDisabled
		d := routing.Data{
			Gateways: gws,
			Carriers: []routing.Carrier{{ID: 1, CarrierID: "c", GWList: "g1=1,g2,g3=5", SortAlg: routing.SortWeight, Flags: routing.CarrierFlags(flags & 1)}},
			Rules: []routing.Rule{
				{ID: 1, Groups: "0", Prefix: p1, GWList: list1, SortAlg: routing.SortWeight, TimeRec: timerec},
				{ID: 2, Groups: "0,1", Prefix: p2, GWList: list2, Priority: int(flags & 2)},
				{ID: 3, Groups: "0", Prefix: p1, GWList: list2},
			},
		}
		cfg := routing.Config{ExactLength: flags&4 != 0, Fallback: flags&8 != 0, ExtraPrefixChars: "*"}
		r := newRouter(t, cfg, d, time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
		ds, err := r.Explain(int(flags>>7), number)
		if err != nil {
			if !errors.Is(err, routing.ErrNoRoute) {
				t.Fatalf("Explain(%q): %v", number, err)
			}
			return
		}
		valid := !strings.ContainsFunc(number, func(c rune) bool { return !(c >= '0' && c <= '9' || c == '*') })
		for _, dec := range ds {
			switch {
			case !strings.HasPrefix(number, dec.Prefix):
				t.Fatalf("number %q routed by rule %d with prefix %q", number, dec.Rule, dec.Prefix)
			case !valid && dec.Prefix != "":
				t.Fatalf("number %q with characters outside the alphabet routed by prefix %q", number, dec.Prefix)
			case cfg.ExactLength && dec.Prefix != number:
				t.Fatalf("exact length: number %q routed by prefix %q", number, dec.Prefix)
			}
			for _, dst := range dec.Destinations {
				if dst.Gateway == "g2" {
					t.Fatalf("disabled gateway g2 in %+v", dec.Destinations)
				}
				want := number
				if dst.Gateway == "g1" {
					want = "+39" + number[min(int(flags>>4), len(number)):]
				}
				if dst.User != want {
					t.Fatalf("%s: user %q, want %q", dst.Gateway, dst.User, want)
				}
			}
		}
	})
}
