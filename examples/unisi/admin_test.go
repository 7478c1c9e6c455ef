package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/admin"
	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// adminClient talks to the example's /admin/api/ as a browser would: the
// session cookie (Secure, so a cookie jar would not send it over plain
// HTTP; the test sends it itself) and the CSRF token.
type adminClient struct {
	t            *testing.T
	base         string
	cookie, csrf string
	hc           *http.Client // nil: http.DefaultClient
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
	hc := c.hc
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
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
// administrator "admin" with password adminPW, on a known HTTP port;
// each prepare runs on the node before it starts (e.gateways, say).
func newAdminExample(t *testing.T, adminPW string, prepare ...func(e *example)) *example {
	t.Helper()
	pwFile := filepath.Join(t.TempDir(), "admin-password")
	if err := os.WriteFile(pwFile, []byte(adminPW+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newExample(t, "[log]\nlevel = \"warn\"\n[store]\npoll = \"100ms\"\n[media]\npolicy = \"never\"\n"+
		"[admin]\nenabled = true\npassword_file = "+strconv.Quote(pwFile)+"\n")
	e.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	for _, p := range prepare {
		p(e)
	}
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
	// The owner and note: an administrator writes them to the database
	// (the CLI reads them there), the user reads but cannot change them.
	boss.want("PATCH", "/admin/api/accounts/5002", map[string]any{"owner": "Mario Rossi", "note": "studio 12"}, 200)
	var own admin.Account
	json.Unmarshal(mario.want("GET", "/admin/api/accounts/5002", nil, 200), &own)
	if own.Owner != "Mario Rossi" || own.Note != "studio 12" {
		t.Errorf("5002 reading their account: %+v, want its owner and note", own)
	}
	mario.want("PATCH", "/admin/api/accounts/5002", map[string]any{"owner": "Someone Else"}, 403)
	if out := e.cli(0, "user", "show", "5002"); !strings.Contains(out, "owner\tMario Rossi\nnote\tstudio 12\n") {
		t.Errorf("user show 5002 after the API's edit: %q", out)
	}
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

// TestAdminWritesReachRouter: every kind of write in the admin API
// changes what the running router does, without a restart: for each
// row the SIP behaviour is checked before the write (so the write is
// what changed it) and polled after it until it changes.
func TestAdminWritesReachRouter(t *testing.T) {
	e := newAdminExample(t, "first-admin-pw", func(e *example) { e.gateways(nil) })
	boss := adminLogin(t, e.http, "admin", "first-admin-pw")
	ctx := ctxT(t, 2*time.Minute)
	p2, p3 := e.phone("5002"), e.phone("5003")
	p4 := e.phone("5004")
	// call places a call from ua and hangs it up; it answers the final
	// status.
	call := func(ua *siptest.UA, number string) string {
		c, err := ua.Invite(ctx, "sip:"+number+"@"+e.addr)
		code := finalCode(t, c, err)
		if code == 200 {
			c.Bye(ctx)
		}
		return strconv.Itoa(code)
	}
	// A password guesser on 127.0.0.2 makes the guard ban it (10
	// failures a minute, the default).
	scanner := siptest.NewUA(t, siptest.WithListen("127.0.0.2:0"), siptest.WithUser("scanner"))
	e.bruteForce(t, scanner, "6001", "6002", "6003", "6004", "6005", "6006", "6007", "6008", "6009", "6010", "6011")
	// The hangup row's call: 5002 calls 5004 and both are in the call.
	// byes counts the BYEs each phone received since the call started.
	var live *siptest.Call
	var byes0 [2]int
	byes := func() string {
		return strconv.Itoa(len(p2.Received(sip.BYE))-byes0[0]) + " BYE to the caller, " + strconv.Itoa(len(p4.Received(sip.BYE))-byes0[1]) + " to the callee"
	}

	for _, tc := range []struct {
		name          string
		setup         func()
		write         func()
		probe         func() string // the router's behaviour
		before, after string
	}{
		{
			name:   "account blocked: its REGISTER",
			probe:  func() string { return register(t, e, "5001") },
			write:  func() { boss.want("POST", "/admin/api/accounts/5001/block", nil, 200) },
			before: "200", after: "403",
		},
		{
			name: "account blocked: its INVITE",
			// 5001 is blocked now; 5003's block is the write of this row.
			probe:  func() string { return call(p3, "5002") },
			write:  func() { boss.want("POST", "/admin/api/accounts/5003/block", nil, 200) },
			before: "200", after: "403",
		},
		{
			name:  "class removed",
			probe: func() string { return call(p4, "00564123456") },
			write: func() {
				boss.want("PATCH", "/admin/api/accounts/5004", map[string]any{"classes": []string{"local", "mobile"}}, 200)
			},
			before: "200", after: "403",
		},
		{
			name:  "alias created",
			probe: func() string { return call(p4, "5600") },
			write: func() {
				boss.want("POST", "/admin/api/aliases", map[string]any{"alias": "5600", "target": "5002"}, 201)
			},
			before: "404", after: "200",
		},
		{
			// The global list, against the dialled number
			// ([features] global_blacklist = "outgoing", the default).
			name:  "global blacklist entry",
			probe: func() string { return call(p4, "03351234567") },
			write: func() {
				boss.want("POST", "/admin/api/blacklist", map[string]any{"prefix": "0335", "allow": false}, 201)
			},
			before: "200", after: "603",
		},
		{
			// The callee's list, against the caller's number
			// ([features] user_blacklists = "incoming", the default).
			name:  "user blacklist entry",
			probe: func() string { return call(p4, "5002") },
			write: func() {
				boss.want("POST", "/admin/api/accounts/5002/blacklist", map[string]any{"prefix": "5004", "allow": false}, 201)
			},
			before: "200", after: "603",
		},
		{
			name: "ban lifted",
			probe: func() string {
				if e.answered(t, scanner) {
					return "answered"
				}
				return "unanswered"
			},
			write:  func() { boss.want("DELETE", "/admin/api/bans/ip/127.0.0.2", nil, 204) },
			before: "unanswered", after: "answered",
		},
		{
			name: "call hung up",
			setup: func() {
				c, err := p2.Invite(ctx, "sip:5004@"+e.addr)
				if code := finalCode(t, c, err); code != 200 {
					t.Fatalf("5002 → 5004: %d", code)
				}
				live = c
				byes0 = [2]int{len(p2.Received(sip.BYE)), len(p4.Received(sip.BYE))}
			},
			probe: byes,
			write: func() {
				boss.want("POST", "/admin/api/calls/"+url.PathEscape(live.CallID())+"/hangup", map[string]any{"reason": "test"}, 200)
			},
			before: "0 BYE to the caller, 0 to the callee", after: "1 BYE to the caller, 1 to the callee",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			boss.t = t
			if tc.setup != nil {
				tc.setup()
			}
			if got := tc.probe(); got != tc.before {
				t.Fatalf("before the write: got %s, want %s", got, tc.before)
			}
			tc.write()
			var got string
			deadline := time.Now().Add(10 * time.Second)
			for got = tc.probe(); got != tc.after && time.Now().Before(deadline); got = tc.probe() {
				time.Sleep(100 * time.Millisecond)
			}
			if got != tc.after {
				t.Errorf("after the write: got %s, want %s", got, tc.after)
			}
		})
	}
}

// register answers the final status of a REGISTER of user (password
// "unisi"+user) from a new phone.
func register(t *testing.T, e *example, user string) string {
	t.Helper()
	ua := siptest.NewUA(t, siptest.WithUser(user))
	res, err := ua.Register(ctxT(t, 5*time.Second), e.addr, "sip:"+user+"@voip.unisi.it", "unisi"+user, 3600)
	if err != nil {
		return err.Error()
	}
	return strconv.Itoa(res.StatusCode)
}

// TestAdminLoginBan: repeated failed logins to the admin page from
// 127.0.0.2 reach the guard, which bans the address as it bans a SIP
// password guesser: the ban is listed by GET /bans, and the address can
// neither register a phone nor log in, even with the right password; an
// administrator on 127.0.0.1 is not affected.
func TestAdminLoginBan(t *testing.T) {
	// Fewer failures than the page's own limit (admin.LoginFailures)
	// make the guard ban before the page answers 429.
	e := newAdminExample(t, "first-admin-pw", withConfig("[guard.auth]\nip_failures = 3\n"))
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	from2 := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	t.Cleanup(from2.CloseIdleConnections)
	guesser := &adminClient{t: t, base: "http://" + e.http, hc: from2}
	for i := range 3 {
		guesser.want("POST", "/admin/api/login", map[string]string{"name": "root", "password": "guess-" + strconv.Itoa(i)}, 401)
	}
	boss := adminLogin(t, e.http, "admin", "first-admin-pw")
	var bans []admin.Ban
	waitFor(t, 10*time.Second, "the ban of 127.0.0.2 in GET /bans", func() bool {
		json.Unmarshal(boss.want("GET", "/admin/api/bans", nil, 200), &bans)
		return slices.ContainsFunc(bans, func(b admin.Ban) bool { return b.Kind == "ip" && b.Subject == "127.0.0.2" })
	})
	b := guesser.want("POST", "/admin/api/login", map[string]string{"name": "admin", "password": "first-admin-pw"}, 403)
	if !strings.Contains(string(b), "banned") {
		t.Errorf("the banned address's login: %s", b)
	}
	phone := siptest.NewUA(t, siptest.WithListen("127.0.0.2:0"), siptest.WithUser("5003"))
	if res, err := phone.Register(quickCtx(t), e.addr, "sip:5003@voip.unisi.it", "unisi5003", 3600); err == nil {
		t.Errorf("a REGISTER from the banned address was answered: %v", res)
	}
	e.phone("5002") // 127.0.0.1 registers meanwhile
}

// withConfig is a newAdminExample preparation that adds text (tables of
// its own) to the node's configuration file.
func withConfig(text string) func(e *example) {
	return func(e *example) {
		f, err := os.OpenFile(e.cfg, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			e.t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString("\n" + text); err != nil {
			e.t.Fatal(err)
		}
	}
}

// TestAdminBansFlood: a source flooding the running server, blocked by
// the guard in its memory, is listed by GET /bans and on the bans page
// as a flood block (as `guard list` lists it), without a lift button,
// and a DELETE of it is refused.
func TestAdminBansFlood(t *testing.T) {
	e := newAdminExample(t, "first-admin-pw", withConfig("[routing]\nprobe_interval = \"0s\"\n[guard.flood]\nunit = \"10s\"\ndensity = 20\n"))
	boss := adminLogin(t, e.http, "admin", "first-admin-pw")
	raddr, err := net.ResolveUDPAddr("udp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}, raddr)
	if err != nil {
		t.Skip("cannot send from 127.0.0.2:", err)
	}
	defer c.Close()
	for range 40 {
		if _, err := c.Write([]byte("OPTIONS sip:" + e.addr + " SIP/2.0\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	var flood admin.Ban
	waitFor(t, 10*time.Second, "the flood block of 127.0.0.2 in GET /bans", func() bool {
		var bans []admin.Ban
		json.Unmarshal(boss.want("GET", "/admin/api/bans", nil, 200), &bans)
		i := slices.IndexFunc(bans, func(b admin.Ban) bool { return b.Kind == "flood" })
		if i >= 0 {
			flood = bans[i]
		}
		return i >= 0
	})
	if flood.Subject != "127.0.0.2" || !strings.Contains(flood.Reason, "packets in 10s") || flood.Created.IsZero() || !flood.Until.IsZero() {
		t.Errorf("the flood block: %+v, want 127.0.0.2's, with no end", flood)
	}
	page := string(boss.want("GET", "/admin/bans?kind=flood", nil, 200))
	if !strings.Contains(page, `<td class="mono">127.0.0.2</td>`) || !strings.Contains(page, "while the flood lasts") || strings.Contains(page, "/admin/api/bans/flood/") {
		t.Errorf("the bans page does not list the flood block (without a lift button):\n%s", page)
	}
	boss.want("DELETE", "/admin/api/bans/flood/127.0.0.2", nil, 400)
}
