//go:build linux && (amd64 || arm64 || ppc64le || riscv64 || loong64 || s390x)

package sip

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/palio-voip/palio/internal/race"
)

// TestRawUDP: a listener read and written with raw system calls sees the
// same datagrams and addresses as net.UDPConn, on IPv4, dual-stack and
// IPv6 sockets, and honours deadlines and Close as net does.
func TestRawUDP(t *testing.T) {
	for _, tc := range []struct {
		listen, peer string
	}{
		{"127.0.0.1:0", "127.0.0.1:0"},
		{"[::]:0", "127.0.0.1:0"}, // an IPv4 peer of a dual-stack socket
		{"[::1]:0", "[::1]:0"},
	} {
		t.Run(tc.listen, func(t *testing.T) {
			pc, err := net.ListenPacket("udp", tc.listen)
			if err != nil {
				t.Skipf("no %s socket here: %v", tc.listen, err)
			}
			c := rawPacketConn(pc)
			defer c.Close()
			if _, ok := c.(*rawUDP); !ok {
				t.Fatalf("rawPacketConn gave %T", c)
			}
			peer, err := net.ListenPacket("udp", tc.peer)
			if err != nil {
				t.Skipf("no %s socket here: %v", tc.peer, err)
			}
			defer peer.Close()
			port := c.LocalAddr().(*net.UDPAddr).Port
			host := "127.0.0.1"
			if strings.HasPrefix(tc.peer, "[") {
				host = "::1"
			}
			to := &net.UDPAddr{IP: net.ParseIP(host), Port: port}
			if _, err := peer.WriteTo([]byte("OPTIONS sip:x SIP/2.0"), to); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 1500)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := c.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "OPTIONS sip:x SIP/2.0" {
				t.Fatalf("read %q, %v", buf[:n], err)
			}
			if from.String() != peer.LocalAddr().String() {
				t.Errorf("from %v, want the peer %v", from, peer.LocalAddr())
			}
			// The answer goes back to that address, by WriteTo and by
			// WriteToUDPAddrPort.
			if _, err := c.WriteTo([]byte("SIP/2.0 200 OK"), from); err != nil {
				t.Fatal(err)
			}
			if _, err := c.(*rawUDP).WriteToUDPAddrPort([]byte("SIP/2.0 200 again"), from.(addrPorter).AddrPort()); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"SIP/2.0 200 OK", "SIP/2.0 200 again"} {
				_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, src, err := peer.ReadFrom(buf)
				if err != nil || string(buf[:n]) != want {
					t.Fatalf("peer read %q, %v; want %q", buf[:n], err, want)
				}
				if src.(*net.UDPAddr).Port != port {
					t.Errorf("answer from %v, want port %d", src, port)
				}
			}
			// A deadline times out as net's does.
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			_, _, err = c.ReadFrom(buf)
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("past the deadline: %v, want a timeout", err)
			}
			// Close ends a blocked read with net.ErrClosed.
			_ = c.SetReadDeadline(time.Time{})
			done := make(chan error, 1)
			go func() { _, _, err := c.ReadFrom(buf); done <- err }()
			time.Sleep(20 * time.Millisecond)
			c.Close()
			select {
			case err := <-done:
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("read on a closed socket: %v, want net.ErrClosed", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not end the blocked read")
			}
		})
	}
}

// TestRawUDPConcurrentWrites: writers on many goroutines at once (the
// Forwarder's branches, the stateless workers) each reach their own peer
// with their own datagram, whole: the pooled state of one write is never
// another's.
func TestRawUDPConcurrentWrites(t *testing.T) {
	c := loopbackRawUDP(t)
	const writers, each = 8, 50
	peers := make([]net.PacketConn, writers)
	for i := range peers {
		var err error
		if peers[i], err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		defer peers[i].Close()
		_ = peers[i].(*net.UDPConn).SetReadBuffer(1 << 20)
	}
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := p.LocalAddr().(*net.UDPAddr).AddrPort()
			for j := range each {
				msg := "writer " + strconv.Itoa(i) + " datagram " + strconv.Itoa(j) + strings.Repeat(".", i*37)
				if _, err := c.WriteToUDPAddrPort([]byte(msg), to); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	buf := make([]byte, 1500)
	for i, p := range peers {
		_ = p.SetReadDeadline(time.Now().Add(5 * time.Second))
		for j := range each {
			n, _, err := p.ReadFrom(buf)
			want := "writer " + strconv.Itoa(i) + " datagram " + strconv.Itoa(j) + strings.Repeat(".", i*37)
			if err != nil || string(buf[:n]) != want {
				t.Fatalf("peer %d read %q, %v; want %q", i, buf[:n], err, want)
			}
		}
	}
}

// TestRawUDPAllocs: reading a datagram and writing one allocate nothing
// but the address handed back (the poller's callbacks and their state are
// kept with the socket or pooled; a closure per call put them on the heap:
// 6 % of the bytes a relayed call allocated).
func TestRawUDPAllocs(t *testing.T) {
	if race.Enabled {
		t.Skip("the race detector makes sync.Pool drop items at random: allocation counts are not the program's")
	}
	c := loopbackRawUDP(t)
	self := c.LocalAddr().(*net.UDPAddr).AddrPort()
	msg := []byte("OPTIONS sip:x SIP/2.0")
	buf := make([]byte, 1500)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := c.WriteToUDPAddrPort(msg, self); err != nil {
			t.Fatal(err)
		}
		if n, _, err := c.ReadFrom(buf); err != nil || n != len(msg) {
			t.Fatalf("read %d, %v", n, err)
		}
	}); n != 0 {
		t.Errorf("a write and a read allocate %v times, want 0", n)
	}
}

