package features_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/destination"
	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/features"
	"github.com/palio-voip/palio/permission"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

const domain = "voip.unisi.it"

// rig is a proxy on loopback running the destination sub-pipeline with
// the call services, over memory stores: 5xxx are local accounts whose
// phones are siptest UAs, 0... national numbers go to a gateway UA and
// VM_... to a media box UA. Callers authenticate as their From user.
type rig struct {
	t      *testing.T
	store  *features.MemStore
	feat   *features.Features
	proxy  *siptest.Proxy
	phones map[string]*siptest.UA
	gw     *siptest.UA
	vm     *siptest.UA

	mu    sync.Mutex
	calls []*sip.Call
}

// phoneScripts say how each account's phone answers (default: ring 20
// ms, answer); an account without a phone is not registered.
func newRig(t *testing.T, phones map[string][]siptest.Step, settings ...features.Settings) *rig {
	t.Helper()
	siptest.LeakCheck(t)
	ctx := context.Background()
	rg := &rig{t: t, store: features.NewMemStore(), phones: map[string]*siptest.UA{}}
	for _, s := range settings {
		if err := rg.store.PutSettings(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	plan, err := dialplan.New(dialplan.Config{}, dialplan.NewMemStore(
		dialplan.Rule{ID: 1, MatchOp: dialplan.Regex, MatchExp: "^5[0-9]{3}$", Attrs: "voip"},
		dialplan.Rule{ID: 2, MatchOp: dialplan.Regex, MatchExp: "^0[1-9][0-9]+$", Attrs: "national"},
		dialplan.Rule{ID: 3, MatchOp: dialplan.Regex, MatchExp: "^VM_[0-9]+$", Attrs: "media"},
	))
	if err != nil {
		t.Fatal(err)
	}
	subs := registrar.NewMemStore()
	for _, s := range []registrar.Subscriber{
		{Username: "5001", Password: "x", Classes: []string{"local", "national"}},
		{Username: "5002", Password: "x", Classes: []string{"local", "national"}},
		{Username: "5003", Password: "x", Classes: []string{"local"}},
		{Username: "5004", Password: "x", Classes: []string{"local"}},
		{Username: "5009", Password: "x", Classes: []string{"local"}},
	} {
		s.Domain = domain
		if err := subs.AddSubscriber(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	reg, err := registrar.New(registrar.Config{Realm: domain}, subs, subs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	for user, script := range phones {
		opts := []siptest.Option{siptest.WithUser(user)}
		if script != nil {
			opts = append(opts, siptest.WithScript(script...))
		}
		ua := siptest.NewUA(t, opts...)
		rg.phones[user] = ua
		if err := reg.AddBinding(ctx, registrar.Binding{AOR: user, Contact: ua.URI(), Q: 1}); err != nil {
			t.Fatal(err)
		}
	}
	rg.gw = siptest.NewGateway(t, siptest.Respond(180), siptest.Respond(200))
	rg.vm = siptest.NewGateway(t, siptest.Respond(200))
	router, err := routing.New(routing.Config{VolatileState: true, ExtraPrefixChars: "VM_"}, routing.NewMemStore(routing.Data{
		Gateways: []routing.Gateway{
			{ID: 1, GWID: "gw1", Address: strings.TrimPrefix(rg.gw.URI(), "sip:gw@")},
			{ID: 2, GWID: "mediabox", Address: strings.TrimPrefix(rg.vm.URI(), "sip:gw@")},
		},
		Rules: []routing.Rule{
			{ID: 1, Groups: "0", Prefix: "0", GWList: "gw1"},
			{ID: 2, Groups: "0", Prefix: "VM_", GWList: "mediabox"},
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(router.Close)
	account := func(ctx context.Context, user, dom string) (registrar.Identity, error) {
		sub, err := subs.Subscriber(ctx, user, dom)
		return registrar.Identity{Username: user, Domain: domain, Subscriber: sub}, err
	}
	rg.feat, err = features.New(features.Config{Account: account, Domain: domain, NoAnswerAfter: time.Second}, rg.store, features.WithLogger(siptest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	dest, err := destination.New(destination.Config{
		Plan: plan,
		Class: permission.Class(permission.ClassConfig{
			Required: permission.UniSIClasses,
			Caller: func(ctx context.Context) ([]string, bool) {
				if id, ok := registrar.IdentityFrom(ctx); ok {
					return id.Subscriber.Classes, true
				}
				// Callers that are no account stand for a trunk's.
				return []string{"local"}, true
			},
		}),
		Stages:    []sip.Middleware{rg.feat.Wrap},
		Registrar: reg,
		Router:    router,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The caller authenticates as its From user when that is an account.
	auth := func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			if c := sip.CallFrom(ctx); c != nil {
				rg.mu.Lock()
				rg.calls = append(rg.calls, c)
				rg.mu.Unlock()
			}
			if id, err := account(ctx, r.From().Address.User, domain); err == nil {
				ctx = registrar.NewContext(ctx, id)
			}
			return next.ServeSIP(ctx, w, r)
		})
	}
	rg.proxy = siptest.NewProxy(t, siptest.ProxyConfig{Networks: []string{"udp"}, Stages: []sip.Middleware{auth, dest.Wrap}})
	return rg
}

func (rg *rig) addr() string { return rg.proxy.Server.Local().Addr("udp") }

// dial calls number from a new UA of user (which need not be an account).
func (rg *rig) dial(ctx context.Context, user, number string, opts ...siptest.InviteOption) *siptest.Call {
	rg.t.Helper()
	ua := siptest.NewUA(rg.t, siptest.WithUser(user), siptest.WithProxy(rg.addr()))
	c, err := ua.Invite(ctx, "sip:"+number+"@"+rg.addr(), opts...)
	if err != nil {
		rg.t.Fatal(err)
	}
	return c
}

func (rg *rig) lastCall() *sip.Call {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	return rg.calls[len(rg.calls)-1]
}

func final(t *testing.T, ctx context.Context, c *siptest.Call) int {
	t.Helper()
	res, err := c.WaitFinal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode
}

func incoming(ua *siptest.UA) int { return len(ua.Incoming()) }

func ringing(ctx context.Context, t *testing.T, ua *siptest.UA) *siptest.Incoming {
	t.Helper()
	in, err := ua.WaitIncoming(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

var busy = []siptest.Step{siptest.Respond(180), siptest.Respond(486)}
var noAnswer = []siptest.Step{siptest.Respond(180), siptest.Hold()}

// TestForwardBusy: the callee's phone is busy; the call goes to the
// forward target, whose INVITE names the callee in Diversion.
func TestForwardBusy(t *testing.T) {
	rg := newRig(t, map[string][]siptest.Step{"5002": busy, "5003": nil},
		features.Settings{User: "5002", Domain: domain, ForwardBusy: "5003"})
	ctx := siptest.Context(t, 5*time.Second)
	c := rg.dial(ctx, "5001", "5002")
	if code := final(t, ctx, c); code != 200 {
		t.Fatalf("final %d, want 200 from the forward target", code)
	}
	in := ringing(ctx, t, rg.phones["5003"])
	d := in.Invite.GetHeader("Diversion")
	if d == nil || !strings.Contains(d.Value(), "sip:5002@voip.unisi.it") || !strings.Contains(d.Value(), "reason=user-busy") {
		t.Errorf("Diversion: %v", d)
	}
	if got := rg.lastCall().Info().Features; len(got) != 1 || got[0] != "forward-busy" {
		t.Errorf("features on the call record: %v", got)
	}
	c.Bye(ctx)
}

// TestForwardNoAnswer: the first leg rings for the no-answer time, is
// cancelled, and the target rings; the caller's CANCEL while the target
// rings leaves nothing ringing.
func TestForwardNoAnswer(t *testing.T) {
	rg := newRig(t, map[string][]siptest.Step{"5002": noAnswer, "5003": noAnswer},
		features.Settings{User: "5002", Domain: domain, ForwardNoAnswer: "5003", NoAnswerAfter: time.Second})
	ctx := siptest.Context(t, 10*time.Second)
	start := time.Now()
	c := rg.dial(ctx, "5001", "5002")
	first := ringing(ctx, t, rg.phones["5002"])
	second := ringing(ctx, t, rg.phones["5003"])
	took := time.Since(start)
	if err := first.WaitCancel(ctx); err != nil {
		t.Fatal("the first leg was not cancelled")
	}
	if took < 900*time.Millisecond {
		t.Errorf("the forward rang after %v, before the 1 s no-answer time", took)
	}
	if d := second.Invite.GetHeader("Diversion"); d == nil || !strings.Contains(d.Value(), "reason=no-answer") {
		t.Errorf("Diversion: %v", d)
	}
	if err := c.WaitCode(ctx, 180); err != nil {
		t.Fatal(err)
	}
	c.Cancel(ctx)
	if code := final(t, ctx, c); code != 487 {
		t.Fatalf("final %d after CANCEL, want 487", code)
	}
	if err := second.WaitCancel(ctx); err != nil {
		t.Fatal("the forward target still rings after the caller's CANCEL")
	}
}

// TestForwardUnreachable: no phone registered for the callee: the
// voicemail takes the call.
func TestForwardUnreachable(t *testing.T) {
	rg := newRig(t, map[string][]siptest.Step{},
		features.Settings{User: "5002", Domain: domain, ForwardUnreachable: "VM_5002"})
	ctx := siptest.Context(t, 5*time.Second)
	c := rg.dial(ctx, "5001", "5002")
	if code := final(t, ctx, c); code != 200 {
		t.Fatalf("final %d, want the voicemail's 200", code)
	}
	in := ringing(ctx, t, rg.vm)
	if in.Invite.Recipient.User != "VM_5002" {
		t.Errorf("the media box got %s", in.Invite.Recipient.String())
	}
	c.Bye(ctx)
}

// TestForwardExternalNeedsClass: a forward to a national number is the
// forwarding account's outbound call: 5003 (local only) may not.
func TestForwardExternalNeedsClass(t *testing.T) {
	rg := newRig(t, map[string][]siptest.Step{"5002": nil},
		features.Settings{User: "5003", Domain: domain, ForwardAlways: "0577232111"},
		features.Settings{User: "5002", Domain: domain, ForwardAlways: "0577232111"})
	ctx := siptest.Context(t, 5*time.Second)
	if code := final(t, ctx, rg.dial(ctx, "5001", "5003")); code != 403 {
		t.Errorf("5003's forward abroad: %d, want 403 (5003 lacks the national class)", code)
	}
	if incoming(rg.gw) != 0 {
		t.Error("the gateway got the call")
	}
	c := rg.dial(ctx, "5001", "5002")
	if code := final(t, ctx, c); code != 200 || incoming(rg.gw) != 1 {
		t.Errorf("5002's forward: %d, gateway calls %d; want 200 through the gateway", code, incoming(rg.gw))
	}
	c.Bye(ctx)
}

// TestForwardLoopAndDepth: A→B→A is stopped with 482; a chain longer
// than MaxForwards (3) stops and rings the account it reached.
func TestForwardLoopAndDepth(t *testing.T) {
	rg := newRig(t, map[string][]siptest.Step{"5004": nil, "5009": nil},
		features.Settings{User: "5002", Domain: domain, ForwardAlways: "5003"},
		features.Settings{User: "5003", Domain: domain, ForwardAlways: "5002"})
	ctx := siptest.Context(t, 5*time.Second)
	if code := final(t, ctx, rg.dial(ctx, "5001", "5002")); code != 482 {
		t.Errorf("loop: %d, want 482", code)
	}
	if tr := rg.lastCall().TraceString(); !strings.Contains(tr, "forward loop back to 5002") {
		t.Errorf("trace:\n%s", tr)
	}

	// 5001 → 5002 → 5003 → 5004 → 5009: the third forward is the last.
	ctx2 := context.Background()
	for _, s := range []features.Settings{
		{User: "5002", Domain: domain, ForwardAlways: "5003"},
		{User: "5003", Domain: domain, ForwardAlways: "5004"},
		{User: "5004", Domain: domain, ForwardAlways: "5009"},
		{User: "5009", Domain: domain, ForwardAlways: "5001"},
	} {
		rg.store.PutSettings(ctx2, s)
	}
	rg.feat.Reload(ctx2)
	c := rg.dial(ctx, "5001", "5002")
	if code := final(t, ctx, c); code != 200 {
		t.Fatalf("chain: %d, want 200", code)
	}
	if incoming(rg.phones["5009"]) != 1 {
		t.Errorf("5009 (three forwards away) did not ring")
	}
	if tr := rg.lastCall().TraceString(); !strings.Contains(tr, "5009: forward-always to 5001 not followed: 3 forwards already") {
		t.Errorf("trace:\n%s", tr)
	}
	c.Bye(ctx)
}

// TestDNDAndAnonymous: do not disturb answers 480 (486, or the
// voicemail, as set); anonymous callers get 433 where blocked.
func TestDNDAndAnonymous(t *testing.T) {
	rg := newRig(t, map[string][]siptest.Step{"5002": nil, "5003": nil, "5004": nil},
		features.Settings{User: "5002", Domain: domain, DND: true},
		features.Settings{User: "5003", Domain: domain, DND: true, DNDAction: features.DNDVoicemail},
		features.Settings{User: "5004", Domain: domain, AnonymousBlock: true})
	ctx := siptest.Context(t, 5*time.Second)
	if code := final(t, ctx, rg.dial(ctx, "5001", "5002")); code != 480 || incoming(rg.phones["5002"]) != 0 {
		t.Errorf("DND: %d, want 480 and no ring", code)
	}
	c := rg.dial(ctx, "5001", "5003")
	if code := final(t, ctx, c); code != 200 || incoming(rg.vm) != 1 {
		t.Errorf("DND to voicemail: %d, voicemail calls %d", code, incoming(rg.vm))
	}
	c.Bye(ctx)
	if code := final(t, ctx, rg.dial(ctx, "anonymous", "5004")); code != 433 {
		t.Errorf("anonymous From: %d, want 433", code)
	}
	if code := final(t, ctx, rg.dial(ctx, "0577111222", "5004", siptest.WithHeader("Privacy", "id"))); code != 433 {
		t.Errorf("Privacy: id: %d, want 433", code)
	}
	c = rg.dial(ctx, "5001", "5004")
	if code := final(t, ctx, c); code != 200 {
		t.Errorf("a caller with an identity: %d, want 200", code)
	}
	c.Bye(ctx)
}

// TestBlacklists: the longest prefix decides; a whitelist row under a
// blocked range lets a number through; the caller's own list blocks what
// it dials, the callee's list whom it is called by, the global list what
// anyone dials.
func TestBlacklists(t *testing.T) {
	rg := newRig(t, map[string][]siptest.Step{"5002": nil})
	ctx := context.Background()
	for _, e := range []features.ListEntry{
		{User: "5002", Domain: domain, Prefix: "05"},
		{User: "5002", Domain: domain, Prefix: "0577", Whitelist: true},
		{Prefix: "089"},
		{Prefix: "0895", Whitelist: true},
	} {
		if _, err := rg.store.AddListEntry(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	rg.feat.Reload(ctx)
	tctx := siptest.Context(t, 5*time.Second)
	for _, tt := range []struct {
		from, to string
		want     int
	}{
		{"0561234567", "5002", 603}, // 05 blocked by 5002
		{"0577232111", "5002", 200}, // 0577 whitelisted
		{"5001", "0891234", 603},    // the global list
		{"5001", "0895123", 200},    // whitelisted in it
	} {
		c := rg.dial(tctx, tt.from, tt.to)
		if code := final(t, tctx, c); code != tt.want {
			t.Errorf("%s → %s: %d, want %d", tt.from, tt.to, code, tt.want)
		}
		if tt.want == 200 {
			c.Bye(tctx)
		}
	}
}

// TestBossSecretary: a call to the boss rings the secretary, whose phone
// sees who was called; the secretary and the allow list reach the boss.
func TestBossSecretary(t *testing.T) {
	rg := newRig(t, map[string][]siptest.Step{"5002": nil, "5003": nil, "5009": nil},
		features.Settings{User: "5002", Domain: domain, Secretary: "5009", SecretaryAllow: []string{"5004"}},
		features.Settings{User: "5003", Domain: domain, Secretary: "5009"})
	ctx := siptest.Context(t, 5*time.Second)
	c := rg.dial(ctx, "5001", "5002")
	if code := final(t, ctx, c); code != 200 {
		t.Fatalf("final %d", code)
	}
	in := ringing(ctx, t, rg.phones["5009"])
	if from := in.Invite.From(); from == nil || !strings.Contains(from.DisplayName, "for 5002") {
		t.Errorf("the secretary's phone shows %v, want the boss named", in.Invite.From())
	}
	if incoming(rg.phones["5002"]) != 0 {
		t.Error("the boss rang")
	}
	c.Bye(ctx)
	for _, caller := range []string{"5009", "5004"} {
		c := rg.dial(ctx, caller, "5002")
		if code := final(t, ctx, c); code != 200 {
			t.Fatalf("%s → boss: %d", caller, code)
		}
		c.Bye(ctx)
	}
	if incoming(rg.phones["5002"]) != 2 {
		t.Errorf("the boss rang %d times, want 2 (the secretary, the allowed caller)", incoming(rg.phones["5002"]))
	}
	// A second boss shares the secretary.
	c = rg.dial(ctx, "5001", "5003")
	if code := final(t, ctx, c); code != 200 || incoming(rg.phones["5009"]) != 2 || incoming(rg.phones["5003"]) != 0 {
		t.Errorf("the second boss: %d; the secretary rang %d times, the boss %d", code, incoming(rg.phones["5009"]), incoming(rg.phones["5003"]))
	}
	c.Bye(ctx)
}

// TestBossWhenSecretaryBusy and ring-both: a busy secretary sends the
// call to the boss; with RingBossAfter both ring and the boss's answer
// cancels the secretary.
func TestBossSecretaryFallbacks(t *testing.T) {
	rg := newRig(t, map[string][]siptest.Step{"5002": nil, "5009": busy},
		features.Settings{User: "5002", Domain: domain, Secretary: "5009", BossWhenSecretaryFails: true})
	ctx := siptest.Context(t, 10*time.Second)
	c := rg.dial(ctx, "5001", "5002")
	if code := final(t, ctx, c); code != 200 || incoming(rg.phones["5002"]) != 1 {
		t.Fatalf("busy secretary: %d, boss rang %d times", code, incoming(rg.phones["5002"]))
	}
	c.Bye(ctx)

	rg2 := newRig(t, map[string][]siptest.Step{
		"5002": {siptest.Respond(180), siptest.Pause(300 * time.Millisecond), siptest.Respond(200)},
		"5009": noAnswer,
	}, features.Settings{User: "5002", Domain: domain, Secretary: "5009", RingBossAfter: time.Second})
	start := time.Now()
	c = rg2.dial(ctx, "5001", "5002")
	sec := ringing(ctx, t, rg2.phones["5009"])
	boss := ringing(ctx, t, rg2.phones["5002"])
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("the boss rang after %v, before RingBossAfter", d)
	}
	if code := final(t, ctx, c); code != 200 {
		t.Fatalf("ring both: %d", code)
	}
	if err := sec.WaitCancel(ctx); err != nil {
		t.Error("the secretary still rings after the boss answered")
	}
	_ = boss
	c.Bye(ctx)
}

// TestPrecedence: with every service on for 5002, each one wins over the
// ones after it in the README's table; turning it off hands the call to
// the next.
func TestPrecedence(t *testing.T) {
	all := features.Settings{User: "5002", Domain: domain, AnonymousBlock: true, DND: true,
		ForwardAlways: "5003", Secretary: "5009", ForwardBusy: "5004"}
	rg := newRig(t, map[string][]siptest.Step{"5002": busy, "5003": nil, "5004": nil, "5009": nil}, all)
	ctx := context.Background()
	if _, err := rg.store.AddListEntry(ctx, features.ListEntry{User: "5002", Domain: domain, Prefix: "0561"}); err != nil {
		t.Fatal(err)
	}
	rg.feat.Reload(ctx)
	tctx := siptest.Context(t, 10*time.Second)
	set := func(s features.Settings) {
		if err := rg.store.PutSettings(ctx, s); err != nil {
			t.Fatal(err)
		}
		rg.feat.Reload(ctx)
	}
	for _, step := range []struct {
		name, caller string
		change       func(*features.Settings)
		code         int
		rings        string // the phone that must get the call
	}{
		{"blacklist before anonymous", "0561234567", nil, 603, ""},
		{"anonymous before DND", "anonymous", nil, 433, ""},
		{"DND before forward-always", "5001", nil, 480, ""},
		{"forward-always before the secretary", "5001", func(s *features.Settings) { s.DND = false }, 200, "5003"},
		{"the secretary before ringing", "5001", func(s *features.Settings) { s.ForwardAlways = "" }, 200, "5009"},
		{"ringing, then forward on busy", "5001", func(s *features.Settings) { s.Secretary = "" }, 200, "5004"},
	} {
		if step.change != nil {
			step.change(&all)
			set(all)
		}
		before := 0
		if step.rings != "" {
			before = incoming(rg.phones[step.rings])
		}
		c := rg.dial(tctx, step.caller, "5002")
		if code := final(t, tctx, c); code != step.code {
			t.Errorf("%s: %d, want %d", step.name, code, step.code)
			continue
		}
		if step.rings != "" {
			if incoming(rg.phones[step.rings]) != before+1 {
				t.Errorf("%s: %s did not ring", step.name, step.rings)
			}
			c.Bye(tctx)
		}
	}
}
