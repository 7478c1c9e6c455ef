package sip

import (
	"errors"
	"net"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

// TestGuardLoopbackListeners: the guard applies per transport, to the
// listeners bound to loopback only; a server without one has no guard at
// all, and a write (an ACK) is checked as a request is.
func TestGuardLoopbackListeners(t *testing.T) {
	type listen struct {
		network, ip, advertise string
	}
	tests := []struct {
		name      string
		listens   []listen
		guarded   bool
		transport string
		dest      string
		refused   bool
	}{
		{"wildcard", []listen{{"udp", "0.0.0.0", "192.0.2.1"}, {"tcp", "0.0.0.0", "192.0.2.1"}}, false, "UDP", "198.51.100.1:5060", false},
		{"IPv6 wildcard", []listen{{"udp", "::", "192.0.2.1"}}, false, "UDP", "198.51.100.1:5060", false},
		{"real interface", []listen{{"udp", "192.0.2.1", ""}}, false, "UDP", "198.51.100.1:5060", false},
		{"loopback UDP, wildcard TCP: TCP", []listen{{"udp", "127.0.0.1", ""}, {"tcp", "0.0.0.0", "192.0.2.1"}}, true, "TCP", "198.51.100.1:5060", false},
		{"loopback UDP, wildcard TCP: UDP", []listen{{"udp", "127.0.0.1", ""}, {"tcp", "0.0.0.0", "192.0.2.1"}}, true, "UDP", "198.51.100.1:5060", true},
		{"loopback UDP, no TLS listener: TLS", []listen{{"udp", "127.0.0.1", ""}}, true, "TLS", "198.51.100.1:5061", false},
		{"another loopback address", []listen{{"udp", "127.0.0.53", ""}}, true, "UDP", "127.0.0.1:5060", false},
		{"IPv6 loopback", []listen{{"udp", "::1", ""}}, true, "UDP", "[::1]:5060", false},
		{"IPv6 loopback, off", []listen{{"udp", "::1", ""}}, true, "UDP", "[2001:db8::1]:5060", true},
		{"advertised, still bound to loopback", []listen{{"udp", "127.0.0.1", "sip.example.net"}}, true, "UDP", "198.51.100.1:5060", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Server{local: newLocal()}
			for _, l := range tt.listens {
				if err := s.local.addListen(l.network, &net.UDPAddr{IP: net.ParseIP(l.ip), Port: 5060}, l.advertise); err != nil {
					t.Fatal(err)
				}
			}
			down := &scripted{codes: []int{200}}
			tr := s.guardLoopback(down)
			if _, guarded := tr.(*loopbackGuard); guarded != tt.guarded {
				t.Fatalf("guarded: got %v, want %v", guarded, tt.guarded)
			}
			req := sipmsg.NewRequest(ACK, URI{Scheme: "sip", Host: "gw.invalid"})
			req.SetTransport(tt.transport)
			req.SetDestination(tt.dest)
			err := tr.write(req)
			if refused := errors.Is(err, ErrNotLoopback); refused != tt.refused {
				t.Fatalf("write to %s over %s: got %v, want refused %v", tt.dest, tt.transport, err, tt.refused)
			}
			down.mu.Lock()
			sent := len(down.sent)
			down.mu.Unlock()
			if want := map[bool]int{true: 0, false: 1}[tt.refused]; sent != want {
				t.Errorf("requests passed on: got %d, want %d", sent, want)
			}
		})
	}
}

// BenchmarkLoopbackGuard is the guard's cost per request on a server
// bound to loopback, for a destination on loopback: about 0.2 us and one
// allocation (sipgo's Route lookup, which sipgo makes again to send).
func BenchmarkLoopbackGuard(b *testing.B) {
	s := &Server{local: newLocal()}
	if err := s.local.addListen("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060}, ""); err != nil {
		b.Fatal(err)
	}
	g := s.guardLoopback(&scripted{}).(*loopbackGuard)
	req := sipmsg.NewRequest(INVITE, URI{Scheme: "sip", User: "5002", Host: "127.0.0.1", Port: 5090})
	req.SetTransport("UDP")
	b.ReportAllocs()
	for b.Loop() {
		if err := g.check(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}
