package sip_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// readResponse reads datagrams until a response with code arrives.
func (u *rawUDP) readResponse(t *testing.T, code int) *sip.Response {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		raw := u.read(time.Until(deadline))
		if raw == "" {
			break
		}
		m, err := sipmsg.ParseMessage([]byte(raw))
		if err != nil {
			t.Fatalf("unparsable message from the proxy: %v\n%s", err, raw)
		}
		if res, ok := m.(*sip.Response); ok {
			if res.StatusCode == code {
				return res
			}
			if res.StatusCode >= 200 {
				t.Fatalf("got %d %s, want %d", res.StatusCode, res.Reason, code)
			}
		}
	}
	t.Fatalf("no %d response", code)
	return nil
}

// TestByeRetransmission: the proxy ends its BYE transactions as soon as
// the final response is relayed, so a BYE retransmitted because that
// response was lost is relayed again; it must carry the same branch so
// that the callee's transaction answers it again with 200 (a new branch
// would be a new request to the callee).
func TestByeRetransmission(t *testing.T) {
	p := newProxy(t, sip.ForwarderConfig{})
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	p.route("5002", target(t, callee.URI()))
	u := newRawUDP(t, p.udp())
	port := u.port()
	head := func(method, ruri, branch string, cseq int, toTag, route string) string {
		to := "<sip:5002@" + p.udp() + ">"
		if toTag != "" {
			to += ";tag=" + toTag
		}
		return fmt.Sprintf("%s %s SIP/2.0\n"+
			"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\n"+
			"%sMax-Forwards: 70\n"+
			"From: <sip:5001@127.0.0.1>;tag=caller1\n"+
			"To: %s\n"+
			"Call-ID: bye-retransmission\n"+
			"CSeq: %d %s\n"+
			"Contact: <sip:5001@127.0.0.1:%d>\n"+
			"Content-Length: 0\n\n", method, ruri, port, branch, route, to, cseq, method, port)
	}
	u.send(head("INVITE", "sip:5002@"+p.udp(), "inv1", 1, "", ""))
	ok := u.readResponse(t, 200)
	var route strings.Builder
	for _, h := range ok.GetHeaders("Record-Route") {
		route.WriteString("Route: " + h.Value() + "\n")
	}
	remote := ok.Contact().Address.String()
	tag, _ := ok.To().Params.Get("tag")
	u.send(head("ACK", remote, "ack1", 1, tag, route.String()))
	if _, err := callee.WaitRequest(ctxT(t, 3*time.Second), sip.ACK, 1); err != nil {
		t.Fatalf("the callee got no ACK: %v", err)
	}

	bye := head("BYE", remote, "bye1", 2, tag, route.String())
	u.send(bye)
	u.readResponse(t, 200)
	time.Sleep(50 * time.Millisecond)
	u.send(bye) // the 200 was lost, say: the caller retransmits
	u.readResponse(t, 200)
	// The callee's transaction absorbed the copy: its application saw one
	// BYE. A copy with another branch would have reached it as a new BYE.
	if n := len(callee.Received(sip.BYE)); n != 1 {
		t.Errorf("the callee's application got %d BYEs, want 1", n)
	}
}
