package main

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/store/storetest"
)

// aclGateway is a gateway on UDP that answers OPTIONS with 200 to the
// addresses it lets in and drops everything else: a gateway behind a
// firewall that only some nodes get through.
type aclGateway struct {
	pc    net.PacketConn
	mu    sync.Mutex
	allow map[string]bool
	seen  map[string]int // OPTIONS by source address
}

func newACLGateway(t *testing.T) *aclGateway {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &aclGateway{pc: pc, allow: map[string]bool{}, seen: map[string]int{}}
	done := make(chan struct{})
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			msg := buf[:n]
			if !bytes.HasPrefix(msg, []byte("OPTIONS ")) {
				continue
			}
			g.mu.Lock()
			g.seen[from.String()]++
			ok := g.allow[from.String()]
			g.mu.Unlock()
			if ok {
				pc.WriteTo(okResponse(msg), from)
			}
		}
	}()
	return g
}

func (g *aclGateway) addr() string { return g.pc.LocalAddr().String() }

func (g *aclGateway) let(addr string) {
	g.mu.Lock()
	g.allow[addr] = true
	g.mu.Unlock()
}

func (g *aclGateway) probes(addr string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.seen[addr]
}

// okResponse is a 200 to the request msg, with its Via, From, To,
// Call-ID and CSeq.
func okResponse(msg []byte) []byte {
	var b strings.Builder
	b.WriteString("SIP/2.0 200 OK\r\n")
	head, _, _ := strings.Cut(string(msg), "\r\n\r\n")
	for _, l := range strings.Split(head, "\r\n")[1:] {
		name, _, _ := strings.Cut(l, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "v", "from", "f", "to", "t", "call-id", "i", "cseq":
			b.WriteString(l + "\r\n")
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(b.String())
}

// gatewayState returns the node's palio_routing_gateway_state of gw, and
// how many state changes it counted for it.
func (e *example) gatewayState(gw string) (state string, changes int) {
	e.t.Helper()
	state = "?"
	for _, l := range strings.Split(e.metrics(), "\n") {
		if v, ok := strings.CutPrefix(l, `palio_routing_gateway_state{gateway="`+gw+`"} `); ok {
			state = v
		}
		if strings.HasPrefix(l, `palio_routing_gateway_state_changes_total{gateway="`+gw+`",`) {
			f := strings.Fields(l)
			n, _ := strconv.Atoi(f[len(f)-1])
			changes += n
		}
	}
	return state, changes
}

// TestClusterGatewayState: two nodes on one MariaDB database probe a
// gateway that lets node B's probes in and drops node A's. A marks it
// inactive (2); B keeps it active (0), the store keeps it active, and
// neither node changes it again however many probes and polls go by:
// probe results are each node's. An operator's disable (the CLI, on the
// store) is obeyed by both within the poll; the enable that follows gives
// each node its own probes' view back.
func TestClusterGatewayState(t *testing.T) {
	dsn := storetest.MySQLDSN(t)
	gw := newACLGateway(t)
	var nodes []*example
	for i := range 2 {
		cfg := mysqlConfig(dsn) + fmt.Sprintf("[routing]\nprobe_interval = \"100ms\"\nprobe_timeout = \"1s\"\n[cluster]\nnode = \"node-%c\"\n[media]\npolicy = \"never\"\n", 'a'+i)
		var e *example
		if i == 0 {
			e = newExample(t, cfg)
			e.cli(0, "gateway", "set-address", "media-asterisk", gw.addr())
		} else {
			e = newBareExample(t, cfg)
		}
		e.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
		nodes = append(nodes, e)
	}
	a, b := nodes[0], nodes[1]
	gw.let(b.addr)
	a.start()
	b.start()
	const id = "media-asterisk"
	wait := func(e *example, name, want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			if got, _ := e.gatewayState(id); got == want {
				return
			}
			if time.Now().After(deadline) {
				got, _ := e.gatewayState(id)
				t.Fatalf("node %s: %s state %s, want %s (probes from A %d, from B %d)\n%s", name, id, got, want,
					gw.probes(a.addr), gw.probes(b.addr), tail(e.stderr.String(), 20))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wait(a, "A", "2")
	// Ten probe rounds and five polls later: nothing moved.
	for n := gw.probes(b.addr); gw.probes(b.addr) < n+10; time.Sleep(20 * time.Millisecond) {
	}
	if st, n := a.gatewayState(id); st != "2" || n != 1 {
		t.Errorf("node A: %s state %s after %d changes, want 2 after 1", id, st, n)
	}
	if st, n := b.gatewayState(id); st != "0" || n != 0 {
		t.Errorf("node B: %s state %s after %d changes, want 0 after none (A's failed probes are A's)", id, st, n)
	}
	if got := a.row("id", id, "gateway", "list")["state"]; got != "active" {
		t.Errorf("the store's %s: %s, want active (probe results are not written in a cluster)", id, got)
	}

	// The operator disables it: both nodes obey within the poll (200ms).
	start := time.Now()
	a.cli(0, "gateway", "disable", id)
	wait(a, "A", "1")
	wait(b, "B", "1")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the disable took %v to reach both nodes, want about the poll", d)
	}
	time.Sleep(1500 * time.Millisecond) // B's probes answer; A's fail: neither undoes it
	for i, e := range nodes {
		if st, _ := e.gatewayState(id); st != "1" {
			t.Errorf("node %c: %s state %s after more probes, want 1 (disabled)", 'A'+i, id, st)
		}
	}
	a.cli(0, "gateway", "enable", id)
	wait(b, "B", "0")
	wait(a, "A", "2")
}
