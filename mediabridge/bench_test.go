package mediabridge

import (
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRelayPacket relays RTP packets through one session over
// loopback, A to B, with a window of packets in flight so that the relay
// is measured rather than the round trip. One op is one packet.
// Allocation budget: 0 per packet (the sender and receiver here allocate
// nothing either).
func BenchmarkRelayPacket(b *testing.B) {
	for _, workers := range []int{0, 1, 2} {
		b.Run(map[int]string{0: "direct", 1: "workers=1", 2: "workers=2"}[workers], func(b *testing.B) {
			cfg := testConfig(8)
			cfg.Workers = max(workers, 1)
			r := newTestRelay(b, cfg)
			s, _ := r.NewSession("bench")
			st, _ := s.Stream(0)
			a, bp := newPhone(b), newPhone(b)
			st.SetPeer(LegA, a.addr(), netip.AddrPort{})
			st.SetPeer(LegB, bp.addr(), netip.AddrPort{})
			to := st.Local(LegA)
			if workers == 0 {
				to = bp.addr() // no relay: the generator's own cost
			}
			pkt := rtp(1, 0, 1)
			buf := make([]byte, 2048)
			const window = 32
			bp.c.SetReadDeadline(time.Now().Add(time.Minute))
			recv := func() {
				if _, _, err := bp.c.ReadFromUDPAddrPort(buf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			inflight := 0
			for i := range b.N {
				pkt[2], pkt[3] = byte(i>>8), byte(i)
				if _, err := a.c.WriteToUDPAddrPort(pkt, to); err != nil {
					b.Fatal(err)
				}
				inflight++
				if inflight == window {
					recv()
					inflight--
				}
			}
			for ; inflight > 0; inflight-- {
				recv()
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			if lost := st.Stats().A.Lost; lost != 0 {
				b.Logf("relay saw %d lost (socket buffers)", lost)
			}
		})
	}
}

// cpuTime is the process's user and system CPU time in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
