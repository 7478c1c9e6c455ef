package mediabridge

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// fuzzRelay returns the relay addresses the fuzzer uses for n streams:
// IPv4 or IPv6, with the streams whose bit is set in skip left unrelayed.
func fuzzRelay(n int, v6 bool, skip uint8) []netip.AddrPort {
	n = min(n, 64)
	relay := make([]netip.AddrPort, n)
	for i := range relay {
		if skip&(1<<(i%8)) != 0 {
			continue
		}
		a := netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + i%4)})
		if v6 {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(1 + i%4)})
		}
		relay[i] = netip.AddrPortFrom(a, uint16(20000+2*i))
	}
	return relay
}

// FuzzRewrite parses arbitrary bodies. Whenever ParseBody succeeds,
// Rewrite with relay addresses must succeed; its output must parse again
// with the same streams, each relayed stream pointing at its relay (an
// old-style hold at the relay port on the unspecified address), the others
// as they were, directions and rtcp-mux kept; rewriting the output again
// must change nothing, and neither must a second Rewrite with the same
// Origin. ParseBody's errors must be ErrNoSDP or a *SyntaxError.
func FuzzRewrite(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.contentType, []byte(s.body), false, uint8(0))
		f.Add(s.contentType, []byte(s.body), true, uint8(2))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte, v6 bool, skip uint8) {
		d, err := ParseBody(contentType, body)
		if err != nil {
			var se *SyntaxError
			if !errors.Is(err, ErrNoSDP) && !errors.As(err, &se) {
				t.Fatalf("ParseBody: got error %v (%T), want ErrNoSDP or a *SyntaxError", err, err)
			}
			if d != nil {
				t.Fatalf("ParseBody: got a Description with error %v", err)
			}
			return
		}
		before := d.Streams()
		relay := fuzzRelay(len(before), v6, skip)
		o := new(Origin)
		out, err := d.Rewrite(relay, RewriteOptions{Origin: o})
		if err != nil {
			t.Fatalf("Rewrite: got error %v, want none", err)
		}
		again, err := d.Rewrite(relay, RewriteOptions{Origin: o})
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("Rewrite with the same Origin again:\ngot  %q, %v\nwant %q", again, err, out)
		}
		d2, err := ParseBody(contentType, out)
		if err != nil {
			t.Fatalf("ParseBody(rewritten %q): %v", out, err)
		}
		after := d2.Streams()
		if len(after) != len(before) {
			t.Fatalf("rewritten streams: got %d, want %d", len(after), len(before))
		}
		anyRelayed := false
		for i, b := range before {
			a := after[i]
			if a.Media != b.Media || a.Proto != b.Proto || a.Direction != b.Direction || a.RTCPMux != b.RTCPMux || a.Disabled != b.Disabled {
				t.Fatalf("stream %d: got %+v, want the same kind as %+v", i, a, b)
			}
			var r netip.AddrPort
			if i < len(relay) {
				r = relay[i]
			}
			if b.Disabled {
				// Its m= line is unchanged; the address of a port-0 stream
				// means nothing (RFC 3264 §8.2) and may follow the session c=.
				if a.RTP.Port() != 0 {
					t.Fatalf("disabled stream %d: got port %d, want 0", i, a.RTP.Port())
				}
				continue
			}
			if r == (netip.AddrPort{}) {
				if a.RTP != b.RTP || a.RTCP != b.RTCP || a.Hold != b.Hold {
					t.Fatalf("unrelayed stream %d: got %v %v, want %v %v", i, a.RTP, a.RTCP, b.RTP, b.RTCP)
				}
				continue
			}
			anyRelayed = true
			wantAddr := r.Addr()
			if b.Hold {
				if wantAddr = netip.IPv4Unspecified(); v6 {
					wantAddr = netip.IPv6Unspecified()
				}
			}
			if a.Hold != b.Hold || a.RTP != netip.AddrPortFrom(wantAddr, r.Port()) {
				t.Fatalf("relayed stream %d: got %v (hold %v), want %v (hold %v)", i, a.RTP, a.Hold, netip.AddrPortFrom(wantAddr, r.Port()), b.Hold)
			}
			if isRTP(b.Proto) {
				wantRTCP := netip.AddrPortFrom(wantAddr, r.Port()+1)
				if b.RTCPMux {
					wantRTCP = a.RTP
				}
				if a.RTCP != wantRTCP {
					t.Fatalf("relayed stream %d: got RTCP %v, want %v", i, a.RTCP, wantRTCP)
				}
			}
		}
		if anyRelayed {
			for i, k := range d2.kinds {
				if k == kindICE {
					t.Fatalf("ICE attribute left in the rewritten SDP: %q", d2.lines[i])
				}
			}
		}
		plain, err := d.Rewrite(relay, RewriteOptions{})
		if err != nil {
			t.Fatalf("Rewrite without Origin: %v", err)
		}
		d3, err := ParseBody(contentType, plain)
		if err != nil {
			t.Fatalf("ParseBody(rewritten %q): %v", plain, err)
		}
		if twice, err := d3.Rewrite(relay, RewriteOptions{}); err != nil || !bytes.Equal(twice, plain) {
			t.Fatalf("Rewrite(rewritten):\ngot  %q, %v\nwant %q", twice, err, plain)
		}
		if !strings.HasPrefix(string(out[d2.loc.start:]), "v=0\r\n") {
			t.Fatalf("rewritten SDP does not start with v=0: %q", out[d2.loc.start:])
		}
	})
}

