package sip_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// TestAckOfRejectionAbsorbed: the ACK of a rejection relayed to a UDP
// caller carries the INVITE's branch (RFC 3261 §17.1.1.3) and belongs to
// the proxy's INVITE server transaction, which stops retransmitting the
// final response when it arrives (§17.2.1). The read filter, which takes
// the ACKs of 2xx responses past sipgo's transaction layer, must leave
// this one to it.
func TestAckOfRejectionAbsorbed(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	callee := siptest.NewGateway(t, siptest.RespondReason(486, "Busy Here"))
	p.route("5002", target(t, callee.URI()))
	u := newRawUDP(t, p.udp())
	head := func(method, toTag string) string {
		to := "<sip:5002@" + p.udp() + ">"
		if toTag != "" {
			to += ";tag=" + toTag
		}
		return fmt.Sprintf("%s sip:5002@%s SIP/2.0\n"+
			"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-rejected-1;rport\n"+
			"Max-Forwards: 70\nFrom: <sip:5001@127.0.0.1>;tag=caller-1\nTo: %s\n"+
			"Call-ID: rejected-1@test\nCSeq: 1 %s\nContact: <sip:5001@127.0.0.1:%d>\n"+
			"Content-Length: 0\n\n", method, p.udp(), u.port(), to, method, u.port())
	}
	u.send(head("INVITE", ""))
	busy := u.readResponse(t, 486)
	tag, _ := busy.To().Params.Get("tag")
	u.send(head("ACK", tag))
	// Without the ACK the transaction would retransmit the 486 at Timer
	// G: 0.5 s, then 1 s later.
	deadline := time.Now().Add(2 * time.Second)
	for raw := u.read(time.Until(deadline)); raw != ""; raw = u.read(time.Until(deadline)) {
		if strings.HasPrefix(raw, "SIP/2.0 486") {
			t.Fatalf("the 486 was retransmitted after the caller's ACK: the ACK missed its transaction")
		}
	}
}

// TestAnsweredCallKeepsNoBranch: an INVITE transaction answered with a
// 2xx ends as the 2xx goes, and with it the branch the read filter kept
// for its ACK; the caller's ACK of the 2xx, which the filter handed to a
// worker, still reaches the callee.
func TestAnsweredCallKeepsNoBranch(t *testing.T) {
	leakCheck(t)
	p, callee, call, ctx := answeredCall(t)
	if _, err := callee.WaitRequest(ctx, sip.ACK, 1); err != nil {
		t.Fatalf("the callee got no ACK: %v", err)
	}
	if err := waitFor(ctx, func() bool { return p.srv.InviteBranches() == 0 }); err != nil {
		t.Fatalf("%d INVITE branches kept after the 2xx", p.srv.InviteBranches())
	}
	if _, err := call.Bye(ctx); err != nil {
		t.Fatal(err)
	}
}
