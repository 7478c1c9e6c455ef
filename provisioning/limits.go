package provisioning

import (
	"net/netip"
	"sync"
	"time"
)

// sources keeps, per source address (per /64 for IPv6), a token bucket
// for the request rate and the failures that lead to a ban. It holds at
// most maxSources addresses: idle ones are forgotten first.
type sources struct {
	mu       sync.Mutex
	perSec   float64
	burst    float64
	banAfter int
	banFor   time.Duration
	window   time.Duration
	m        map[netip.Addr]*source
}

// source is one address's state.
type source struct {
	tokens       float64
	last         time.Time
	failures     int
	firstFailure time.Time
	bannedUntil  time.Time
}

const maxSources = 1 << 16

func newSources(perMinute, burst, banAfter int, banFor, window time.Duration) *sources {
	return &sources{perSec: float64(perMinute) / 60, burst: float64(burst), banAfter: banAfter, banFor: banFor, window: window, m: map[netip.Addr]*source{}}
}

// key is the address sources count by: IPv6 addresses by their /64.
func sourceKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// verdict is what sources says of a request.
type verdict int

const (
	admitted verdict = iota
	limited
	banned
)

// admit takes a token for a request from a at now.
func (s *sources) admit(a netip.Addr, now time.Time) verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.get(sourceKey(a), now)
	if now.Before(st.bannedUntil) {
		return banned
	}
	if s.perSec <= 0 {
		st.last = now
		return admitted
	}
	st.tokens += now.Sub(st.last).Seconds() * s.perSec
	if st.tokens > s.burst {
		st.tokens = s.burst
	}
	st.last = now
	if st.tokens < 1 {
		return limited
	}
	st.tokens--
	return admitted
}

// fail counts a failure (unknown MAC, wrong key or password) of a at now;
// it returns the failures in the window and whether they just banned a.
func (s *sources) fail(a netip.Addr, now time.Time) (failures int, bannedNow bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.get(sourceKey(a), now)
	if st.failures == 0 || now.Sub(st.firstFailure) > s.window {
		st.failures, st.firstFailure = 0, now
	}
	st.failures++
	if s.banAfter > 0 && st.failures >= s.banAfter && !now.Before(st.bannedUntil) {
		st.bannedUntil = now.Add(s.banFor)
		st.failures = 0
		return s.banAfter, true
	}
	return st.failures, false
}

// bannedCount returns how many addresses are banned at now.
func (s *sources) bannedCount(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, st := range s.m {
		if now.Before(st.bannedUntil) {
			n++
		}
	}
	return n
}

// get returns a's state, creating it (with a full bucket) when new.
func (s *sources) get(a netip.Addr, now time.Time) *source {
	if st, ok := s.m[a]; ok {
		return st
	}
	if len(s.m) >= maxSources {
		s.forget(now)
	}
	st := &source{tokens: s.burst, last: now}
	s.m[a] = st
	return st
}

// forget drops idle addresses (full bucket, no recent failure, no ban);
// when none is idle, any address not banned.
func (s *sources) forget(now time.Time) {
	refill := time.Minute
	if s.perSec > 0 {
		refill = time.Duration(s.burst / s.perSec * float64(time.Second))
	}
	for a, st := range s.m {
		if now.After(st.bannedUntil) && now.Sub(st.last) > refill && now.Sub(st.firstFailure) > s.window {
			delete(s.m, a)
		}
	}
	for a, st := range s.m {
		if len(s.m) < maxSources {
			return
		}
		if now.After(st.bannedUntil) {
			delete(s.m, a)
		}
	}
}
