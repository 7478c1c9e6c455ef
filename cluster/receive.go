package cluster

import (
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/palio-voip/palio/sip"
)

// onMessage handles a message of the cluster's subject, on the
// subscription's goroutine: one at a time, in the order each node sent
// them.
func (b *Bus) onMessage(msg *nats.Msg) {
	var m message
	if err := json.Unmarshal(msg.Data, &m); err != nil || m.V != wireVersion || m.Node == "" ||
		m.Seq == 0 && (m.Type == typeEvent || m.Type == typeSnapshot) {
		b.m.dropped.WithLabelValues(dropMalformed).Inc()
		return
	}
	now := time.Now()
	if m.Node == b.cfg.Node {
		// NoEcho keeps our own messages away: this is another process
		// with our name.
		if m.Inst != b.inst {
			b.m.dropped.WithLabelValues(dropSameNode).Inc()
			if last := b.nameLog.Load(); now.UnixNano()-last >= int64(time.Minute) && b.nameLog.CompareAndSwap(last, now.UnixNano()) {
				b.log.Error("cluster: another node uses this node's name; its events are ignored: give each node its own name", "node", m.Node)
			}
		}
		return
	}
	if m.Type == typeSync {
		b.snapshot()
		return
	}
	b.inMu.Lock()
	defer b.inMu.Unlock()
	n := b.nodes[m.Node]
	if n == nil || n.inst != m.Inst {
		if n != nil {
			b.log.Info("cluster: node restarted", "node", m.Node)
			b.endNode(n, originTimeout)
		} else {
			b.log.Info("cluster: node heard", "node", m.Node)
		}
		n = &remoteNode{name: m.Node, inst: m.Inst, dialogs: map[dialogKey]wireDialog{}}
		b.nodes[m.Node] = n
		b.m.nodes.Set(float64(len(b.nodes)))
		// Its calls up before now are not known here: ask for them. A
		// snapshot's first part needs nothing before it.
		if m.Type == typeSnapshot && m.Part == 0 {
			n.seq = m.Seq - 1
		} else {
			n.seq = m.Seq
			if m.Type == typeEvent {
				n.seq--
			}
			b.requestSync()
		}
	}
	n.seen = now
	switch m.Type {
	case typeHeartbeat:
		switch {
		case m.Seq > n.seq:
			b.missed(n, m.Seq-n.seq)
			n.seq = m.Seq
		case n.pending != nil:
			// The heartbeat overtook nothing: a snapshot whose parts
			// stopped coming.
			n.pending = nil
			b.requestSync()
		}
	case typeEvent:
		if !b.next(n, m.Seq) || m.Event == nil {
			return
		}
		b.applyEvent(n, m.Event, m.Time, now)
	case typeSnapshot:
		if m.Part == 0 {
			if !b.next(n, m.Seq) {
				return
			}
			n.pending = &pendingSnapshot{seq: m.Seq, parts: m.Parts}
		} else if p := n.pending; p == nil || p.seq != m.Seq || p.got != m.Part {
			n.pending = nil
			b.requestSync()
			return
		}
		p := n.pending
		p.dialogs = append(p.dialogs, m.Dialogs...)
		p.got++
		if p.got >= p.parts {
			n.pending = nil
			b.reconcile(n, p.dialogs, now)
		}
	default:
		b.m.dropped.WithLabelValues(dropMalformed).Inc()
	}
}

// next checks that seq follows the latest of n: a gap means lost
// messages (a snapshot is asked for); a number already seen is dropped.
// b.inMu is held.
func (b *Bus) next(n *remoteNode, seq uint64) bool {
	if seq <= n.seq {
		b.m.dropped.WithLabelValues(dropMalformed).Inc()
		return false
	}
	if seq > n.seq+1 {
		b.missed(n, seq-n.seq-1)
	}
	if n.pending != nil {
		// A snapshot not complete when the next message came.
		n.pending = nil
		b.requestSync()
	}
	n.seq = seq
	return true
}

// missed counts k lost messages of n and asks for its state.
func (b *Bus) missed(n *remoteNode, k uint64) {
	b.m.missed.Add(float64(k))
	b.log.Debug("cluster: events of a node lost; asking for its state", "node", n.name, "missed", k)
	b.requestSync()
}

