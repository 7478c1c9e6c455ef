package presence_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/presence"
	"github.com/palio-voip/palio/presence/presencetest"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

const domain = "voip.unisi.it"

// rig is a proxy on loopback whose Presence is the one under test, behind
// an authentication stand-in, with phones that call each other through it.
type rig struct {
	t      *testing.T
	proxy  *siptest.Proxy
	pres   *presence.Presence
	store  *presence.MemStore
	reg    *prometheus.Registry
	mu     sync.Mutex
	phones map[string]*siptest.UA
	// domains gives the domain a user authenticates in (default domain).
	domains map[string]string
}

func newRig(t *testing.T, cfg presence.Config, opts ...presence.Option) *rig {
	t.Helper()
	siptest.LeakCheck(t)
	rg := &rig{t: t, store: presence.NewMemStore(), reg: prometheus.NewRegistry(),
		phones: map[string]*siptest.UA{}, domains: map[string]string{}}
	srv, err := sip.NewServer(sip.Config{Listen: []sip.Listen{{Network: "udp", Addr: "127.0.0.1:0"}, {Network: "tcp", Addr: "127.0.0.1:0"}}}, sip.WithLogger(siptest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	rg.pres, err = presence.New(cfg, rg.store, srv, append([]presence.Option{presence.WithLogger(siptest.Logger()), presence.WithRegisterer(rg.reg)}, opts...)...)
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	rg.proxy = siptest.StartProxy(t, srv, siptest.ProxyConfig{
		Presence: sip.Chain(rg.auth)(sip.HandlerFunc(rg.serve)),
		Stages:   []sip.Middleware{rg.route},
	})
	// Cleanups run last first: the Presence closes before the server.
	t.Cleanup(rg.pres.Close)
	return rg
}

// serve hands a SUBSCRIBE to the rig's current Presence (a test may
// replace it, as a restart would).
func (rg *rig) serve(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
	rg.mu.Lock()
	p := rg.pres
	rg.mu.Unlock()
	return p.ServeSIP(ctx, w, r)
}

// auth stands in for registrar.Authenticate: the From user is taken as
// authenticated in its domain.
func (rg *rig) auth(next sip.Handler) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		user := r.From().Address.User
		rg.mu.Lock()
		d := rg.domains[user]
		rg.mu.Unlock()
		if d == "" {
			d = domain
		}
		return next.ServeSIP(registrar.NewContext(ctx, registrar.Identity{Username: user, Domain: d, Realm: d}), w, r)
	})
}

// route sends a call to the phone of its Request-URI user, recording the
// caller and the callee as the registrar and the destination stage would.
func (rg *rig) route(next sip.Handler) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		rg.mu.Lock()
		ph := rg.phones[r.Recipient.User]
		rg.mu.Unlock()
		if ph == nil {
			return sip.Reject(404, "Not Found")
		}
		call := sip.CallFrom(ctx)
		call.SetCaller(sip.CallerIdentity{User: r.From().Address.User, Domain: domain})
		call.SetCallee(r.Recipient.User + "@" + domain)
		return next.ServeSIP(sip.WithTargets(ctx, sip.Target{URI: ph.Contact()}), w, r)
	})
}

// phone starts a UA for user, using the proxy.
func (rg *rig) phone(user string, script ...siptest.Step) *siptest.UA {
	return rg.phoneOn("udp", user, script...)
}

// phoneOn starts a UA for user over network ("udp", "tcp"), using the proxy.
func (rg *rig) phoneOn(network, user string, script ...siptest.Step) *siptest.UA {
	opts := []siptest.Option{siptest.WithUser(user), siptest.WithTransport(network), siptest.WithProxy(rg.proxy.Addr(network))}
	if len(script) > 0 {
		opts = append(opts, siptest.WithScript(script...))
	}
	ua := siptest.NewUA(rg.t, opts...)
	rg.mu.Lock()
	rg.phones[user] = ua
	rg.mu.Unlock()
	return ua
}

