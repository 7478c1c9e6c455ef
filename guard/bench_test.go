package guard_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/palio-voip/palio/guard"
)

// BenchmarkAdmit is the guard's cost per packet on the read loop (the
// gate; the hook itself is sip's BenchmarkReadFilterGate): a source under
// the density (the common case), a blocked one, one of 10000 sources in
// turn, and an address with a ban. Budget: 0 allocations in steady state;
// well under a microsecond, next to a parse's ~10 µs.
func BenchmarkAdmit(b *testing.B) {
	newGuard := func(b *testing.B, density int) *guard.Guard {
		g, err := guard.New(guard.Config{Flood: guard.FloodConfig{Density: density}}, guard.NewMemStore())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { g.Close() })
		return g
	}
	b.Run("passed", func(b *testing.B) {
		g := newGuard(b, 1<<30)
		src := netip.MustParseAddrPort("127.0.0.1:5060")
		b.ReportAllocs()
		for b.Loop() {
			g.Admit(src, "udp")
		}
	})
	b.Run("blocked", func(b *testing.B) {
		g := newGuard(b, 1)
		src := netip.MustParseAddrPort("127.0.0.2:5060")
		b.ReportAllocs()
		for b.Loop() {
			g.Admit(src, "udp")
		}
	})
	b.Run("10000 sources", func(b *testing.B) {
		g := newGuard(b, 1<<30)
		srcs := make([]netip.AddrPort, 10000)
		for i := range srcs {
			srcs[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 5060)
			g.Admit(srcs[i], "udp")
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			g.Admit(srcs[i%len(srcs)], "udp")
			i++
		}
	})
	b.Run("banned", func(b *testing.B) {
		store := guard.NewMemStore()
		now := time.Now()
		store.PutBan(b.Context(), guard.Ban{Kind: guard.BanIP, Subject: "203.0.113.9", Created: now, Until: now.Add(time.Hour)})
		g, err := guard.New(guard.Config{}, store)
		if err != nil {
			b.Fatal(err)
		}
		defer g.Close()
		src := netip.MustParseAddrPort("203.0.113.9:5060")
		b.ReportAllocs()
		for b.Loop() {
			g.Admit(src, "udp")
		}
	})
}
