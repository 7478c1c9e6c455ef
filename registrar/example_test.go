package registrar_test

import (
	"context"
	"fmt"
	"log/slog"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// A phone registers with digest credentials, then a call to its number is
// sent to its contact.
func Example() {
	ctx := context.Background()
	store := registrar.NewMemStore()
	store.AddSubscriber(ctx, registrar.NewSubscriber("5002", "voip.unisi.it", "secret"))
	reg, err := registrar.New(registrar.Config{}, store, store, registrar.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	defer reg.Close()

	// The phone's first REGISTER is challenged...
	req := siptest.NewRequest(sip.REGISTER, "sip:voip.unisi.it")
	req.From().Address.User, req.To().Address.User, req.Contact().Address.User = "5002", "5002", "5002"
	_, err = siptest.Serve(ctx, reg, req)
	fmt.Println("first REGISTER:", sip.StatusOf(err))

	// ...and it answers the challenge, as its digest client does.
	se, _ := sip.AsStatus(err)
	chal, _ := digest.ParseChallenge(se.Response.GetHeader("WWW-Authenticate").Value())
	cred, _ := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:voip.unisi.it", Username: "5002", Password: "secret"})
	req.AppendHeader(sipmsg.NewHeader("Authorization", cred.String()))
	rec, err := siptest.Serve(ctx, reg, req)
	fmt.Println("second REGISTER:", siptest.Code(rec, err), rec.Responses()[0].GetHeader("Contact").Value())

	// The Lookup stage hands the Forwarder the phone's contacts.
	forwarder := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		for _, t := range sip.TargetsFrom(ctx) {
			fmt.Println("INVITE to", t)
		}
		return w.WriteResponse(sip.NewResponse(r, 200, ""))
	})
	pipeline := reg.Lookup(forwarder)
	siptest.Serve(ctx, pipeline, siptest.NewRequest(sip.INVITE, "sip:5002@voip.unisi.it"))
	rec, err = siptest.Serve(ctx, pipeline, siptest.NewRequest(sip.INVITE, "sip:5009@voip.unisi.it"))
	fmt.Println("call to 5009:", siptest.Code(rec, err))
	// Output:
	// first REGISTER: 401
	// second REGISTER: 200 <sip:5002@127.0.0.1:5070>;expires=3600
	// INVITE to sip:5002@127.0.0.1:5070
	// call to 5009: 404
}

// The Authenticate stage puts the caller's account in the context.
func ExampleIdentityFrom() {
	classes := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		if id, ok := registrar.IdentityFrom(ctx); ok {
			fmt.Println(id.Username, "may call", id.Subscriber.Classes)
		}
		return w.WriteResponse(sip.NewResponse(r, 200, ""))
	})
	ctx := registrar.NewContext(context.Background(), registrar.Identity{
		Username:   "5002",
		Subscriber: registrar.Subscriber{Classes: []string{"local", "national"}},
	})
	siptest.Serve(ctx, classes, siptest.NewRequest(sip.INVITE, "sip:0577232111@voip.unisi.it"))
	// Output:
	// 5002 may call [local national]
}

// HA1 computes the subscriber table's ha1 and ha1_sha256 columns.
func ExampleHA1() {
	ha1, _ := registrar.HA1("5002", "voip.unisi.it", "secret", registrar.MD5)
	sha, _ := registrar.HA1("5002", "voip.unisi.it", "secret", registrar.SHA256)
	fmt.Println(ha1)
	fmt.Println(len(sha), "hex digits")
	// Output:
	// 08dd67411602221a429a1e59c7238525
	// 64 hex digits
}
