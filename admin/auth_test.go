package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/guard"
)

// client is a browser: a cookie jar over TLS (the cookie is Secure) and
// the CSRF token of its session.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func newServer(t *testing.T, opts ...Option) (*fixture, *httptest.Server) {
	f := newFixture(t, opts...)
	return f, newTLS(t, f)
}

// newTLS serves f's handler over TLS on loopback until the test ends.
func newTLS(t *testing.T, f *fixture) *httptest.Server {
	ts := httptest.NewTLSServer(f.h)
	t.Cleanup(ts.Close)
	return ts
}

func newClient(t *testing.T, ts *httptest.Server) *client {
	jar, _ := cookiejar.New(nil)
	hc := *ts.Client() // one per browser: ts.Client() is shared
	hc.Jar = jar
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &client{t: t, base: ts.URL, hc: &hc}
}

func (c *client) do(method, path string, body any, hdr ...string) (int, []byte, *http.Response) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" {
		req.Header.Set(CSRFHeader, c.csrf)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b, res
}

func (c *client) login(name, password string) SessionInfo {
	c.t.Helper()
	code, body, _ := c.do("POST", "/admin/api/login", map[string]any{"name": name, "password": password})
	if code != 200 {
		c.t.Fatalf("login %s: got %d %s", name, code, body)
	}
	s := decode[SessionInfo](c.t, body)
	c.csrf = s.CSRF
	return s
}

func (c *client) want(method, path string, body any, want int) []byte {
	c.t.Helper()
	code, b, _ := c.do(method, path, body)
	if code != want {
		c.t.Fatalf("%s %s: got %d %s, want %d", method, path, code, b, want)
	}
	return b
}

func TestNewRefusesOpenAPI(t *testing.T) {
	if _, err := New(Config{}, NewMemStore()); err == nil {
		t.Fatal("New without logins nor WithoutLogin: got a handler, want an error")
	}
}

func TestLogin(t *testing.T) {
	f, ts := newServer(t)
	c := newClient(t, ts)
	c.want("GET", "/admin/api/accounts", nil, 401)
	c.want("GET", "/admin/api/session", nil, 401)
	_, _, res := c.do("POST", "/admin/api/login", map[string]any{"name": "admin", "password": adminPassword})
	var ck *http.Cookie
	for _, x := range res.Cookies() {
		if x.Name == CookieName {
			ck = x
		}
	}
	if ck == nil || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/admin/" {
		t.Fatalf("session cookie %+v: want Secure, HttpOnly, SameSite=Strict, Path=/admin/", ck)
	}
	s := decode[SessionInfo](t, c.want("GET", "/admin/api/session", nil, 200))
	if s.Name != "admin" || s.Scope != ScopeAdmin || len(s.CSRF) < 32 {
		t.Fatalf("session %+v", s)
	}
	c.csrf = s.CSRF
	c.want("GET", "/admin/api/accounts", nil, 200)

	t.Run("CSRF", func(t *testing.T) {
		saved := c.csrf
		defer func() { c.csrf = saved }()
		c.csrf = ""
		b := c.want("POST", "/admin/api/accounts/5002/block", nil, 403)
		if e := decode[apiError](t, b); e.Field != CSRFHeader {
			t.Errorf("got %+v, want the CSRF header named", e)
		}
		c.csrf = map[bool]string{true: "y", false: "x"}[saved[0] == 'x'] + saved[1:] // a token that differs
		c.want("PUT", "/admin/api/notice", map[string]any{"text": "x"}, 403)
		c.csrf = saved
		code, body, _ := c.do("PUT", "/admin/api/notice", map[string]any{"text": "x"}, "Origin", "https://evil.example")
		if code != 403 {
			t.Errorf("cross-origin write: got %d %s, want 403", code, body)
		}
		if n, _ := f.store.Notice(context.Background()); n.Text != "" {
			t.Errorf("a refused write changed the notice: %+v", n)
		}
		c.want("PUT", "/admin/api/notice", map[string]any{"text": "maintenance"}, 200)
	})

	t.Run("audit names the login", func(t *testing.T) {
		a, _ := f.store.Audit(context.Background(), AuditFilter{Limit: 1})
		if len(a) != 1 || a[0].Who != "admin" || a[0].Action != "notice.set" {
			t.Errorf("got %+v", a)
		}
	})

	t.Run("logout", func(t *testing.T) {
		c.want("POST", "/admin/api/logout", nil, 204)
		c.want("GET", "/admin/api/accounts", nil, 401)
		if n := f.h.sessions.len(); n != 0 {
			t.Errorf("%d sessions left", n)
		}
	})
}

