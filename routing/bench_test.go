package routing_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/routing/routingtest"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// bigData returns n rules over random digit prefixes of 2 to 9 digits, in
// two groups, a tenth of them with a timerec, each listing two gateways or
// a carrier; and numbers that mostly hit a prefix (a quarter miss to the
// prefix-less rule).
func bigData(n int) (routing.Data, []string) {
	rng := rand.New(rand.NewPCG(1, 2))
	d := routing.Data{
		Gateways: gateways(8),
		Carriers: []routing.Carrier{{ID: 1, CarrierID: "pstn", GWList: "g5=25,g6=25,g7=25,g8=25", SortAlg: routing.SortWeight, Channels: 120}},
	}
	for i := range d.Gateways {
		d.Gateways[i].Strip, d.Gateways[i].Channels = 1, 30
	}
	digits := func(k int) string {
		b := make([]byte, k)
		for i := range b {
			b[i] = byte('0' + rng.IntN(10))
		}
		return string(b)
	}
	var prefixes []string
	for i := range n - 1 {
		p := digits(2 + rng.IntN(8))
		prefixes = append(prefixes, p)
		r := routing.Rule{ID: i + 1, Groups: "0", Prefix: p, GWList: fmt.Sprintf("g%d,g%d", 1+i%4, 1+(i+1)%4), Priority: rng.IntN(3)}
		switch {
		case i%10 == 0:
			r.TimeRec = officeHours
		case i%7 == 0:
			r.GWList, r.Groups = "#pstn,g1", "0,1"
		}
		d.Rules = append(d.Rules, r)
	}
	d.Rules = append(d.Rules, routing.Rule{ID: n, Groups: "0", GWList: "#pstn"})
	numbers := make([]string, 1024)
	for i := range numbers {
		if i%4 == 3 {
			numbers[i] = "+39" + digits(10)
			continue
		}
		p := prefixes[rng.IntN(len(prefixes))]
		numbers[i] = p + digits(12-len(p))
	}
	return d, numbers
}

// BenchmarkRoute measures a routing decision: rule selection and the
// ordered destination list. Budget: 1 allocation (the destination slice),
// plus 1 per destination with a pri_prefix.
func BenchmarkRoute(b *testing.B) {
	for _, n := range []int{10, 100_000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			d, numbers := bigData(n)
			r := newRouter(b, routing.Config{}, d, rome(b, "2026-03-02 10:00"))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := r.Route(0, numbers[i%len(numbers)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRouteUniSI routes a national call through the UniSI tables.
func BenchmarkRouteUniSI(b *testing.B) {
	r := newRouter(b, routing.Config{ExtraPrefixChars: routingtest.UniSIPrefixChars}, routingtest.UniSI(), time.Time{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Route(0, "00575123456"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStage measures the stage around a next handler that answers at
// once: the decision, the capacity reservation, the request clone and the
// context values. The clone dominates.
func BenchmarkStage(b *testing.B) {
	r := newRouter(b, routing.Config{ExtraPrefixChars: routingtest.UniSIPrefixChars}, routingtest.UniSI(), time.Time{})
	h := r.Wrap(sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) error { return nil }))
	req := siptest.NewRequest(sip.INVITE, "sip:00577232111@voip.unisi.it")
	w := siptest.NewRecorder()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := h.ServeSIP(ctx, w, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReload measures building the table of 100 000 rules.
func BenchmarkReload(b *testing.B) {
	d, _ := bigData(100_000)
	store := routing.NewMemStore(d)
	r, err := routing.New(routing.Config{VolatileState: true}, store)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Reload(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
