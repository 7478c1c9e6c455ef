package sip

import (
	"net"
	"testing"
)

// TestLocalIsLocal: a URI is us only at the host and port of a listener
// (bound or advertised) over a transport that listener serves; the hosts
// and ports of different listeners are not crossed, and a URI without a
// transport parameter never names a WebSocket listener.
func TestLocalIsLocal(t *testing.T) {
	l := newLocal()
	for _, ls := range []struct {
		network   string
		bound     string
		advertise string
	}{
		{"udp", "127.0.0.1:5060", ""},
		{"tcp", "127.0.0.1:5060", ""},
		{"tls", "127.0.0.1:5061", ""},
		{"wss", "127.0.0.1:7443", ""},
		{"udp", "10.0.0.1:5070", "192.0.2.1:5080"},
	} {
		addr, err := net.ResolveTCPAddr("tcp", ls.bound)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.addListen(ls.network, addr, ls.advertise); err != nil {
			t.Fatal(err)
		}
	}
	l.AddDomain("voip.unisi.it")
	for _, tt := range []struct {
		uri  string
		want bool
	}{
		{"sip:5002@voip.unisi.it:9999", true},
		{"sip:127.0.0.1", true},
		{"sip:127.0.0.1:5060;transport=tcp", true},
		{"sip:127.0.0.1:5060;transport=tls", false},
		{"sips:127.0.0.1", true},
		{"sip:127.0.0.1:5061;transport=tls", true},
		{"sips:127.0.0.1:5061;transport=tcp", true},
		{"sip:127.0.0.1:5061;transport=tcp", false},
		{"sip:5002@127.0.0.1:7443", false}, // a phone's UDP port, our WSS one
		{"sip:127.0.0.1:7443;transport=ws", true},
		{"sip:127.0.0.1:7443;transport=wss", true},
		{"sip:127.0.0.1:7443;transport=udp", false},
		{"sip:192.0.2.1:5080", true},
		{"sip:10.0.0.1:5070", true},
		{"sip:192.0.2.1:5070", true},  // advertised host, bound port
		{"sip:10.0.0.1:5061", false},  // another listener's port
		{"sip:127.0.0.1:5080", false}, // another listener's advertised port
		{"sip:127.0.0.2:5060", false},
		{"sip:5002@[::1]:5060", false},
	} {
		u, err := ParseURI(tt.uri)
		if err != nil {
			t.Fatal(err)
		}
		if got := l.IsLocal(&u); got != tt.want {
			t.Errorf("IsLocal(%s) = %v, want %v", tt.uri, got, tt.want)
		}
	}
}
