package guardtest

import (
	"sync"

	"github.com/palio-voip/palio/guard"
)

// Hub connects guards of one process as guard.Peers do the nodes of a
// cluster: a notice one node publishes is delivered, synchronously, to
// every other node's subscribers.
type Hub struct {
	mu   sync.Mutex
	next int
	subs map[int]hubSub
}

type hubSub struct {
	node string
	fn   func(guard.Notice)
}

// Node returns the guard.Peers of the node named name.
func (h *Hub) Node(name string) guard.Peers { return hubNode{h: h, name: name} }

type hubNode struct {
	h    *Hub
	name string
}

func (n hubNode) Publish(no guard.Notice) {
	n.h.mu.Lock()
	var fns []func(guard.Notice)
	for _, s := range n.h.subs {
		if s.node != n.name {
			fns = append(fns, s.fn)
		}
	}
	n.h.mu.Unlock()
	for _, fn := range fns {
		fn(no)
	}
}

func (n hubNode) Subscribe(fn func(guard.Notice)) func() {
	n.h.mu.Lock()
	defer n.h.mu.Unlock()
	if n.h.subs == nil {
		n.h.subs = map[int]hubSub{}
	}
	id := n.h.next
	n.h.next++
	n.h.subs[id] = hubSub{node: n.name, fn: fn}
	return func() {
		n.h.mu.Lock()
		delete(n.h.subs, id)
		n.h.mu.Unlock()
	}
}
