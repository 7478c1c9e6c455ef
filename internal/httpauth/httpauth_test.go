package httpauth_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/palio-voip/palio/internal/httpauth"
)

const token = "s3cret-token-of-32-bytes-or-so.."

func ok() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
}

// TestBearer over real HTTP: no or a wrong token gets 401 with a challenge,
// the token 200.
func TestBearer(t *testing.T) {
	g, err := httpauth.New(token, "unisi")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Wrap(ok()))
	defer srv.Close()
	for _, tc := range []struct {
		name, auth, challenge string
		status                int
	}{
		{"none", "", `Bearer realm="unisi"`, 401},
		{"wrong", "Bearer " + token + "x", `Bearer realm="unisi", error="invalid_token"`, 401},
		{"prefix", "Bearer " + token[:20], `Bearer realm="unisi", error="invalid_token"`, 401},
		{"basic", "Basic dXNlcjpwYXNz", `Bearer realm="unisi", error="invalid_token"`, 401},
		{"right", "Bearer " + token, "", 200},
		{"scheme case", "bearer " + token, "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+"/api/calls", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Errorf("status: got %d, want %d", res.StatusCode, tc.status)
			}
			if got := res.Header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate: got %q, want %q", got, tc.challenge)
			}
		})
	}
}

// TestLoopbackOnly: with no token, loopback clients are served (over real
// HTTP), others get 403.
func TestLoopbackOnly(t *testing.T) {
	g, err := httpauth.New("", "unisi")
	if err != nil {
		t.Fatal(err)
	}
	if g.HasToken() {
		t.Fatal("HasToken with none")
	}
	srv := httptest.NewServer(g.Wrap(ok()))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/api/calls")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("loopback client: got %d, want 200", res.StatusCode)
	}
	for _, remote := range []string{"192.0.2.7:40000", "[2001:db8::1]:40000", "10.0.0.1:1"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/api/calls", nil)
		req.RemoteAddr = remote
		g.Wrap(ok()).ServeHTTP(rec, req)
		if rec.Code != 403 {
			t.Errorf("client %s: got %d, want 403", remote, rec.Code)
		}
	}
	for _, remote := range []string{"127.0.0.9:1", "[::1]:1", "[::ffff:127.0.0.1]:1"} {
		req := httptest.NewRequest("GET", "/api/calls", nil)
		req.RemoteAddr = remote
		if ok, _ := g.Allowed(req); !ok {
			t.Errorf("client %s refused", remote)
		}
	}
}

// TestNew refuses short tokens and tokens with white space.
func TestNew(t *testing.T) {
	for _, tok := range []string{"short", "sixteen bytes..."} {
		if _, err := httpauth.New(tok, "x"); err == nil {
			t.Errorf("New(%q) accepted", tok)
		}
	}
}