// TestLoginRateLimit: past LoginFailures failures a source is refused,
// even with the right password; each failure reaches the guard's hook.
func TestLoginRateLimit(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	_, ts := newServer(t, WithAuthFailures(func(src netip.Addr, user, reason string) {
		mu.Lock()
		seen = append(seen, src.String()+" "+user+" "+reason)
		mu.Unlock()
	}))
	c := newClient(t, ts)
	for i := range LoginFailures {
		name := "admin"
		if i == 0 {
			name = "nobody"
		}
		if code, b, _ := c.do("POST", "/admin/api/login", map[string]any{"name": name, "password": "guess"}); code != 401 {
			t.Fatalf("failure %d: got %d %s, want 401", i, code, b)
		}
	}
	code, _, res := c.do("POST", "/admin/api/login", map[string]any{"name": "admin", "password": adminPassword})
	if code != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d (Retry-After %q), want 429 with Retry-After", code, res.Header.Get("Retry-After"))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != LoginFailures || seen[0] != "127.0.0.1 nobody unknown-user" || seen[1] != "127.0.0.1 admin wrong-password" {
		t.Errorf("auth failures told: %q", seen)
	}
}

// TestUserScope: a user reads and changes their own account only; every
// attempt at another's data, or at an administrator's route, is 403.
func TestUserScope(t *testing.T) {
	f, ts := newServer(t)
	c := newClient(t, ts)
	s := c.login("5002", userPassword)
	if s.Scope != ScopeUser || s.Account != "5002" {
		t.Fatalf("session %+v", s)
	}
	if a := decode[Account](t, c.want("GET", "/admin/api/accounts/5002", nil, 200)); a.Owner != "Mario Rossi" || a.Note != "studio 12" {
		t.Errorf("5002 reading their account: got %+v, want its owner and note", a)
	}
	c.want("GET", "/admin/api/accounts/5002@"+testDomain, nil, 200)
	c.want("GET", "/admin/api/accounts/5002/features", nil, 200)
	c.want("PATCH", "/admin/api/accounts/5002/features", map[string]any{"forward-always": "5003"}, 200)
	page := decode[CDRPage](t, c.want("GET", "/admin/api/accounts/5002/cdrs", nil, 200))
	for _, cdr := range page.CDRs {
		if cdr.Caller != "5002" && cdr.Callee != "5002" {
			t.Errorf("5002's call log holds %+v", cdr)
		}
	}
	c.want("POST", "/admin/api/accounts/5002/password", map[string]any{"password": "new-sip-pw"}, 200)
	c.want("GET", "/admin/api/notice", nil, 200)
	c.want("GET", "/admin/api/accounts/5002/report", nil, 200)
	c.want("GET", "/admin/api/accounts/5002/blacklist", nil, 200)
	if b := c.want("GET", "/admin/api/accounts/5002/contacts", nil, 200); !strings.Contains(string(b), "192.0.2.10") {
		t.Errorf("5002's contacts: %s", b)
	}
	if b := c.want("GET", "/admin/api/accounts/5002/devices", nil, 200); !strings.Contains(string(b), "snom715") || strings.Contains(string(b), "pw-5002") {
		t.Errorf("5002's devices: %s", b)
	}

	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/admin/api/accounts/5003", nil},
		{"GET", "/admin/api/accounts/5003@" + testDomain, nil},
		{"GET", "/admin/api/accounts/5002@other.example", nil},
		{"GET", "/admin/api/accounts/5003/features", nil},
		{"PATCH", "/admin/api/accounts/5003/features", map[string]any{"dnd": "on"}},
		{"GET", "/admin/api/accounts/5003/cdrs", nil},
		{"GET", "/admin/api/accounts/5003/contacts", nil},
		{"GET", "/admin/api/accounts/5003/devices", nil},
		{"GET", "/admin/api/devices", nil},
		{"GET", "/admin/api/devices/unknown", nil},
		{"POST", "/admin/api/devices/unknown/000e08112233/assign", map[string]any{"lines": []string{"5002"}}},
		{"PATCH", "/admin/api/devices/000413aabbcc", map[string]any{"name": "mine"}},
		{"DELETE", "/admin/api/devices/000413aabbcc", nil},
		{"POST", "/admin/api/devices/000413aabbcc/resync", nil},
		{"POST", "/admin/api/accounts/5003/password", map[string]any{"password": "owned"}},
		{"GET", "/admin/api/accounts", nil},
		{"POST", "/admin/api/accounts", map[string]any{"username": "5300", "password": "x"}},
		{"PATCH", "/admin/api/accounts/5002", map[string]any{"classes": []string{"international"}}},
		{"PATCH", "/admin/api/accounts/5002", map[string]any{"owner": "Someone Else"}},
		{"PATCH", "/admin/api/accounts/5002@" + testDomain, map[string]any{"note": "mine now"}},
		{"PATCH", "/admin/api/accounts/5003", map[string]any{"owner": "Mario Rossi"}},
		{"POST", "/admin/api/accounts", map[string]any{"username": "5300", "password": "x12345678", "owner": "Mario Rossi"}},
		{"POST", "/admin/api/accounts/5002/unblock", nil},
		{"DELETE", "/admin/api/accounts/5003", nil},
		{"GET", "/admin/api/cdrs?user=5003", nil},
		{"GET", "/admin/api/cdrs.csv", nil},
		{"GET", "/admin/api/calls", nil},
		{"POST", "/admin/api/calls/call-1/hangup", nil},
		{"POST", "/admin/api/gateways/gw-siena-1/disable", nil},
		{"GET", "/admin/api/aliases", nil},
		{"GET", "/admin/api/accounts/5003/report", nil},
		{"GET", "/admin/api/reports?user=5003", nil},
		{"GET", "/admin/api/accounts/5003/blacklist", nil},
		{"POST", "/admin/api/accounts/5003/blacklist", map[string]any{"prefix": "0899"}},
		{"DELETE", "/admin/api/accounts/5003/blacklist/2", nil},
		{"GET", "/admin/api/dialplan/rules", nil},
		{"GET", "/admin/api/dialplan/rules/1", nil},
		{"POST", "/admin/api/dialplan/rules", map[string]any{"match_exp": "5003"}},
		{"PATCH", "/admin/api/dialplan/rules/1", map[string]any{"attrs": "x"}},
		{"DELETE", "/admin/api/dialplan/rules/1", nil},
		{"GET", "/admin/api/route?number=5003&from=5003", nil},
		{"POST", "/admin/api/route", map[string]any{"number": "5003", "from": "5003"}},
		{"DELETE", "/admin/api/bans/ip/203.0.113.9", nil},
		{"PUT", "/admin/api/notice", map[string]any{"text": "hi"}},
		{"GET", "/admin/api/audit", nil},
		{"GET", "/admin/api/alerts", nil},
		{"GET", "/admin/api/blacklist", nil},
		{"POST", "/admin/api/blacklist", map[string]any{"prefix": "0577"}},
		{"DELETE", "/admin/api/blacklist/1", nil},
		{"PATCH", "/admin/api/blacklist/3", map[string]any{"prefix": "0577"}},
		{"GET", "/admin/api/logins", nil},
		{"PUT", "/admin/api/logins/5002", map[string]any{"scope": "admin"}},
	} {
		if code, b, _ := c.do(r.method, r.path, r.body); code != http.StatusForbidden {
			t.Errorf("%s %s as 5002: got %d %s, want 403", r.method, r.path, code, b)
		}
	}
	ctx := context.Background()
	all, _ := f.features.Settings(ctx)
	for _, s := range all {
		if s.User == "5003" {
			t.Errorf("5003's settings changed: %+v", s)
		}
	}
	if sub, _ := f.accounts.Subscriber(ctx, "5003", testDomain); sub.Blocked {
		t.Error("5003 changed")
	}
	if n := len(f.calls.LiveCalls(testNow)); n != 1 {
		t.Error("the call was hung up by a user")
	}
	if rules, _ := f.rules.Rules(ctx); len(rules) != 2 || rules[0].Attrs != "voip" {
		t.Errorf("the rules changed: %+v", rules)
	}
	if l, _ := f.store.Login(ctx, "5002"); l.Scope != ScopeUser {
		t.Error("5002 made itself an administrator")
	}
	if i, _ := f.store.AccountInfo(ctx, "5002", testDomain); i.Owner != "Mario Rossi" || i.Note != "studio 12" {
		t.Errorf("5002 changed their owner or note: %+v", i)
	}
	if i, _ := f.store.AccountInfo(ctx, "5003", testDomain); !i.IsZero() {
		t.Errorf("5002 gave 5003 an owner: %+v", i)
	}
}

