package sip_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
)

const hepInvite = "INVITE sip:5002@127.0.0.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK.1\r\n" +
	"From: <sip:5001@voip.unisi.it>;tag=a1\r\n" +
	"To: <sip:5002@voip.unisi.it>\r\n" +
	"Call-ID: 7f2c@10.0.0.1\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"Content-Length: 0\r\n\r\n"

// TestHEPRoundTrip: what AppendHEP writes, ParseHEP reads back, field by
// field, for IPv4, IPv6 and mixed addresses and without the optional
// chunks.
func TestHEPRoundTrip(t *testing.T) {
	when := time.Unix(1764950400, 123456000)
	tests := []struct {
		name     string
		p        sip.HEPPacket
		family   uint8
		src, dst netip.AddrPort
	}{
		{"ipv4 udp", sip.HEPPacket{
			Protocol: sip.HEPProtoUDP, Src: netip.MustParseAddrPort("192.0.2.1:5060"), Dst: netip.MustParseAddrPort("198.51.100.7:5070"),
			Time: when, ProtoType: sip.HEPTypeSIP, CaptureID: 2001, AuthKey: []byte("secret"),
			CorrelationID: []byte("7f2c@10.0.0.1"), NodeName: []byte("siena-1"), Payload: []byte(hepInvite),
		}, sip.HEPFamilyIPv4, netip.MustParseAddrPort("192.0.2.1:5060"), netip.MustParseAddrPort("198.51.100.7:5070")},
		{"ipv6 tcp", sip.HEPPacket{
			Protocol: sip.HEPProtoTCP, Src: netip.MustParseAddrPort("[2001:db8::1]:5060"), Dst: netip.MustParseAddrPort("[2001:db8::2]:49152"),
			Time: when, ProtoType: sip.HEPTypeSIP, CaptureID: 1, Payload: []byte(hepInvite),
		}, sip.HEPFamilyIPv6, netip.MustParseAddrPort("[2001:db8::1]:5060"), netip.MustParseAddrPort("[2001:db8::2]:49152")},
		{"mixed", sip.HEPPacket{
			Protocol: sip.HEPProtoUDP, Src: netip.MustParseAddrPort("192.0.2.1:5060"), Dst: netip.MustParseAddrPort("[2001:db8::2]:5060"),
			Time: when, ProtoType: sip.HEPTypeSIP, Payload: []byte("x"),
		}, sip.HEPFamilyIPv6, netip.MustParseAddrPort("[::ffff:192.0.2.1]:5060"), netip.MustParseAddrPort("[2001:db8::2]:5060")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := sip.AppendHEP([]byte("prefix"), &tt.p)
			if err != nil {
				t.Fatal(err)
			}
			b = b[len("prefix"):]
			if n, err := sip.HEPLen(b); err != nil || n != len(b) {
				t.Fatalf("HEPLen = %d, %v; want %d", n, err, len(b))
			}
			got, err := sip.ParseHEP(append(b, "next packet"...))
			if err != nil {
				t.Fatal(err)
			}
			want := tt.p
			want.Family, want.Src, want.Dst = tt.family, tt.src, tt.dst
			if d := hepDiff(want, got); d != "" {
				t.Errorf("round trip: %s", d)
			}
		})
	}
}

// hepDiff names the fields in which got differs from want, "got X, want Y".
func hepDiff(want, got sip.HEPPacket) string {
	var d []string
	check := func(name string, g, w any) {
		if g != w {
			d = append(d, fmt.Sprintf("%s: got %v, want %v", name, g, w))
		}
	}
	check("family", got.Family, want.Family)
	check("protocol", got.Protocol, want.Protocol)
	check("src", got.Src, want.Src)
	check("dst", got.Dst, want.Dst)
	check("time", got.Time.UnixMicro(), want.Time.UnixMicro())
	check("proto type", got.ProtoType, want.ProtoType)
	check("capture id", got.CaptureID, want.CaptureID)
	check("auth key", string(got.AuthKey), string(want.AuthKey))
	check("correlation id", string(got.CorrelationID), string(want.CorrelationID))
	check("node name", string(got.NodeName), string(want.NodeName))
	check("payload", string(got.Payload), string(want.Payload))
	return strings.Join(d, "; ")
}

