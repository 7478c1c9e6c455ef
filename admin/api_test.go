package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/palio-voip/palio/registrar"
)

// TestValidation: every write refused answers 400 naming the field, with
// the library's reason, in the shape of openapi.json's Error, and changes
// nothing.
func TestValidation(t *testing.T) {
	var sp spec
	if err := json.Unmarshal(openAPI, &sp); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	for _, tc := range []struct {
		name, method, path string
		body               any
		field, reason      string
	}{
		{"user part", "POST", "/admin/api/accounts", map[string]any{"username": "52 00", "password": "x"}, "username", ""},
		{"no password", "POST", "/admin/api/accounts", map[string]any{"username": "5200"}, "password", "required"},
		{"bad domain", "POST", "/admin/api/accounts", map[string]any{"username": "5200", "domain": "a b", "password": "x"}, "domain", "not a host name"},
		{"unknown class", "POST", "/admin/api/accounts", map[string]any{"username": "5200", "password": "x", "classes": []string{"interplanetary"}}, "classes", "unknown outbound class"},
		{"unknown inbound", "POST", "/admin/api/accounts", map[string]any{"username": "5200", "password": "x", "inbound": []string{"mars"}}, "inbound", "unknown inbound class"},
		{"class not a word", "PATCH", "/admin/api/accounts/5002", map[string]any{"classes": []string{"a,b"}}, "classes", "not a word"},
		{"unknown field", "POST", "/admin/api/accounts", map[string]any{"username": "5200", "password": "x", "colour": "red"}, "colour", "unknown field"},
		{"wrong type", "POST", "/admin/api/accounts", map[string]any{"username": 5200, "password": "x"}, "username", "wrong type"},
		{"empty edit", "PATCH", "/admin/api/accounts/5002", map[string]any{}, "body", "nothing to change"},
		{"owner too long", "PATCH", "/admin/api/accounts/5002", map[string]any{"owner": strings.Repeat("è", MaxOwnerLen+1)}, "owner", "longer than 128"},
		{"owner control", "PATCH", "/admin/api/accounts/5002", map[string]any{"owner": "Mario\x1bRossi"}, "owner", "control characters"},
		{"note too long", "PATCH", "/admin/api/accounts/5002", map[string]any{"classes": []string{"local"}, "note": strings.Repeat("n", MaxNoteLen+1)}, "note", "longer than 255"},
		{"note newline", "POST", "/admin/api/accounts", map[string]any{"username": "5200", "password": "x", "note": "a\nb"}, "note", "control characters"},
		{"owner type", "POST", "/admin/api/accounts", map[string]any{"username": "5200", "password": "x", "owner": 7}, "owner", "wrong type"},
		{"rename", "PATCH", "/admin/api/accounts/5002", map[string]any{"username": "5009"}, "username", "cannot be changed"},
		{"empty password", "POST", "/admin/api/accounts/5002/password", map[string]any{"password": ""}, "password", "required"},
		{"forward to self", "PATCH", "/admin/api/accounts/5002/features", map[string]any{"forward-always": "5002"}, "forward-always", ""},
		{"forward not a number", "PATCH", "/admin/api/accounts/5002/features", map[string]any{"forward-busy": "sip:x y"}, "forward-busy", ""},
		{"timer too long", "PATCH", "/admin/api/accounts/5002/features", map[string]any{"forward-noanswer": "5003", "noanswer-after": "10m"}, "noanswer-after", ""},
		{"unknown setting", "PATCH", "/admin/api/accounts/5002/features", map[string]any{"teleport": "on"}, "teleport", "unknown setting"},
		{"secretary not an account", "PATCH", "/admin/api/accounts/5002/features", map[string]any{"secretary": "5999"}, "secretary", "no account"},
		{"alias of itself", "POST", "/admin/api/aliases", map[string]any{"alias": "5500x", "target": "5500x"}, "target", "stands for itself"},
		{"alias user part", "POST", "/admin/api/aliases", map[string]any{"alias": "", "target": "FAX"}, "alias", ""},
		{"ban kind", "DELETE", "/admin/api/bans/planet/5002", nil, "kind", ""},
		{"ban address", "DELETE", "/admin/api/bans/ip/not-an-ip", nil, "subject", "not an IP address"},
		{"cdr from", "GET", "/admin/api/cdrs?from=yesterday", nil, "from", ""},
		{"cdr limit", "GET", "/admin/api/cdrs?limit=0", nil, "limit", ""},
		{"translate dpid", "GET", "/admin/api/dialplan/translate?dpid=x&number=1", nil, "dpid", ""},
		{"translate number", "GET", "/admin/api/dialplan/translate?dpid=0", nil, "number", "required"},
		{"rule regex", "POST", "/admin/api/dialplan/rules", map[string]any{"match_op": 1, "match_exp": "^(5"}, "match_exp", "missing closing )"},
		{"rule subst regex", "POST", "/admin/api/dialplan/rules", map[string]any{"match_op": 1, "match_exp": "^5", "subst_exp": "^([5"}, "subst_exp", "error parsing regexp"},
		{"rule repl group", "POST", "/admin/api/dialplan/rules", map[string]any{"match_op": 1, "match_exp": "^5", "subst_exp": "^(5)", "repl_exp": `\3`}, "repl_exp", "beyond"},
		{"rule timerec", "POST", "/admin/api/dialplan/rules", map[string]any{"match_exp": "5", "timerec": "sometimes"}, "timerec", ""},
		{"rule op", "POST", "/admin/api/dialplan/rules", map[string]any{"match_op": 7, "match_exp": "5"}, "match_op", "want 0"},
		{"rule empty equality", "POST", "/admin/api/dialplan/rules", map[string]any{"match_op": 0}, "match_exp", "empty"},
		{"rule dpid", "POST", "/admin/api/dialplan/rules", map[string]any{"dpid": -1, "match_exp": "5"}, "dpid", ""},
		{"rule flags", "POST", "/admin/api/dialplan/rules", map[string]any{"match_exp": "5", "match_flags": 4}, "match_flags", ""},
		{"rule op type", "POST", "/admin/api/dialplan/rules", map[string]any{"match_op": "regex", "match_exp": "5"}, "match_op", "wrong type"},
		{"rule edit regex", "PATCH", "/admin/api/dialplan/rules/1", map[string]any{"match_exp": "^5[0-9"}, "match_exp", "missing closing ]"},
		{"rule edit id", "PATCH", "/admin/api/dialplan/rules/1", map[string]any{"id": 7}, "id", "unknown field"},
		{"rule path id", "DELETE", "/admin/api/dialplan/rules/one", nil, "id", ""},
		{"assign mac", "POST", "/admin/api/devices/unknown/00:0e:08:11:22/assign", map[string]any{"lines": []string{"5003"}}, "mac", ""},
		{"assign model", "POST", "/admin/api/devices/unknown/000e08112233/assign", map[string]any{"model": "rotary", "lines": []string{"5003"}}, "model", "rotary"},
		{"assign no account", "POST", "/admin/api/devices/unknown/000e08112233/assign", map[string]any{"lines": []string{"5003", "5999"}}, "lines", "line 2: no account 5999"},
		{"assign line user part", "POST", "/admin/api/devices/unknown/000e08112233/assign", map[string]any{"lines": []string{"50 03"}}, "lines", "line 1"},
		{"assign too many lines", "POST", "/admin/api/devices/unknown/000e08112233/assign", map[string]any{"model": "spa502g", "lines": []string{"5002", "5003"}}, "lines", "2 lines, a Cisco SPA502G has 1"},
		{"assign name", "POST", "/admin/api/devices/unknown/000e08112233/assign", map[string]any{"name": "a\x07b", "lines": []string{"5003"}}, "name", "control characters"},
		{"assign owner", "POST", "/admin/api/devices/unknown/000e08112233/assign", map[string]any{"owner": strings.Repeat("o", 129)}, "owner", "longer than"},
		{"assign field", "POST", "/admin/api/devices/unknown/000e08112233/assign", map[string]any{"secret": "x"}, "secret", "unknown field"},
		{"notice control", "PUT", "/admin/api/notice", map[string]any{"text": "a\x07b"}, "text", "control"},
		{"notice length", "PUT", "/admin/api/notice", map[string]any{"text": strings.Repeat("x", MaxNoticeLen+1)}, "text", "at most"},
		{"setting not a string", "PATCH", "/admin/api/accounts/5002/features", map[string]any{"dnd": true}, "dnd", "wrong type"},
		{"features not an object", "PATCH", "/admin/api/accounts/5002/features", []string{"dnd"}, "body", "wrong type"},
		{"hangup reason type", "POST", "/admin/api/calls/call-1/hangup", map[string]any{"reason": 5}, "reason", "wrong type"},
		{"hangup field", "POST", "/admin/api/calls/call-1/hangup", map[string]any{"cause": "x"}, "cause", "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, WithoutLogin())
			code, body := do(t, f.h, tc.method, tc.path, tc.body)
			if code != http.StatusBadRequest {
				t.Fatalf("got %d %s, want 400", code, body)
			}
			var v any
			json.Unmarshal(body, &v)
			if err := sp.check(schema{Ref: "#/components/schemas/Error"}, v, "400 body"); err != nil {
				t.Errorf("%v (openapi.json's Error): %s", err, body)
			}
			e := decode[apiError](t, body)
			if e.Field != tc.field || !strings.Contains(e.Error, tc.reason) {
				t.Errorf("got field %q error %q, want field %q error containing %q", e.Field, e.Error, tc.field, tc.reason)
			}
			if a, _ := f.store.Audit(context.Background(), AuditFilter{}); len(a) != 0 {
				t.Errorf("a refused write was audited: %+v", a)
			}
		})
	}
}

