package mediabridge

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// call sets up one stream with phones a and b announcing their own
// addresses.
func call(t *testing.T, r *Relay, id string) (*Session, *Stream, *phone, *phone) {
	t.Helper()
	s, err := r.NewSession(id)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Stream(0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := newPhone(t), newPhone(t)
	if err := st.SetPeer(LegA, a.addr(), netip.AddrPort{}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetPeer(LegB, b.addr(), netip.AddrPort{}); err != nil {
		t.Fatal(err)
	}
	return s, st, a, b
}

func TestForwardBothWays(t *testing.T) {
	r := newTestRelay(t, testConfig(8))
	s, err := r.NewSession("c1")
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Stream(0)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Stream(0); again != st {
		t.Fatal("Stream(0) twice: got another stream")
	}
	a, aR, b, bR := newPhone(t), newPhone(t), newPhone(t), newPhone(t)
	st.SetPeer(LegA, a.addr(), aR.addr())
	st.SetPeer(LegB, b.addr(), bR.addr())
	if got := st.Local(LegA); got.Port()%2 != 0 || got.Addr() != loopback {
		t.Fatalf("Local(A) = %v, want an even port on %v", got, loopback)
	}
	if st.LocalRTCP(LegB).Port() != st.Local(LegB).Port()+1 {
		t.Fatalf("LocalRTCP(B) = %v, want Local(B)+1 = %v", st.LocalRTCP(LegB), st.Local(LegB))
	}

	p := rtp(1, 160, 0xa)
	a.send(st.Local(LegA), p)
	got, from := b.mustRecv("RTP A→B")
	if !bytes.Equal(got, p) || from != st.Local(LegB) {
		t.Fatalf("B got %d bytes from %v, want the packet from %v", len(got), from, st.Local(LegB))
	}
	q := rtp(7, 960, 0xb)
	b.send(st.Local(LegB), q)
	got, from = a.mustRecv("RTP B→A")
	if !bytes.Equal(got, q) || from != st.Local(LegA) {
		t.Fatalf("A got %d bytes from %v, want the packet from %v", len(got), from, st.Local(LegA))
	}
	aR.send(st.LocalRTCP(LegA), []byte("rtcp from a"))
	if got, from := bR.mustRecv("RTCP A→B"); string(got) != "rtcp from a" || from != st.LocalRTCP(LegB) {
		t.Fatalf("B's RTCP got %q from %v", got, from)
	}
	bR.send(st.LocalRTCP(LegB), []byte("rtcp from b"))
	if got, _ := aR.mustRecv("RTCP B→A"); string(got) != "rtcp from b" {
		t.Fatalf("A's RTCP got %q", got)
	}
	a.mustNotRecv("A's RTP socket after RTCP")

	stats := s.Stats()
	if len(stats.Streams) != 1 || stats.Packets != 2 || stats.Streams[0].A.RTCPPackets != 1 || stats.Streams[0].B.RTCPPackets != 1 {
		t.Fatalf("stats = %+v, want 2 RTP packets and one RTCP packet each way", stats)
	}
	if stats.Streams[0].A.Source != a.addr() {
		t.Fatalf("A's source = %v, want %v", stats.Streams[0].A.Source, a.addr())
	}
	if c := r.Counters(); c.Packets != 2 || c.RTCPPackets != 2 || c.Bytes != 344 {
		t.Fatalf("counters = %+v, want 2 RTP (344 bytes) and 2 RTCP", c)
	}
}

func TestLatchNAT(t *testing.T) {
	r := newTestRelay(t, testConfig(8))
	_, st, sdpA, b := call(t, r, "nat")
	nat := newPhone(t) // A's packets come from its NAT, not its SDP address

	b.send(st.Local(LegB), rtp(1, 0, 2))
	sdpA.mustRecv("before latching, to A's SDP address")

	nat.send(st.Local(LegA), rtp(1, 0, 1))
	b.mustRecv("A→B from the NAT address")
	b.send(st.Local(LegB), rtp(2, 160, 2))
	nat.mustRecv("after latching, to A's NAT address")
	sdpA.mustNotRecv("A's SDP address after latching")
	if src := st.Stats().A.Source; src != nat.addr() {
		t.Fatalf("A's source = %v, want %v", src, nat.addr())
	}

	// Another source is ignored once latched.
	rogue := newPhone(t)
	rogue.send(st.Local(LegA), rtp(9, 0, 9))
	b.mustNotRecv("a packet from another source")
	if d := st.Stats().A.Dropped; d != 1 {
		t.Fatalf("A dropped = %d, want 1", d)
	}
	b.send(st.Local(LegB), rtp(3, 320, 2))
	nat.mustRecv("still to the latched address")
	rogue.mustNotRecv("the rogue")
}

func TestRelatchAfterSetPeer(t *testing.T) {
	r := newTestRelay(t, testConfig(8))
	_, st, a, b := call(t, r, "move")
	a.send(st.Local(LegA), rtp(1, 0, 1))
	b.mustRecv("first")

	// A re-INVITE moves A to another address.
	moved := newPhone(t)
	if err := st.SetPeer(LegA, moved.addr(), netip.AddrPort{}); err != nil {
		t.Fatal(err)
	}
	b.send(st.Local(LegB), rtp(1, 0, 2))
	moved.mustRecv("to A's new SDP address before A sends")
	a.mustNotRecv("the old address")
	moved.send(st.Local(LegA), rtp(2, 160, 1))
	b.mustRecv("from A's new address")
	a.send(st.Local(LegA), rtp(3, 320, 1))
	b.mustNotRecv("from A's old address after re-latching")

	// The same address again keeps the latch.
	st.SetPeer(LegA, moved.addr(), netip.AddrPort{})
	moved.send(st.Local(LegA), rtp(4, 480, 1))
	b.mustRecv("after a SetPeer that changed nothing")
}

func TestStrictSource(t *testing.T) {
	cfg := testConfig(8)
	cfg.StrictSource = true
	r := newTestRelay(t, cfg)
	_, st, a, b := call(t, r, "strict")
	// 127.0.0.2 is loopback too, but not A's SDP address.
	other, err := netListen("127.0.0.2")
	if err != nil {
		t.Skip(err)
	}
	defer other.Close()
	other.WriteToUDPAddrPort(rtp(1, 0, 9), st.Local(LegA))
	b.mustNotRecv("a packet from another IP")
	if d := st.Stats().A.Dropped; d != 1 {
		t.Fatalf("A dropped = %d, want 1", d)
	}
	// Same IP, another port: accepted (and latched).
	samehost := newPhone(t)
	samehost.send(st.Local(LegA), rtp(1, 0, 1))
	b.mustRecv("from A's IP on another port")
	third := newPhone(t)
	third.send(st.Local(LegA), rtp(2, 160, 1))
	b.mustNotRecv("A's IP on a third port after latching")
	// The SDP address itself always takes the latch back.
	a.send(st.Local(LegA), rtp(3, 320, 1))
	b.mustRecv("from A's SDP address")
}

func TestDropBeforePeer(t *testing.T) {
	r := newTestRelay(t, testConfig(8))
	s, _ := r.NewSession("early")
	st, _ := s.Stream(0)
	a, b := newPhone(t), newPhone(t)
	a.send(st.Local(LegA), rtp(1, 0, 1)) // A's SDP not known
	st.SetPeer(LegA, a.addr(), netip.AddrPort{})
	a.send(st.Local(LegA), rtp(2, 160, 1)) // B's not known
	eventually(t, "two drops", func() bool { return st.Stats().A.Dropped == 2 })
	st.SetPeer(LegB, b.addr(), netip.AddrPort{})
	a.send(st.Local(LegA), rtp(3, 320, 1))
	b.mustRecv("once both are known")
}

func TestLoss(t *testing.T) {
	r := newTestRelay(t, testConfig(8))
	_, st, a, b := call(t, r, "loss")
	// Sequence numbers across the wrap, with 3 missing, one reordered
	// and one duplicate.
	seqs := []uint16{65530, 65531, 65533, 65532, 65535, 0, 0, 1, 4, 5}
	for i, seq := range seqs {
		a.send(st.Local(LegA), rtp(seq, uint32(i)*160, 1))
		b.mustRecv("packet")
	}
	x := st.Stats()
	if x.A.Packets != uint64(len(seqs)) {
		t.Fatalf("packets = %d, want %d", x.A.Packets, len(seqs))
	}
	// expected 65530..5 = 12, received 10 (with the duplicate): lost 2
	// (65534 and 2,3 missing = 3, minus the duplicate) as RFC 3550 A.3
	// counts it.
	if x.A.Lost != 2 {
		t.Fatalf("lost = %d, want 2", x.A.Lost)
	}
}

// TestMuxedRTCP: with rtcp-mux (RFC 5761) RTCP comes on the RTP port; it
// is relayed there and counted as RTCP, so that its header is never read
// as a sequence number.
func TestMuxedRTCP(t *testing.T) {
	r := newTestRelay(t, testConfig(8))
	_, st, a, b := call(t, r, "mux")
	for i := range 5 {
		a.send(st.Local(LegA), rtp(uint16(100+i), uint32(i)*160, 7))
		b.mustRecv("RTP")
		if i == 2 {
			sr := make([]byte, 28) // a sender report: V=2, PT=200, length 6
			sr[0], sr[1], sr[3] = 0x80, 200, 6
			a.send(st.Local(LegA), sr)
			if got, _ := b.mustRecv("muxed RTCP"); len(got) != 28 || got[1] != 200 {
				t.Fatalf("the sender report arrived as %d bytes", len(got))
			}
		}
	}
	x := st.Stats().A
	if x.Packets != 5 || x.RTCPPackets != 1 || x.Lost != 0 {
		t.Fatalf("stats: %d RTP, %d RTCP, %d lost; want 5, 1, 0", x.Packets, x.RTCPPackets, x.Lost)
	}
}

func TestJitter(t *testing.T) {
	r := newTestRelay(t, testConfig(8))
	_, st, a, b := call(t, r, "jitter")
	gaps := []time.Duration{0, 5, 35, 10, 30, 20, 0, 40}
	for i, g := range gaps {
		time.Sleep(g * time.Millisecond)
		a.send(st.Local(LegA), rtp(uint16(i), uint32(i)*160, 1))
		b.mustRecv("packet")
	}
	if j := st.Stats().A.Jitter; j <= 0 {
		t.Fatalf("jitter = %v, want > 0", j)
	}
	if j := st.Stats().B.Jitter; j != 0 {
		t.Fatalf("B's jitter = %v without packets, want 0", j)
	}
}

func TestOneWay(t *testing.T) {
	cfg := testConfig(8)
	cfg.OneWayAfter = 100 * time.Millisecond
	r := newTestRelay(t, cfg)
	_, st, a, b := call(t, r, "oneway")
	eventually(t, "one-way audio", func() bool {
		a.send(st.Local(LegA), rtp(1, 0, 1))
		b.recv(time.Second)
		x := st.Stats()
		return x.OneWay && x.Silent == LegB
	})
	st.Hold(LegB, true)
	if x := st.Stats(); x.OneWay || !x.Held {
		t.Fatalf("on hold: OneWay %v Held %v, want false, true", x.OneWay, x.Held)
	}
}

func TestTimeouts(t *testing.T) {
	cfg := testConfig(16)
	cfg.NoMediaTimeout = 150 * time.Millisecond
	cfg.HoldTimeout = 400 * time.Millisecond
	cfg.OfferTimeout = 150 * time.Millisecond
	var mu sync.Mutex
	ended := map[string]error{}
	r := newTestRelay(t, cfg, WithEndHandler(func(s *Session, reason error) {
		mu.Lock()
		ended[s.CallID()] = reason
		mu.Unlock()
	}))

	offer, _ := r.NewSession("offer")
	st, _ := offer.Stream(0)
	st.SetPeer(LegA, newPhone(t).addr(), netip.AddrPort{})

	nomedia, _, _, _ := call(t, r, "nomedia")
	held, hst, _, _ := call(t, r, "held")
	hst.Hold(LegA, true)

	for _, c := range []struct {
		s    *Session
		want error
	}{{offer, ErrOfferTimeout}, {nomedia, ErrNoMedia}, {held, ErrHoldTimeout}} {
		select {
		case <-c.s.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: not ended within 5 s", c.s.CallID())
		}
		if err := c.s.Err(); !errors.Is(err, c.want) {
			t.Errorf("%s: Err = %v, want %v", c.s.CallID(), err, c.want)
		}
		if !c.s.Ended() {
			t.Errorf("%s: Ended is false after Done", c.s.CallID())
		}
		eventually(t, c.s.CallID()+": end handler", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return ended[c.s.CallID()] == c.want
		})
	}
	if !held.Stats().Streams[0].Held {
		t.Error("held: stats do not show the hold")
	}
	if r.Sessions() != 0 || r.PortsInUse() != 0 {
		t.Fatalf("after timeouts: %d sessions, %d ports, want 0", r.Sessions(), r.PortsInUse())
	}
}

func TestMediaKeepsAlive(t *testing.T) {
	cfg := testConfig(8)
	cfg.NoMediaTimeout = 200 * time.Millisecond
	r := newTestRelay(t, cfg)
	s, st, a, _ := call(t, r, "alive")
	for i := range 30 { // 600 ms of media, three timeouts' worth
		a.send(st.Local(LegA), rtp(uint16(i), uint32(i)*160, 1))
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-s.Done():
		t.Fatalf("ended (%v) while media flowed", s.Err())
	default:
	}
	if s.Ended() {
		t.Fatal("Ended while media flowed")
	}
	s.Close()
	if !s.Ended() {
		t.Error("not Ended once Close returned")
	}
}

func TestPortExhaustion(t *testing.T) {
	r := newTestRelay(t, testConfig(4)) // two streams' worth
	s, _ := r.NewSession("full")
	for i := range 2 {
		if _, err := s.Stream(i); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	start := time.Now()
	_, err := s.Stream(2)
	if !errors.Is(err, ErrNoPorts) {
		t.Fatalf("third stream: err = %v, want ErrNoPorts", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("ErrNoPorts took %v", d)
	}
	if got := r.PortsInUse(); got != 8 {
		t.Fatalf("ports in use = %d, want 8 (the half-allocated stream returned its leg)", got)
	}
	s.Close()
	if got := r.PortsInUse(); got != 0 {
		t.Fatalf("after Close: %d ports in use, want 0", got)
	}
}

func TestPortTakenSkipped(t *testing.T) {
	cfg := testConfig(6)
	r := newTestRelay(t, cfg)
	// Another process holds the first pair's RTCP port.
	base := cfg.PortMin
	c, err := netListen4(base + 1)
	if err != nil {
		t.Skip(err)
	}
	defer c.Close()
	s, _ := r.NewSession("taken")
	st, err := s.Stream(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []Leg{LegA, LegB} {
		if int(st.Local(l).Port()) == base {
			t.Fatalf("leg %v got the taken pair %d", l, base)
		}
	}
	s.Close()
	if got := r.PortsInUse(); got != 0 {
		t.Fatalf("after Close: %d ports in use, want 0", got)
	}
	if r.pool.free != r.pool.size() {
		t.Fatalf("pool: %d of %d pairs free", r.pool.free, r.pool.size())
	}
}

func fdCount(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	return len(ents)
}

func TestThousandSessionsNoLeak(t *testing.T) {
	before := fdCount(t)
	r, err := New(testConfig(64))
	if err != nil {
		t.Fatal(err)
	}
	a, b := newPhone(t), newPhone(t)
	for i := range 1000 {
		s, err := r.NewSession("leak")
		if err != nil {
			t.Fatal(err)
		}
		st, err := s.Stream(0)
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		if i%100 == 0 {
			st.SetPeer(LegA, a.addr(), netip.AddrPort{})
			st.SetPeer(LegB, b.addr(), netip.AddrPort{})
			a.send(st.Local(LegA), rtp(1, 0, 1))
			b.mustRecv("through the session")
		}
		s.Close()
		s.Close()
	}
	if n := r.Sessions(); n != 0 {
		t.Fatalf("sessions = %d, want 0", n)
	}
	if got := r.PortsInUse(); got != 0 {
		t.Fatalf("ports in use = %d, want 0", got)
	}
	r.Close()
	a.c.Close()
	b.c.Close()
	if after := fdCount(t); after != before {
		t.Fatalf("fds: %d before, %d after", before, after)
	}
	goleak.VerifyNone(t)
}

func TestCloseDuringTraffic(t *testing.T) {
	r, err := New(testConfig(32))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range 8 {
		_, st, a, b := call(t, r, string(rune('a'+i)))
		wg.Add(2)
		for _, p := range []struct {
			ph *phone
			to netip.AddrPort
		}{{a, st.Local(LegA)}, {b, st.Local(LegB)}} {
			go func() {
				defer wg.Done()
				for seq := uint16(0); ; seq++ {
					select {
					case <-stop:
						return
					default:
					}
					p.ph.c.WriteToUDPAddrPort(rtp(seq, uint32(seq)*160, 1), p.to)
				}
			}()
		}
		// Half the sessions get Stats and Close concurrently with
		// Relay.Close.
		if i%2 == 0 {
			s, _ := r.Session(string(rune('a' + i)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 100 {
					s.Stats()
				}
				s.Close()
			}()
		}
	}
	time.Sleep(50 * time.Millisecond)
	r.Close()
	close(stop)
	wg.Wait()
	if c := r.Counters(); c.Packets == 0 {
		t.Fatal("no packet relayed")
	}
	if _, err := r.NewSession("late"); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewSession after Close: %v, want ErrClosed", err)
	}
}