// TestLogins: an administrator manages logins; a changed login's
// sessions end; a user changes their own password given the old one.
func TestLogins(t *testing.T) {
	_, ts := newServer(t)
	boss := newClient(t, ts)
	boss.login("admin", adminPassword)
	b := boss.want("PUT", "/admin/api/logins/mario", map[string]any{"scope": "user", "account": "5999", "password": "mario-pass"}, 400)
	if e := decode[apiError](t, b); e.Field != "account" {
		t.Errorf("unknown account: got %+v", e)
	}
	b = boss.want("PUT", "/admin/api/logins/mario", map[string]any{"scope": "user", "account": "5003", "password": "short"}, 400)
	if e := decode[apiError](t, b); e.Field != "password" {
		t.Errorf("short password: got %+v", e)
	}
	b = boss.want("PUT", "/admin/api/logins/mario", map[string]any{"scope": "root", "password": "mario-pass"}, 400)
	if e := decode[apiError](t, b); e.Field != "scope" {
		t.Errorf("bad scope: got %+v", e)
	}
	boss.want("PUT", "/admin/api/logins/mario", map[string]any{"scope": "user", "account": "5003", "password": "mario-pass"}, 201)
	if strings.Contains(string(boss.want("GET", "/admin/api/logins", nil, 200)), "$2") {
		t.Error("the logins list shows a hash")
	}
	mario := newClient(t, ts)
	mario.login("mario", "mario-pass")
	mario.want("GET", "/admin/api/accounts/5003", nil, 200)
	b = mario.want("POST", "/admin/api/session/password", map[string]any{"old": "wrong", "new": "mario-pass-2"}, 400)
	if e := decode[apiError](t, b); e.Field != "old" {
		t.Errorf("wrong old password: got %+v", e)
	}
	mario.want("POST", "/admin/api/session/password", map[string]any{"old": "mario-pass", "new": "mario-pass-2"}, 204)
	newClient(t, ts).login("mario", "mario-pass-2")
	boss.want("PUT", "/admin/api/logins/mario", map[string]any{"scope": "user", "account": "5002"}, 200)
	mario.want("GET", "/admin/api/accounts/5003", nil, 401) // the change ended its sessions
	boss.want("DELETE", "/admin/api/logins/admin", nil, 400)
	boss.want("DELETE", "/admin/api/logins/mario", nil, 204)
}

