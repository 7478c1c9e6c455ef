package sip_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// A stage that refuses international calls and one that routes the rest;
// the outcome of each request flows back up the chain.
func ExampleChain() {
	barInternational := func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			if strings.HasPrefix(r.Recipient.User, "00") {
				return sip.Reject(403, "Forbidden: class not allowed")
			}
			return next.ServeSIP(ctx, w, r)
		})
	}
	answer := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		return w.WriteResponse(sip.NewResponse(r, 200, ""))
	})
	pipeline := sip.Chain(barInternational)(answer)

	for _, number := range []string{"0577232111", "0044207946000"} {
		rec, err := siptest.Serve(context.Background(), pipeline, siptest.NewRequest(sip.INVITE, "sip:"+number+"@voip.unisi.it"))
		fmt.Println(number, siptest.Code(rec, err))
	}
	// Output:
	// 0577232111 200
	// 0044207946000 403
}

// Serial failover: try the next gateway when one answers 503.
func ExampleStatusOf() {
	gateways := map[string]int{"gw-siena": 503, "gw-arezzo": 200}
	try := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		if code := gateways[r.Recipient.Host]; code != 200 {
			return sip.Reject(code, "")
		}
		return w.WriteResponse(sip.NewResponse(r, 200, ""))
	})
	failover := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		var err error
		for _, gw := range []string{"gw-siena", "gw-arezzo"} {
			c := r.Clone()
			c.Recipient.Host = gw
			if err = try.ServeSIP(ctx, w, c); sip.StatusOf(err) != 503 {
				fmt.Println("answered by", gw)
				return err
			}
			fmt.Println(gw, "said", sip.StatusOf(err))
		}
		return err
	})
	rec, err := siptest.Serve(context.Background(), failover, siptest.NewRequest(sip.INVITE, "sip:0575123456@unisi"))
	fmt.Println("caller gets", siptest.Code(rec, err))
	// Output:
	// gw-siena said 503
	// answered by gw-arezzo
	// caller gets 200
}

// A binding's stored Path read back as the route set of its target.
func ExampleParseRouteSet() {
	routes, err := sip.ParseRouteSet(`<sip:edge.example;lr>, "node 2" <sip:10.0.0.2:5060;transport=tcp;lr>`)
	if err != nil {
		fmt.Println(err)
		return
	}
	t := sip.Target{URI: sip.URI{Scheme: "sip", User: "5002", Host: "192.0.2.7", Port: 5062}, Route: routes}
	fmt.Println(t)
	// Output:
	// sip:5002@192.0.2.7:5062 through sip:edge.example;lr through sip:10.0.0.2:5060;transport=tcp;lr
}

// Flows needs the address the other nodes reach this one at, which must
// be one of its own.
func ExampleNewFlows() {
	srv, err := sip.NewServer(sip.Config{Listen: []sip.Listen{{Network: "tcp", Addr: "127.0.0.1:0"}}},
		sip.WithLogger(siptest.Logger()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	fwd := sip.NewForwarder(srv, sip.ForwarderConfig{})
	self, _ := sip.ParseURI("sip:" + srv.Local().Addr("tcp") + ";transport=tcp")
	flows, err := sip.NewFlows(fwd, sip.FlowConfig{URI: self})
	fmt.Println(flows != nil, err)
	other, _ := sip.ParseURI("sip:192.0.2.1:5060;transport=tcp")
	_, err = sip.NewFlows(fwd, sip.FlowConfig{URI: other})
	fmt.Println(err)
	// Output:
	// true <nil>
	// sip: flows: URI sip:192.0.2.1:5060;transport=tcp is not an address of this server
}