// TestWrites: the writes reach the stores (which the router reads) and
// each is in the audit log, who and what.
func TestWrites(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, WithoutLogin())
	steps := []struct {
		method, path string
		body         any
		want         int
	}{
		{"POST", "/admin/api/accounts", map[string]any{"username": "5200", "password": "s3cret!", "classes": []string{"local", "mobile"}, "owner": "Anna Bianchi"}, 201},
		{"POST", "/admin/api/accounts", map[string]any{"username": "5200", "password": "again"}, 409},
		{"POST", "/admin/api/accounts/5200/block", nil, 200},
		{"POST", "/admin/api/accounts/5200/password", map[string]any{"password": "n3w"}, 200},
		{"PATCH", "/admin/api/accounts/5002/features", map[string]any{"forward-busy": "5003", "dnd": "busy"}, 200},
		{"POST", "/admin/api/aliases", map[string]any{"alias": "5501", "target": "FAX_5501"}, 201},
		{"DELETE", "/admin/api/aliases/5500", nil, 204},
		{"POST", "/admin/api/gateways/gw-siena-1/disable", nil, 200},
		{"POST", "/admin/api/calls/call-1/hangup", map[string]any{"reason": "line needed"}, 200},
		{"POST", "/admin/api/calls/call-1/hangup", nil, 404},
		{"DELETE", "/admin/api/bans/ip/203.0.113.9", nil, 204},
		{"PUT", "/admin/api/notice", map[string]any{"text": "maintenance"}, 200},
		{"PATCH", "/admin/api/accounts/5003", map[string]any{"owner": "Luca Neri", "note": "aula magna"}, 200},
		{"PATCH", "/admin/api/accounts/5002", map[string]any{"note": ""}, 200},
		{"DELETE", "/admin/api/accounts/5003", nil, 204},
	}
	for _, s := range steps {
		if code, body := do(t, f.h, s.method, s.path, s.body); code != s.want {
			t.Fatalf("%s %s: got %d %s, want %d", s.method, s.path, code, body, s.want)
		}
	}
	sub, err := f.accounts.Subscriber(ctx, "5200", testDomain)
	if err != nil {
		t.Fatal(err)
	}
	want := registrar.NewSubscriberIn("5200", testDomain, testDomain, "n3w")
	if !sub.Blocked || sub.HA1 != want.HA1 || strings.Join(sub.Classes, ",") != "local,mobile" {
		t.Errorf("account 5200: got %+v, want blocked, password n3w, classes local,mobile", sub)
	}
	if _, err := f.accounts.Subscriber(ctx, "5003", testDomain); err == nil {
		t.Error("5003 not deleted")
	}
	if i, _ := f.store.AccountInfo(ctx, "5003", testDomain); !i.IsZero() {
		t.Errorf("5003 deleted: its owner and note are kept: %+v", i)
	}
	if got := decode[Account](t, do2(t, f.h, "GET", "/admin/api/accounts/5200", 200)); got.Owner != "Anna Bianchi" || got.Note != "" {
		t.Errorf("5200, created with an owner: got %+v", got)
	}
	if got := decode[Account](t, do2(t, f.h, "GET", "/admin/api/accounts/5002", 200)); got.Owner != "Mario Rossi" || got.Note != "" {
		t.Errorf("5002 after its note was emptied: got %+v, want the owner kept and no note", got)
	}
	settings, _ := f.features.Settings(ctx)
	if len(settings) != 1 || settings[0].ForwardBusy != "5003" || !settings[0].DND {
		t.Errorf("features: got %+v", settings)
	}
	if g := f.trunks.Gateways()[0]; g.State.String() != "disabled" {
		t.Errorf("gateway state %s, want disabled", g.State)
	}
	if n := len(f.calls.LiveCalls(testNow)); n != 0 {
		t.Errorf("%d calls left after the hang-up", n)
	}
	if bans, _ := f.bans.Bans(ctx); len(bans) != 0 {
		t.Errorf("bans left: %+v", bans)
	}
	audit, _ := f.store.Audit(ctx, AuditFilter{})
	var actions []string
	for _, a := range audit {
		if a.Who != "admin" || a.Time.IsZero() {
			t.Errorf("audit entry %+v: want who=admin and a time", a)
		}
		if strings.Contains(a.Detail, "n3w") || strings.Contains(a.Detail, "s3cret") {
			t.Errorf("audit entry %+v holds a password", a)
		}
		actions = append(actions, a.Action+" "+a.Target)
		if a.Action == "account.edit" && a.Target == "5003@voip.unisi.it" && a.Detail != `owner="Luca Neri" note="aula magna"` {
			t.Errorf("audit entry %+v: want the owner and note given", a)
		}
	}
	wantActions := []string{"account.delete 5003@voip.unisi.it", "account.edit 5002@voip.unisi.it", "account.edit 5003@voip.unisi.it", "notice.set notice", "ban.delete ip 203.0.113.9", "call.hangup call-1",
		"gateway.disable gw-siena-1", "alias.delete 5500@voip.unisi.it", "alias.create 5501@voip.unisi.it", "features.set 5002@voip.unisi.it",
		"account.password 5200@voip.unisi.it", "account.block 5200@voip.unisi.it", "account.create 5200@voip.unisi.it"}
	if strings.Join(actions, "\n") != strings.Join(wantActions, "\n") {
		t.Errorf("audit log:\n%s\nwant:\n%s", strings.Join(actions, "\n"), strings.Join(wantActions, "\n"))
	}
}

