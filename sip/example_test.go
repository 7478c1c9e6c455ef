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
