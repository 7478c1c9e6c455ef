package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/palio-voip/palio/accounting"
	"github.com/palio-voip/palio/alert"
	"github.com/palio-voip/palio/alias"
	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/features"
	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/permission"
	"github.com/palio-voip/palio/provisioning"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
)

const testDomain = "voip.unisi.it"

// memAccounts is registrar's MemStore with UpdateSubscriber (its
// AddSubscriber replaces).
type memAccounts struct{ *registrar.MemStore }

func (m memAccounts) UpdateSubscriber(ctx context.Context, s registrar.Subscriber) error {
	if _, err := m.Subscriber(ctx, s.Username, s.Domain); err != nil {
		return err
	}
	return m.AddSubscriber(ctx, s)
}

// fakeCalls is a dialog table of scripted calls.
type fakeCalls struct {
	mu    sync.Mutex
	calls []accounting.LiveCall
	subs  map[int]func()
	next  int
}

// Subscribe makes fakeCalls a CallEvents.
func (f *fakeCalls) Subscribe(fn func()) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs = map[int]func(){}
	}
	id := f.next
	f.next++
	f.subs[id] = fn
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, id)
	}
}

// subscribers is how many follow the calls.
func (f *fakeCalls) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// add adds a call and tells the subscribers.
func (f *fakeCalls) add(c accounting.LiveCall) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	for _, fn := range f.subs {
		fn()
	}
}

func (f *fakeCalls) LiveCalls(now time.Time) []accounting.LiveCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]accounting.LiveCall(nil), f.calls...)
}

func (f *fakeCalls) Hangup(ctx context.Context, callID, reason string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, c := range f.calls {
		if c.CallID == callID {
			f.calls = append(f.calls[:i], f.calls[i+1:]...)
			for _, fn := range f.subs {
				fn()
			}
			return 1, nil
		}
	}
	return 0, sip.ErrNoDialog
}

// fakeTrunks is a router with gateway gw-siena-1 and carrier pstn.
type fakeTrunks struct {
	mu       sync.Mutex
	gwState  routing.State
	crState  routing.State
	gwCalls  int
	channels int
}

func (f *fakeTrunks) Gateways() []routing.GatewayStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []routing.GatewayStatus{{Gateway: routing.Gateway{GWID: "gw-siena-1", Address: "192.0.2.1:5060", State: f.gwState, Channels: f.channels, Description: "Siena 1"}, Calls: f.gwCalls}}
}

func (f *fakeTrunks) Carriers() []routing.CarrierStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []routing.CarrierStatus{{Carrier: routing.Carrier{CarrierID: "pstn", GWList: "gw-siena-1", State: f.crState, Channels: f.channels}, Calls: f.gwCalls}}
}

func (f *fakeTrunks) set(st *routing.State, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*st = routing.StateDisabled
	if on {
		*st = routing.StateActive
	}
}

func (f *fakeTrunks) SetGatewayEnabled(ctx context.Context, id string, on bool) error {
	if id != "gw-siena-1" {
		return routing.ErrNotFound
	}
	f.set(&f.gwState, on)
	return nil
}

func (f *fakeTrunks) SetCarrierEnabled(ctx context.Context, id string, on bool) error {
	if id != "pstn" {
		return routing.ErrNotFound
	}
	f.set(&f.crState, on)
	return nil
}

// fixture is a handler over memory stores holding accounts 5002 and 5003,
// alias 5500 → FAX_5500, a call, a gateway, a CDR and a ban.
type fixture struct {
	h        *Handler
	store    *MemStore
	accounts memAccounts
	aliases  *alias.MemStore
	features *features.MemStore
	calls    *fakeCalls
	trunks   *fakeTrunks
	cdrs     *accounting.MemStore
	bans     *guard.MemStore
	location *registrar.MemStore
	devices  *provisioning.MemStore
	rules    *dialplan.MemStore
	alerts   *alert.Dispatcher
}

// failingNotifier is an alert notifier whose receiver refuses every
// event.
type failingNotifier struct{}

func (failingNotifier) Name() string { return "webhook" }
func (failingNotifier) Notify(context.Context, alert.Event) error {
	return errors.New("receiver answered 502")
}

var testNow = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

func newFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{
		store:    NewMemStore(),
		accounts: memAccounts{registrar.NewMemStore()},
		aliases:  alias.NewMemStore(alias.Alias{AliasUsername: "5500", AliasDomain: testDomain, Username: "FAX_5500", Domain: testDomain}),
		features: features.NewMemStore(),
		calls: &fakeCalls{calls: []accounting.LiveCall{{CallID: "call-1", From: "5002@" + testDomain, To: "0577123456@" + testDomain,
			Caller: "5002", Number: "0577123456", Class: "local", State: "confirmed", Gateway: "gw-siena-1", Start: testNow.Add(-time.Minute), Answered: testNow.Add(-50 * time.Second), Seconds: 50}}},
		trunks:   &fakeTrunks{gwState: routing.StateActive, crState: routing.StateActive, gwCalls: 1, channels: 30},
		cdrs:     accounting.NewMemStore(),
		bans:     guard.NewMemStore(),
		location: registrar.NewMemStore(),
		devices:  provisioning.NewMemStore(),
	}
	if err := f.location.Put(ctx, registrar.Binding{AOR: "5002", Contact: "sip:5002@192.0.2.10:5060", Transport: "UDP", UserAgent: "snom715", CallID: "c", CSeq: 1, Expires: testNow.Add(time.Hour), Updated: testNow}); err != nil {
		t.Fatal(err)
	}
	unknown, _ := provisioning.ParseMAC("00:0e:08:11:22:33")
	if err := f.devices.RecordFetch(ctx, provisioning.Fetch{MAC: unknown, Time: testNow, IP: "192.0.2.77", UserAgent: "Cisco/SPA504G", Model: "spa504g"}); err != nil {
		t.Fatal(err)
	}
	for _, e := range []features.ListEntry{
		{User: "5002", Domain: testDomain, Prefix: "00399"},
		{User: "5003", Domain: testDomain, Prefix: "00881"},
		{Prefix: "00882", Description: "satellite"},
	} {
		if _, err := f.features.AddListEntry(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	mac, _ := provisioning.ParseMAC("00:04:13:aa:bb:cc")
	if err := f.devices.PutDevice(ctx, provisioning.Device{MAC: mac, Model: "snom715", Name: "Mario's desk", Owner: "5002", Lines: []provisioning.Line{{User: "5002", Password: "pw-5002"}}}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"5002", "5003"} {
		s := registrar.NewSubscriberIn(u, testDomain, testDomain, "pw-"+u)
		s.Classes = []string{"local", "national"}
		if err := f.accounts.AddSubscriber(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	cdrs := []accounting.CDR{
		{ID: "c1", CallID: "old-1", Method: "INVITE", Code: 200, Reason: "OK", Created: testNow.Add(-2 * time.Hour), Time: testNow.Add(-2 * time.Hour), Duration: 30, Caller: "5002", Number: "0577123456", Direction: accounting.Out, Class: "local", Cost: 12 * accounting.MoneyUnit / 10},
		{ID: "c2", CallID: "old-2", Method: "INVITE", Code: 486, Reason: "Busy Here", Created: testNow.Add(-time.Hour), Time: testNow.Add(-time.Hour), Caller: "5003", Callee: "5002", Direction: accounting.Internal},
		{ID: "c3", CallID: "old-3", Method: "INVITE", Code: 200, Reason: "OK", Created: testNow.Add(-30 * time.Minute), Time: testNow.Add(-30 * time.Minute), Duration: 10, Caller: "5003", Number: "0612345", Direction: accounting.Out},
	}
	if err := f.cdrs.WriteCDRs(ctx, cdrs); err != nil {
		t.Fatal(err)
	}
	if err := f.bans.PutBan(ctx, guard.Ban{Kind: guard.BanIP, Subject: "203.0.113.9", Reason: "10 auth failures", Created: testNow.Add(-time.Minute), Until: testNow.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	f.rules = dialplan.NewMemStore(
		dialplan.Rule{ID: 1, Priority: 1, MatchOp: dialplan.Regex, MatchExp: `^5.{3}$`, Attrs: "voip"},
		dialplan.Rule{ID: 2, Priority: 2, MatchOp: dialplan.Regex, MatchExp: `^0577.*`, SubstExp: `^0(.*)`, ReplExp: `00\1`, Attrs: "local"})
	plan, err := dialplan.New(dialplan.Config{}, f.rules,
		dialplan.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeIf(plan) })
	regr, err := registrar.New(registrar.Config{Realm: testDomain}, f.location, f.accounts, registrar.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { regr.Close() })
	// The alerts: the log takes every kind, a webhook that fails the
	// gateways' (as examples/unisi routes them).
	f.alerts, err = alert.New(alert.Config{Routes: []alert.Route{
		{Notifier: alert.NewLog(slog.New(slog.DiscardHandler))},
		{Notifier: failingNotifier{}, Kinds: []alert.Kind{alert.KindGatewayDown, alert.KindGatewayUp}},
	}}, alert.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.alerts.Close)
	f.alerts.Publish(alert.Event{Kind: alert.KindTrunkNearLimit, Time: testNow.Add(-time.Hour), Subject: "gateway gw-siena-1", Message: "27 of 30 channels in use", Fields: map[string]string{"calls": "27"}})
	cfg := Config{Dialplan: plan, Rules: f.rules, Pipeline: testPipeline{regr, plan},
		Domain: testDomain,
		Classes: permission.ClassConfig{Required: permission.UniSIClasses, InboundTypes: []string{"voip"},
			SourceClasses: map[int]string{1: "pstn", 2: "toip", 3: "local", 4: "local"}},
		Accounts: f.accounts, Aliases: f.aliases, Features: f.features, Calls: f.calls, Trunks: f.trunks, CDRs: f.cdrs, Bans: f.bans,
		Logins: f.store, AccountInfo: f.store, Locations: f.location, Devices: f.devices, Alerts: f.alerts, Departments: f.cdrs,
	}
	if err := f.cdrs.SetDepartment(ctx, accounting.Department{User: "5002", Domain: testDomain, Department: "Economia"}); err != nil {
		t.Fatal(err)
	}
	if err := f.store.PutAccountInfo(ctx, AccountInfo{Username: "5002", Domain: testDomain, Owner: "Mario Rossi", Note: "studio 12"}); err != nil {
		t.Fatal(err)
	}
	for _, l := range []Login{
		{Name: "admin", Scope: ScopeAdmin, Hash: testHash(t, adminPassword)},
		{Name: "5002", Scope: ScopeUser, Account: "5002", Hash: testHash(t, userPassword)},
		{Name: "5003", Scope: ScopeUser, Account: "5003", Hash: testHash(t, userPassword)},
	} {
		if err := f.store.PutLogin(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	opts = append([]Option{WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), withClock(func() time.Time { return testNow })}, opts...)
	h, err := New(cfg, f.store, opts...)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

// do serves one request and returns its status and body.
func do(t *testing.T, h http.Handler, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	r := httptest.NewRequest(method, path, rd)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.Bytes()
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(strings.NewReader(string(b))).Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

const (
	adminPassword = "admin-pass-1"
	userPassword  = "user-pass-1"
)

var (
	hashMu sync.Mutex
	hashes = map[string]string{}
)

// testHash hashes at bcrypt's lowest cost, once per password.
func testHash(t *testing.T, pw string) string {
	hashMu.Lock()
	defer hashMu.Unlock()
	if h, ok := hashes[pw]; ok {
		return h
	}
	b, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hashes[pw] = string(b)
	return string(b)
}

func TestMain(m *testing.M) {
	bcryptCost = bcrypt.MinCost
	goleak.VerifyTestMain(m)
}

// testPipeline is a router's pipeline in small: the registrar's dry-run
// caller, then the dialplan.
type testPipeline struct {
	regr *registrar.Registrar
	plan *dialplan.Plan
}

// testRouteSource is the dry run's default source in the tests.
const testRouteSource = "192.0.2.50:5060"

func (p testPipeline) DryRun(ctx context.Context, number, from, src string) (sip.DryRun, error) {
	if src == "" {
		src = testRouteSource
	}
	req, err := sip.NewDryRunInvite(number, from, testDomain, src)
	if err != nil {
		return sip.DryRun{}, err
	}
	return sip.RunDry(ctx, func(next sip.Handler) sip.Handler { return p.regr.AsCaller(from)(p.plan.Wrap(next)) }, req)
}

// closeIf closes v when it has Close.
func closeIf(v any) {
	if c, ok := v.(interface{ Close() }); ok {
		c.Close()
	}
}
