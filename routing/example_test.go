package routing_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// Calls to Arezzo (0 + 0575…) go to Arezzo's PRI, then to Siena's. Here
// Arezzo's gateway answers 503, so the stage fails over to Siena; both
// strip the outside-line 0.
func Example() {
	store := routing.NewMemStore(routing.Data{
		Gateways: []routing.Gateway{
			{ID: 1, GWID: "gw-arezzo", Address: "172.20.16.11", Strip: 1, Channels: 30},
			{ID: 2, GWID: "gw-siena-1", Address: "172.20.0.11", Strip: 1, Channels: 30},
		},
		Rules: []routing.Rule{
			{ID: 11, Groups: "0", Prefix: "00575", GWList: "gw-arezzo,gw-siena-1", Attrs: "national"},
		},
	})
	router, err := routing.New(routing.Config{}, store)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer router.Close()

	// A stand-in for the Forwarder: Arezzo's PRI is out of order.
	forward := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		d, _ := routing.DecisionFrom(ctx)
		target := sip.TargetsFrom(ctx)[0]
		fmt.Printf("rule %d (%s), attempt %d: %s\n", d.Rule, d.Attrs, d.Attempt+1, target.URI.String())
		if target.Gateway == "gw-arezzo" {
			return sip.Reject(503, "")
		}
		return w.WriteResponse(sip.NewResponse(r, 200, ""))
	})
	pipeline := sip.Chain(router.Wrap)(forward)

	req := siptest.NewRequest(sip.INVITE, "sip:00575123456@voip.unisi.it")
	rec, err := siptest.Serve(context.Background(), pipeline, req)
	fmt.Println("outcome:", siptest.Code(rec, err))
	// Output:
	// rule 11 (national), attempt 1: sip:0575123456@172.20.16.11
	// rule 11 (national), attempt 2: sip:0575123456@172.20.0.11
	// outcome: 200
}

// Explain shows where a number goes without sending anything: the rule,
// the destinations in order, and what was left out.
func ExampleRouter_Explain() {
	store := routing.NewMemStore(routing.Data{
		Gateways: []routing.Gateway{
			{ID: 1, GWID: "md110-siena", Address: "172.20.0.21"},
			{ID: 2, GWID: "md110-arezzo", Address: "172.20.16.21", State: routing.StateDisabled},
			{ID: 3, GWID: "md110-grosseto", Address: "172.20.32.21"},
		},
		Carriers: []routing.Carrier{
			{ID: 1, CarrierID: "md110", GWList: "md110-siena,md110-arezzo,md110-grosseto"},
		},
		Rules: []routing.Rule{
			{ID: 20, Groups: "0,1", Prefix: "2", GWList: "#md110", Attrs: "legacy"},
			{ID: 99, Groups: "0", GWList: "md110-siena", Attrs: "last resort"},
		},
	})
	router, err := routing.New(routing.Config{Fallback: true}, store)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer router.Close()
	decisions, err := router.Explain(0, "2169")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range decisions {
		fmt.Printf("rule %d, prefix %q, %s:\n", d.Rule, d.Prefix, d.Attrs)
		for _, dst := range d.Destinations {
			fmt.Println("  ", dst)
		}
		for _, s := range d.Skipped {
			fmt.Println("   skipped", s.Gateway, s.Reason)
		}
	}
	// A '+' is not a prefix character: only prefix-less rules match.
	if d, err := router.Route(0, "+390577232111"); err == nil {
		fmt.Println("+390577232111: rule", d.Rule)
	}
	// Group 1 has no prefix-less rule.
	_, err = router.Route(1, "+390577232111")
	fmt.Println(errors.Is(err, routing.ErrNoRoute))
	// Output:
	// rule 20, prefix "2", legacy:
	//    md110-siena (2169@172.20.0.21) via #md110
	//    md110-grosseto (2169@172.20.32.21) via #md110
	//    skipped md110-arezzo disabled
	// rule 99, prefix "", last resort:
	//    md110-siena (2169@172.20.0.21)
	// +390577232111: rule 99
	// true
}
