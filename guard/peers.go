package guard

import (
	"maps"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Peers carries the guard's decisions between the nodes of a cluster, so
// that a source or an account banned on one node is refused by all of
// them within a second, not at their next reload of the store (package
// cluster implements it over NATS; guardtest.Hub in memory). The guard
// knows nothing of the transport.
type Peers interface {
	// Publish sends n to the other nodes. It must not block: it is called
	// where the decision was made (a packet's read loop for a flood).
	Publish(n Notice)
	// Subscribe delivers the other nodes' notices to fn, never this
	// node's own, until unsubscribe is called.
	Subscribe(fn func(Notice)) (unsubscribe func())
}

// Notice is a ban decided or lifted on one node.
type Notice struct {
	// Ban is the ban. A flood block (BanFlood) carries an Until a few
	// seconds ahead, renewed while the flood lasts, so that the others
	// let it go when its node stops saying so (it died, or the flood
	// ended and the notice was lost).
	Ban Ban
	// Lifted says the ban ended, Why says how ("expired", "flood over",
	// "cleared").
	Lifted bool
	Why    string
}

// OriginPeer: this node learned the event from another node (Share).
const OriginPeer = "peer"

// How often a node renews its flood blocks to the others, and for how
// long a renewal holds.
const (
	peerFloodRenew = time.Second
	peerFloodHold  = 3 * time.Second
)

// peerState is what a Guard holds of the other nodes: their flood blocks,
// read by Admit without a lock.
type peerState struct {
	mu    sync.Mutex
	flood atomic.Pointer[map[netip.Addr]time.Time] // flood key -> until
}

// peerBlocked reports whether another node blocks ip for flooding.
func (g *Guard) peerBlocked(ip netip.Addr, src netip.AddrPort) bool {
	m := g.peers.flood.Load()
	if m == nil || len(*m) == 0 {
		return false
	}
	until, ok := (*m)[floodKey(ip)]
	return ok && g.now().Before(until) && !g.exempt(src)
}

// Share makes g one guard of several: the bans, fraud blocks and flood
// blocks this node decides (and their ends) go to the others through p,
// and theirs apply here at once, as events of Origin OriginPeer. Stored
// bans are still written to the store by the node that decided them only;
// the others hold them in memory until their next reload reads them.
// Flood blocks, which are never stored, are renewed every second while
// the flood lasts and held 3 s by the others. The returned function stops
// sharing.
func (g *Guard) Share(p Peers) (stop func()) {
	unsubEvents := g.Subscribe(func(e Event) {
		if e.Origin != OriginLocal {
			return
		}
		switch e.Kind {
		case EventBanned:
			b := e.Ban
			if b.Kind == BanFlood {
				b.Until = g.now().Add(peerFloodHold)
			}
			p.Publish(Notice{Ban: b})
		case EventUnbanned:
			p.Publish(Notice{Ban: e.Ban, Lifted: true, Why: e.Why})
		}
	})
	unsubPeers := p.Subscribe(g.applyPeer)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(peerFloodRenew)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-g.stop:
				return
			case <-t.C:
			}
			now := g.now()
			if g.flood != nil {
				for _, ch := range g.flood.blocked() {
					p.Publish(Notice{Ban: Ban{Kind: BanFlood, Subject: ch.src.String(), Reason: "flood", Created: g.wallAt(ch.since), Until: now.Add(peerFloodHold)}})
				}
			}
			g.prunePeerFlood(now)
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			unsubEvents()
			unsubPeers()
			close(done)
			wg.Wait()
		})
	}
}

// applyPeer puts another node's decision in force here.
func (g *Guard) applyPeer(n Notice) {
	b := n.Ban
	now := g.now()
	if b.Kind == BanFlood {
		if _, err := netip.ParseAddr(b.Subject); err == nil {
			g.applyPeerFlood(n, now)
		}
		return
	}
	if b.Validate() != nil {
		return
	}
	g.banMu.Lock()
	cur, had := g.bans.Load().get(b.Kind, b.Subject)
	switch {
	case n.Lifted && !had, !n.Lifted && had:
		g.banMu.Unlock()
		return
	case n.Lifted:
		next := g.bans.Load().clone()
		next.del(b.Kind, b.Subject)
		g.bans.Store(next)
		g.metrics.setBans(next)
		g.banMu.Unlock()
		g.lifted(cur, n.Why, OriginPeer, now)
		return
	}
	if !b.Active(now) {
		g.banMu.Unlock()
		return
	}
	next := g.bans.Load().clone()
	if !next.put(b) {
		g.banMu.Unlock()
		return
	}
	g.bans.Store(next)
	g.metrics.setBans(next)
	g.banMu.Unlock()
	g.logBan(b)
	g.publish(Event{Kind: EventBanned, Time: now, Origin: OriginPeer, Ban: b})
}

// applyPeerFlood holds, renews or lets go another node's flood block.
func (g *Guard) applyPeerFlood(n Notice, now time.Time) {
	ip, _ := netip.ParseAddr(n.Ban.Subject)
	k := floodKey(ip.Unmap())
	g.peers.mu.Lock()
	var m map[netip.Addr]time.Time
	if cur := g.peers.flood.Load(); cur != nil {
		m = maps.Clone(*cur)
	} else {
		m = map[netip.Addr]time.Time{}
	}
	_, had := m[k]
	if n.Lifted {
		delete(m, k)
	} else {
		until := n.Ban.Until
		if until.IsZero() || until.After(now.Add(peerFloodHold)) {
			until = now.Add(peerFloodHold)
		}
		m[k] = until
	}
	g.peers.flood.Store(&m)
	g.peers.mu.Unlock()
	switch {
	case !n.Lifted && !had:
		g.log.Warn("guard: blocked for flooding by another node", "src", n.Ban.Subject)
		g.publish(Event{Kind: EventBanned, Time: now, Origin: OriginPeer, Ban: n.Ban})
	case n.Lifted && had:
		g.log.Info("guard: flood block of another node over", "src", n.Ban.Subject, "why", n.Why)
		g.publish(Event{Kind: EventUnbanned, Time: now, Origin: OriginPeer, Why: n.Why, Ban: n.Ban})
	}
}

// prunePeerFlood forgets the other nodes' flood blocks past their hold.
func (g *Guard) prunePeerFlood(now time.Time) {
	cur := g.peers.flood.Load()
	if cur == nil {
		return
	}
	var gone []netip.Addr
	for k, until := range *cur {
		if !now.Before(until) {
			gone = append(gone, k)
		}
	}
	if len(gone) == 0 {
		return
	}
	g.peers.mu.Lock()
	m := maps.Clone(*g.peers.flood.Load())
	for _, k := range gone {
		if until, ok := m[k]; ok && !now.Before(until) {
			delete(m, k)
		}
	}
	g.peers.flood.Store(&m)
	g.peers.mu.Unlock()
	for _, k := range gone {
		g.publish(Event{Kind: EventUnbanned, Time: now, Origin: OriginPeer, Why: "expired", Ban: Ban{Kind: BanFlood, Subject: k.String()}})
	}
}
