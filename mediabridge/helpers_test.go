package mediabridge

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// testConfig is a loopback config on a random slice of 30000-32399
// (another test run on the machine may hold some ports: those are
// skipped).
func testConfig(pairs int) Config {
	base := 30000 + 2*rand.IntN(1000) // clear of the 20000+ ranges relays (rtpengine, a bench) use by default
	return Config{Bind: loopback, PortMin: base, PortMax: base + 2*pairs - 1, Workers: 2}
}

func newTestRelay(t testing.TB, cfg Config, opts ...Option) *Relay {
	t.Helper()
	r, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// phone is a UDP socket standing for one side's RTP or RTCP.
type phone struct {
	t testing.TB
	c *net.UDPConn
}

func newPhone(t testing.TB) *phone {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &phone{t, c}
}

func (p *phone) addr() netip.AddrPort { return p.c.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *phone) send(to netip.AddrPort, b []byte) {
	p.t.Helper()
	if _, err := p.c.WriteToUDPAddrPort(b, to); err != nil {
		p.t.Fatal(err)
	}
}

// recv waits up to d for a datagram.
func (p *phone) recv(d time.Duration) ([]byte, netip.AddrPort, bool) {
	buf := make([]byte, 2048)
	p.c.SetReadDeadline(time.Now().Add(d))
	n, from, err := p.c.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil, netip.AddrPort{}, false
	}
	return buf[:n], from, true
}

// mustRecv waits for a datagram and returns it.
func (p *phone) mustRecv(what string) ([]byte, netip.AddrPort) {
	p.t.Helper()
	b, from, ok := p.recv(2 * time.Second)
	if !ok {
		p.t.Fatalf("%s: nothing received", what)
	}
	return b, from
}

// mustNotRecv checks that nothing arrives for a short while.
func (p *phone) mustNotRecv(what string) {
	p.t.Helper()
	if b, from, ok := p.recv(100 * time.Millisecond); ok {
		p.t.Fatalf("%s: got %d bytes from %v, want nothing", what, len(b), from)
	}
}

func rtp(seq uint16, ts, ssrc uint32) []byte {
	b := make([]byte, 172)
	b[0] = 0x80
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	return b
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func netListen(ip string) (*net.UDPConn, error) {
	return net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
}

func netListen4(port int) (*net.UDPConn, error) {
	return net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
}
