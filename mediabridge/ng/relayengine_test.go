package ng_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/palio-voip/palio/mediabridge"
	"github.com/palio-voip/palio/mediabridge/ng"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rig is a RelayEngine over a real Relay on loopback behind a Server on a
// real UDP socket, and a controller socket to drive it.
type rig struct {
	t     *testing.T
	relay *mediabridge.Relay
	cli   net.Conn
	n     int
}

// newRig starts a relay with pairs even/odd port pairs (two make one
// stream) and the given timeouts.
func newRig(t *testing.T, pairs int, cfg mediabridge.Config) *rig {
	t.Helper()
	base := 20000 + 2*rand.IntN(4000)
	cfg.Bind = netip.MustParseAddr("127.0.0.1")
	cfg.PortMin, cfg.PortMax, cfg.Workers = base, base+2*pairs-1, 2
	r, err := mediabridge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &ng.Server{Engine: &ng.RelayEngine{Relay: r}}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, conn) }()
	cli, err := net.Dial("udp", conn.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cli.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		r.Close()
	})
	return &rig{t: t, relay: r, cli: cli}
}

// call sends one request with a fresh cookie and returns the reply.
func (g *rig) call(req ng.Dict) ng.Dict {
	g.t.Helper()
	g.n++
	cookie := fmt.Sprintf("k%d", g.n)
	b, err := ng.Append([]byte(cookie+" "), req)
	if err != nil {
		g.t.Fatal(err)
	}
	g.cli.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := g.cli.Write(b); err != nil {
		g.t.Fatal(err)
	}
	buf := make([]byte, 65535)
	n, err := g.cli.Read(buf)
	if err != nil {
		g.t.Fatal(err)
	}
	ck, body, _ := strings.Cut(string(buf[:n]), " ")
	if ck != cookie {
		g.t.Fatalf("reply cookie %q, want %q", ck, cookie)
	}
	v, _, err := ng.Decode([]byte(body))
	if err != nil {
		g.t.Fatalf("reply %q: %v", body, err)
	}
	return v.(ng.Dict)
}

// ok sends req and fails unless the result is ok.
func (g *rig) ok(req ng.Dict) ng.Dict {
	g.t.Helper()
	r := g.call(req)
	if r.String("result") != "ok" {
		g.t.Fatalf("%s: got %v, want result ok", req.String("command"), r)
	}
	return r
}

// fail sends req and fails unless the result is an error whose reason
// contains want.
func (g *rig) fail(req ng.Dict, want string) {
	g.t.Helper()
	r := g.call(req)
	if r.String("result") != "error" || !strings.Contains(r.String("error-reason"), want) {
		g.t.Fatalf("%s: got %v, want an error with %q", req.String("command"), r, want)
	}
}

func offer(callID, from, to, sdp string) ng.Dict {
	d := ng.Dict{"command": "offer", "call-id": callID, "from-tag": from, "sdp": sdp,
		"replace": []any{"origin", "session-connection"}, "ICE": "remove"}
	if to != "" {
		d["to-tag"] = to
	}
	return d
}

func answer(callID, from, to, sdp string) ng.Dict {
	return ng.Dict{"command": "answer", "call-id": callID, "from-tag": from, "to-tag": to, "sdp": sdp,
		"replace": []any{"origin", "session-connection"}, "ICE": "remove"}
}

func del(callID string) ng.Dict {
	return ng.Dict{"command": "delete", "call-id": callID, "from-tag": "a"}
}

// phone is one end's RTP socket.
type phone struct {
	t *testing.T
	c *net.UDPConn
}

func newPhone(t *testing.T) *phone {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &phone{t, c}
}

func (p *phone) addr() netip.AddrPort { return p.c.LocalAddr().(*net.UDPAddr).AddrPort() }

// sdp is the phone's offer or answer, with extra lines in its m= section.
func (p *phone) sdp(version int, extra string) string {
	a := p.addr()
	return fmt.Sprintf("v=0\r\no=- 7 %d IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n%s", version, a.Addr(), a.Addr(), a.Port(), extra)
}

// dest is where a body tells its receiver to send RTP.
func dest(t *testing.T, body string) netip.AddrPort {
	t.Helper()
	d, err := mediabridge.ParseBody("application/sdp", []byte(body))
	if err != nil {
		t.Fatalf("reply SDP: %v\n%s", err, body)
	}
	return d.Streams()[0].RTP
}

func rtpPacket(seq uint16, ssrc uint32) []byte {
	b := make([]byte, 172)
	b[0] = 0x80
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	return b
}