// TestRules: a rule created, edited and deleted through the API is in
// the store and in the running rules at once (translate sees it), and
// each write is audited.
func TestRules(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, WithoutLogin())
	translate := func(number string) Translation {
		t.Helper()
		_, body := do(t, f.h, "GET", "/admin/api/dialplan/translate?dpid=0&number="+number, nil)
		return decode[Translation](t, body)
	}
	if tr := translate("112"); tr.Matched {
		t.Fatalf("112 matches before the rule: %+v", tr)
	}
	code, body := do(t, f.h, "POST", "/admin/api/dialplan/rules", map[string]any{"pr": 0, "match_op": 1, "match_exp": "^11[2-8]$", "subst_exp": "^(.*)$", "repl_exp": `9\1`, "attrs": "emergency"})
	if code != 201 {
		t.Fatalf("create: got %d %s", code, body)
	}
	created := decode[Rule](t, body)
	if created.ID != 3 || created.Attrs != "emergency" {
		t.Errorf("created %+v, want id 3", created)
	}
	if tr := translate("112"); !tr.Matched || tr.Output != "9112" || tr.Attrs != "emergency" || tr.RuleID != 3 {
		t.Errorf("112 after the create: %+v, want 9112 by rule 3", tr)
	}
	if code, body := do(t, f.h, "POST", "/admin/api/dialplan/rules", map[string]any{"id": 3, "match_exp": "x"}); code != http.StatusConflict {
		t.Errorf("an id taken: got %d %s, want 409", code, body)
	}
	code, body = do(t, f.h, "PATCH", "/admin/api/dialplan/rules/3", map[string]any{"repl_exp": `8\1`, "disabled": false})
	if edited := decode[Rule](t, body); code != 200 || edited.ReplExp != `8\1` || edited.MatchExp != "^11[2-8]$" || edited.Attrs != "emergency" {
		t.Errorf("edit: got %d %+v, want repl_exp changed and the rest kept", code, edited)
	}
	if tr := translate("113"); tr.Output != "8113" {
		t.Errorf("113 after the edit: %+v, want 8113", tr)
	}
	if x, _ := f.rules.Rule(ctx, 3); x.ReplExp != `8\1` {
		t.Errorf("stored rule %+v", x)
	}
	if b := string(do2(t, f.h, "GET", "/admin/api/dialplan/rules?q=emergency", 200)); !strings.Contains(b, `"id":3`) || strings.Contains(b, `"id":1`) {
		t.Errorf("search emergency: %s", b)
	}
	if b := string(do2(t, f.h, "GET", "/admin/api/dialplan/rules?dpid=4", 200)); b != "[]\n" {
		t.Errorf("dpid 4: %s", b)
	}
	do2(t, f.h, "DELETE", "/admin/api/dialplan/rules/3", 204)
	do2(t, f.h, "DELETE", "/admin/api/dialplan/rules/3", 404)
	do2(t, f.h, "GET", "/admin/api/dialplan/rules/3", 404)
	if tr := translate("112"); tr.Matched {
		t.Errorf("112 after the delete: %+v", tr)
	}
	audit, _ := f.store.Audit(ctx, AuditFilter{})
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action+" "+a.Target)
	}
	if got, want := strings.Join(actions, ","), "dialplan.delete rule 3,dialplan.edit rule 3,dialplan.create rule 3"; got != want {
		t.Errorf("audit: got %s, want %s", got, want)
	}
}

