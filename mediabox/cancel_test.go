package mediabox_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/mediabox"
	"github.com/palio-voip/palio/mediabox/mediaboxtest"
)

// crossingRouter stands for a router whose callee answers just as the
// box's CANCEL arrives: the INVITE's 200 goes out first, so the CANCEL
// matches nothing and is answered 481 (RFC 3261 §9.2). It speaks SIP by
// hand over UDP to control that order, and reports the requests it gets.
type crossingRouter struct {
	conn    *net.UDPConn
	invited chan struct{} // closed when the INVITE arrives
	got     chan string   // the method of every request after the INVITE
}

func newCrossingRouter(t *testing.T) *crossingRouter {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &crossingRouter{conn: conn, invited: make(chan struct{}), got: make(chan string, 16)}
	done := make(chan struct{})
	t.Cleanup(func() { conn.Close(); <-done })
	go func() {
		defer close(done)
		r.serve()
	}()
	return r
}

func (r *crossingRouter) addr() string { return r.conn.LocalAddr().String() }

// headers returns the header lines of msg by lower-case name.
func headers(msg string) map[string][]string {
	h := map[string][]string{}
	head, _, _ := strings.Cut(msg, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n")[1:] {
		name, value, ok := strings.Cut(line, ":")
		if ok {
			n := strings.ToLower(strings.TrimSpace(name))
			h[n] = append(h[n], strings.TrimSpace(value))
		}
	}
	return h
}

func (r *crossingRouter) serve() {
	buf := make([]byte, 65535)
	var invite map[string][]string
	var from *net.UDPAddr
	reply := func(to *net.UDPAddr, h map[string][]string, status, totag, extra, body string) {
		var b strings.Builder
		fmt.Fprintf(&b, "SIP/2.0 %s\r\n", status)
		for _, v := range h["via"] {
			fmt.Fprintf(&b, "Via: %s\r\n", v)
		}
		to0 := h["to"][0]
		if totag != "" {
			to0 += ";tag=" + totag
		}
		fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s\r\n%s", h["from"][0], to0, h["call-id"][0], h["cseq"][0], extra)
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
		_, _ = r.conn.WriteToUDP([]byte(b.String()), to)
	}
	for {
		n, src, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		msg := string(buf[:n])
		if strings.HasPrefix(msg, "SIP/2.0") {
			continue
		}
		method, _, _ := strings.Cut(msg, " ")
		h := headers(msg)
		switch method {
		case "INVITE":
			if invite != nil {
				continue // a retransmission
			}
			invite, from = h, src
			reply(src, h, "180 Ringing", "agent", "", "")
			close(r.invited)
		case "CANCEL":
			// The answer crosses the CANCEL.
			sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
			reply(from, invite, "200 OK", "agent", "Contact: <sip:agent@"+r.addr()+">\r\nContent-Type: application/sdp\r\n", sdp)
			reply(src, h, "481 Call/Transaction Does Not Exist", "", "", "")
			r.got <- method
		case "ACK":
			r.got <- method
		case "BYE":
			reply(src, h, "200 OK", "", "", "")
			r.got <- method
		}
	}
}

// TestTransferAnswerCrossesCancel: the caller hangs up while a transfer
// rings; the callee's 200 crosses the box's CANCEL, which is refused
// with 481. The box must still ACK that 200 and hang the call up with a
// BYE, or the callee keeps a call with no one on it.
func TestTransferAnswerCrossesCancel(t *testing.T) {
	t.Parallel()
	router := newCrossingRouter(t)
	r := newRig(t, func(c *mediabox.Config) { c.Router = router.addr() })
	caller := mediaboxtest.NewPhone(t, "5001")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	leg, err := caller.Call(ctx, r.uri("IVR_5000"))
	if err != nil {
		t.Fatal(err)
	}
	if err := leg.WaitSound(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := leg.Press("2"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-router.invited: // after the box's "transfer" prompt
	case <-time.After(20 * time.Second):
		t.Fatal("no transfer INVITE")
	}
	leg.Hangup()
	var seen []string
	for len(seen) < 3 {
		select {
		case m := <-router.got:
			seen = append(seen, m)
		case <-time.After(10 * time.Second):
			t.Fatalf("the router got %v after the crossed answer, want CANCEL ACK BYE", seen)
		}
	}
	if strings.Join(seen, " ") != "CANCEL ACK BYE" {
		t.Errorf("the router got %v, want CANCEL ACK BYE", seen)
	}
	waitCalls(t, r.box, 0)
}
