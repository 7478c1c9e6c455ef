package guard_test

import (
	"testing"
	"time"

	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/guard/guardtest"
	"github.com/palio-voip/palio/sip"
)

// shared returns n guards sharing their decisions through a hub, each
// over a store of its own (the nodes learn from each other, not from a
// store reload).
func shared(t *testing.T, cfg guard.Config, n int) []*env {
	t.Helper()
	hub := &guardtest.Hub{}
	var out []*env
	for i := range n {
		e := newEnv(t, cfg, nil)
		t.Cleanup(e.g.Share(hub.Node(string(rune('a' + i)))))
		out = append(out, e)
	}
	return out
}

// TestShareAuthBan: a source banned for guessing passwords on node 1 is
// refused by nodes 2 and 3 at once, and let in again everywhere when an
// operator clears the ban on node 2.
func TestShareAuthBan(t *testing.T) {
	nodes := shared(t, guard.Config{Flood: guard.FloodConfig{Off: true}, Auth: guard.AuthConfig{PerIP: guard.Limit{Failures: 3, Window: time.Minute, Ban: time.Hour}}}, 3)
	src := ap("192.0.2.66:5060")
	for range 3 {
		nodes[0].g.AuthFailed(src.Addr(), "5002", "wrong-password")
	}
	for i, e := range nodes {
		if v := e.g.Admit(src, "udp"); v != sip.Drop {
			t.Errorf("node %d: the banned source got %v, want Drop", i+1, v)
		}
	}
	for i, e := range nodes[1:] {
		evs := e.took()
		if len(evs) != 1 || evs[0].Kind != guard.EventBanned || evs[0].Origin != guard.OriginPeer || evs[0].Ban.Subject != "192.0.2.66" {
			t.Errorf("node %d events: got %+v, want the peer's ban", i+2, evs)
		}
		if e.logs.count(`msg="guard: banned" src=192.0.2.66`) != 1 {
			t.Errorf("node %d: no fail2ban line for the peer's ban:\n%s", i+2, e.logs)
		}
	}
	if err := nodes[1].g.Unban(t.Context(), guard.BanIP, "192.0.2.66"); err != nil {
		t.Fatal(err)
	}
	for i, e := range nodes {
		if v := e.g.Admit(src, "udp"); v != sip.Pass {
			t.Errorf("node %d after the ban was cleared: %v, want Pass", i+1, v)
		}
	}
}

// TestShareFraudBlock: a caller blocked by a fraud check on one node is
// blocked on the others.
func TestShareFraudBlock(t *testing.T) {
	e := newEnv(t, guard.Config{Flood: guard.FloodConfig{Off: true}}, nil)
	hub := &guardtest.Hub{}
	defer e.g.Share(hub.Node("b"))()
	// A fraud block is a ban of kind fraud, as Unban and the store know it.
	hub.Node("a").Publish(guard.Notice{Ban: guard.Ban{Kind: guard.BanFraud, Subject: "5002", Reason: "total-calls 3 >= 3", Created: t0}})
	found := false
	for _, l := range e.g.List() {
		found = found || l.Kind == guard.BanFraud && l.Subject == "5002"
	}
	if !found {
		t.Errorf("the peer's fraud block is not in force: %+v", e.g.List())
	}
}

// TestShareFlood: a source node 1 blocks for flooding is dropped by node
// 2 while node 1 says so, and let in when the flood is over.
func TestShareFlood(t *testing.T) {
	nodes := shared(t, guard.Config{Flood: guard.FloodConfig{SamplingUnit: time.Second, Density: 10}}, 2)
	flooder := ap("127.0.0.2:5060")
	for range 10 {
		nodes[0].g.Admit(flooder, "udp")
	}
	if v := nodes[1].g.Admit(flooder, "udp"); v != sip.Drop {
		t.Fatalf("node 2, a source node 1 blocks: %v, want Drop", v)
	}
	// The flood stops: node 1 lifts its block after two units, and says
	// so.
	for range 3 {
		for _, e := range nodes {
			e.clock.Advance(time.Second)
		}
		nodes[0].g.Sweep()
	}
	if v := nodes[1].g.Admit(flooder, "udp"); v != sip.Pass {
		t.Errorf("node 2 after the flood: %v, want Pass", v)
	}
}
