package mediabridge

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func sdpFor(addr netip.AddrPort, version int, extra string) []byte {
	return fmt.Appendf(nil, "v=0\r\no=- 42 %d IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n%s"+
		"m=video 0 RTP/AVP 96\r\n",
		version, addr.Addr(), addr.Addr(), addr.Port(), extra)
}

func mustParse(t *testing.T, body []byte) *Description {
	t.Helper()
	d, err := ParseBody("application/sdp", body)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestAnchorOfferAnswer: an offer from A and an answer from B set up the
// relay, the rewritten bodies name its ports, and RTP flows between the
// phones' sockets both ways.
func TestAnchorOfferAnswer(t *testing.T) {
	r := newTestRelay(t, testConfig(8))
	s, err := r.NewSession("anchor-1")
	if err != nil {
		t.Fatal(err)
	}
	a, b := newPhone(t), newPhone(t)
	offer, err := s.Anchor(LegA, mustParse(t, sdpFor(a.addr(), 1, "a=candidate:1 1 UDP 1 10.0.0.1 4000 typ host\r\n")), false)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := s.Anchor(LegB, mustParse(t, sdpFor(b.addr(), 7, "")), false)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stream(0)
	if toB := mustParse(t, offer).Streams(); toB[0].RTP != st.Local(LegB) || !toB[1].Disabled {
		t.Fatalf("offer for B: streams %+v, want audio on %v and video still disabled\n%s", toB, st.Local(LegB), offer)
	}
	if bytes.Contains(offer, []byte("candidate")) {
		t.Errorf("offer for B kept an ICE candidate:\n%s", offer)
	}
	if toA := mustParse(t, answer).Streams(); toA[0].RTP != st.Local(LegA) {
		t.Fatalf("answer for A: %+v, want audio on %v", toA, st.Local(LegA))
	}
	if !strings.Contains(string(answer), "o=- 42 7 IN IP4 127.0.0.1\r\n") {
		t.Errorf("answer for A: want the callee's o= line with the relay's address:\n%s", answer)
	}
	if r.PortsInUse() != 4 {
		t.Errorf("ports in use: %d, want 4 (two pairs for the one relayed stream)", r.PortsInUse())
	}

	p := rtp(1, 160, 0xa)
	a.send(st.Local(LegA), p)
	if got, _ := b.mustRecv("RTP A→B"); !bytes.Equal(got, p) {
		t.Fatal("B got another packet")
	}
	q := rtp(9, 160, 0xb)
	b.send(st.Local(LegB), q)
	if got, _ := a.mustRecv("RTP B→A"); !bytes.Equal(got, q) {
		t.Fatal("A got another packet")
	}

	// The 200 retransmitted: the same body, the same version.
	again, err := s.Anchor(LegB, mustParse(t, sdpFor(b.addr(), 7, "")), false)
	if err != nil || !bytes.Equal(again, answer) {
		t.Fatalf("a retransmitted answer gave another body (%v):\n%s\nthen\n%s", err, answer, again)
	}

	// B moves (a re-INVITE from a new socket) and holds: the version goes
	// up, the relay sends to the new address, the stream is held.
	b2 := newPhone(t)
	reoffer, err := s.Anchor(LegB, mustParse(t, sdpFor(b2.addr(), 8, "a=sendonly\r\n")), false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(reoffer), "o=- 42 8 IN IP4 127.0.0.1\r\n") || !strings.Contains(string(reoffer), "a=sendonly\r\n") {
		t.Errorf("re-offer for A: want version 8 and the direction kept:\n%s", reoffer)
	}
	if !st.Stats().Held {
		t.Error("a sendonly re-offer did not mark the stream held")
	}
	a.send(st.Local(LegA), rtp(2, 320, 0xa))
	b2.mustRecv("RTP A→B after B moved")
}

// TestAnchorErrors: an address the relay cannot send to, a closed
// session and an exhausted port range are errors, never a half-rewritten
// body.
func TestAnchorErrors(t *testing.T) {
	r := newTestRelay(t, testConfig(2))
	s, _ := r.NewSession("anchor-err")
	host := []byte("v=0\r\no=- 1 1 IN IP4 pbx.example\r\ns=-\r\nc=IN IP4 pbx.example\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n")
	if _, err := s.Anchor(LegA, mustParse(t, host), false); err == nil || !strings.Contains(err.Error(), "stream 0") {
		t.Errorf("a host name in c=: err %v, want an error naming stream 0", err)
	}
	a := newPhone(t)
	if _, err := s.Anchor(LegA, mustParse(t, sdpFor(a.addr(), 1, "")), false); err != nil {
		t.Fatal(err)
	}
	// Two pairs, both taken by the first session's stream.
	s2, _ := r.NewSession("anchor-err-2")
	if _, err := s2.Anchor(LegA, mustParse(t, sdpFor(a.addr(), 1, "")), false); !errors.Is(err, ErrNoPorts) {
		t.Errorf("port range exhausted: err %v, want ErrNoPorts", err)
	}
	s.Close()
	if _, err := s.Anchor(LegB, mustParse(t, sdpFor(a.addr(), 1, "")), false); !errors.Is(err, ErrClosed) {
		t.Errorf("closed session: err %v, want ErrClosed", err)
	}
	if _, err := s2.Anchor(Leg(3), mustParse(t, sdpFor(a.addr(), 1, "")), false); err == nil {
		t.Error("Leg(3): no error")
	}
	s2.Close()
	if r.PortsInUse() != 0 {
		t.Errorf("ports in use after both sessions closed: %d", r.PortsInUse())
	}
}

// TestAnchorIPv6: a relay on ::1 anchors an IPv6 offer and answer, writes
// IP6 c= lines, and relays between IPv6 phones.
func TestAnchorIPv6(t *testing.T) {
	lo6 := netip.MustParseAddr("::1")
	cfg := testConfig(8)
	cfg.Bind = lo6
	r, err := New(cfg)
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	phone6 := func() *phone {
		c, err := net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo6, 0)))
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return &phone{t, c}
	}
	a, b := phone6(), phone6()
	sdp6 := func(p *phone) []byte {
		return fmt.Appendf(nil, "v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\n", p.addr().Port())
	}
	s, _ := r.NewSession("v6")
	offer, err := s.Anchor(LegA, mustParse(t, sdp6(a)), false)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := s.Anchor(LegB, mustParse(t, sdp6(b)), false)
	if err != nil {
		t.Fatal(err)
	}
	toB, toA := mustParse(t, offer).Streams()[0].RTP, mustParse(t, answer).Streams()[0].RTP
	if toB.Addr() != lo6 || !strings.Contains(string(offer), "c=IN IP6 ::1\r\n") || toB.Port() == a.addr().Port() {
		t.Fatalf("offer for B:\n%s", offer)
	}
	a.send(toA, rtp(1, 160, 1))
	b.mustRecv("IPv6 A→B")
	b.send(toB, rtp(1, 160, 2))
	a.mustRecv("IPv6 B→A")
	s.Close()
}
