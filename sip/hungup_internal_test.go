package sip

import (
	"fmt"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// TestHungUpAnswers: the ACK of a hung-up answer is found by its INVITE's
// branch for 64*T1 and not after; the table stays within maxHungUp.
func TestHungUpAnswers(t *testing.T) {
	var h hungUpAnswers
	t0 := time.Unix(1000, 0)
	ack := sipmsg.NewRequest(ACK, URI{Scheme: "sip", User: "5002", Host: "127.0.0.1"})
	if h.ackFor("z9hG4bK-1", t0) != nil {
		t.Fatal("an empty table found an ACK")
	}
	h.add("", ack, t0) // no branch: nothing to find it by
	h.add("z9hG4bK-1", ack, t0)
	if got := h.ackFor("z9hG4bK-1", t0.Add(hungUpFor-time.Millisecond)); got != ack {
		t.Errorf("within 64*T1: %v, want the ACK", got)
	}
	if got := h.ackFor("z9hG4bK-2", t0); got != nil {
		t.Errorf("another branch found %v", got)
	}
	if got := h.ackFor("z9hG4bK-1", t0.Add(hungUpFor)); got != nil {
		t.Errorf("after 64*T1: %v, want none", got)
	}
	for i := range maxHungUp + 10 {
		h.add(fmt.Sprintf("z9hG4bK-n%d", i), ack, t0.Add(hungUpFor+time.Duration(i)))
		if len(h.m) > maxHungUp {
			t.Fatalf("%d ACKs kept, more than %d", len(h.m), maxHungUp)
		}
	}
	if _, ok := h.m["z9hG4bK-1"]; ok {
		t.Error("an expired ACK was kept")
	}
}

// TestAnswerTap: the first 2xx of an INVITE's lane goes to the Forwarder
// around sipgo's state machine (its transaction is never touched: here it
// is nil), a second one is not queued behind it, and takeAnswer finds it
// once.
func TestAnswerTap(t *testing.T) {
	a := &answerTap{answers: make(chan *Response, 1)}
	ok := NewResponse(sipmsg.NewRequest(INVITE, URI{Scheme: "sip", Host: "127.0.0.1"}), 200, "OK")
	a.Receive(ok)
	a.Receive(ok) // must not block
	if answersOf(a) == nil {
		t.Fatal("answersOf found no channel on an answerTap")
	}
	if got := takeAnswer(answersOf(a)); got != ok {
		t.Fatalf("takeAnswer = %v, want the 2xx", got)
	}
	if got := takeAnswer(answersOf(a)); got != nil {
		t.Errorf("a second takeAnswer = %v, want none", got)
	}
	if answersOf(nil) != nil || takeAnswer(nil) != nil {
		t.Error("a transaction without a tap has answers")
	}
}
