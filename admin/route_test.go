package admin

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// TestRoute: the dry run runs the pipeline and says what each stage
// decided, by GET and by POST alike; a refusal is the outcome, not an
// error; bad input names its field.
func TestRoute(t *testing.T) {
	f := newFixture(t, WithoutLogin())
	if err := f.accounts.SetBlocked(context.Background(), "5003", testDomain, true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, number, from, src string
		code                    int
		reason, request         string
		refused                 bool
		steps                   []string
	}{
		{"to a phone", "5004", "5002", "", 200, "OK (dry run: would forward)", "sip:5004@voip.unisi.it", false,
			[]string{"auth\tcaller 5002@voip.unisi.it, classes local,national", "dialplan\trule 1: 5004 -> 5004, class voip"}},
		{"rewritten", "0577123456", "5002", "", 200, "OK (dry run: would forward)", "sip:00577123456@voip.unisi.it", false,
			[]string{"auth\tcaller 5002@voip.unisi.it, classes local,national", "dialplan\trule 2: 0577123456 -> 00577123456, class local"}},
		{"no rule", "12", "5002", "", 420, "Invalid Destination", "", true,
			[]string{"auth\tcaller 5002@voip.unisi.it, classes local,national", "dialplan\tdpid 0: no rule translates \"12\": 420"}},
		{"blocked caller", "5004", "5003", "", 403, "Account Blocked", "", true, nil},
		{"unknown caller", "5004", "7777", "", 403, "Forbidden: unknown user 7777", "", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := func(how string, code int, body []byte) {
				t.Helper()
				if code != 200 {
					t.Fatalf("%s: got %d %s, want 200", how, code, body)
				}
				r := decode[Route](t, body)
				if r.Code != tc.code || r.Reason != tc.reason || r.Refused != tc.refused || r.Request != tc.request || r.Forwarded != (tc.request != "") {
					t.Errorf("%s: got %d %q refused=%v request %q, want %d %q refused=%v request %q", how, r.Code, r.Reason, r.Refused, r.Request, tc.code, tc.reason, tc.refused, tc.request)
				}
				var steps []string
				for _, s := range r.Steps {
					steps = append(steps, s.Stage+"\t"+s.Decision)
				}
				if strings.Join(steps, "\n") != strings.Join(tc.steps, "\n") {
					t.Errorf("%s: steps\n%s\nwant\n%s", how, strings.Join(steps, "\n"), strings.Join(tc.steps, "\n"))
				}
				wantText := strings.Join(append(append([]string{}, tc.steps...), ""), "\n")
				if tc.request != "" {
					wantText += "request\tINVITE " + tc.request + "\n"
				}
				wantText += "result\t" + strconv.Itoa(tc.code) + " " + tc.reason + "\n"
				if r.Text != wantText {
					t.Errorf("%s: text\n%s\nwant\n%s", how, r.Text, wantText)
				}
			}
			q := url.Values{"number": {tc.number}, "from": {tc.from}}
			code, body := do(t, f.h, "GET", "/admin/api/route?"+q.Encode(), nil)
			check("GET", code, body)
			code, body = do(t, f.h, "POST", "/admin/api/route", map[string]any{"number": tc.number, "from": tc.from})
			check("POST", code, body)
		})
	}
	for _, tc := range []struct {
		name, query, field string
	}{
		{"no number", "from=5002", "number"},
		{"number with a space", "number=5+004&from=5002", "number"},
		{"no caller", "number=5004", "from"},
		{"caller not a user part", "number=5004&from=a%40b", "from"},
		{"source not ip:port", "number=5004&from=5002&src=campus", "src"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, f.h, "GET", "/admin/api/route?"+tc.query, nil)
			if e := decode[apiError](t, body); code != http.StatusBadRequest || e.Field != tc.field {
				t.Errorf("got %d %s, want 400 naming %s", code, body, tc.field)
			}
		})
	}
	// The source decides the source check: a given one reaches the stages.
	code, body := do(t, f.h, "POST", "/admin/api/route", map[string]any{"number": "5004", "from": "5002", "src": "198.51.100.7:5070"})
	if r := decode[Route](t, body); code != 200 || r.Src != "198.51.100.7:5070" || r.Code != 200 {
		t.Errorf("with a source: got %d %s", code, body)
	}
	if a, _ := f.store.Audit(context.Background(), AuditFilter{}); len(a) != 0 {
		t.Errorf("a dry run was audited: %+v", a)
	}
}

// TestRoutePage: the page's form runs the dry run and shows the stages'
// decisions; a bad field is shown on the form; a user may not use it.
func TestRoutePage(t *testing.T) {
	_, ts := newServer(t)
	boss := newClient(t, ts)
	boss.login("admin", adminPassword)
	b := string(boss.want("GET", "/admin/route", nil, 200))
	for _, want := range []string{`<label for="number">`, `<label for="from">`, `<label for="src">`} {
		if !strings.Contains(b, want) {
			t.Errorf("form: no %q in\n%s", want, b)
		}
	}
	if strings.Contains(b, `id="route-result"`) {
		t.Error("a result before the form was sent")
	}
	b = string(boss.want("GET", "/admin/route?number=0577123456&from=5002", nil, 200))
	for _, want := range []string{`<span id="route-result">200 OK (dry run: would forward)</span>`, "rule 2: 0577123456 -&gt; 00577123456, class local",
		"INVITE sip:00577123456@voip.unisi.it", `value="0577123456"`} {
		if !strings.Contains(b, want) {
			t.Errorf("result: no %q in\n%s", want, b)
		}
	}
	b = string(boss.want("GET", "/admin/route?number=12&from=5002", nil, 200))
	if !strings.Contains(b, `<span id="route-result">420 Invalid Destination</span>`) {
		t.Errorf("refused: got\n%s", b)
	}
	b = string(boss.want("GET", "/admin/route?number=5004&from=5002&src=campus", nil, 200))
	if !strings.Contains(b, `id="src" name="src" value="campus" aria-invalid="true"`) || !strings.Contains(b, "src: dry run source") {
		t.Errorf("bad source: got\n%s", b)
	}
	user := newClient(t, ts)
	user.login("5002", userPassword)
	user.want("GET", "/admin/route?number=5004&from=5003", nil, http.StatusForbidden)
	user.want("GET", "/admin/api/route?number=5004&from=5003", nil, http.StatusForbidden)
	user.want("POST", "/admin/api/route", map[string]any{"number": "5004", "from": "5003"}, http.StatusForbidden)
}