// TestHEPErrors: ParseHEP refuses what is not a whole HEP v3 packet, and
// AppendHEP a payload its 16-bit length cannot say.
func TestHEPErrors(t *testing.T) {
	good, _ := sip.AppendHEP(nil, &sip.HEPPacket{Protocol: 17, Src: netip.MustParseAddrPort("127.0.0.1:1"),
		Dst: netip.MustParseAddrPort("127.0.0.1:2"), ProtoType: 1, Payload: []byte(hepInvite)})
	badChunk := bytes.Clone(good)
	badChunk[6+4+1] = 3 // the family chunk's length: 3 < 6
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"magic", append([]byte("HEP2"), good[4:]...)},
		{"truncated", good[:len(good)-1]},
		{"chunk length", badChunk},
		{"no payload", good[:len(good)-6-len(hepInvite)]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := sip.ParseHEP(tt.b); err == nil {
				t.Error("parsed, want an error")
			}
		})
	}
	big := make([]byte, sip.HEPMaxLen)
	if _, err := sip.AppendHEP(nil, &sip.HEPPacket{Src: netip.MustParseAddrPort("127.0.0.1:1"), Dst: netip.MustParseAddrPort("127.0.0.1:2"), Payload: big}); !errors.Is(err, sip.ErrHEPTooLarge) {
		t.Errorf("64 KiB payload: got %v, want ErrHEPTooLarge", err)
	}
}

// FuzzParseHEP: the decoder never panics, and what it accepts encodes back
// to a packet that decodes to the same fields.
func FuzzParseHEP(f *testing.F) {
	seed, _ := sip.AppendHEP(nil, &sip.HEPPacket{Protocol: 17, Src: netip.MustParseAddrPort("192.0.2.1:5060"),
		Dst: netip.MustParseAddrPort("[2001:db8::1]:5060"), Time: time.Unix(1, 2000), ProtoType: 1, CaptureID: 9,
		AuthKey: []byte("k"), CorrelationID: []byte("c"), NodeName: []byte("n"), Payload: []byte(hepInvite)})
	f.Add(seed)
	f.Add([]byte("HEP3\x00\x06"))
	f.Add([]byte("HEP3\x00\x10\x00\x00\x00\x01\x00\x07\x02\x00\x00\x00\x02\x00\x07"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := sip.ParseHEP(b)
		if err != nil {
			return
		}
		enc, err := sip.AppendHEP(nil, &p)
		if err != nil {
			return // the input's unknown chunks made room the fields alone do not need; or its payload is 64 KiB
		}
		q, err := sip.ParseHEP(enc)
		if err != nil {
			t.Fatalf("re-encoded packet does not parse: %v", err)
		}
		if p.Src.Addr().Unmap() != q.Src.Addr().Unmap() || p.Src.Port() != q.Src.Port() || p.Dst.Port() != q.Dst.Port() ||
			!p.Time.Equal(q.Time) || p.Protocol != q.Protocol || p.ProtoType != q.ProtoType || p.CaptureID != q.CaptureID ||
			!bytes.Equal(p.Payload, q.Payload) || !bytes.Equal(p.CorrelationID, q.CorrelationID) ||
			!bytes.Equal(p.NodeName, q.NodeName) || !bytes.Equal(p.AuthKey, q.AuthKey) {
			t.Fatalf("round trip changed the packet:\n%+v\n%+v", p, q)
		}
	})
}

