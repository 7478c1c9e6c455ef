// Package httpauth guards an HTTP API: a bearer token (RFC 6750) compared in
// constant time, or, with no token configured, only clients on a loopback
// address. It has no SIP meaning; the example's operations API uses it.
package httpauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// MinTokenLen is the shortest token New accepts, in bytes.
const MinTokenLen = 16

// Guard decides who may call an API. The zero value is not usable: make
// one with New.
type Guard struct {
	sum   [sha256.Size]byte // of the token; zero with none
	token bool
	realm string
}

// New returns a Guard admitting requests that carry "Authorization: Bearer
// token"; with an empty token, requests from loopback addresses
// (127.0.0.0/8, ::1) only. realm names the API in the challenge.
func New(token, realm string) (*Guard, error) {
	g := &Guard{realm: realm}
	if token == "" {
		return g, nil
	}
	if len(token) < MinTokenLen {
		return nil, errors.New("httpauth: the token is shorter than 16 bytes")
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return nil, errors.New("httpauth: the token holds white space")
	}
	g.sum, g.token = sha256.Sum256([]byte(token)), true
	return g, nil
}

// HasToken reports whether a token is required (else only loopback
// clients are served).
func (g *Guard) HasToken() bool { return g.token }

// Allowed reports whether r may be served, and if not the status to answer
// (401 without valid credentials, 403 for a non-loopback client when no
// token is configured).
func (g *Guard) Allowed(r *http.Request) (ok bool, status int) {
	if !g.token {
		if isLoopback(r.RemoteAddr) {
			return true, 0
		}
		return false, http.StatusForbidden
	}
	tok, found := bearer(r.Header.Get("Authorization"))
	// Hashing both sides first makes the comparison's time independent of
	// the lengths, too.
	sum := sha256.Sum256([]byte(tok))
	if found && subtle.ConstantTimeCompare(sum[:], g.sum[:]) == 1 {
		return true, 0
	}
	return false, http.StatusUnauthorized
}

// Wrap serves next to the requests Allowed admits, and answers the others:
// 401 with a WWW-Authenticate challenge (RFC 6750 §3: error="invalid_token"
// when credentials were sent), or 403.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, status := g.Allowed(r)
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if status == http.StatusUnauthorized {
			ch := `Bearer realm="` + g.realm + `"`
			if r.Header.Get("Authorization") != "" {
				ch += `, error="invalid_token"`
			}
			w.Header().Set("WWW-Authenticate", ch)
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"error":"a valid bearer token is required"}` + "\n"))
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"error":"no token is configured: served to loopback clients only"}` + "\n"))
	})
}

// bearer returns the token of an Authorization header value "Bearer TOKEN"
// (the scheme without case, RFC 7235 §2.1).
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// isLoopback reports whether the "ip:port" of a request's RemoteAddr is on
// loopback.
func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