// do2 is do wanting a status.
func do2(t *testing.T, h http.Handler, method, path string, want int) []byte {
	t.Helper()
	code, body := do(t, h, method, path, nil)
	if code != want {
		t.Fatalf("%s %s: got %d %s, want %d", method, path, code, body, want)
	}
	return body
}

// TestCDRs: filters, paging and the CSV export.
func TestCDRs(t *testing.T) {
	f := newFixture(t, WithoutLogin())
	page := func(q string) CDRPage {
		t.Helper()
		code, body := do(t, f.h, "GET", "/admin/api/cdrs?"+q, nil)
		if code != 200 {
			t.Fatalf("%s: got %d %s", q, code, body)
		}
		return decode[CDRPage](t, body)
	}
	ids := func(p CDRPage) string {
		var s []string
		for _, c := range p.CDRs {
			s = append(s, c.ID)
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		q, want string
		more    bool
	}{
		{"", "c1,c2,c3", false},
		{"limit=2", "c1,c2", true},
		{"limit=2&offset=2", "c3", false},
		{"user=5003", "c2,c3", false},
		{"user=5002&missed=true", "c2", false},
		{"from=2026-12-05T09:15:00Z", "c3", false},
		{"to=2026-12-05T08:30:00Z", "c1", false},
	} {
		p := page(tc.q)
		if got := ids(p); got != tc.want || p.More != tc.more {
			t.Errorf("%q: got %s more=%v, want %s more=%v", tc.q, got, p.More, tc.want, tc.more)
		}
	}
	code, body := do(t, f.h, "GET", "/admin/api/cdrs.csv?user=5003", nil)
	if code != 200 || !strings.Contains(string(body), "old-3") || strings.Contains(string(body), "old-1") {
		t.Errorf("CSV: got %d\n%s", code, body)
	}
}

// TestTranslate: the dry run uses the running rules and says which matched.
func TestTranslate(t *testing.T) {
	f := newFixture(t, WithoutLogin())
	for _, tc := range []struct {
		number, output, attrs string
		matched               bool
	}{
		{"5002", "5002", "voip", true},
		{"0577123456", "00577123456", "local", true},
		{"12", "", "", false},
	} {
		code, body := do(t, f.h, "GET", "/admin/api/dialplan/translate?dpid=0&number="+tc.number, nil)
		tr := decode[Translation](t, body)
		if code != 200 || tr.Matched != tc.matched || tr.Output != tc.output || tr.Attrs != tc.attrs || tr.Explain == "" {
			t.Errorf("%s: got %d %+v, want output %q attrs %q", tc.number, code, tr, tc.output, tc.attrs)
		}
	}
}

// TestEveryWriteAudited: every state-changing route, given a valid
// request (goodBodies), adds exactly one entry to the audit log, naming
// who and what; a password never appears in it. The login and logout,
// and the route dry run (which changes nothing), are the exceptions; an
// unblock is tried on a blocked account (one not blocked is left as it
// is, and nothing is logged).
func TestEveryWriteAudited(t *testing.T) {
	notAudited := map[string]bool{
		"POST /admin/api/login":  true,
		"POST /admin/api/logout": true,
		"POST /admin/api/route":  true,
	}
	ctx := context.Background()
	for _, r := range newFixture(t, WithoutLogin()).h.Routes() {
		method, path := fill(r, "5002")
		if !unsafeMethod(method) {
			continue
		}
		t.Run(r, func(t *testing.T) {
			f := newFixture(t, WithoutLogin())
			if r == "POST /admin/api/accounts/{account}/unblock" {
				// An account not blocked stays as it is, unaudited.
				if err := f.accounts.SetBlocked(ctx, "5002", testDomain, true); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := f.store.Audit(ctx, AuditFilter{})
			code, b := do(t, f.h, method, path, goodBodies[r])
			if code >= 300 {
				t.Fatalf("%s %s: got %d %s, want a success", method, path, code, b)
			}
			after, _ := f.store.Audit(ctx, AuditFilter{})
			want := 1
			if notAudited[r] {
				want = 0
			}
			if got := len(after) - len(before); got != want {
				t.Fatalf("%d audit entries added, want %d: %+v", got, want, after)
			}
			if want == 0 {
				return
			}
			e := after[0]
			if e.Who != "admin" || e.Action == "" || e.Time.IsZero() {
				t.Errorf("the entry %+v: want who, what and when", e)
			}
			for _, pw := range []string{"s3cret!", "n3w", "another-pass", "user-5003-pass", adminPassword} {
				if strings.Contains(e.Target+e.Detail, pw) {
					t.Errorf("the entry %+v holds a password", e)
				}
			}
		})
	}
}