// applyEvent records and delivers an event of n. b.inMu is held.
func (b *Bus) applyEvent(n *remoteNode, w *wireDialog, sent int64, now time.Time) {
	kind, ok := kinds[w.Kind]
	if !ok {
		b.m.dropped.WithLabelValues(dropMalformed).Inc()
		return
	}
	ev, ok := w.decode(n.name, kind)
	if !ok {
		b.m.dropped.WithLabelValues(dropMalformed).Inc()
		return
	}
	if ev.Dialog.State == sip.DialogTerminated {
		b.forget(n, w.key())
	} else {
		s := *w
		s.Kind, s.Leg = "", nil
		b.track(n, s)
	}
	b.deliver(ev, originEvent)
	if d := now.Sub(time.Unix(0, sent)); sent > 0 && d >= 0 {
		b.m.delay.Observe(d.Seconds())
	}
}

// reconcile brings what is known of n's dialogs in line with its
// snapshot, delivering the events that implies: a state for each dialog
// not known in it, a terminated event for each known one that is gone.
// b.inMu is held.
func (b *Bus) reconcile(n *remoteNode, dialogs []wireDialog, now time.Time) {
	in := make(map[dialogKey]struct{}, len(dialogs))
	for i := range dialogs {
		w := &dialogs[i]
		k := w.key()
		in[k] = struct{}{}
		old, had := n.dialogs[k]
		state, ok := states[w.State]
		if !ok || state == sip.DialogTerminated {
			continue
		}
		w.Kind, w.Leg = "", nil
		b.track(n, *w)
		if had && old.State == w.State {
			continue
		}
		if ev, ok := w.decode(n.name, stateKind(state)); ok {
			b.deliver(ev, originSnapshot)
		}
	}
	for k, w := range n.dialogs {
		if _, ok := in[k]; !ok {
			b.forget(n, k)
			b.end(n, w, sip.CauseNone, originSnapshot, now)
		}
	}
}

// track records w as an active dialog of n, within maxTracked.
// b.inMu is held.
func (b *Bus) track(n *remoteNode, w wireDialog) {
	k := w.key()
	if _, ok := n.dialogs[k]; !ok {
		if b.tracked >= maxTracked {
			return
		}
		b.tracked++
	}
	n.dialogs[k] = w
}

// forget drops a dialog of n. b.inMu is held.
func (b *Bus) forget(n *remoteNode, k dialogKey) {
	if _, ok := n.dialogs[k]; ok {
		delete(n.dialogs, k)
		b.tracked--
	}
}

// end delivers the terminated event of a dialog of n that ended unseen.
// b.inMu is held.
func (b *Bus) end(n *remoteNode, w wireDialog, cause sip.Cause, origin string, now time.Time) {
	w.State = sip.DialogTerminated.String()
	w.Ended = now.UnixMilli()
	w.Cause = string(cause)
	if ev, ok := w.decode(n.name, sip.EventTerminated); ok {
		b.deliver(ev, origin)
	}
}

// endNode ends every call of n and forgets it (a node silent too long, or
// restarted). b.inMu is held.
func (b *Bus) endNode(n *remoteNode, origin string) {
	now := time.Now()
	for k, w := range n.dialogs {
		b.forget(n, k)
		b.end(n, w, sip.CauseServerClosed, origin, now)
	}
	delete(b.nodes, n.name)
	b.m.nodes.Set(float64(len(b.nodes)))
}

// expire ends the calls of the nodes silent for NodeTimeout.
func (b *Bus) expire(now time.Time) {
	b.inMu.Lock()
	defer b.inMu.Unlock()
	for _, n := range b.nodes {
		if now.Sub(n.seen) > b.cfg.NodeTimeout {
			b.log.Warn("cluster: node silent; its calls are taken as ended", "node", n.name, "calls", len(n.dialogs), "silent", now.Sub(n.seen).Round(time.Millisecond))
			b.endNode(n, originTimeout)
		}
	}
}

// deliver hands ev to the subscribers. b.inMu is held, so that events
// reach them in order whichever goroutine delivers.
func (b *Bus) deliver(ev sip.DialogEvent, origin string) {
	b.feed.Publish(ev)
	b.m.received.WithLabelValues(origin).Inc()
}
