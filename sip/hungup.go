package sip

import (
	"sync"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// hungUpAnswers are the ACKs of the answers the Forwarder hung up (a 2xx
// that came after the caller's CANCEL), by the top Via branch of the
// INVITE they answer. A retransmission of such a 2xx means the callee
// missed our ACK: it gets the ACK again (RFC 3261 §13.2.2.4) instead of
// being relayed to a caller who cancelled. The INVITE's client
// transaction does not keep this (the Forwarder ends it at the 2xx, and
// over UDP it never enters Accepted: answerTap), so the stray-response
// path asks here. An ACK
// is kept for 64*T1, as long as a callee retransmits its 2xx; at most
// maxHungUp are kept (such answers are rare: a race of CANCEL and 200).
type hungUpAnswers struct {
	mu     sync.Mutex
	m      map[string]hungUpAnswer
	pruned time.Time
}

type hungUpAnswer struct {
	ack *Request
	at  time.Time
}

const maxHungUp = 4096

// hungUpFor is how long a hung-up answer's ACK is kept.
var hungUpFor = 64 * sipmsg.T1

// add keeps ack, the ACK of the hung-up answer to the INVITE sent with
// branch.
func (h *hungUpAnswers) add(branch string, ack *Request, now time.Time) {
	if branch == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = make(map[string]hungUpAnswer)
	}
	if now.Sub(h.pruned) >= time.Second || len(h.m) >= maxHungUp {
		h.pruned = now
		for k, e := range h.m {
			if now.Sub(e.at) >= hungUpFor {
				delete(h.m, k)
			}
		}
		if len(h.m) >= maxHungUp {
			clear(h.m) // a flood of them: the oldest go first, all at once
		}
	}
	h.m[branch] = hungUpAnswer{ack: ack, at: now}
}

// ackFor returns the ACK kept for the INVITE sent with branch, if any.
func (h *hungUpAnswers) ackFor(branch string, now time.Time) *Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.m[branch]
	if !ok || now.Sub(e.at) >= hungUpFor {
		return nil
	}
	return e.ack
}

// topBranch is the branch of m's top Via ("" without one).
func topBranch(m interface{ Via() *sipmsg.ViaHeader }) string {
	v := m.Via()
	if v == nil {
		return ""
	}
	b, _ := v.Params.Get("branch")
	return b
}
