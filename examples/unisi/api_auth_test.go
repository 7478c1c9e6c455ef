package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const apiToken = "unisi-test-token-0123456789abcdef"

// get sends a GET to the example's HTTP server with an optional bearer
// token, and returns the status, the challenge and the body.
func (e *example) get(t *testing.T, path, token string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+e.http+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("WWW-Authenticate"), string(b)
}

// TestAPIToken: with [http] token_file the operations API wants the token
// (401 with a Bearer challenge without it or with another), the health
// checks and /metrics stay open, and the operator commands that ask the
// server send it.
func TestAPIToken(t *testing.T) {
	dir := t.TempDir()
	tf := filepath.Join(dir, "api.token")
	if err := os.WriteFile(tf, []byte(apiToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newExample(t, "[routing]\nprobe_interval = \"0s\"\n[http]\ntoken_file = \""+tf+"\"\n")
	e.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	e.start()

	for _, path := range []string{"/api/calls", "/api/trunks", "/api/report?from=2026-12-04&to=2026-12-04"} {
		if code, ch, _ := e.get(t, path, ""); code != 401 || ch != `Bearer realm="unisi"` {
			t.Errorf("%s without a token: %d %q, want 401 with a Bearer challenge", path, code, ch)
		}
		if code, ch, _ := e.get(t, path, apiToken+"-not"); code != 401 || !strings.Contains(ch, `error="invalid_token"`) {
			t.Errorf("%s with another token: %d %q, want 401 invalid_token", path, code, ch)
		}
		if code, _, body := e.get(t, path, apiToken); code != 200 {
			t.Errorf("%s with the token: %d %s", path, code, body)
		}
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, _, body := e.get(t, path, ""); code != 200 {
			t.Errorf("%s without a token: %d %s, want 200", path, code, body)
		}
	}
	if out := e.cli(0, "calls", "list"); strings.Contains(out, "401") {
		t.Errorf("calls list: %s", out)
	}
	if strings.Contains(e.stderr.String(), "no [http] token") {
		t.Error("warned of no token with token_file set")
	}
}

// TestAPILoopbackOnly: with no token the API answers a loopback client,
// and the server warns at start that it does only that.
func TestAPILoopbackOnly(t *testing.T) {
	e := newExample(t, "[routing]\nprobe_interval = \"0s\"\n")
	e.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	e.start()
	if code, _, body := e.get(t, "/api/calls", ""); code != 200 {
		t.Errorf("/api/calls from loopback: %d %s", code, body)
	}
	if !strings.Contains(e.stderr.String(), "no [http] token") {
		t.Errorf("no warning at start:\n%s", e.stderr.String())
	}
}

// TestAPITokenConfig: a short token, or both token and token_file, are
// configuration errors.
func TestAPITokenConfig(t *testing.T) {
	for _, tc := range []struct{ name, http string }{
		{"short", "token = \"short\"\n"},
		{"both", "token = \"" + apiToken + "\"\ntoken_file = \"/nonexistent\"\n"},
		{"missing file", "token_file = \"/nonexistent/api.token\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newBareExample(t, "[http]\n"+tc.http)
			if msg := e.cliErr(1, "config", "check", e.cfg); !strings.Contains(msg, "http.token") {
				t.Errorf("config check: %q", msg)
			}
		})
	}
}
