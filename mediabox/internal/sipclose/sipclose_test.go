package sipclose

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"
)

// listen serves a UA whose read filter is g on a free loopback port, and
// returns the UA, its address and the stop function Close wants.
func listen(t *testing.T, g *Gate) (*sipgo.UserAgent, string, func()) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	ua, err := sipgo.NewUA(sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerReadFilter(g.Filter)))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe(ctx, "udp", addr) }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if c, err := ua.TransportLayer().GetConnection("udp", addr); err == nil && c != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("listener not ready")
		}
	}
	return ua, addr, func() { cancel(); <-served }
}

// TestLateRequestFails: a request sent from a closed listener's address
// fails; sipgo does not bind the freed port for it (a socket and a
// reader nothing closes).
func TestLateRequestFails(t *testing.T) {
	defer goleak.VerifyNone(t)
	var g Gate
	ua, addr, stop := listen(t, &g)
	g.Close(ua, addr, stop)

	// As diago's client: its requests leave from the listener.
	client, err := sipgo.NewClient(ua, sipgo.WithClientConnectionAddr(addr))
	if err != nil {
		t.Fatal(err)
	}
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{User: "x", Host: "127.0.0.1", Port: 9})
	if err := client.WriteRequest(req); err == nil {
		t.Fatal("a request left a closed listener's address")
	}
}

// TestFilterDropsAfterClose: what the listener reads after Close is not
// passed on.
func TestFilterDropsAfterClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	var g Gate
	ua, addr, stop := listen(t, &g)
	props := sip.TransportReadProps{RemoteAddr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060}}
	if out, _ := g.Filter(props, []byte("x")); string(out) != "x" {
		t.Fatalf("before Close: %q, want it passed", out)
	}
	g.Close(ua, addr, stop)
	if out, err := g.Filter(props, []byte("x")); out != nil || err != nil {
		t.Fatalf("after Close: %q, %v, want it dropped", out, err)
	}
	// The address read from answers nothing now, rather than from a
	// socket sipgo opens.
	c, err := ua.TransportLayer().GetConnection("udp", "127.0.0.1:5060")
	if err != nil || c == nil {
		t.Fatalf("no connection in the pool for an address read from: %v", err)
	}
	if err := c.WriteMsg(sip.NewRequest(sip.OPTIONS, sip.Uri{Host: "127.0.0.1", Port: 5060})); err == nil {
		t.Fatal("a write to an address read from succeeded after Close")
	}
}
