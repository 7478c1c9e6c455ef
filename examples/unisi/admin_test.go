package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/admin"
	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/sip/siptest"
)

// adminClient talks to the example's /admin/api/ as a browser would: the
// session cookie (Secure, so a cookie jar would not send it over plain
// HTTP; the test sends it itself) and the CSRF token.
type adminClient struct {
	t            *testing.T
	base         string
	cookie, csrf string
}

func (c *adminClient) do(method, path string, body any) (int, []byte) {
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
	req.Header.Set("Content-Type", "application/json")
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: admin.CookieName, Value: c.cookie})
		req.Header.Set(admin.CSRFHeader, c.csrf)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, ck := range res.Cookies() {
		if ck.Name == admin.CookieName {
			c.cookie = ck.Value
		}
	}
	return res.StatusCode, b
}

func (c *adminClient) want(method, path string, body any, want int) []byte {
	c.t.Helper()
	code, b := c.do(method, path, body)
	if code != want {
		c.t.Fatalf("%s %s: got %d %s, want %d", method, path, code, b, want)
	}
	return b
}

func adminLogin(t *testing.T, httpAddr, name, password string) *adminClient {
	t.Helper()
	c := &adminClient{t: t, base: "http://" + httpAddr}
	var s admin.SessionInfo
	if err := json.Unmarshal(c.want("POST", "/admin/api/login", map[string]string{"name": name, "password": password}, 200), &s); err != nil {
		t.Fatal(err)
	}
	c.csrf = s.CSRF
	return c
}