func TestSessionsBounded(t *testing.T) {
	s := newSessions(3)
	now := testNow
	var ids []string
	for i := range 5 {
		id, _ := s.create(Principal{Name: "u"}, now.Add(time.Duration(i)*time.Second))
		ids = append(ids, id)
	}
	if s.len() != 3 {
		t.Fatalf("got %d sessions, want 3", s.len())
	}
	if _, ok := s.get(ids[0], now.Add(5*time.Second)); ok {
		t.Error("the oldest session outlived the bound")
	}
	if _, ok := s.get(ids[4], now.Add(5*time.Second)); !ok {
		t.Error("the newest session was dropped")
	}
	if _, ok := s.get(ids[4], now.Add(5*time.Second+SessionIdle+time.Second)); ok {
		t.Error("an idle session lived on")
	}
	id, _ := s.create(Principal{Name: "u"}, now)
	for at := now; at.Sub(now) < SessionMax; at = at.Add(SessionIdle / 2) {
		s.get(id, at)
	}
	if _, ok := s.get(id, now.Add(SessionMax+time.Minute)); ok {
		t.Error("a session lived past SessionMax")
	}
}

// fill gives a route pattern's path parameters the fixture's values
// (pathValues) and, for {account}, the account given.
func fill(pattern, account string) (method, path string) {
	method, p, _ := strings.Cut(pattern, " ")
	p = strings.ReplaceAll(p, "{account}", account)
	return method, pathValues.Replace(p) + queries[pattern]
}

