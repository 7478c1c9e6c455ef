package admin

import (
	"net/netip"
	"sync"
	"time"
)

// Login rate limits: a source with LoginFailures failed logins within
// LoginWindow is refused (429) until the window has passed.
const (
	LoginFailures = 5
	LoginWindow   = time.Minute
	// maxTracked bounds the sources remembered; past it the oldest are
	// forgotten first.
	maxTracked = 10000
)

type failures struct {
	first time.Time
	n     int
}

// limiter counts failed logins per source address.
type limiter struct {
	mu sync.Mutex
	m  map[netip.Addr]*failures
}

func newLimiter() *limiter { return &limiter{m: map[netip.Addr]*failures{}} }

// blocked reports whether src is over the limit now, and until when.
func (l *limiter) blocked(src netip.Addr, now time.Time) (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.m[src]
	if !ok {
		return false, time.Time{}
	}
	if now.Sub(f.first) >= LoginWindow {
		delete(l.m, src)
		return false, time.Time{}
	}
	return f.n >= LoginFailures, f.first.Add(LoginWindow)
}

// failed counts a failure of src.
func (l *limiter) failed(src netip.Addr, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.m[src]
	if ok && now.Sub(f.first) >= LoginWindow {
		ok = false
	}
	if !ok {
		if len(l.m) >= maxTracked {
			for k, v := range l.m {
				if now.Sub(v.first) >= LoginWindow {
					delete(l.m, k)
				}
			}
			for k := range l.m { // still full: forget any one
				if len(l.m) < maxTracked {
					break
				}
				delete(l.m, k)
			}
		}
		f = &failures{first: now}
		l.m[src] = f
	}
	f.n++
}

// succeeded forgets src's failures.
func (l *limiter) succeeded(src netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, src)
}
