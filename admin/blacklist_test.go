package admin

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestGlobalBlacklist: an administrator lists, adds and removes the
// global list's rows, refused per field by the library's check; the
// accounts' rows are out of its reach; a user reaches none of it.
func TestGlobalBlacklist(t *testing.T) {
	f, ts := newServer(t)
	ctx := context.Background()
	boss := newClient(t, ts)
	boss.login("admin", adminPassword)
	list := decode[[]GlobalEntry](t, boss.want("GET", "/admin/api/blacklist", nil, 200))
	if len(list) != 1 || list[0].Prefix != "00882" || list[0].Description != "satellite" {
		t.Fatalf("the global list: got %+v, want 00882 (satellite) alone", list)
	}
	e := decode[GlobalEntry](t, boss.want("POST", "/admin/api/blacklist", map[string]any{"prefix": "112", "allow": true, "description": "emergency"}, 201))
	if e.Prefix != "112" || !e.Allow || e.Description != "emergency" || e.ID == 0 {
		t.Errorf("added: got %+v, want 112 allowed, emergency", e)
	}
	boss.want("POST", "/admin/api/blacklist", map[string]any{"prefix": "112"}, http.StatusConflict)
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"prefix": "89x"}, "prefix"},
		{map[string]any{"prefix": ""}, "prefix"},
		{map[string]any{"prefix": "899", "description": strings.Repeat("d", 256)}, "description"},
		{map[string]any{"prefix": "899", "description": "a\x00b"}, "description"},
		{map[string]any{"prefix": "899", "user": "5002"}, "user"},
	} {
		if b := boss.want("POST", "/admin/api/blacklist", tc.body, 400); decode[apiError](t, b).Field != tc.field {
			t.Errorf("%v: got %s, want field %s", tc.body, b, tc.field)
		}
	}
	page := string(boss.want("GET", "/admin/blacklist", nil, 200))
	for _, s := range []string{`<td class="mono">112</td><td>allowed</td><td>emergency</td>`, `<label for="gbl-description">`, `aria-label="Remove 00882 from the global blacklist"`} {
		if !strings.Contains(page, s) {
			t.Errorf("the page: no %q\n%s", s, page)
		}
	}
	if strings.Contains(page, "00399") {
		t.Error("the global page shows an account's row")
	}
	// An account's row is not the global list's, whatever its ID.
	all, _ := f.features.ListEntries(ctx)
	for _, x := range all {
		if !x.Global() {
			if code, _, _ := boss.do("DELETE", "/admin/api/blacklist/"+strconv.Itoa(x.ID), nil); code != http.StatusNotFound {
				t.Errorf("deleting account %s's row %d through the global list: got %d, want 404", x.User, x.ID, code)
			}
			break
		}
	}
	boss.want("DELETE", "/admin/api/blacklist/x", nil, 400)

	// A row changed in place keeps its ID.
	sat := list[0].ID
	got := decode[GlobalEntry](t, boss.want("PATCH", "/admin/api/blacklist/"+strconv.Itoa(sat), map[string]any{"prefix": "008816", "description": "satellite phones"}, 200))
	if want := (GlobalEntry{ID: sat, Prefix: "008816", Description: "satellite phones"}); got != want {
		t.Errorf("changed: got %+v, want %+v", got, want)
	}
	boss.want("PATCH", "/admin/api/blacklist/"+strconv.Itoa(sat), map[string]any{"prefix": "112"}, http.StatusConflict)
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"prefix": "0088x"}, "prefix"},
		{map[string]any{"description": "tab\tok but bell \a not"}, "description"},
		{map[string]any{}, "body"},
		{map[string]any{"user": "5002"}, "user"},
	} {
		if b := boss.want("PATCH", "/admin/api/blacklist/"+strconv.Itoa(sat), tc.body, 400); decode[apiError](t, b).Field != tc.field {
			t.Errorf("PATCH %v: got %s, want field %s", tc.body, b, tc.field)
		}
	}
	boss.want("PATCH", "/admin/api/blacklist/999", map[string]any{"allow": true}, 404)
	if l := decode[[]GlobalEntry](t, boss.want("GET", "/admin/api/blacklist", nil, 200)); len(l) != 2 || l[0] != got {
		t.Errorf("after the change and the refusals: got %+v, want %+v first", l, got)
	}
	boss.want("PATCH", "/admin/api/blacklist/"+strconv.Itoa(sat), map[string]any{"prefix": "00882", "description": "satellite"}, 200)

	user := newClient(t, ts)
	user.login("5002", userPassword)
	for _, r := range []struct{ method, path string }{{"GET", "/admin/api/blacklist"}, {"POST", "/admin/api/blacklist"}, {"DELETE", "/admin/api/blacklist/" + strconv.Itoa(e.ID)}, {"PATCH", "/admin/api/blacklist/" + strconv.Itoa(e.ID)}, {"GET", "/admin/blacklist"}} {
		if code, _, _ := user.do(r.method, r.path, map[string]any{"prefix": "0577"}); code != http.StatusForbidden {
			t.Errorf("%s %s as 5002: got %d, want 403", r.method, r.path, code)
		}
	}

	boss.want("DELETE", "/admin/api/blacklist/"+strconv.Itoa(e.ID), nil, 204)
	all, _ = f.features.ListEntries(ctx)
	var rows []string
	for _, x := range all {
		rows = append(rows, x.User+":"+x.Prefix)
	}
	if got := strings.Join(rows, ","); got != "5002:00399,5003:00881,:00882" {
		t.Errorf("rows after: got %s, want the fixture's", got)
	}
	a, _ := f.store.Audit(ctx, AuditFilter{})
	if len(a) != 4 || a[0].Action != "blacklist.delete" || a[0].Target != "global" || a[1].Action != "blacklist.edit" || a[3].Action != "blacklist.add" {
		t.Errorf("audit: got %+v, want the add, two edits and the delete of the global list", a)
	}
}
