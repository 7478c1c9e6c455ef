package sip

import (
	"net"
	"net/netip"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

type benchGate struct{ v Verdict }

func (g benchGate) Admit(netip.AddrPort, string) Verdict { return g.v }

// BenchmarkReadFilterGate is the cost the SourceGate hook adds to every
// UDP datagram on the read loop, before sipgo parses it: none (no gate),
// a gate that admits, one that drops. The gate's own work (a flood check)
// is the gate's to measure. Budget: 0 allocations; a few ns for the hook.
func BenchmarkReadFilterGate(b *testing.B) {
	data := []byte(inviteMsg)
	props := sipmsg.TransportReadProps{
		Transport:  "UDP",
		LocalAddr:  &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060},
		RemoteAddr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 5090},
	}
	for _, bc := range []struct {
		name string
		gate SourceGate
	}{{"none", nil}, {"pass", benchGate{Pass}}, {"drop", benchGate{Drop}}} {
		b.Run(bc.name, func(b *testing.B) {
			s := &Server{gate: bc.gate}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.readFilter(props, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