// subscribe subscribes ua to the dialog state of user and checks the 202.
func (rg *rig) subscribe(ctx context.Context, ua *siptest.UA, user string, expires int) (*siptest.Subscription, *sip.Response) {
	rg.t.Helper()
	sub, res, err := ua.Subscribe(ctx, "sip:"+user+"@"+domain, "dialog", expires)
	if err != nil {
		rg.t.Fatal(err)
	}
	if res.StatusCode != 202 {
		rg.t.Fatalf("SUBSCRIBE: got %d %s, want 202", res.StatusCode, res.Reason)
	}
	if res.Contact() == nil || res.GetHeader("Expires") == nil {
		rg.t.Fatalf("202 lacks Contact or Expires:\n%s", res)
	}
	return sub, res
}

// metric returns the value of a series in the rig's registry (0 when
// absent).
func (rg *rig) metric(name, label string) float64 {
	mfs, err := rg.reg.Gather()
	if err != nil {
		rg.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// waitStored waits until the store holds n subscriptions: the store is
// written after the final NOTIFY is queued.
func (rg *rig) waitStored(ctx context.Context, n int) {
	rg.t.Helper()
	waitFor(rg.t, ctx, "the store to hold "+strconv.Itoa(n)+" subscriptions", func() bool {
		stored, _ := rg.store.Subscriptions(ctx, "")
		return len(stored) == n
	})
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// notifies waits for n NOTIFYs of sub and returns their documents, after
// checking what every NOTIFY of a subscription must carry: the dialog of
// the 202 (its To tag as From tag), CSeq and version increasing, Event,
// Content-Type and Subscription-State.
func notifies(t *testing.T, ctx context.Context, sub *siptest.Subscription, accepted *sip.Response, n int) ([]docInfo, []*sip.Request) {
	t.Helper()
	if _, err := sub.WaitNotify(ctx, n); err != nil {
		t.Fatal(err)
	}
	reqs := sub.Notifies()
	var docs []docInfo
	tag, _ := accepted.To().Params.Get("tag")
	for i, r := range reqs {
		if got, _ := r.From().Params.Get("tag"); got != tag {
			t.Errorf("NOTIFY #%d: From tag %q, want the 202's To tag %q", i+1, got, tag)
		}
		if got := r.GetHeader("Event"); got == nil || got.Value() != "dialog" {
			t.Errorf("NOTIFY #%d: Event %v, want dialog", i+1, got)
		}
		if got := r.GetHeader("Content-Type"); got == nil || got.Value() != presence.ContentType {
			t.Errorf("NOTIFY #%d: Content-Type %v", i+1, got)
		}
		if r.GetHeader("Subscription-State") == nil {
			t.Errorf("NOTIFY #%d: no Subscription-State", i+1)
		}
		if i > 0 && r.CSeq().SeqNo <= reqs[i-1].CSeq().SeqNo {
			t.Errorf("NOTIFY #%d: CSeq %d after %d", i+1, r.CSeq().SeqNo, reqs[i-1].CSeq().SeqNo)
		}
		d := parseInfo(t, r.Body())
		if d.Version != i {
			t.Errorf("NOTIFY #%d: version %d, want %d", i+1, d.Version, i)
		}
		if d.State != "full" || d.Entity != "sip:5002@"+domain && d.Entity != "sip:5001@"+domain {
			t.Errorf("NOTIFY #%d: state %q entity %q", i+1, d.State, d.Entity)
		}
		docs = append(docs, d)
	}
	return docs, reqs
}

func subState(r *sip.Request) string {
	if h := r.GetHeader("Subscription-State"); h != nil {
		return h.Value()
	}
	return ""
}

// states lists, for each document, the state of its dialogs ("-" for
// none), with the terminated event after a slash.
func states(docs []docInfo) []string {
	var out []string
	for _, d := range docs {
		if len(d.Dialogs) == 0 {
			out = append(out, "-")
			continue
		}
		var s []string
		for _, x := range d.Dialogs {
			v := x.State.Value
			if x.State.Event != "" {
				v += "/" + x.State.Event
			}
			s = append(s, v)
		}
		out = append(out, strings.Join(s, ","))
	}
	return out
}

func TestAnsweredCall(t *testing.T) {
	rg := newRig(t, presence.Config{})
	ctx := siptest.Context(t, 10*time.Second)
	caller, callee := rg.phone("5001"), rg.phone("5002")
	_ = callee
	watcher := rg.phone("5003")
	sub, ok := rg.subscribe(ctx, watcher, "5002", 3600)
	subCaller, okCaller := rg.subscribe(ctx, watcher, "5001", 3600)
	if _, err := sub.WaitNotify(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := subCaller.WaitNotify(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := rg.metric("palio_presence_subscriptions", ""); got != 2 {
		t.Errorf("palio_presence_subscriptions: got %v, want 2", got)
	}
	if stored, _ := rg.store.Subscriptions(ctx, ""); len(stored) != 2 {
		t.Errorf("store: got %d subscriptions, want 2", len(stored))
	}

	call, err := caller.Invite(ctx, "sip:5002@"+domain)
	if err != nil {
		t.Fatal(err)
	}
	if err := call.WaitCode(ctx, 200); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.WaitNotify(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := call.Bye(ctx); err != nil {
		t.Fatal(err)
	}

	docs, reqs := notifies(t, ctx, sub, ok, 5)
	want := []string{"-", "trying", "early", "confirmed", "terminated/remote-bye"}
	if got := states(docs); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("watcher of 5002: got states %v, want %v", got, want)
	}
	for i, d := range docs[1:] {
		x := d.Dialogs[0]
		if x.Direction != "recipient" || x.CallID != call.CallID() || x.RemoteTag != call.FromTag() ||
			x.Local.Identity != "sip:5002@"+domain || x.Remote.Identity != "sip:5001@"+domain {
			t.Errorf("NOTIFY #%d: dialog %+v", i+2, x)
		}
		if i >= 1 && x.LocalTag == "" {
			t.Errorf("NOTIFY #%d: no local-tag (the callee's tag) once early", i+2)
		}
	}
	if got := subState(reqs[4]); !strings.HasPrefix(got, "active;expires=") {
		t.Errorf("Subscription-State %q, want active", got)
	}

	docs, _ = notifies(t, ctx, subCaller, okCaller, 5)
	if got := states(docs); strings.Join(got, " ") != "- trying early confirmed terminated/local-bye" {
		t.Errorf("watcher of 5001: got states %v", got)
	}
	if x := docs[3].Dialogs[0]; x.Direction != "initiator" || x.LocalTag != call.FromTag() || x.Remote.Identity != "sip:5002@"+domain {
		t.Errorf("watcher of 5001: dialog %+v", x)
	}
	// The UA records a NOTIFY before it answers: wait for the last 200s.
	waitFor(t, ctx, "palio_presence_notifies_total{ok} to reach 10", func() bool {
		return rg.metric("palio_presence_notifies_total", "ok") == 10
	})
}

func TestUnansweredCalls(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script []siptest.Step
		want   string
	}{
		{"busy", []siptest.Step{siptest.Respond(486)}, "- trying terminated/rejected"},
		{"cancelled", []siptest.Step{siptest.Respond(180), siptest.Hold()}, "- trying early terminated/cancelled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rg := newRig(t, presence.Config{})
			ctx := siptest.Context(t, 10*time.Second)
			caller := rg.phone("5001")
			rg.phone("5002", tc.script...)
			sub, ok := rg.subscribe(ctx, rg.phone("5003"), "5002", 600)
			if _, err := sub.WaitNotify(ctx, 1); err != nil {
				t.Fatal(err)
			}
			call, err := caller.Invite(ctx, "sip:5002@"+domain)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "cancelled" {
				if err := call.WaitCode(ctx, 180); err != nil {
					t.Fatal(err)
				}
				if _, err := sub.WaitNotify(ctx, 3); err != nil {
					t.Fatal(err)
				}
				if _, err := call.Cancel(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := call.WaitFinal(ctx); err != nil {
				t.Fatal(err)
			}
			n := len(strings.Fields(tc.want))
			docs, _ := notifies(t, ctx, sub, ok, n)
			if got := strings.Join(states(docs), " "); got != tc.want {
				t.Errorf("got states %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRejections(t *testing.T) {
	rg := newRig(t, presence.Config{})
	ctx := siptest.Context(t, 10*time.Second)
	rg.domains["9999"] = "other.example"
	for _, tc := range []struct {
		name, user, uri, event string
		expires                int
		code                   int
		header, value          string
	}{
		{"too brief", "5003", "sip:5002@" + domain, "dialog", 10, 423, "Min-Expires", "60"},
		{"presence package", "5003", "sip:5002@" + domain, "presence", 3600, 489, "Allow-Events", "dialog, message-summary"},
		{"other domain", "9999", "sip:5002@" + domain, "dialog", 3600, 403, "", ""},
		{"watch another domain", "5003", "sip:5002@other.example", "dialog", 3600, 403, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, res, err := rg.phone(tc.user).Subscribe(ctx, tc.uri, tc.event, tc.expires)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.code {
				t.Fatalf("got %d %s, want %d", res.StatusCode, res.Reason, tc.code)
			}
			if tc.header != "" {
				if h := res.GetHeader(tc.header); h == nil || h.Value() != tc.value {
					t.Errorf("%s: got %v, want %s", tc.header, h, tc.value)
				}
			}
		})
	}
	if n := rg.pres.Len(); n != 0 {
		t.Errorf("got %d subscriptions, want 0", n)
	}
}

func TestExpiresClamped(t *testing.T) {
	rg := newRig(t, presence.Config{})
	ctx := siptest.Context(t, 5*time.Second)
	_, res := rg.subscribe(ctx, rg.phone("5003"), "5002", 100000)
	if got := res.GetHeader("Expires").Value(); got != "7200" {
		t.Errorf("Expires: got %s, want 7200", got)
	}
}

func TestRefreshAndUnsubscribe(t *testing.T) {
	rg := newRig(t, presence.Config{})
	ctx := siptest.Context(t, 10*time.Second)
	sub, ok := rg.subscribe(ctx, rg.phone("5003"), "5002", 600)
	if _, err := sub.WaitNotify(ctx, 1); err != nil {
		t.Fatal(err)
	}
	res, err := sub.Refresh(ctx, 1200)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 202 || res.GetHeader("Expires").Value() != "1200" {
		t.Fatalf("refresh: got %d Expires %v, want 202 and 1200", res.StatusCode, res.GetHeader("Expires"))
	}
	_, reqs := notifies(t, ctx, sub, ok, 2)
	if got := subState(reqs[1]); got != "active;expires=1200" && got != "active;expires=1199" {
		t.Errorf("after refresh: Subscription-State %q", got)
	}
	stored, _ := rg.store.Subscriptions(ctx, "")
	if len(stored) != 1 || time.Until(stored[0].Expires) < 1100*time.Second {
		t.Errorf("store after refresh: %+v", stored)
	}

	res, err = sub.Refresh(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 202 {
		t.Fatalf("unsubscribe: got %d, want 202", res.StatusCode)
	}
	_, reqs = notifies(t, ctx, sub, ok, 3)
	if got := subState(reqs[2]); got != "terminated;reason=timeout" {
		t.Errorf("final NOTIFY: Subscription-State %q, want terminated;reason=timeout", got)
	}
	if n := rg.pres.Len(); n != 0 {
		t.Errorf("got %d subscriptions, want 0", n)
	}
	rg.waitStored(ctx, 0)
	res, err = sub.Refresh(ctx, 600)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 481 {
		t.Errorf("refresh after unsubscribe: got %d, want 481", res.StatusCode)
	}
}

func TestExpiry(t *testing.T) {
	rg := newRig(t, presence.Config{MinExpires: time.Second, SweepInterval: 20 * time.Millisecond})
	ctx := siptest.Context(t, 10*time.Second)
	start := time.Now()
	sub, ok := rg.subscribe(ctx, rg.phone("5003"), "5002", 1)
	_, reqs := notifies(t, ctx, sub, ok, 2)
	if got := subState(reqs[1]); got != "terminated;reason=timeout" {
		t.Errorf("Subscription-State %q, want terminated;reason=timeout", got)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("ended after %v, before its Expires", d)
	}
	waitFor(t, ctx, "the gauge to fall", func() bool { return rg.metric("palio_presence_subscriptions", "") == 0 })
	rg.waitStored(ctx, 0)
}

func TestNotify481EndsSubscription(t *testing.T) {
	rg := newRig(t, presence.Config{})
	ctx := siptest.Context(t, 10*time.Second)
	caller := rg.phone("5001")
	rg.phone("5002", siptest.Respond(486))
	watcher := rg.phone("5003")
	sub, _ := rg.subscribe(ctx, watcher, "5002", 600)
	if _, err := sub.WaitNotify(ctx, 1); err != nil {
		t.Fatal(err)
	}
	watcher.AnswerWith(sip.NOTIFY, 481)
	call, err := caller.Invite(ctx, "sip:5002@"+domain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call.WaitFinal(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the subscription to end", func() bool { return rg.pres.Len() == 0 })
	// The NOTIFY of "trying" got the 481; nothing more was sent.
	time.Sleep(100 * time.Millisecond)
	if n := len(sub.Notifies()); n != 2 {
		t.Errorf("got %d NOTIFYs, want 2 (the initial one and the one answered 481)", n)
	}
	if got := rg.metric("palio_presence_notifies_total", "failed"); got != 1 {
		t.Errorf("palio_presence_notifies_total{failed}: got %v, want 1", got)
	}
	rg.waitStored(ctx, 0)
}

func TestOnlyMostInteresting(t *testing.T) {
	rg := newRig(t, presence.Config{OnlyMostInteresting: true})
	ctx := siptest.Context(t, 10*time.Second)
	a, b := rg.phone("5001"), rg.phone("5004")
	callee := rg.phone("5002", siptest.Respond(180), siptest.Pause(20*time.Millisecond), siptest.Respond(200))
	sub, ok := rg.subscribe(ctx, rg.phone("5003"), "5002", 600)
	if _, err := sub.WaitNotify(ctx, 1); err != nil {
		t.Fatal(err)
	}
	first, err := a.Invite(ctx, "sip:5002@"+domain)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.WaitCode(ctx, 200); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.WaitNotify(ctx, 4); err != nil {
		t.Fatal(err)
	}
	_ = callee
	// A second call while the first is up: the confirmed one stays shown.
	second, err := b.Invite(ctx, "sip:5002@"+domain)
	if err != nil {
		t.Fatal(err)
	}
	if err := second.WaitCode(ctx, 200); err != nil {
		t.Fatal(err)
	}
	docs, _ := notifies(t, ctx, sub, ok, 7)
	for i, d := range docs[4:7] {
		if len(d.Dialogs) != 1 || d.Dialogs[0].State.Value != "confirmed" {
			t.Errorf("NOTIFY #%d: got %v, want one confirmed dialog", i+5, states([]docInfo{d}))
		}
	}
	if got := docs[4].Dialogs[0].CallID; got != first.CallID() {
		t.Errorf("NOTIFY #5 shows %s, want the first call %s (the second is only trying)", got, first.CallID())
	}
	for _, c := range []*siptest.Call{first, second} {
		if _, err := c.Bye(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTCPWatcher(t *testing.T) {
	rg := newRig(t, presence.Config{})
	ctx := siptest.Context(t, 10*time.Second)
	caller := rg.phone("5001")
	rg.phone("5002", siptest.Respond(486))
	sub, ok := rg.subscribe(ctx, rg.phoneOn("tcp", "5003"), "5002", 600)
	if got := ok.Contact().Address.UriParams.GetOr("transport", ""); got != "tcp" {
		t.Errorf("202 Contact %s: want transport=tcp", ok.Contact().Address.String())
	}
	call, err := caller.Invite(ctx, "sip:5002@"+domain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call.WaitFinal(ctx); err != nil {
		t.Fatal(err)
	}
	docs, _ := notifies(t, ctx, sub, ok, 3)
	if got := strings.Join(states(docs), " "); got != "- trying terminated/rejected" {
		t.Errorf("got states %q", got)
	}
}

// A watcher that went away: its NOTIFY times out, which ends the
// subscription, and what was queued behind it is dropped, not sent.
func TestUnreachableWatcher(t *testing.T) {
	rg := newRig(t, presence.Config{NotifyTimeout: 300 * time.Millisecond, Queue: 2})
	ctx := siptest.Context(t, 10*time.Second)
	caller := rg.phone("5001")
	rg.phone("5002", siptest.Respond(486))
	watcher := rg.phone("5003")
	sub, _ := rg.subscribe(ctx, watcher, "5002", 600)
	if _, err := sub.WaitNotify(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the first NOTIFY's 200", func() bool { return rg.metric("palio_presence_notifies_total", "ok") == 1 })
	watcher.Close()
	for range 5 {
		call, err := caller.Invite(ctx, "sip:5002@"+domain)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := call.WaitFinal(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, ctx, "the subscription to end", func() bool { return rg.pres.Len() == 0 })
	time.Sleep(50 * time.Millisecond)
	if ok, failed := rg.metric("palio_presence_notifies_total", "ok"), rg.metric("palio_presence_notifies_total", "failed"); ok != 1 || failed != 1 {
		t.Errorf("NOTIFYs: got %v ok and %v failed, want 1 and 1", ok, failed)
	}
}

// Close while subscriptions are live: no goroutine outlives it (the rig's
// LeakCheck), and the subscriptions stay in the store.
func TestCloseKeepsStore(t *testing.T) {
	rg := newRig(t, presence.Config{})
	ctx := siptest.Context(t, 5*time.Second)
	sub, _ := rg.subscribe(ctx, rg.phone("5003"), "5002", 600)
	if _, err := sub.WaitNotify(ctx, 1); err != nil {
		t.Fatal(err)
	}
	rg.pres.Close()
	rg.pres.Close() // twice is fine
	if stored, _ := rg.store.Subscriptions(ctx, ""); len(stored) != 1 || stored[0].PresentityURI != "sip:5002@"+domain || stored[0].WatcherUser != "5003" {
		t.Errorf("store after Close: %+v", stored)
	}
}

// A restart: a new Presence on the same store takes up the subscriptions
// still running, with a NOTIFY in their dialog (next CSeq and version),
// and drops the expired ones.
func TestReload(t *testing.T) {
	rg := newRig(t, presence.Config{})
	ctx := siptest.Context(t, 10*time.Second)
	caller := rg.phone("5001")
	rg.phone("5002", siptest.Respond(486))
	sub, ok := rg.subscribe(ctx, rg.phone("5003"), "5002", 600)
	if _, err := sub.WaitNotify(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// The version and CSeq are written through after each NOTIFY.
	waitFor(t, ctx, "the store to follow the NOTIFY", func() bool {
		stored, _ := rg.store.Subscriptions(ctx, "")
		return len(stored) == 1 && stored[0].Version == 1 && stored[0].LocalCSeq == 1
	})
	rg.pres.Close()
	expired := presencetest.Sample("old")
	expired.Expires = time.Now().Add(-time.Minute)
	if err := rg.store.Put(ctx, expired); err != nil {
		t.Fatal(err)
	}

	p2, err := presence.New(presence.Config{SweepInterval: 50 * time.Millisecond}, rg.store, rg.proxy.Server, presence.WithLogger(siptest.Logger()), presence.WithRegisterer(rg.reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p2.Close)
	rg.mu.Lock()
	rg.pres = p2
	rg.mu.Unlock()
	if n := p2.Len(); n != 1 {
		t.Fatalf("after reload: got %d subscriptions, want 1", n)
	}
	if got := rg.metric("palio_presence_subscriptions", ""); got != 1 {
		t.Errorf("palio_presence_subscriptions: got %v, want 1", got)
	}
	if _, err := sub.WaitNotify(ctx, 2); err != nil {
		t.Fatal(err)
	}
	call, err := caller.Invite(ctx, "sip:5002@"+domain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call.WaitFinal(ctx); err != nil {
		t.Fatal(err)
	}
	docs, _ := notifies(t, ctx, sub, ok, 4)
	if got := strings.Join(states(docs), " "); got != "- - trying terminated/rejected" {
		t.Errorf("got states %q", got)
	}
	if res, err := sub.Refresh(ctx, 0); err != nil || res.StatusCode != 202 {
		t.Fatalf("unsubscribe from the new Presence: %v %v", res, err)
	}
	rg.waitStored(ctx, 0)
}

// The usual order at start: New (which reloads the store) before the
// server serves. The reloaded subscription's NOTIFY waits for the first
// sweep, then goes in its dialog with the next CSeq and version.
func TestReloadBeforeStart(t *testing.T) {
	siptest.LeakCheck(t)
	ctx := siptest.Context(t, 5*time.Second)
	watcher := siptest.NewUA(t, siptest.WithUser("5003"))
	store := presence.NewMemStore()
	row := presencetest.Sample("w")
	row.Contact, row.WatcherURI, row.Received, row.RouteSet = watcher.URI(), watcher.URI(), watcher.Addr(), nil
	row.Expires = time.Now().Add(10 * time.Minute)
	if err := store.Put(ctx, row); err != nil {
		t.Fatal(err)
	}
	srv, err := sip.NewServer(sip.Config{Listen: []sip.Listen{{Network: "udp", Addr: "127.0.0.1:0"}}}, sip.WithLogger(siptest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	p, err := presence.New(presence.Config{SweepInterval: 50 * time.Millisecond}, store, srv, presence.WithLogger(siptest.Logger()))
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	siptest.StartProxy(t, srv, siptest.ProxyConfig{Presence: p})
	t.Cleanup(p.Close)
	n, err := watcher.WaitRequest(ctx, sip.NOTIFY, 1)
	if err != nil {
		t.Fatal(err)
	}
	if tag, _ := n.From().Params.Get("tag"); tag != row.ToTag || n.CallID().Value() != row.CallID || n.CSeq().SeqNo != row.LocalCSeq+1 {
		t.Errorf("NOTIFY out of the stored dialog:\n%s", n)
	}
	if d := parseInfo(t, n.Body()); d.Version != int(row.Version) || len(d.Dialogs) != 0 {
		t.Errorf("got version %d with %d dialogs, want %d and none", d.Version, len(d.Dialogs), row.Version)
	}
	waitFor(t, ctx, "the stored CSeq to move on", func() bool {
		stored, _ := store.Subscriptions(ctx, "")
		return len(stored) == 1 && stored[0].LocalCSeq == row.LocalCSeq+1 && stored[0].Version == row.Version+1
	})
}
