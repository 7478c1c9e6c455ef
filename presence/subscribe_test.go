package presence_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/presence"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// The answers of ServeSIP that need no socket: a recorder and a request.
func TestServeSIPRejects(t *testing.T) {
	siptest.LeakCheck(t)
	srv, err := sip.NewServer(sip.Config{Listen: []sip.Listen{{Network: "udp", Addr: "127.0.0.1:0"}}}, sip.WithLogger(siptest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	p, err := presence.New(presence.Config{}, presence.NewMemStore(), srv, presence.WithLogger(siptest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	authed := registrar.NewContext(context.Background(), registrar.Identity{Username: "5001", Domain: "voip.unisi.it"})
	subscribe := func(edit func(r *sip.Request)) *sip.Request {
		r := siptest.NewRequest(sip.SUBSCRIBE, "sip:5002@voip.unisi.it")
		r.AppendHeader(sip.NewHeader("Event", "dialog"))
		r.AppendHeader(sip.NewHeader("Expires", "600"))
		if edit != nil {
			edit(r)
		}
		return r
	}
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		req    *sip.Request
		code   int
		header string // name: value expected on the response
	}{
		{"PUBLISH", authed, siptest.NewRequest(sip.PUBLISH, "sip:5002@voip.unisi.it"), 405, "Allow: SUBSCRIBE"},
		{"no Event", authed, subscribe(func(r *sip.Request) { r.RemoveHeader("Event") }), 489, "Allow-Events: dialog, message-summary"},
		{"compact Event of another package", authed, subscribe(func(r *sip.Request) {
			r.RemoveHeader("Event")
			r.AppendHeader(sip.NewHeader("o", "presence"))
		}), 489, "Allow-Events: dialog, message-summary"},
		{"not authenticated", context.Background(), subscribe(nil), 403, ""},
		{"Accept without dialog-info", authed, subscribe(func(r *sip.Request) {
			r.AppendHeader(sip.NewHeader("Accept", "application/pidf+xml"))
		}), 406, "Accept: " + presence.ContentType},
		{"bad Expires", authed, subscribe(func(r *sip.Request) {
			r.RemoveHeader("Expires")
			r.AppendHeader(sip.NewHeader("Expires", "soon"))
		}), 400, ""},
		{"Expires 59", authed, subscribe(func(r *sip.Request) {
			r.RemoveHeader("Expires")
			r.AppendHeader(sip.NewHeader("Expires", "59"))
		}), 423, "Min-Expires: 60"},
		{"no user", authed, subscribe(func(r *sip.Request) { r.Recipient.User = "" }), 404, ""},
		{"no Contact", authed, subscribe(func(r *sip.Request) { r.RemoveHeader("Contact") }), 400, ""},
		{"refresh of nothing", authed, subscribe(func(r *sip.Request) { r.To().Params.Add("tag", "ps-unknown") }), 481, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := siptest.Serve(tc.ctx, p, tc.req)
			if got := siptest.Code(rec, err); got != tc.code {
				t.Fatalf("got %d (%v), want %d", got, err, tc.code)
			}
			if tc.header == "" {
				return
			}
			se, ok := err.(*sip.StatusError)
			if !ok || se.Response == nil {
				t.Fatalf("got %v, want a StatusError with a response", err)
			}
			name, value, _ := strings.Cut(tc.header, ": ")
			if h := se.Response.GetHeader(name); h == nil || h.Value() != value {
				t.Errorf("%s: got %v, want %s", name, h, value)
			}
		})
	}
	if n := p.Len(); n != 0 {
		t.Errorf("got %d subscriptions, want 0", n)
	}
}

// An initial SUBSCRIBE with Expires 0 fetches the state: 202 and one
// NOTIFY, already terminated; nothing is kept.
func TestFetch(t *testing.T) {
	rg := newRig(t, presence.Config{})
	ctx := siptest.Context(t, 5*time.Second)
	sub, ok := rg.subscribe(ctx, rg.phone("5003"), "5002", 0)
	if got := ok.GetHeader("Expires").Value(); got != "0" {
		t.Errorf("Expires: got %s, want 0", got)
	}
	_, reqs := notifies(t, ctx, sub, ok, 1)
	if got := subState(reqs[0]); got != "terminated;reason=timeout" {
		t.Errorf("Subscription-State %q, want terminated;reason=timeout", got)
	}
	if n := rg.pres.Len(); n != 0 {
		t.Errorf("got %d subscriptions, want 0", n)
	}
	if stored, _ := rg.store.Subscriptions(ctx, ""); len(stored) != 0 {
		t.Errorf("store: %+v", stored)
	}
}

func TestAuthorize(t *testing.T) {
	rg := newRig(t, presence.Config{Authorize: func(w registrar.Identity, aor string) bool {
		// The secretary 5003 may watch her boss 5002; nobody else may.
		return w.Username == "5003" && aor == "5002@"+domain
	}})
	ctx := siptest.Context(t, 5*time.Second)
	rg.subscribe(ctx, rg.phone("5003"), "5002", 600)
	for _, tc := range []struct{ watcher, aor string }{{"5003", "5001"}, {"5004", "5002"}} {
		_, res, err := rg.phone(tc.watcher).Subscribe(ctx, "sip:"+tc.aor+"@"+domain, "dialog", 600)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 403 {
			t.Errorf("%s watching %s: got %d, want 403", tc.watcher, tc.aor, res.StatusCode)
		}
	}
}