// relayTo sends a packet from p to the relay address to and checks that
// q receives it, from that relay's other leg.
func relayTo(t *testing.T, p *phone, to netip.AddrPort, q *phone, seq uint16) {
	t.Helper()
	pkt := rtpPacket(seq, uint32(p.addr().Port()))
	if _, err := p.c.WriteToUDPAddrPort(pkt, to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	q.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := q.c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("packet %d from %v to %v: not relayed to %v: %v", seq, p.addr(), to, q.addr(), err)
	}
	if !bytes.Equal(buf[:n], pkt) {
		t.Fatalf("packet %d: %v got another packet", seq, q.addr())
	}
}

func totals(t *testing.T, r ng.Dict) (rtpPackets, rtpBytes int64) {
	t.Helper()
	tot, _ := r["totals"].(ng.Dict)
	rtp, _ := tot["RTP"].(ng.Dict)
	p, ok1 := rtp["packets"].(int64)
	b, ok2 := rtp["bytes"].(int64)
	if !ok1 || !ok2 {
		t.Fatalf("no RTP totals in %v", r)
	}
	return p, b
}

// TestRelayEngine drives the engine through the Server over UDP, as
// Kamailio's or OpenSIPS's rtpengine module would, with media flowing
// between real sockets through the addresses the rewritten SDP names.
func TestRelayEngine(t *testing.T) {
	tests := []struct {
		name  string
		pairs int
		cfg   mediabridge.Config
		run   func(t *testing.T, g *rig)
	}{
		{name: "offer, answer, media both ways, query, delete totals", pairs: 8, run: func(t *testing.T, g *rig) {
			a, b := newPhone(t), newPhone(t)
			toB := dest(t, g.ok(offer("c1", "a", "", a.sdp(1, ""))).String("sdp"))
			toA := dest(t, g.ok(answer("c1", "a", "b", b.sdp(1, ""))).String("sdp"))
			if toA.Addr() != netip.MustParseAddr("127.0.0.1") || toA == toB || toA.Port()%2 != 0 || toB.Port()%2 != 0 {
				t.Fatalf("relay addresses: A sends to %v, B to %v; want two even relay ports", toA, toB)
			}
			for i := range 3 {
				relayTo(t, a, toA, b, uint16(i))
				relayTo(t, b, toB, a, uint16(100+i))
			}
			if p, _ := totals(t, g.ok(ng.Dict{"command": "query", "call-id": "c1"})); p != 6 {
				t.Errorf("query: %d RTP packets, want 6", p)
			}
			// The relay counts a packet just after sending it: poll.
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				st := g.ok(ng.Dict{"command": "statistics"})["statistics"].(ng.Dict)
				sessions := st["currentstatistics"].(ng.Dict)["sessionstotal"]
				relayed := st["totalstatistics"].(ng.Dict)["relayedpackets"]
				if sessions == int64(1) && relayed == int64(6) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("statistics: %v sessions, %v relayed packets; want 1, 6", sessions, relayed)
				}
			}
			p, by := totals(t, g.ok(del("c1")))
			if p != 6 || by != 6*172 {
				t.Errorf("delete totals: %d packets, %d bytes; want 6, %d", p, by, 6*172)
			}
			if n := g.relay.PortsInUse(); n != 0 {
				t.Errorf("ports in use after delete: %d, want 0", n)
			}
			g.fail(del("c1"), "Unknown call-id")
			g.fail(ng.Dict{"command": "query", "call-id": "c1"}, "Unknown call-id")
		}},
		{name: "re-offer from the caller moves A", pairs: 8, run: func(t *testing.T, g *rig) {
			a, b, a2 := newPhone(t), newPhone(t), newPhone(t)
			toB := dest(t, g.ok(offer("c2", "a", "", a.sdp(1, ""))).String("sdp"))
			toA := dest(t, g.ok(answer("c2", "a", "b", b.sdp(1, ""))).String("sdp"))
			relayTo(t, b, toB, a, 1)
			toB2 := dest(t, g.ok(offer("c2", "a", "b", a2.sdp(2, ""))).String("sdp"))
			if toB2 != toB {
				t.Errorf("re-offer: B told to send to %v, want the same relay port %v", toB2, toB)
			}
			if toA2 := dest(t, g.ok(answer("c2", "a", "b", b.sdp(2, ""))).String("sdp")); toA2 != toA {
				t.Errorf("answer to the re-offer: A told to send to %v, want %v", toA2, toA)
			}
			relayTo(t, b, toB, a2, 2)
			relayTo(t, a2, toA, b, 3)
			if n := g.relay.Sessions(); n != 1 {
				t.Errorf("sessions after a re-offer: %d, want 1", n)
			}
		}},
		{name: "re-offer from the callee (re-INVITE from B) is leg B", pairs: 8, run: func(t *testing.T, g *rig) {
			a, b, b2 := newPhone(t), newPhone(t), newPhone(t)
			toB := dest(t, g.ok(offer("c3", "a", "", a.sdp(1, ""))).String("sdp"))
			toA := dest(t, g.ok(answer("c3", "a", "b", b.sdp(1, ""))).String("sdp"))
			// B's re-INVITE: From is B, To is A. Its offer goes to A, so
			// the body names A's relay port.
			if got := dest(t, g.ok(offer("c3", "b", "a", b2.sdp(2, ""))).String("sdp")); got != toA {
				t.Errorf("B's re-offer: A told to send to %v, want %v", got, toA)
			}
			if got := dest(t, g.ok(answer("c3", "b", "a", a.sdp(2, ""))).String("sdp")); got != toB {
				t.Errorf("A's answer to B's re-offer: B told to send to %v, want %v", got, toB)
			}
			relayTo(t, a, toA, b2, 1)
			relayTo(t, b2, toB, a, 2)
			g.fail(offer("c3", "x", "y", a.sdp(3, "")), "neither end")
		}},
		{name: "ICE removed by default, unknown ICE mode refused", pairs: 8, run: func(t *testing.T, g *rig) {
			a := newPhone(t)
			ice := "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\na=candidate:1 1 UDP 2130706431 10.1.1.1 4000 typ host\r\n"
			body := g.ok(offer("c4", "a", "", a.sdp(1, ice))).String("sdp")
			if strings.Contains(body, "candidate") || strings.Contains(body, "ice-ufrag") {
				t.Errorf("ICE=remove: the offer for B kept ICE attributes:\n%s", body)
			}
			keep := offer("c4", "a", "", a.sdp(2, ice))
			keep["ICE"] = "passthrough"
			if body := g.ok(keep).String("sdp"); !strings.Contains(body, "a=candidate:") {
				t.Errorf("ICE=passthrough: the candidates went:\n%s", body)
			}
			odd := offer("c5", "a", "", a.sdp(1, ice))
			odd["ICE"] = "lite-please"
			g.fail(odd, "ICE")
		}},
		{name: "unknown call-id", pairs: 8, run: func(t *testing.T, g *rig) {
			b := newPhone(t)
			g.fail(answer("nope", "a", "b", b.sdp(1, "")), "Unknown call-id")
			g.fail(del("nope"), "Unknown call-id")
			g.fail(ng.Dict{"command": "query", "call-id": "nope"}, "Unknown call-id")
		}},
		{name: "SDP that does not parse", pairs: 8, run: func(t *testing.T, g *rig) {
			g.fail(offer("c6", "a", "", "v=0\r\nthis is not SDP\r\n"), "Failed to parse SDP")
			g.fail(offer("c6", "a", "", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 pbx.example\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"), "stream 0")
			if n := g.relay.Sessions(); n != 0 {
				t.Errorf("sessions after failed offers: %d, want 0", n)
			}
			g.fail(del("c6"), "Unknown call-id")
		}},
		{name: "port exhaustion", pairs: 2, run: func(t *testing.T, g *rig) {
			a := newPhone(t)
			g.ok(offer("c7", "a", "", a.sdp(1, "")))
			g.fail(offer("c8", "a", "", a.sdp(1, "")), "Ran out of ports")
			if n := g.relay.Sessions(); n != 1 {
				t.Errorf("sessions after a refused offer: %d, want 1", n)
			}
			g.ok(del("c7"))
			g.ok(offer("c8", "a", "", a.sdp(1, ""))) // the ports came back
		}},
		{name: "a session the relay timed out is gone", pairs: 8, cfg: mediabridge.Config{OfferTimeout: 50 * time.Millisecond}, run: func(t *testing.T, g *rig) {
			a := newPhone(t)
			g.ok(offer("c9", "a", "", a.sdp(1, "")))
			deadline := time.Now().Add(5 * time.Second)
			for g.relay.Sessions() != 0 {
				if time.Now().After(deadline) {
					t.Fatal("the unanswered offer did not time out within 5 s")
				}
				time.Sleep(10 * time.Millisecond)
			}
			g.fail(ng.Dict{"command": "query", "call-id": "c9"}, "Unknown call-id")
			g.fail(answer("c9", "a", "b", a.sdp(1, "")), "Unknown call-id")
			g.ok(offer("c9", "a", "", a.sdp(1, ""))) // the call-id starts afresh
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newRig(t, tt.pairs, tt.cfg))
		})
	}
}
