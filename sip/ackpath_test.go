package sip_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
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
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	proxy, err := net.ResolveUDPAddr("udp", p.udp())
	if err != nil {
		t.Fatal(err)
	}
	me := pc.LocalAddr().String()
	headers := func(method, toTag string) string {
		to := "<sip:5002@" + p.udp() + ">"
		if toTag != "" {
			to += ";tag=" + toTag
		}
		return fmt.Sprintf("%s sip:5002@%s SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP %s;branch=z9hG4bK-rejected-1;rport\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:5001@127.0.0.1>;tag=caller-1\r\nTo: %s\r\n"+
			"Call-ID: rejected-1@test\r\nCSeq: 1 %s\r\nContact: <sip:5001@%s>\r\n"+
			"Content-Length: 0\r\n\r\n", method, p.udp(), me, to, method, me)
	}
	send := func(msg string) {
		if _, err := pc.WriteTo([]byte(msg), proxy); err != nil {
			t.Fatal(err)
		}
	}
	// finals reads the responses that reach the caller until the
	// deadline, and returns the final ones.
	finals := func(deadline time.Time) []*sip.Response {
		var out []*sip.Response
		buf := make([]byte, 65535)
		for {
			_ = pc.SetReadDeadline(deadline)
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return out
			}
			m, err := sipmsg.ParseMessage(append([]byte(nil), buf[:n]...))
			if err != nil {
				t.Fatalf("unparsable datagram to the caller: %v", err)
			}
			if res, ok := m.(*sip.Response); ok && res.StatusCode >= 200 {
				out = append(out, res)
				if len(out) == 1 && !strings.HasPrefix(string(buf[:n]), "SIP/2.0 486") {
					t.Fatalf("final response: got %q", buf[:n])
				}
				return out
			}
		}
	}
	send(headers("INVITE", ""))
	first := finals(time.Now().Add(5 * time.Second))
	if len(first) != 1 {
		t.Fatal("no final response reached the caller")
	}
	tag, _ := first[0].To().Params.Get("tag")
	send(headers("ACK", tag))
	// Without the ACK the transaction would retransmit the 486 at Timer
	// G: 0.5 s, then 1 s later.
	if again := finals(time.Now().Add(2 * time.Second)); len(again) != 0 {
		t.Fatalf("the 486 was retransmitted after the caller's ACK: the ACK missed its transaction")
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
