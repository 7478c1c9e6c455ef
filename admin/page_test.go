package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/accounting"
)

// TestPages: each page renders for its scope, with its data; a user is
// sent to their own account and refused the others'.
func TestPages(t *testing.T) {
	_, ts := newServer(t)
	anon := newClient(t, ts)
	code, _, res := anon.do("GET", "/admin/", nil)
	if code != http.StatusSeeOther || res.Header.Get("Location") != "/admin/login" {
		t.Fatalf("/admin/ without a session: got %d %s, want a redirect to the login", code, res.Header.Get("Location"))
	}
	if b := string(anon.want("GET", "/admin/login", nil, 200)); !strings.Contains(b, `<label for="password">`) {
		t.Errorf("login page:\n%s", b)
	}
	if b := string(anon.want("GET", "/admin/static/app.js", nil, 200)); !strings.Contains(b, "EventSource") {
		t.Error("app.js not served")
	}
	anon.want("GET", "/admin/accounts/5002", nil, http.StatusSeeOther)

	boss := newClient(t, ts)
	s := boss.login("admin", adminPassword)
	for _, p := range []struct{ path, want string }{
		{"/admin/", "call-1"},
		{"/admin/", `<meta name="csrf" content="` + s.CSRF + `">`},
		{"/admin/", "gw-siena-1"},
		{"/admin/accounts", "5003"},
		{"/admin/accounts?q=5003", "5003"},
		{"/admin/accounts/5002", `id="forward-always"`},
		{"/admin/accounts/5002", "snom715"},
		{"/admin/accounts/5002", "192.0.2.10"},
		{"/admin/aliases", "FAX_5500"},
		{"/admin/cdrs?from=2026-12-05", "0577123456"},
		{"/admin/notice", `<textarea id="text"`},
		{"/admin/dialplan", `^0577.*`},
		{"/admin/dialplan", `<a href="/admin/dialplan/2">2</a>`},
		{"/admin/dialplan", `<label for="rule-match">`},
		{"/admin/dialplan?number=0577123456&translate_dpid=0", `<span class="mono">00577123456</span> by rule 2`},
		{"/admin/dialplan/2", `value="^0(.*)"`},
		{"/admin/dialplan/2", `data-api="/admin/api/dialplan/rules/2" data-method="PATCH"`},
	} {
		if b := string(boss.want("GET", p.path, nil, 200)); !strings.Contains(b, p.want) {
			t.Errorf("%s: no %q in\n%s", p.path, p.want, b)
		}
	}
	if b := string(boss.want("GET", "/admin/accounts?q=5003", nil, 200)); strings.Contains(b, ">5002<") {
		t.Error("the search for 5003 lists 5002")
	}
	boss.want("GET", "/admin/accounts/5999", nil, 404)
	if b := string(boss.want("GET", "/admin/dialplan?q=voip", nil, 200)); strings.Contains(b, `<a href="/admin/dialplan/2">`) || !strings.Contains(b, `<a href="/admin/dialplan/1">`) {
		t.Error("the search for voip: want rule 1 and not rule 2")
	}
	boss.want("GET", "/admin/dialplan/99", nil, 404)

	user := newClient(t, ts)
	user.login("5002", userPassword)
	code, _, res = user.do("GET", "/admin/", nil)
	if code != http.StatusSeeOther || res.Header.Get("Location") != "/admin/accounts/5002@voip.unisi.it" {
		t.Errorf("a user's home: got %d %s", code, res.Header.Get("Location"))
	}
	user.want("GET", "/admin/accounts/5002@voip.unisi.it", nil, 200)
	for _, p := range []string{"/admin/accounts/5003", "/admin/accounts/5999", "/admin/accounts", "/admin/aliases", "/admin/cdrs", "/admin/notice", "/admin/events", "/admin/dialplan", "/admin/dialplan/1"} {
		if code, b, _ := user.do("GET", p, nil); code != http.StatusForbidden {
			t.Errorf("%s as 5002: got %d, want 403\n%s", p, code, b)
		}
	}
}

// sse reads server-sent events.
type sse struct {
	res *http.Response
	sc  *bufio.Scanner
}

func openEvents(t *testing.T, c *client, ctx context.Context) (*sse, int) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/admin/events", nil)
	res, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		res.Body.Close()
		return nil, res.StatusCode
	}
	return &sse{res: res, sc: bufio.NewScanner(res.Body)}, 200
}

// next returns the next event's name and data; a comment as ("", text).
func (s *sse) next(t *testing.T) (string, string) {
	t.Helper()
	var name, data string
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case line == "" && (name != "" || data != ""):
			return name, data
		case strings.HasPrefix(line, ":"):
			return "", strings.TrimSpace(line[1:])
		case strings.HasPrefix(line, "event: "):
			name = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		}
	}
	t.Fatalf("event stream ended: %v", s.sc.Err())
	return "", ""
}

