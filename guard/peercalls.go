package guard

import (
	"context"
	"strings"
	"time"

	"github.com/palio-voip/palio/sip"
)

// DialogSource delivers the dialog events of the other nodes of a
// cluster: a *cluster.Bus has it (the shape of sip.Dialogs's Subscribe).
type DialogSource interface {
	Subscribe(fn func(sip.DialogEvent), opts ...sip.SubscribeOption) (unsubscribe func())
}

// maxPeerCalls bounds the other nodes' calls in progress the fraud check
// remembers (to take them off the concurrent calls when they end); the
// calls beyond it are not counted.
const maxPeerCalls = 200_000

// peerKey is a call of another node.
type peerKey struct{ callID, fromTag string }

// peerCall is how a call of another node was counted: the figures it went
// to, and in which of their intervals.
type peerCall struct {
	key      statKey
	interval uint64
	counted  bool // false: no rule matched; remembered so as not to match again
}

// FollowCalls makes the fraud figures count the calls the other nodes of a
// cluster route, as src (a *cluster.Bus) reports them: each call of
// another node's authenticated caller counts, against the rule its
// dialled number matches here, in the caller's calls per minute, calls
// today, concurrent calls and calls in a row, and its talk time at its end
// in the minutes today. So a caller spreading calls over the nodes
// reaches the thresholds as on one node: the node where the next call
// begins raises the alert and, with FraudConfig.Block, the block, which
// Share sends to the other nodes.
//
// The other nodes' calls are only counted here: their alerts are raised
// by the node that routes them. A call reaches the figures here when its
// node's Forwarder takes it (the created event, milliseconds after its
// own node counted it); so calls begun on two nodes within that time may
// pass a threshold together, and a call refused before the Forwarder
// counts on its node only. When src loses the other nodes (NATS down),
// the figures hold what was counted; the calls in progress leave the
// concurrent calls when src ends them (package cluster: NodeTimeout after
// their node went silent), and counting resumes when src delivers again.
//
// The events are handled on src's delivery goroutine, without blocking
// (FraudConfig.ProfileOf, when set, runs there and must be quick). stop
// ends the following.
func (g *Guard) FollowCalls(src DialogSource) (stop func()) {
	if g.cfg.Fraud.Off {
		return func() {}
	}
	return src.Subscribe(g.fraud.peerEvent, sip.SubscriberName("guard"))
}

// peerEvent counts a call of another node at its first event, and takes it
// off the concurrent calls at its end.
func (f *fraudChecker) peerEvent(ev sip.DialogEvent) {
	k := peerKey{ev.Dialog.CallID, ev.Dialog.FromTag}
	if ev.Dialog.State == sip.DialogTerminated {
		f.peerEnded(k, ev.Dialog)
		return
	}
	f.mu.Lock()
	_, known := f.peers[k]
	full := len(f.peers) >= maxPeerCalls
	f.mu.Unlock()
	if known {
		return
	}
	if full {
		f.g.metrics.peerCalls.WithLabelValues("untracked").Inc()
		return
	}
	info := ev.Dialog.Call.Info()
	caller := info.Caller
	if caller.User == "" {
		f.remember(k, peerCall{})
		return
	}
	g := f.g
	number := info.Dialled
	if number == "" {
		number = uriUser(ev.Dialog.RequestURI)
	}
	now := g.now().In(g.cfg.Fraud.Location)
	r, _ := f.rule(context.Background(), f.snap.Load(), caller, number, now)
	if r == nil {
		f.remember(k, peerCall{})
		return
	}
	// A call heard of late (a snapshot, a node heard for the first time)
	// counts as in progress; in the calls of the day and of the minute
	// only when it began then.
	created := ev.Dialog.Created
	if created.IsZero() || created.After(now) {
		created = now
	}
	key := statKey{caller.User, r.Prefix}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, known := f.peers[k]; known {
		return
	}
	st := f.statsOf(key)
	st.roll(dayOf(now), r.ID)
	st.dial(number)
	if dayOf(created.In(g.cfg.Fraud.Location)) == st.day {
		st.total++
	}
	if now.Sub(created) < time.Minute {
		st.cpm.add(now.Unix())
	}
	st.concurrent++
	f.peers[k] = peerCall{key: key, interval: st.interval, counted: true}
	g.metrics.peerCalls.WithLabelValues("counted").Inc()
}

func (f *fraudChecker) remember(k peerKey, pc peerCall) {
	f.mu.Lock()
	f.peers[k] = pc
	f.mu.Unlock()
}

// peerEnded takes a call of another node off the concurrent calls and
// adds its talk time; its thresholds are its own node's to check.
func (f *fraudChecker) peerEnded(k peerKey, d sip.Dialog) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pc, ok := f.peers[k]
	if !ok {
		return
	}
	delete(f.peers, k)
	if !pc.counted {
		return
	}
	st := f.stats[pc.key]
	if st == nil {
		return
	}
	if st.concurrent > 0 {
		st.concurrent--
	}
	if secs := int64(d.Duration(d.Ended) / time.Second); secs > 0 && st.interval == pc.interval {
		st.seconds += secs
	}
}

// uriUser is the user part of a SIP or tel URI ("sip:0039...@host;x" →
// "0039..."): the number as dialled (the Request-URI the node received).
func uriUser(uri string) string {
	if u, err := sip.ParseURI(uri); err == nil && u.User != "" {
		return u.User
	}
	s := uri
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.IndexAny(s, "@;?"); i >= 0 {
		s = s[:i]
	}
	return s
}
