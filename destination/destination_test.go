package destination_test

import (
	"context"
	"errors"
	"testing"

	"github.com/palio-voip/palio/destination"
	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/permission"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

const domain = "voip.unisi.it"

// env is the sub-pipeline over memory stores: 5xxx are local accounts
// (voip), 0... national and 00... international numbers go to one gateway.
type env struct {
	reg  *registrar.Registrar
	subs *registrar.MemStore
	dest *destination.Destination
}

func newEnv(t *testing.T, stages ...sip.Middleware) *env {
	t.Helper()
	plan, err := dialplan.New(dialplan.Config{}, dialplan.NewMemStore(
		dialplan.Rule{ID: 1, MatchOp: dialplan.Regex, MatchExp: "^5[0-9]{3}$", Attrs: "voip"},
		dialplan.Rule{ID: 2, MatchOp: dialplan.Regex, MatchExp: "^0[1-9][0-9]+$", Attrs: "national"},
		dialplan.Rule{ID: 3, MatchOp: dialplan.Regex, MatchExp: "^00[1-9][0-9]+$", Attrs: "international"},
	))
	if err != nil {
		t.Fatal(err)
	}
	subs := registrar.NewMemStore()
	for _, s := range []registrar.Subscriber{
		{Username: "5001", Domain: domain, Password: "x", Classes: []string{"local", "national", "international"}},
		{Username: "5002", Domain: domain, Password: "x", Classes: []string{"local"}},
		{Username: "5003", Domain: domain, Password: "x", Classes: []string{"local", "national"}},
	} {
		if err := subs.AddSubscriber(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	reg, err := registrar.New(registrar.Config{Realm: domain}, subs, subs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	for _, u := range []string{"5002", "5003"} {
		if err := reg.AddBinding(context.Background(), registrar.Binding{AOR: u, Contact: "sip:" + u + "@10.0.0.2:5060", Q: 1}); err != nil {
			t.Fatal(err)
		}
	}
	router, err := routing.New(routing.Config{VolatileState: true}, routing.NewMemStore(routing.Data{
		Gateways: []routing.Gateway{{ID: 1, GWID: "gw1", Address: "198.51.100.1:5060"}},
		Rules:    []routing.Rule{{ID: 1, Groups: "0", Prefix: "0", GWList: "gw1"}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(router.Close)
	dest, err := destination.New(destination.Config{
		Plan: plan,
		Class: permission.Class(permission.ClassConfig{
			Required: permission.UniSIClasses,
			Caller: func(ctx context.Context) ([]string, bool) {
				id, ok := registrar.IdentityFrom(ctx)
				return id.Subscriber.Classes, ok
			},
		}),
		Stages:    stages,
		Registrar: reg,
		Router:    router,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &env{reg: reg, subs: subs, dest: dest}
}

// forwarder stands in for the Forwarder: it answers 200 and keeps where
// the call would have gone.
type forwarder struct {
	ruri    string
	targets []sip.Target
}

func (f *forwarder) ServeSIP(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
	f.ruri, f.targets = r.Recipient.String(), sip.TargetsFrom(ctx)
	return w.WriteResponse(sip.NewResponse(r, 200, ""))
}

// call serves an INVITE for number from the authenticated user.
func (e *env) call(t *testing.T, user, number string) (*forwarder, *sip.Call, int) {
	t.Helper()
	f := &forwarder{}
	sub, err := e.subs.Subscriber(context.Background(), user, domain)
	if err != nil {
		t.Fatal(err)
	}
	req := siptest.NewRequest(sip.INVITE, "sip:"+number+"@"+domain)
	call := sip.NewCall(req)
	ctx := sip.WithCall(registrar.NewContext(context.Background(), registrar.Identity{Username: user, Domain: domain, Subscriber: sub}), call)
	rec, err := siptest.Serve(ctx, e.dest.Wrap(f), req)
	return f, call, siptest.Code(rec, err)
}

func TestDestinationByClass(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, user, number string
		want               int
		target, gateway    string
		class              string
	}{
		{"a local account: its contact", "5001", "5002", 200, "sip:5002@10.0.0.2:5060", "", "voip"},
		{"national: the gateway", "5001", "0577232111", 200, "sip:0577232111@198.51.100.1:5060", "gw1", "national"},
		{"international without the class", "5003", "00442079460000", 403, "", "", "international"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, call, code := e.call(t, tt.user, tt.number)
			if code != tt.want {
				t.Fatalf("got %d, want %d\n%s", code, tt.want, call.TraceString())
			}
			if info := call.Info(); info.Class != tt.class {
				t.Errorf("class: got %q, want %q", info.Class, tt.class)
			}
			if tt.target == "" {
				return
			}
			if len(f.targets) != 1 || f.targets[0].URI.String() != tt.target || f.targets[0].Gateway != tt.gateway {
				t.Errorf("targets: got %v, want %s via %q", f.targets, tt.target, tt.gateway)
			}
		})
	}
}

// forwardStandIn redirects calls for 5003 to 0577999999 and calls for
// 5002 to 00442079460000, as 5003 and 5002 respectively: what a call
// forward does.
func forwardStandIn(e **env) sip.Middleware {
	return func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			to := map[string]string{"5003": "0577999999", "5002": "00442079460000", "5009": "5009"}[r.Recipient.User]
			if to == "" {
				return next.ServeSIP(ctx, w, r)
			}
			user := r.Recipient.User
			if user == "5009" {
				user = "5003"
			}
			sub, err := (*e).subs.Subscriber(ctx, user, domain)
			if err != nil {
				return err
			}
			return destination.Redirect(ctx, w, r, to, registrar.Identity{Username: user, Domain: domain, Subscriber: sub})
		})
	}
}

// A call forward re-runs the sub-pipeline for the new number: classified,
// checked against the forwarding account's classes, routed as if dialled.
func TestRedirect(t *testing.T) {
	var e *env
	e = newEnv(t, forwardStandIn(&e))

	// 5003 (national) forwards to a national number: routed to the gateway.
	f, call, code := e.call(t, "5001", "5003")
	if code != 200 || len(f.targets) != 1 || f.targets[0].Gateway != "gw1" || f.ruri != "sip:0577999999@198.51.100.1:5060" {
		t.Fatalf("forward to a national number: got %d to %v (%s)\n%s", code, f.targets, f.ruri, call.TraceString())
	}
	if info := call.Info(); info.Number != "0577999999" || info.Class != "national" {
		t.Errorf("record: got number %q class %q", info.Number, info.Class)
	}

	// 5002 (local only) forwards abroad: refused, although the caller 5001
	// may call abroad.
	_, call, code = e.call(t, "5001", "5002")
	if code != 403 {
		t.Fatalf("forward abroad by an account without the class: got %d, want 403\n%s", code, call.TraceString())
	}

	// A forward to itself loops: 482 after MaxRedirects.
	_, call, code = e.call(t, "5001", "5009")
	if code != 482 {
		t.Fatalf("a forwarding loop: got %d, want 482\n%s", code, call.TraceString())
	}

	// Outside the sub-pipeline there is nothing to redirect through.
	req := siptest.NewRequest(sip.INVITE, "sip:5003@"+domain)
	if err := destination.Redirect(context.Background(), siptest.NewRecorder(), req, "5002", registrar.Identity{}); !errors.Is(err, destination.ErrNoPipeline) {
		t.Errorf("Redirect outside: got %v, want ErrNoPipeline", err)
	}
}