// loopbackRawUDP returns a raw UDP socket on 127.0.0.1, closed when the
// test ends.
func loopbackRawUDP(t *testing.T) *rawUDP {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := rawPacketConn(pc).(*rawUDP)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRawUDPWrongFamily: an IPv6 destination on an IPv4 socket is refused
// as net refuses it, not written to a mangled address.
func TestRawUDPWrongFamily(t *testing.T) {
	c := loopbackRawUDP(t)
	if _, err := c.WriteToUDPAddrPort([]byte("x"), netip.MustParseAddrPort("[2001:db8::1]:5060")); err == nil {
		t.Error("an IPv6 destination on an IPv4 socket was accepted")
	}
	if _, err := c.WriteTo([]byte("x"), &net.IPAddr{IP: net.IPv4(127, 0, 0, 1)}); err == nil {
		t.Error("a non-UDP address was accepted")
	}
}

// FuzzSockaddr: an address written into a raw sockaddr reads back as the
// same address (an IPv4 one as v4-mapped on an IPv6 socket), for either
// family, and nothing panics.
func FuzzSockaddr(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1}, uint16(5060), true)
	f.Add([]byte{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, uint16(0), false)
	f.Add([]byte{10, 1, 2, 3}, uint16(65535), false)
	f.Fuzz(func(t *testing.T, ip []byte, port uint16, v4sock bool) {
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			return
		}
		ap := netip.AddrPortFrom(a, port)
		c := &rawUDP{family: syscall.AF_INET6}
		if v4sock {
			c.family = syscall.AF_INET
		}
		var rsa syscall.RawSockaddrAny
		sa := (*[syscall.SizeofSockaddrInet6]byte)(unsafePointer(&rsa))
		n, ok := c.sockaddr(sa, ap)
		if !ok {
			if v4sock && !a.Unmap().Is4() {
				return // an IPv6 destination on an IPv4 socket: net's path refuses it
			}
			t.Fatalf("%v on family %d: refused", ap, c.family)
		}
		if n == 0 || n > syscall.SizeofSockaddrInet6 {
			t.Fatalf("length %d", n)
		}
		got := sockaddrToAddrPort(&rsa)
		want := ap
		switch {
		case v4sock:
			want = netip.AddrPortFrom(a.Unmap(), port)
		case a.Is4():
			want = netip.AddrPortFrom(netip.AddrFrom16(a.As16()), port)
		}
		if got != want {
			t.Fatalf("%v on family %d read back as %v, want %v", ap, c.family, got, want)
		}
	})
}

func unsafePointer(rsa *syscall.RawSockaddrAny) unsafe.Pointer { return unsafe.Pointer(rsa) }

// TestRawUDPPeers: datagrams from one source report one address, made
// once, in net.UDPAddr's form; the cache of them stays within maxPeers
// however many sources write.
func TestRawUDPPeers(t *testing.T) {
	c := loopbackRawUDP(t)
	self := c.LocalAddr().(*net.UDPAddr).AddrPort()
	buf := make([]byte, 1500)
	var first net.Addr
	for i := range 3 {
		if _, err := c.WriteToUDPAddrPort([]byte("x"), self); err != nil {
			t.Fatal(err)
		}
		_, from, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if from.String() != c.LocalAddr().String() || from.Network() != "udp" {
			t.Fatalf("read from %s %q, want udp %q", from.Network(), from, c.LocalAddr())
		}
		if i == 0 {
			first = from
		} else if from != first {
			t.Errorf("read %d reported a new address for the same source", i)
		}
	}
	if got := addrPortOf(first); got != self {
		t.Errorf("addrPortOf = %v, want %v", got, self)
	}
	// Written back through WriteTo, the address reaches the source.
	if _, err := c.WriteTo([]byte("back"), first); err != nil {
		t.Fatal(err)
	}
	if n, _, err := c.ReadFrom(buf); err != nil || string(buf[:n]) != "back" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for i := range maxPeers + 10 {
		c.peer(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 5060))
		if len(c.peers) > maxPeers {
			t.Fatalf("%d addresses cached, more than %d", len(c.peers), maxPeers)
		}
	}
	for _, tc := range []struct{ ap, want string }{
		{"192.0.2.1:5060", "192.0.2.1:5060"},
		{"[::ffff:192.0.2.1]:5060", "192.0.2.1:5060"},
		{"[2001:db8::1]:5080", "[2001:db8::1]:5080"},
	} {
		if got := c.peer(netip.MustParseAddrPort(tc.ap)).String(); got != tc.want {
			t.Errorf("%s reads as %q, want %q", tc.ap, got, tc.want)
		}
	}
}