// unsafeMethod reports whether a request with method changes state.
func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// TestRoutesGuarded is driven by the route table (h.Routes()), so that a
// route added later is covered without a line here: every
// state-changing route answers 403 without the CSRF token (the logout
// aside); as a user, every {account} route with another account is 403,
// and every route outside the few a user may reach is 403 too. Nothing
// refused changes the stores (the audit log stays empty).
func TestRoutesGuarded(t *testing.T) {
	// userRoutes are the routes a user login reaches besides its own
	// account's; selfRoutes the {account} routes it reaches for its own.
	userRoutes := map[string]bool{
		"GET /admin/api/openapi.json":      true,
		"GET /admin/api/notice":            true,
		"POST /admin/api/login":            true,
		"POST /admin/api/logout":           true,
		"GET /admin/api/session":           true,
		"POST /admin/api/session/password": true,
	}
	selfRoutes := map[string]bool{
		"GET /admin/api/accounts/{account}":                   true,
		"POST /admin/api/accounts/{account}/password":         true,
		"GET /admin/api/accounts/{account}/features":          true,
		"PATCH /admin/api/accounts/{account}/features":        true,
		"GET /admin/api/accounts/{account}/cdrs":              true,
		"GET /admin/api/accounts/{account}/contacts":          true,
		"GET /admin/api/accounts/{account}/devices":           true,
		"GET /admin/api/accounts/{account}/report":            true,
		"GET /admin/api/accounts/{account}/blacklist":         true,
		"POST /admin/api/accounts/{account}/blacklist":        true,
		"DELETE /admin/api/accounts/{account}/blacklist/{id}": true,
	}
	f, ts := newServer(t)
	routes := f.h.Routes()
	if len(routes) < 50 {
		t.Fatalf("only %d routes: %v", len(routes), routes)
	}
	for r := range selfRoutes {
		if !slices.Contains(routes, r) {
			t.Errorf("selfRoutes names %s, which is not served", r)
		}
	}

	t.Run("CSRF", func(t *testing.T) {
		boss := newClient(t, ts)
		boss.login("admin", adminPassword)
		boss.csrf = ""
		n := 0
		for _, r := range routes {
			method, path := fill(r, "5002")
			if !unsafeMethod(method) || r == "POST /admin/api/logout" {
				continue
			}
			n++
			code, b, _ := boss.do(method, path, goodBodies[r])
			if code != http.StatusForbidden || decode[apiError](t, b).Field != CSRFHeader {
				t.Errorf("%s %s without the CSRF token: got %d %s, want 403 naming %s", method, path, code, b, CSRFHeader)
			}
		}
		if n < 25 {
			t.Errorf("only %d state-changing routes tried", n)
		}
	})

	t.Run("user scope", func(t *testing.T) {
		mario := newClient(t, ts)
		mario.login("5002", userPassword)
		for _, r := range routes {
			var tries []string // the accounts to try the route with
			switch {
			case strings.Contains(r, "{account}") && selfRoutes[r]:
				tries = []string{"5003", "5003@" + testDomain}
			case strings.Contains(r, "{account}"):
				tries = []string{"5002", "5003"} // admin-only, even for one's own
			case !userRoutes[r]:
				tries = []string{""}
			}
			for _, acc := range tries {
				method, path := fill(r, acc)
				code, b, _ := mario.do(method, path, goodBodies[r])
				if code != http.StatusForbidden || decode[apiError](t, b).Field == CSRFHeader {
					t.Errorf("%s %s as the user 5002: got %d %s, want 403", method, path, code, b)
				}
			}
		}
	})
	if a, _ := f.store.Audit(context.Background(), AuditFilter{}); len(a) != 0 {
		t.Errorf("refused requests wrote to the audit log: %+v", a)
	}
	// goodBodies' account edit gives an owner and a note: refused, they
	// are not stored.
	if i, _ := f.store.AccountInfo(context.Background(), "5002", testDomain); i.Owner != "Mario Rossi" || i.Note != "studio 12" {
		t.Errorf("refused requests changed 5002's owner or note: %+v", i)
	}
}

// TestLoginBannedSource: a source the guard banned cannot log in, not
// even with the right password (403); once the ban is lifted it can.
func TestLoginBannedSource(t *testing.T) {
	f, ts := newServer(t)
	ctx := context.Background()
	if err := f.bans.PutBan(ctx, guard.Ban{Kind: guard.BanIP, Subject: "127.0.0.1", Reason: "10 auth failures", Created: testNow, Until: testNow.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, ts)
	code, b, _ := c.do("POST", "/admin/api/login", map[string]any{"name": "admin", "password": adminPassword})
	if code != http.StatusForbidden || !strings.Contains(string(b), "banned") {
		t.Fatalf("a banned source's login: got %d %s, want 403", code, b)
	}
	// A ban that has run out does not refuse.
	if err := f.bans.PutBan(ctx, guard.Ban{Kind: guard.BanIP, Subject: "127.0.0.1", Reason: "10 auth failures", Created: testNow.Add(-2 * time.Hour), Until: testNow.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	c.login("admin", adminPassword)
}