// fuzzSeeds are the bodies the table tests use, and a few more; the
// committed corpus in testdata/fuzz/FuzzRewrite adds what fuzzing found.
var fuzzSeeds = []struct{ contentType, body string }{
	{"application/sdp", g711Offer},
	{"application/sdp", g711Answer},
	{"application/sdp", avOffer},
	{"application/sdp", strings.ReplaceAll(g711Offer, "\r\n", "\n")},
	{"application/sdp", sdp("v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "a=tool:x", "m=audio 20000 RTP/AVP 0")},
	{"application/sdp", sdp("v=0", "o=- 1 1 IN IP6 fd00::20", "s=-", "c=IN IP6 fd00::20", "t=0 0", "m=audio 49170 RTP/AVP 0", "a=rtcp:49171 IN IP6 fd00::21")},
	{"application/sdp", sdp("v=0", "o=- 1 2 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0",
		"m=audio 0 RTP/AVP 8", "m=image 20002 udptl t38", "a=T38FaxVersion:0", "m=video 20004 RTP/AVP 96", "c=IN IP4 0.0.0.0", "a=sendonly")},
	{"application/sdp", sdp("v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-", "c=IN IP4 192.168.1.20", "t=0 0",
		"a=ice-lite", "m=audio 49170 RTP/SAVP 0", "a=rtcp:49170", "a=rtcp-mux", "a=ice-ufrag:8hhY",
		"a=candidate:1 1 UDP 2130706431 192.168.1.20 49170 typ host", "a=inactive")},
	{"multipart/mixed;boundary=unique-boundary-1", "--unique-boundary-1\r\nContent-Type: application/sdp\r\nContent-Length: 86\r\n\r\n" +
		sdp("v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0", "m=audio 20000 RTP/AVP 0") +
		"\r\n--unique-boundary-1\r\nContent-Type: application/isup;version=itu-t92+\r\n\r\n\x01\x00\x49\r\n--unique-boundary-1--\r\n"},
	{`multipart/mixed; boundary="outer"`, "--outer\nContent-Type: multipart/alternative; boundary=inner\nContent-Length: 120\n\n--inner\nContent-Type: application/sdp\n\n" +
		"v=0\no=- 1 1 IN IP4 10.0.0.7\ns=-\nc=IN IP4 10.0.0.7\nt=0 0\nm=audio 20000 RTP/AVP 0\n\n--inner--\n\n--outer--\n"},
	{"application/isup", "\x01\x00"},
	{"application/sdp", "hello\r\n"},
}

// FuzzAnchor applies arbitrary bodies to a session of a real relay, as
// the stage does for each message: an SDP that parses is anchored or
// refused with an error, never a panic; an anchored body parses again
// with every enabled stream on a relay port; and the ports all come back
// when the session closes.
func FuzzAnchor(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.contentType, []byte(s.body), false)
		f.Add(s.contentType, []byte(s.body), true)
	}
	r, err := New(Config{Bind: loopback, PortMin: 32000, PortMax: 32000 + 4*8 - 1, Workers: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { r.Close() })
	f.Fuzz(func(t *testing.T, contentType string, body []byte, answer bool) {
		d, err := ParseBody(contentType, body)
		if err != nil {
			return
		}
		s, err := r.NewSession("fuzz")
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			s.Close()
			if n := r.PortsInUse(); n != 0 {
				t.Fatalf("%d ports in use after Close", n)
			}
		}()
		leg := LegA
		if answer {
			leg = LegB
		}
		out, err := s.Anchor(leg, d, false)
		if err != nil {
			return
		}
		d2, err := ParseBody(d.ContentType(), out)
		if err != nil {
			t.Fatalf("the anchored body does not parse: %v\n%s", err, out)
		}
		for i, st := range d2.Streams() {
			if st.Disabled {
				continue
			}
			p := int(st.RTP.Port())
			if p < 32000 || p > 32000+4*8-1 {
				t.Fatalf("stream %d on port %d, not the relay's\n%s", i, p, out)
			}
		}
	})
}
