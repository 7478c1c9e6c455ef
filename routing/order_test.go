package routing_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/routing"
)

func TestDestinations(t *testing.T) {
	gws := gateways(6)
	gws[0].Strip, gws[0].PriPrefix, gws[0].Attrs = 1, "+39", "site=siena"
	gws[1].Strip = 20 // longer than the number
	gws[2].State = routing.StateDisabled
	gws[3].State = routing.StateInactive
	data := routing.Data{
		Gateways: gws,
		Carriers: []routing.Carrier{
			{ID: 1, CarrierID: "both", GWList: "g5,g6", Attrs: "carrier-attrs"},
			{ID: 2, CarrierID: "first", GWList: "g3,g5,g6", Flags: routing.CarrierFirstOnly},
			{ID: 3, CarrierID: "flag-off", GWList: "g5", Flags: routing.CarrierOff},
			{ID: 4, CarrierID: "state-off", GWList: "g6", State: routing.StateDisabled},
			{ID: 5, CarrierID: "empty"},
		},
		Rules: []routing.Rule{
			{ID: 1, Groups: "0", Prefix: "1", GWList: "g1,g2"},
			{ID: 2, Groups: "0", Prefix: "2", GWList: "g1,#both,g2"},
			{ID: 3, Groups: "0", Prefix: "3", GWList: "g3,g4,g5"},
			{ID: 4, Groups: "0", Prefix: "4", GWList: "#first"},
			{ID: 5, Groups: "0", Prefix: "5", GWList: "#flag-off,#state-off,g1"},
			{ID: 6, Groups: "0", Prefix: "6", GWList: ""},
			{ID: 7, Groups: "0", Prefix: "7", GWList: "#empty,g5"},
		},
	}
	r := newRouter(t, routing.Config{}, data, time.Time{})
	type dst struct{ gw, carrier, user string }
	tests := []struct {
		number  string
		want    []dst
		skipped []string
	}{
		{"1234", []dst{{"g1", "", "+39234"}, {"g2", "", ""}}, nil},
		{"2000", []dst{{"g1", "", "+39000"}, {"g5", "both", "2000"}, {"g6", "both", "2000"}, {"g2", "", ""}}, nil},
		{"3000", []dst{{"g5", "", "3000"}}, []string{"g3: disabled", "g4: inactive"}},
		{"4000", []dst{{"g5", "first", "4000"}}, []string{"g3/first: disabled"}},
		{"5000", []dst{{"g1", "", "+39000"}}, []string{"flag-off: carrier off", "state-off: carrier off"}},
		{"6000", nil, nil},
		{"7000", []dst{{"g5", "", "7000"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.number, func(t *testing.T) {
			d, err := r.Route(0, tt.number)
			if err != nil {
				t.Fatal(err)
			}
			var got []dst
			for _, x := range d.Destinations {
				got = append(got, dst{x.Gateway, x.Carrier, x.User})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("destinations: got %v, want %v", got, tt.want)
			}
			var skipped []string
			for _, s := range d.Skipped {
				who := s.Gateway
				switch {
				case who == "":
					who = s.Carrier
				case s.Carrier != "":
					who += "/" + s.Carrier
				}
				skipped = append(skipped, who+": "+s.Reason)
			}
			if !slices.Equal(skipped, tt.skipped) {
				t.Errorf("skipped: got %v, want %v", skipped, tt.skipped)
			}
		})
	}
	d, _ := r.Route(0, "2000")
	if d.Destinations[0].Attrs != "site=siena" || d.Destinations[1].CarrierAttrs != "carrier-attrs" {
		t.Errorf("attrs: got %q and %q, want site=siena and carrier-attrs", d.Destinations[0].Attrs, d.Destinations[1].CarrierAttrs)
	}
}

// weightedRouter returns a Router whose rule for prefix 1 lists gwlist
// with sort W, and whose random source has a fixed seed.
func weightedRouter(t testing.TB, gwlist string, seed uint64) *routing.Router {
	t.Helper()
	return newRouter(t, routing.Config{}, routing.Data{
		Gateways: gateways(4),
		Rules:    []routing.Rule{{ID: 1, Groups: "0", Prefix: "1", GWList: gwlist, SortAlg: routing.SortWeight}},
	}, time.Time{}, routing.WithRand(rand.New(rand.NewPCG(seed, seed^0x5eed))))
}

// orderCounts routes n calls and counts each order of destinations.
func orderCounts(t *testing.T, r *routing.Router, n int) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for range n {
		d, err := r.Route(0, "1")
		if err != nil {
			t.Fatal(err)
		}
		counts[strings.Join(gatewaysOf(d), ",")]++
	}
	return counts
}

// chiSquare returns Pearson's statistic of counts against the expected
// probabilities of each outcome.
func chiSquare(counts map[string]int, want map[string]float64, n int) float64 {
	x := 0.0
	for k, p := range want {
		e := p * float64(n)
		d := float64(counts[k]) - e
		x += d * d / e
	}
	return x
}

// TestWeightedOrder checks the W sort statistically: each order of three
// gateways weighted 70, 20, 10 must come up as often as weighted random
// selection without replacement makes it (P(g1,g2,g3) = .7 × .2/.3 ...).
// The seed is fixed, so the test is deterministic; the bound is the χ²
// critical value for 5 degrees of freedom at p = 0.001.
func TestWeightedOrder(t *testing.T) {
	const n = 20000
	r := weightedRouter(t, "g1=70,g2=20,g3=10", 7)
	counts := orderCounts(t, r, n)
	want := map[string]float64{
		"g1,g2,g3": .7 * .2 / .3, "g1,g3,g2": .7 * .1 / .3,
		"g2,g1,g3": .2 * .7 / .8, "g2,g3,g1": .2 * .1 / .8,
		"g3,g1,g2": .1 * .7 / .9, "g3,g2,g1": .1 * .2 / .9,
	}
	if len(counts) != len(want) {
		t.Errorf("orders: got %v, want the 6 permutations", counts)
	}
	x := chiSquare(counts, want, n)
	t.Logf("χ² = %.2f, counts %v", x, counts)
	if x > 20.52 {
		t.Errorf("χ² = %.1f over 20.52: counts %v do not follow the weights", x, counts)
	}
	first := counts["g1,g2,g3"] + counts["g1,g3,g2"]
	if f := float64(first) / n; f < .68 || f > .72 {
		t.Errorf("g1 first in %.3f of calls, want about 0.70", f)
	}

	// A fixed seed gives the same orders again.
	a, b := weightedRouter(t, "g1=70,g2=20,g3=10", 99), weightedRouter(t, "g1=70,g2=20,g3=10", 99)
	for range 50 {
		da, _ := a.Route(0, "1")
		db, _ := b.Route(0, "1")
		if !slices.Equal(gatewaysOf(da), gatewaysOf(db)) {
			t.Fatalf("same seed, different orders: %v and %v", gatewaysOf(da), gatewaysOf(db))
		}
	}
}

func TestWeightZero(t *testing.T) {
	const n = 6000
	// Weight-0 entries come last, in list order.
	r := weightedRouter(t, "g3=0,g1=1,g4,g2=1", 3)
	counts := orderCounts(t, r, n)
	if len(counts) != 2 || counts["g1,g2,g3,g4"]+counts["g2,g1,g3,g4"] != n {
		t.Errorf("orders: got %v, want g1 and g2 in either order, then g3, g4", counts)
	}
	// All weights 0: a uniform shuffle.
	r = weightedRouter(t, "g1,g2,g3", 5)
	counts = orderCounts(t, r, n)
	want := map[string]float64{}
	for _, o := range []string{"g1,g2,g3", "g1,g3,g2", "g2,g1,g3", "g2,g3,g1", "g3,g1,g2", "g3,g2,g1"} {
		want[o] = 1.0 / 6
	}
	if x := chiSquare(counts, want, n); x > 20.52 || len(counts) != 6 {
		t.Errorf("all weights 0: χ² = %.1f, counts %v; want a uniform shuffle", x, counts)
	}
	// sort N keeps the order whatever the weights.
	rn := newRouter(t, routing.Config{}, routing.Data{
		Gateways: gateways(3),
		Rules:    []routing.Rule{{ID: 1, Groups: "0", Prefix: "1", GWList: "g3=1,g1=100,g2=50", SortAlg: routing.SortNone}},
	}, time.Time{})
	for range 20 {
		d, _ := rn.Route(0, "1")
		if got := gatewaysOf(d); !slices.Equal(got, []string{"g3", "g1", "g2"}) {
			t.Fatalf("sort N: got %v, want [g3 g1 g2]", got)
		}
	}
}

// TestCarrierWeights checks that a carrier in a weighted rule list counts
// with its own weight, and that its gateways are ordered by the carrier's
// sort.
func TestCarrierWeights(t *testing.T) {
	const n = 4000
	data := routing.Data{
		Gateways: gateways(4),
		Carriers: []routing.Carrier{{ID: 1, CarrierID: "c", GWList: "g2=1,g3=3", SortAlg: routing.SortWeight}},
		Rules:    []routing.Rule{{ID: 1, Groups: "0", Prefix: "1", GWList: "g1=1,#c=3", SortAlg: routing.SortWeight}},
	}
	r := newRouter(t, routing.Config{}, data, time.Time{}, routing.WithRand(rand.New(rand.NewPCG(11, 12))))
	counts := orderCounts(t, r, n)
	want := map[string]float64{
		"g1,g2,g3": .25 * .25, "g1,g3,g2": .25 * .75,
		"g2,g3,g1": .75 * .25, "g3,g2,g1": .75 * .75,
	}
	if x := chiSquare(counts, want, n); x > 16.27 || len(counts) != 4 {
		t.Errorf("χ² = %.1f (bound 16.27, 3 degrees of freedom), counts %v", x, counts)
	}
}

func ExampleParseGWList() {
	list, err := routing.ParseGWList("gw-arezzo, #pstn-siena=3 | gw-grosseto=1")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range list {
		fmt.Printf("%s carrier=%v weight=%d\n", e.ID, e.Carrier, e.Weight)
	}
	// Output:
	// gw-arezzo carrier=false weight=0
	// pstn-siena carrier=true weight=3
	// gw-grosseto carrier=false weight=1
}