// nextLive skips heartbeats to the next live update.
func (s *sse) nextLive(t *testing.T) liveState {
	t.Helper()
	for {
		name, data := s.next(t)
		if name != "live" {
			continue
		}
		var st struct {
			Calls    []accounting.LiveCall `json:"calls"`
			Gateways []Trunk               `json:"gateways"`
		}
		if err := json.Unmarshal([]byte(data), &st); err != nil {
			t.Fatal(err)
		}
		return liveState{Calls: st.Calls, Gateways: st.Gateways}
	}
}

// TestEvents: the live stream sends the calls at once and at each change,
// beats while idle, refuses clients past the bound, and frees everything
// when a client goes (goleak in TestMain checks the goroutines).
func TestEvents(t *testing.T) {
	f, ts := newServer(t, withEvents(1, 50*time.Millisecond))
	c := newClient(t, ts)
	c.login("admin", adminPassword)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, code := openEvents(t, c, ctx)
	if code != 200 {
		t.Fatalf("events: %d", code)
	}
	st := s.nextLive(t)
	if calls := st.Calls.([]accounting.LiveCall); len(calls) != 1 || calls[0].CallID != "call-1" {
		t.Fatalf("first update: %+v", st.Calls)
	}
	if gws := st.Gateways.([]Trunk); len(gws) != 1 || gws[0].Calls != 1 || gws[0].Channels != 30 {
		t.Errorf("trunks: %+v", st.Gateways)
	}
	for { // a heartbeat while nothing happens
		if name, text := s.next(t); name == "" && text == "heartbeat" {
			break
		}
	}
	if _, code := openEvents(t, c, ctx); code != http.StatusServiceUnavailable {
		t.Errorf("a second page past the bound of 1: got %d, want 503", code)
	}
	f.calls.add(accounting.LiveCall{CallID: "call-2", From: "5003@" + testDomain, To: "5002@" + testDomain, State: "early", Start: testNow})
	if calls := s.nextLive(t).Calls.([]accounting.LiveCall); len(calls) != 2 {
		t.Errorf("after a new call: %+v", calls)
	}
	f.calls.Hangup(ctx, "call-1", "test")
	if calls := s.nextLive(t).Calls.([]accounting.LiveCall); len(calls) != 1 || calls[0].CallID != "call-2" {
		t.Errorf("after the hang-up: %+v", calls)
	}
	// The page goes: its subscription and slot are freed.
	cancel()
	s.res.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for f.calls.subscribers() != 0 || len(f.h.sseSlots) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after the client left: %d subscribers, %d slots taken", f.calls.subscribers(), len(f.h.sseSlots))
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	s2, code := openEvents(t, c, ctx2)
	if code != 200 {
		t.Fatalf("a page after the first left: %d", code)
	}
	s2.nextLive(t)
	// Close ends the streams.
	f.h.Close()
	for s2.sc.Scan() {
	}
	s2.res.Body.Close()
}

// TestPageForms: the forms and tables the pages offer for each scope. An
// administrator gets, on an account's page, the owner and note form, the
// classes form (with the account's classes) and the delete form, not the own-password form (on
// the logins page); a user gets the own-password form on their page and
// neither of the others. The live page lists the carriers with their
// switch; the bans page has the flood kind.
func TestPageForms(t *testing.T) {
	_, ts := newServer(t)
	boss := newClient(t, ts)
	boss.login("admin", adminPassword)
	user := newClient(t, ts)
	user.login("5002", userPassword)
	for _, p := range []struct {
		c          *client
		path       string
		want, nope []string
	}{
		{boss, "/admin/accounts/5002", []string{
			`<form class="card" id="classes-edit" aria-labelledby="classes-h" data-api="/admin/api/accounts/5002@voip.unisi.it" data-method="PATCH"`,
			`<input id="edit-classes" name="classes" data-list value="local, national">`,
			`<input id="edit-inbound" name="inbound" data-list value="">`,
			`<form class="card" id="account-delete" aria-labelledby="delete-h" data-api="/admin/api/accounts/5002@voip.unisi.it" data-method="DELETE" data-then="/admin/accounts">`,
			`<input type="checkbox" id="delete-sure" required>`,
			`<form class="card" id="info-edit" aria-labelledby="info-h" data-api="/admin/api/accounts/5002@voip.unisi.it" data-method="PATCH" data-then="reload">`,
			`<input id="edit-owner" name="owner" maxlength="128" autocomplete="off" value="Mario Rossi">`,
			`<input id="edit-note" name="note" maxlength="255" autocomplete="off" value="studio 12">`,
		}, []string{`id="own-password"`}},
		{boss, "/admin/logins", []string{`<form class="card" id="own-password" aria-labelledby="own-pw-h" data-api="/admin/api/session/password" data-method="POST">`}, nil},
		{user, "/admin/accounts/5002", []string{`id="own-password"`, `<input id="own-old" name="old" type="password"`, `<input id="own-new" name="new" type="password"`,
			`<dd id="account-owner">Mario Rossi</dd>`, `<dd id="account-note">studio 12</dd>`},
			[]string{`id="classes-edit"`, `id="account-delete"`, `id="info-edit"`}},
		{boss, "/admin/", []string{`<tr data-carrier="pstn"><td>pstn</td><td>gw-siena-1</td><td>active</td><td>1 / 30</td>`,
			`data-api="/admin/api/carriers/pstn/disable" data-method="POST" aria-label="Disable carrier pstn"`}, nil},
		{boss, "/admin/bans", []string{`<option value="flood">flood</option>`}, nil},
		{boss, "/admin/devices", []string{
			`<button type="button" data-api="/admin/api/devices/000413aabbcc/resync" data-method="POST"`,
			`<button type="button" data-api="/admin/api/devices/000413aabbcc" data-method="DELETE" data-then="reload" aria-label="Delete 000413aabbcc">Delete</button>`,
			`<form class="card" id="device-edit" aria-labelledby="edit-h" data-api="/admin/api/devices/" data-api-field="mac" data-method="PATCH" data-then="reload">`,
			`<option value="000413aabbcc">000413aabbcc (Mario&#39;s desk)</option>`,
			`<input id="edit-lines" name="lines" autocomplete="off" data-list data-omit-empty>`,
		}, nil},
	} {
		b := string(p.c.want("GET", p.path, nil, 200))
		for _, w := range p.want {
			if !strings.Contains(b, w) {
				t.Errorf("%s: no %q in\n%s", p.path, w, b)
			}
		}
		for _, n := range p.nope {
			if strings.Contains(b, n) {
				t.Errorf("%s: %q shown", p.path, n)
			}
		}
	}
}

