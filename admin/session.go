package admin

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// Session bounds.
const (
	// SessionIdle ends a session unused for that long.
	SessionIdle = 30 * time.Minute
	// SessionMax ends a session that long after its login, used or not.
	SessionMax = 12 * time.Hour
	// MaxSessions bounds the sessions held; past it, a login ends the
	// session closest to its end.
	MaxSessions = 10000
)

// session is a logged-in browser: its principal and its CSRF token.
type session struct {
	p       Principal
	csrf    string
	created time.Time
	used    time.Time
}

// sessions is the server-side session table, in memory: a restart logs
// everyone out. Its size is bounded by MaxSessions.
type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	max int
}

func newSessions(max int) *sessions { return &sessions{m: map[string]*session{}, max: max} }

// token returns a new random token (256 bits, base64url).
func token() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *sessions) expired(x *session, now time.Time) bool {
	return now.Sub(x.used) > SessionIdle || now.Sub(x.created) > SessionMax
}

// create starts a session for p and returns its ID and CSRF token.
func (s *sessions) create(p Principal, now time.Time) (id, csrf string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		s.sweep(now)
	}
	for len(s.m) >= s.max { // still full: end the least recently used
		var oldest string
		var at time.Time
		for k, x := range s.m {
			if oldest == "" || x.used.Before(at) {
				oldest, at = k, x.used
			}
		}
		delete(s.m, oldest)
	}
	id, csrf = token(), token()
	s.m[id] = &session{p: p, csrf: csrf, created: now, used: now}
	return id, csrf
}

// sweep drops the expired sessions; s.mu is held.
func (s *sessions) sweep(now time.Time) {
	for k, x := range s.m {
		if s.expired(x, now) {
			delete(s.m, k)
		}
	}
}

// get returns the live session id names and marks it used.
func (s *sessions) get(id string, now time.Time) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.m[id]
	if !ok {
		return session{}, false
	}
	if s.expired(x, now) {
		delete(s.m, id)
		return session{}, false
	}
	x.used = now
	return *x, true
}

// end ends a session.
func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// endLogin ends every session of a login (its password changed, it was
// deleted).
func (s *sessions) endLogin(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, x := range s.m {
		if x.p.Name == name {
			delete(s.m, k)
		}
	}
}

func (s *sessions) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// sameToken compares tokens in constant time.
func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
