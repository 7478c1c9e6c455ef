package mediabridge

import "sync"

// pairCount is the number of even/odd port pairs in [min, max].
func pairCount(min, max int) int {
	base := min + min%2
	if max < base+1 {
		return 0
	}
	return (max - base + 1) / 2
}

// portPool hands out even/odd port pairs (RTP on the even port, RTCP on
// the odd one) from a range. Free pairs wait in a ring, first in first
// out, so that a released pair is reused as late as possible and a late
// packet of an ended call rarely reaches a new one. get and put are O(1);
// the mutex is taken per stream set-up and teardown, never per packet.
type portPool struct {
	mu   sync.Mutex
	base int     // the first even port
	ring []int32 // free pair numbers; port = base + 2*pair
	head int     // next pair to hand out
	free int     // pairs in the ring
	used []bool  // by pair: handed out and not yet returned
}

func newPortPool(min, max int) *portPool {
	n := pairCount(min, max)
	p := &portPool{base: min + min%2, ring: make([]int32, n), free: n, used: make([]bool, n)}
	for i := range p.ring {
		p.ring[i] = int32(i)
	}
	return p
}

// get returns the even port of a free pair, or false when none is left.
func (p *portPool) get() (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.free == 0 {
		return 0, false
	}
	pair := p.ring[p.head]
	p.head = (p.head + 1) % len(p.ring)
	p.free--
	p.used[pair] = true
	return p.base + 2*int(pair), true
}

// put returns the pair of an even port given by get. It reports false,
// and changes nothing, for a port that is not out (a double release).
func (p *portPool) put(port int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	pair := (port - p.base) / 2
	if port < p.base || port%2 != p.base%2 || pair >= len(p.used) || !p.used[pair] {
		return false
	}
	p.used[pair] = false
	p.ring[(p.head+p.free)%len(p.ring)] = int32(pair)
	p.free++
	return true
}

// inUse is the number of pairs handed out.
func (p *portPool) inUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ring) - p.free
}

// size is the number of pairs in the range.
func (p *portPool) size() int { return len(p.ring) }
