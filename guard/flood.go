package guard

import (
	"encoding/binary"
	"net/netip"
	"sync"
)

// floodShards spreads the sources over locks: packets from different
// sources rarely wait for each other.
const floodShards = 64

// floodTable counts the packets of each source per sampling unit, as
// OpenSIPS's pike does (see the package documentation for the algorithm
// and its differences).
type floodTable struct {
	unit     int64  // the sampling unit, ns
	density  uint32 // packets per unit that make a source hot
	latency  int64  // a quiet source is forgotten after this, ns
	perShard int    // sources remembered per shard
	shards   [floodShards]floodShard
}

type floodShard struct {
	mu sync.Mutex
	m  map[netip.Addr]*floodEntry
	_  [40]byte // keep shards' locks on their own cache lines
}

// floodEntry is one source's counts.
type floodEntry struct {
	unit      int64  // the unit cur counts
	cur, prev uint32 // packets in that unit and the one before
	last      int64  // the last packet, ns
	red       bool   // blocked
	since     int64  // blocked since, ns
	peak      uint32 // the most packets in one unit while blocked
	dropped   uint64 // packets refused while blocked
	// exempt caches the Exempt answer for the unit exemptAt and the
	// source port exemptPort (asked only while the source is hot).
	exempt     bool
	exemptAt   int64
	exemptPort uint16
}

// floodChange is a source that turned red or went back to normal, for
// the log and the events (built under the shard's lock, reported after).
type floodChange struct {
	src     netip.Addr
	red     bool
	packets uint32 // in the unit that made it red; the peak for an unblock
	since   int64
	dropped uint64
}

func newFloodTable(cfg FloodConfig) *floodTable {
	t := &floodTable{
		unit:     int64(cfg.SamplingUnit),
		density:  uint32(cfg.Density),
		latency:  int64(cfg.RemoveLatency),
		perShard: max(1, cfg.MaxSources/floodShards),
	}
	for i := range t.shards {
		t.shards[i].m = make(map[netip.Addr]*floodEntry)
	}
	return t
}

// floodKey is what the table counts: an IPv4 address, or an IPv6 /64 (a
// subscriber's allocation: an attacker has all of it).
func floodKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
}

func (t *floodTable) shard(k netip.Addr) *floodShard {
	b := k.As16()
	h := (binary.LittleEndian.Uint64(b[:8]) ^ binary.LittleEndian.Uint64(b[8:])) * 0x9E3779B97F4A7C15
	return &t.shards[h>>(64-6)]
}

// roll moves e to unit u: the current count becomes the previous one, or
// both are forgotten when more than a unit went by.
func (e *floodEntry) roll(u int64) {
	switch {
	case e.unit == u:
	case e.unit == u-1:
		e.prev, e.cur, e.unit = e.cur, 0, u
	default:
		e.prev, e.cur, e.unit = 0, 0, u
	}
}

func (t *floodTable) hot(e *floodEntry) bool { return max(e.cur, e.prev) >= t.density }

// hit counts a packet from k (source port port) at now (ns) and reports
// whether the source is blocked. exempt is asked, once per unit and port,
// while the source is hot and not blocked yet; once blocked, every port of
// k is. A
// change (blocked now, or no longer) is returned for reporting; full is
// set when a new source found no room (it is not counted: fail open).
func (t *floodTable) hit(k netip.Addr, port uint16, now int64, exempt func() bool) (blocked bool, ch floodChange, changed, full bool) {
	u := now / t.unit
	s := t.shard(k)
	s.mu.Lock()
	e := s.m[k]
	if e == nil {
		if len(s.m) >= t.perShard {
			s.mu.Unlock()
			return false, ch, false, true
		}
		e = &floodEntry{unit: u, exemptAt: -1}
		s.m[k] = e
	}
	e.roll(u)
	if e.cur < ^uint32(0) {
		e.cur++
	}
	e.last = now
	if !t.hot(e) {
		if e.red {
			ch, changed = t.unblock(k, e), true
		}
		s.mu.Unlock()
		return false, ch, changed, false
	}
	if e.red {
		e.peak = max(e.peak, e.cur)
		e.dropped++
		s.mu.Unlock()
		return true, ch, false, false
	}
	if e.exemptAt != u || e.exemptPort != port {
		// Asked under the lock: exempt is a snapshot look-up (the trusted
		// addresses), once per unit and port of a hot source.
		e.exempt, e.exemptAt, e.exemptPort = exempt(), u, port
	}
	if e.exempt {
		s.mu.Unlock()
		return false, ch, false, false
	}
	e.red, e.since, e.peak, e.dropped = true, now, e.cur, 1
	ch = floodChange{src: k, red: true, packets: e.cur, since: now}
	s.mu.Unlock()
	return true, ch, true, false
}

func (t *floodTable) unblock(k netip.Addr, e *floodEntry) floodChange {
	e.red = false
	return floodChange{src: k, packets: e.peak, since: e.since, dropped: e.dropped}
}

// sweep unblocks the red sources that are no longer hot (a flood that
// stopped) and forgets those quiet for the removal latency; it returns the
// unblocked ones.
func (t *floodTable) sweep(now int64) []floodChange {
	u := now / t.unit
	var out []floodChange
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			e.roll(u)
			if e.red && !t.hot(e) {
				out = append(out, t.unblock(k, e))
			}
			if !e.red && now-e.last > t.latency {
				delete(s.m, k)
			}
		}
		s.mu.Unlock()
	}
	return out
}

// remove forgets k (an operator's unban): unblocked at once, counted
// afresh. It reports whether k was blocked.
func (t *floodTable) remove(k netip.Addr) (floodChange, bool) {
	s := t.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[k]
	if e == nil {
		return floodChange{}, false
	}
	delete(s.m, k)
	if !e.red {
		return floodChange{}, false
	}
	return t.unblock(k, e), true
}

// blocked lists the red sources.
func (t *floodTable) blocked() []floodChange {
	var out []floodChange
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if e.red {
				out = append(out, floodChange{src: k, red: true, packets: e.peak, since: e.since, dropped: e.dropped})
			}
		}
		s.mu.Unlock()
	}
	return out
}

// size is the number of sources remembered.
func (t *floodTable) size() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