// hepCollector is an in-process HOMER collector: it decodes the HEP
// packets sent to it over UDP or TCP with sip.ParseHEP and keeps them.
type hepCollector struct {
	t       *testing.T
	network string
	addr    string
	pc      net.PacketConn
	ln      net.Listener
	wg      sync.WaitGroup

	mu      sync.Mutex
	packets []sip.HEPPacket
	errs    []error
	conns   []net.Conn
	changed chan struct{}
}

func newHEPCollector(t *testing.T, network string) *hepCollector {
	t.Helper()
	c := &hepCollector{t: t, network: network, changed: make(chan struct{}, 1)}
	switch network {
	case "udp":
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.pc, c.addr = pc, pc.LocalAddr().String()
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			buf := make([]byte, 65536)
			for {
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				c.add(bytes.Clone(buf[:n]))
			}
		}()
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.ln, c.addr = ln, ln.Addr().String()
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				c.mu.Lock()
				c.conns = append(c.conns, conn)
				c.mu.Unlock()
				c.wg.Add(1)
				go func() {
					defer c.wg.Done()
					c.readStream(conn)
				}()
			}
		}()
	}
	t.Cleanup(c.close)
	return c
}

// readStream splits a TCP stream into packets by their length fields.
func (c *hepCollector) readStream(conn net.Conn) {
	var buf []byte
	chunk := make([]byte, 32<<10)
	for {
		n, err := conn.Read(chunk)
		buf = append(buf, chunk[:n]...)
		for {
			l, perr := sip.HEPLen(buf)
			if perr != nil {
				c.fail(perr)
				return
			}
			if l == 0 || l > len(buf) {
				break
			}
			c.add(bytes.Clone(buf[:l]))
			buf = buf[l:]
		}
		if err != nil {
			return
		}
	}
}

func (c *hepCollector) add(b []byte) {
	p, err := sip.ParseHEP(b)
	if err == nil && len(b) != int(b[4])<<8|int(b[5]) {
		err = errors.New("packet length differs from its datagram's")
	}
	if err != nil {
		c.fail(err)
		return
	}
	c.mu.Lock()
	c.packets = append(c.packets, p)
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (c *hepCollector) fail(err error) {
	c.mu.Lock()
	c.errs = append(c.errs, err)
	c.mu.Unlock()
}

func (c *hepCollector) close() {
	if c.pc != nil {
		c.pc.Close()
	}
	if c.ln != nil {
		c.ln.Close()
	}
	c.mu.Lock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// wait returns the packets once cond holds for them, failing after 5 s.
func (c *hepCollector) wait(cond func([]sip.HEPPacket) bool) []sip.HEPPacket {
	c.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		c.mu.Lock()
		ps := append([]sip.HEPPacket(nil), c.packets...)
		errs := c.errs
		c.mu.Unlock()
		if len(errs) > 0 {
			c.t.Fatalf("collector: %v", errs)
		}
		if cond(ps) {
			return ps
		}
		select {
		case <-c.changed:
		case <-deadline:
			c.t.Fatalf("collector: timed out with %d packets:\n%s", len(ps), describeHEP(ps))
		}
	}
}

func describeHEP(ps []sip.HEPPacket) string {
	var sb strings.Builder
	for _, p := range ps {
		sb.WriteString(p.Src.String() + " -> " + p.Dst.String() + " " + hepSummary(p) + "\n")
	}
	return sb.String()
}

// hepSummary names a captured message by its start line's method or
// status and its CSeq method: "INVITE", "180 INVITE", "200 BYE".
func hepSummary(p sip.HEPPacket) string {
	first, _, _ := strings.Cut(string(p.Payload), "\r\n")
	cseq := ""
	for _, line := range strings.Split(string(p.Payload), "\r\n") {
		if v, ok := strings.CutPrefix(line, "CSeq: "); ok {
			_, cseq, _ = strings.Cut(v, " ")
		}
	}
	if code, ok := strings.CutPrefix(first, "SIP/2.0 "); ok {
		c, _, _ := strings.Cut(code, " ")
		return c + " " + cseq
	}
	m, _, _ := strings.Cut(first, " ")
	return m
}
