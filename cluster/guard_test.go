package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/sip"
)

// arrivals records when each ban reached a guard from a peer.
type arrivals struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (a *arrivals) record(ev guard.Event) {
	if ev.Kind != guard.EventBanned || ev.Origin != guard.OriginPeer {
		return
	}
	a.mu.Lock()
	a.at[ev.Ban.Subject] = time.Now()
	a.mu.Unlock()
}

func (a *arrivals) get(s string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.at[s]
	return t, ok
}

// TestGuardAcrossNodes: three nodes' guards share their decisions over
// NATS. A source banned on node 1 is refused by nodes 2 and 3, each ban
// crossing within a second (measured over 200 bans).
func TestGuardAcrossNodes(t *testing.T) {
	leakCheck(t)
	url := natsURL(t)
	cfg := Config{URL: url, Cluster: testCluster()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var guards []*guard.Guard
	var seen []*arrivals
	for i := range 3 {
		n := newNode(t, cfg, fmt.Sprint("node-", i+1))
		n.ready(ctx)
		g, err := guard.New(guard.Config{Flood: guard.FloodConfig{Off: true}, Auth: guard.AuthConfig{PerIP: guard.Limit{Failures: 1}}},
			guard.NewMemStore(), guard.WithLogger(testLogger()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Close() })
		a := &arrivals{at: map[string]time.Time{}}
		g.Subscribe(a.record)
		t.Cleanup(g.Share(n.bus.GuardPeers()))
		guards = append(guards, g)
		seen = append(seen, a)
	}
	const n = 200
	sent := make([]time.Time, n)
	ips := make([]netip.Addr, n)
	for i := range n {
		ips[i] = netip.AddrFrom4([4]byte{198, 51, 100 + byte(i/250), byte(1 + i%250)})
		sent[i] = time.Now()
		guards[0].AuthFailed(ips[i], "5002", "wrong-password")
		time.Sleep(time.Millisecond)
	}
	var lat []time.Duration
	for _, node := range []int{1, 2} {
		for i := range n {
			var at time.Time
			waitFor(t, 10*time.Second, fmt.Sprintf("the ban of %s on node %d", ips[i], node+1), func() bool {
				var ok bool
				at, ok = seen[node].get(ips[i].String())
				return ok
			})
			lat = append(lat, at.Sub(sent[i]))
		}
		if v := guards[node].Admit(netip.AddrPortFrom(ips[0], 5060), "udp"); v != sip.Drop {
			t.Errorf("node %d: the source banned on node 1 got %v, want Drop", node+1, v)
		}
	}
	slices.Sort(lat)
	p50, p99, worst := lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	t.Logf("ban across nodes over %s: p50 %v, p99 %v, max %v (%d bans, 2 receivers)", url, p50, p99, worst, n)
	if worst > time.Second {
		t.Errorf("slowest ban crossing %v, want within a second", worst)
	}
}
