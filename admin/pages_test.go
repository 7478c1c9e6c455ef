package admin

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/palio-voip/palio/accounting"
)

// TestBlacklist: a user reads and changes their own blacklist only; a
// row of another list cannot be removed through theirs.
func TestBlacklist(t *testing.T) {
	f, ts := newServer(t)
	c := newClient(t, ts)
	c.login("5002", userPassword)
	list := decode[[]ListEntry](t, c.want("GET", "/admin/api/accounts/5002/blacklist", nil, 200))
	if len(list) != 1 || list[0].Prefix != "00399" {
		t.Fatalf("5002's list: %+v, want 00399 alone", list)
	}
	e := decode[ListEntry](t, c.want("POST", "/admin/api/accounts/5002/blacklist", map[string]any{"prefix": "0899", "allow": true}, 201))
	if e.Prefix != "0899" || !e.Allow || e.ID == 0 {
		t.Errorf("added %+v", e)
	}
	c.want("POST", "/admin/api/accounts/5002/blacklist", map[string]any{"prefix": "0899"}, 409)
	if b := c.want("POST", "/admin/api/accounts/5002/blacklist", map[string]any{"prefix": "08x"}, 400); decode[apiError](t, b).Field != "prefix" {
		t.Errorf("a bad prefix: %s", b)
	}
	var other int
	all, _ := f.features.ListEntries(context.Background())
	for _, x := range all {
		if x.User == "5003" {
			other = x.ID
		}
	}
	c.want("DELETE", "/admin/api/accounts/5002/blacklist/"+strconv.Itoa(other), nil, 404)
	c.want("GET", "/admin/api/accounts/5003/blacklist", nil, 403)
	c.want("POST", "/admin/api/accounts/5003/blacklist", map[string]any{"prefix": "0899"}, 403)
	c.want("DELETE", "/admin/api/accounts/5003/blacklist/"+strconv.Itoa(other), nil, 403)
	c.want("DELETE", "/admin/api/accounts/5002/blacklist/"+strconv.Itoa(e.ID), nil, 204)
	all, _ = f.features.ListEntries(context.Background())
	var rows []string
	for _, x := range all {
		rows = append(rows, x.User+":"+x.Prefix)
	}
	if got := strings.Join(rows, ","); got != "5002:00399,5003:00881,:00882" {
		t.Errorf("rows after: %s", got)
	}
	if a, _ := f.store.Audit(context.Background(), AuditFilter{}); len(a) != 2 || a[0].Action != "blacklist.delete" || a[1].Action != "blacklist.add" || a[0].Who != "5002" {
		t.Errorf("audit: %+v", a)
	}
}

// TestReports: the report adds the calls and costs of a period up; an
// account's own report has its calls only, and is the user's alone.
func TestReports(t *testing.T) {
	_, ts := newServer(t)
	boss := newClient(t, ts)
	boss.login("admin", adminPassword)
	rep := decode[accounting.Report](t, boss.want("GET", "/admin/api/reports?from=2026-12-05", nil, 200))
	if rep.Total.Calls != 3 || rep.Total.Cost.String() != "1.20" || len(rep.Users) == 0 {
		t.Errorf("report: %+v, want 3 calls costing 1.20", rep.Total)
	}
	if b := boss.want("GET", "/admin/api/reports?from=tomorrow", nil, 400); decode[apiError](t, b).Field != "from" {
		t.Errorf("a bad period: %s", b)
	}
	user := newClient(t, ts)
	user.login("5002", userPassword)
	own := decode[accounting.Report](t, user.want("GET", "/admin/api/accounts/5002/report?from=2026-12-05&user=5003", nil, 200))
	if own.Total.Calls != 2 || own.Total.Cost.String() != "1.20" || own.User != "5002" {
		t.Errorf("5002's report: %+v", own)
	}
	for _, l := range own.Users {
		if !strings.HasPrefix(l.Key, "5002") {
			t.Errorf("5002's report has %s's line", l.Key)
		}
	}
	user.want("GET", "/admin/api/accounts/5003/report", nil, 403)
	user.want("GET", "/admin/api/reports", nil, 403)
}

// TestMorePages: the reports, bans, devices and logins pages show their
// data, with search; the account page shows its blacklist and costs; a
// user is refused the administrators' pages.
func TestMorePages(t *testing.T) {
	_, ts := newServer(t)
	boss := newClient(t, ts)
	boss.login("admin", adminPassword)
	for _, p := range []struct {
		path      string
		want, not []string
	}{
		{"/admin/reports?from=2026-12-05", []string{`<dd id="report-cost">1.20</dd>`, "<tr><td>5002</td><td>2</td>", "<td>1.20</td>", "0577123456", `<label for="user">`}, nil},
		{"/admin/reports?from=2026-12-05&user=5003", []string{`<dd id="report-cost">0.00</dd>`}, []string{"0577123456"}},
		{"/admin/bans", []string{"203.0.113.9", "10 auth failures", `data-api="/admin/api/bans/ip/203.0.113.9"`}, nil},
		{"/admin/bans?kind=fraud", []string{"No bans."}, []string{"203.0.113.9"}},
		{"/admin/bans?q=203.0.113", []string{"203.0.113.9"}, nil},
		{"/admin/devices", []string{"000413aabbcc", "Mario&#39;s desk", `href="/admin/accounts/5002@voip.unisi.it"`}, []string{"pw-5002"}},
		{"/admin/devices?q=00:04:13:AA:BB:CC", []string{"snom715"}, nil},
		{"/admin/devices", []string{`id="unknown-devices"`, "000e08112233", "192.0.2.77", "Cisco/SPA504G"}, nil},
		{"/admin/devices?q=cisco", []string{"No devices."}, []string{"snom715"}},
		{"/admin/logins", []string{"<td>5003</td>", `aria-label="Delete login 5003"`, `data-api-field="name"`}, []string{`aria-label="Delete login admin"`, "$2a$"}},
		{"/admin/accounts/5002", []string{"00399", `id="bl-prefix"`, `<dd id="costs-total">1.20</dd>`}, []string{"00881", "00882"}},
	} {
		b := string(boss.want("GET", p.path, nil, 200))
		for _, w := range p.want {
			if !strings.Contains(b, w) {
				t.Errorf("%s: no %q in\n%s", p.path, w, b)
			}
		}
		for _, w := range p.not {
			if strings.Contains(b, w) {
				t.Errorf("%s: %q should not be there", p.path, w)
			}
		}
	}
	if u := decode[[]UnknownDevice](t, boss.want("GET", "/admin/api/devices/unknown", nil, 200)); len(u) != 1 || u[0].MAC != "000e08112233" || u[0].Count != 1 {
		t.Errorf("unknown devices: %+v", u)
	}
	user := newClient(t, ts)
	user.login("5002", userPassword)
	if b := string(user.want("GET", "/admin/accounts/5002", nil, 200)); !strings.Contains(b, "00399") || strings.Contains(b, "00881") {
		t.Errorf("5002's own page: blacklist wrong\n%s", b)
	}
	for _, p := range []string{"/admin/reports", "/admin/bans", "/admin/devices", "/admin/logins"} {
		if code, _, _ := user.do("GET", p, nil); code != http.StatusForbidden {
			t.Errorf("%s as 5002: got %d, want 403", p, code)
		}
	}
}