// newAdminExample starts the example with [admin] on, its first
// administrator "admin" with password adminPW, on a known HTTP port.
func newAdminExample(t *testing.T, adminPW string) *example {
	t.Helper()
	pwFile := filepath.Join(t.TempDir(), "admin-password")
	if err := os.WriteFile(pwFile, []byte(adminPW+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newExample(t, "[log]\nlevel = \"warn\"\n[store]\npoll = \"100ms\"\n[media]\npolicy = \"never\"\n"+
		"[admin]\nenabled = true\npassword_file = "+strconv.Quote(pwFile)+"\n")
	e.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	e.start()
	return e
}

// TestAdminAPI drives the running example through its admin API: an
// administrator creates an account that registers at once, sees a call
// in progress and its end, gives 5002 a login; 5002 sets its
// call-forward and the next call obeys, and 5002 cannot read 5003.
func TestAdminAPI(t *testing.T) {
	e := newAdminExample(t, "first-admin-pw")
	boss := adminLogin(t, e.http, "admin", "first-admin-pw")

	boss.want("POST", "/admin/api/accounts", map[string]any{"username": "5200", "password": "s3cret-5200", "classes": []string{"local"}}, 201)
	b := boss.want("POST", "/admin/api/accounts", map[string]any{"username": "5201", "password": "x", "classes": []string{"galactic"}}, 400)
	if !strings.Contains(string(b), `"field":"classes"`) {
		t.Errorf("an unknown class: %s", b)
	}
	ua := siptest.NewUA(t, siptest.WithUser("5200"), siptest.WithCredentials("5200", "s3cret-5200"))
	if res, err := ua.Register(ctxT(t, 5*time.Second), e.addr, "sip:5200@voip.unisi.it", "s3cret-5200", 3600); err != nil || res.StatusCode != 200 {
		t.Fatalf("the new account's REGISTER: %v %v", res, err)
	}

	e.phone("5002")
	p3 := e.phone("5003")
	caller := siptest.NewUA(t, siptest.WithUser("5004"), siptest.WithProxy(e.addr), siptest.WithCredentials("5004", "unisi5004"))
	ctx := ctxT(t, 30*time.Second)
	c, err := caller.Invite(ctx, "sip:5002@"+e.addr)
	if code := finalCode(t, c, err); code != 200 {
		t.Fatalf("5004 → 5002: %d", code)
	}
	var calls []map[string]any
	json.Unmarshal(boss.want("GET", "/admin/api/calls", nil, 200), &calls)
	if len(calls) != 1 || calls[0]["callid"] != c.CallID() {
		t.Fatalf("calls in progress: %v, want %s", calls, c.CallID())
	}
	c.Bye(ctx)
	waitFor(t, 10*time.Second, "the call to leave the list", func() bool {
		return string(boss.want("GET", "/admin/api/calls", nil, 200)) == "[]\n"
	})

	boss.want("PUT", "/admin/api/logins/5002", map[string]any{"scope": "user", "account": "5002", "password": "mario-rossi-pw"}, 201)
	mario := adminLogin(t, e.http, "5002", "mario-rossi-pw")
	mario.want("GET", "/admin/api/accounts/5003", nil, 403)
	mario.want("PATCH", "/admin/api/accounts/5003/features", map[string]any{"dnd": "on"}, 403)
	mario.want("PATCH", "/admin/api/accounts/5002/features", map[string]any{"forward-always": "5003"}, 200)
	waitFor(t, 10*time.Second, "5002's forward to 5003", func() bool {
		n3 := len(p3.Incoming())
		c, err := caller.Invite(ctx, "sip:5002@"+e.addr)
		finalCode(t, c, err)
		c.Bye(ctx)
		return len(p3.Incoming()) > n3
	})

	var tr admin.Translation
	json.Unmarshal(boss.want("GET", "/admin/api/dialplan/translate?dpid=0&number=00577232111", nil, 200), &tr)
	if !tr.Matched || tr.Attrs != "national" {
		t.Errorf("translate 00577232111 on the running rules: %+v", tr)
	}

	var audit []admin.AuditEntry
	json.Unmarshal(boss.want("GET", "/admin/api/audit", nil, 200), &audit)
	if len(audit) < 3 || audit[0].Who != "5002" || audit[0].Action != "features.set" {
		t.Errorf("audit log: %+v", audit)
	}
}

// waitFor polls cond until it holds, failing after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAdminLDAPConfig: [admin.ldap] is checked with the configuration.
func TestAdminLDAPConfig(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		ldap string
		ok   bool
	}{
		{"url = \"ldap://127.0.0.1\"\nuser_dn = \"uid=%s,ou=people,dc=unisi,dc=it\"\n", true},
		{"url = \"ldap://127.0.0.1\"\nuser_dn = \"uid=rossi\"\n", false},
		{"url = \"ldap://127.0.0.1\"\nuser_dn = \"uid=%s\"\nadmin_groups = [\"cn=a\"]\n", false},
	} {
		p := filepath.Join(dir, "c.toml")
		os.WriteFile(p, []byte("[admin]\nenabled = true\n[admin.ldap]\n"+tc.ldap), 0o644)
		_, err := loadConfig(p)
		if (err == nil) != tc.ok {
			t.Errorf("%q: got %v, want ok=%v", tc.ldap, err, tc.ok)
		}
	}
}

// TestAdminRoute: the API's route dry run on the running server says what
// `unisi route` says: the same stages, in the same words.
func TestAdminRoute(t *testing.T) {
	e := newAdminExample(t, "first-admin-pw")
	boss := adminLogin(t, e.http, "admin", "first-admin-pw")
	e.phone("5003")
	for _, tc := range []struct {
		number, from, src string
		code              int
		exit              int
	}{
		{"5003", "5002", "", 200, 0},
		{"5004", "5002", "", 480, 1},
		{"03351234567", "5001", "", 403, 1},
		{"5003", "x", "198.51.100.11:5060", 200, 0},
	} {
		args := []string{"route", tc.number, "-from", tc.from}
		body := map[string]any{"number": tc.number, "from": tc.from}
		if tc.src != "" {
			args = append(args, "-src", tc.src)
			body["src"] = tc.src
		}
		var r admin.Route
		if err := json.Unmarshal(boss.want("POST", "/admin/api/route", body, 200), &r); err != nil {
			t.Fatal(err)
		}
		var cli []string
		for _, l := range strings.SplitAfter(e.cli(tc.exit, args...), "\n") {
			if !strings.HasPrefix(l, "note\t") { // the CLI's gateway states set aside
				cli = append(cli, l)
			}
		}
		if r.Code != tc.code || r.Text != strings.Join(cli, "") {
			t.Errorf("%s: the API says (%d)\n%s\nthe CLI says\n%s", strings.Join(args, " "), r.Code, r.Text, strings.Join(cli, ""))
		}
	}
	boss.want("PUT", "/admin/api/logins/5002", map[string]any{"scope": "user", "account": "5002", "password": "mario-rossi-pw"}, 201)
	mario := adminLogin(t, e.http, "5002", "mario-rossi-pw")
	mario.want("POST", "/admin/api/route", map[string]any{"number": "5003", "from": "5002"}, 403)

	// The running server's guard checks, counting nothing: with a rule
	// blocking at the second call, every dry run is the first call.
	route := func(number, from string) admin.Route {
		t.Helper()
		var r admin.Route
		if err := json.Unmarshal(boss.want("POST", "/admin/api/route", map[string]any{"number": number, "from": from}, 200), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if out := e.cli(0, "guard", "rule", "set", "-prefix", "00044", "-calls", "-/2"); !strings.HasPrefix(out, "added rule 6\n") {
		t.Fatalf("guard rule set: %q", out)
	}
	waitFor(t, 5*time.Second, "the server's guard has rule 6", func() bool {
		return strings.Contains(route("000442079460000", "5002").Text, `fraud	rule 6 (prefix "00044")`)
	})
	for i := 0; i < 3; i++ {
		if r := route("000442079460000", "5002"); !strings.Contains(r.Text, `fraud	rule 6 (prefix "00044"): 1 calls today, 1 this minute, 1 at once`) {
			t.Fatalf("dry run %d counted:\n%s", i+1, r.Text)
		}
	}
	if m := e.metrics(); !strings.Contains(m, "palio_guard_bans_total") || strings.Contains(m, "palio_guard_fraud_events_total{") {
		t.Errorf("after the dry runs the server's metrics have fraud events (or no guard):\n%s", grepLines(m, "palio_guard_"))
	}
	// A fraud-blocked account: the API, the command and a real call say 403.
	e.putBans(t, guard.Ban{Kind: guard.BanFraud, Subject: "5004", Created: time.Now(), Reason: "total-calls 50 >= 50"})
	waitFor(t, 5*time.Second, "the server's guard has the block", func() bool { return route("00577232111", "5004").Code == 403 })
	r := route("00577232111", "5004")
	var cli string
	for _, l := range strings.SplitAfter(e.cli(1, "route", "00577232111", "-from", "5004"), "\n") {
		if !strings.HasPrefix(l, "note\t") { // the CLI's gateway states set aside
			cli += l
		}
	}
	if !strings.Contains(r.Text, "result\t403 Forbidden: Blocked by Fraud Check") || r.Text != cli {
		t.Errorf("the API says\n%s\nthe CLI says\n%s", r.Text, cli)
	}
	caller := siptest.NewUA(t, siptest.WithUser("5004"), siptest.WithProxy(e.addr), siptest.WithCredentials("5004", "unisi5004"))
	call, err := caller.Invite(ctxT(t, 10*time.Second), "sip:00577232111@"+e.addr)
	if code := finalCode(t, call, err); code != 403 {
		t.Errorf("the real call of the fraud-blocked account: %d, want 403", code)
	}
}