// TestAccountsOverview: the accounts page and GET /accounts show each
// account's owner, note, department, latest registration and names, and
// their search finds an account by number, department, its owner's name,
// its phone's name or a login's name.
func TestAccountsOverview(t *testing.T) {
	f, ts := newServer(t)
	ctx := context.Background()
	if err := f.store.PutLogin(ctx, Login{Name: "mrossi", Scope: ScopeUser, Account: "5003", Hash: testHash(t, userPassword)}); err != nil {
		t.Fatal(err)
	}
	boss := newClient(t, ts)
	boss.login("admin", adminPassword)
	b := string(boss.want("GET", "/admin/accounts", nil, 200))
	if !strings.Contains(b, `<td>voip.unisi.it</td><td>Mario Rossi</td><td>Economia</td><td>studio 12</td><td>5002, Mario&#39;s desk</td><td>local, national</td><td>active</td><td class="mono">sip:5002@192.0.2.10:5060</td><td>2026-12-05 10:00</td>`) {
		t.Errorf("5002's row:\n%s", b)
	}
	all := decode[[]AccountSummary](t, boss.want("GET", "/admin/api/accounts", nil, 200))
	if len(all) != 2 || all[0].Username != "5002" || all[0].Department != "Economia" || strings.Join(all[0].Names, ",") != "5002,Mario's desk" ||
		all[0].Contact != "sip:5002@192.0.2.10:5060" || !all[0].Updated.Equal(testNow) || all[1].Department != "" || all[1].Contact != "" ||
		all[0].Owner != "Mario Rossi" || all[0].Note != "studio 12" || all[1].Owner != "" {
		t.Errorf("GET /admin/api/accounts: %+v", all)
	}
	for _, tc := range []struct {
		q          string
		want, nope []string
	}{
		{"5003", []string{"5003"}, []string{"5002"}},
		{"econ", []string{"5002"}, []string{"5003"}},
		{"mario", []string{"5002"}, []string{"5003"}},
		{"MROSSI", []string{"5003"}, []string{"5002"}},
		{"mario%20rossi", []string{"5002"}, []string{"5003"}}, // the owner's name
		{"STUDIO", nil, []string{"5002", "5003"}},             // a note is not searched
		{"nobody", nil, []string{"5002", "5003"}},
	} {
		// The API finds the same.
		var found []string
		for _, a := range decode[[]AccountSummary](t, boss.want("GET", "/admin/api/accounts?q="+tc.q, nil, 200)) {
			found = append(found, a.Username)
		}
		if strings.Join(found, ",") != strings.Join(tc.want, ",") {
			t.Errorf("GET /admin/api/accounts?q=%s: got %v, want %v", tc.q, found, tc.want)
		}
		b := string(boss.want("GET", "/admin/accounts?q="+tc.q, nil, 200))
		for _, w := range tc.want {
			if !strings.Contains(b, ">"+w+"</a>") {
				t.Errorf("?q=%s: %s not listed", tc.q, w)
			}
		}
		for _, n := range tc.nope {
			if strings.Contains(b, ">"+n+"</a>") {
				t.Errorf("?q=%s: %s listed", tc.q, n)
			}
		}
	}
}
