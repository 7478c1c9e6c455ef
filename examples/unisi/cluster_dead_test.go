package main

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip/siptest"
)

// TestClusterDeadNode: three nodes share their trunk counts through
// Redis; Arezzo's PRI has 4 channels. Node 3 puts 4 calls on it, then
// dies: its link to Redis is cut (a TCP proxy the test controls) and it
// stops, so it cannot take its counts out as a clean stop does. Its calls
// keep the PRI full for the others at first, then leave the counts within
// the documented bound (trunkcount's Expiry, 5 s, after its last report,
// sent every second); the other nodes then put calls on the PRI again, up
// to its 4 channels and no more.
func TestClusterDeadNode(t *testing.T) {
	redis := redisURL(t)
	ru, err := url.Parse(redis)
	if err != nil || ru.Host == "" {
		t.Fatalf("PALIO_REDIS_URL %q: %v", redis, err)
	}
	px := newTCPProxy(t, ru.Host)
	arezzo := siptest.NewGateway(t, siptest.Respond(200)) // answers and keeps the calls
	// One account places many calls in a row: no fraud check (the
	// guard's business, not this test's). Node 3 reaches Redis through
	// the proxy.
	const noFraud = "[guard.fraud]\nenabled = false\n"
	nodes, _ := newTrunkCluster(t, redis, []trunkNode{{extra: noFraud}, {extra: noFraud},
		{redis: strings.Replace(redis, ru.Host, px.addr(), 1), extra: noFraud + "[timers]\ndrain = \"200ms\"\n"}}, arezzo.Addr())
	for _, e := range nodes {
		e.start()
	}
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	c1, c2, c3 := n1.phone("5002"), n2.phone("5003"), n3.phone("5004")
	ctx := ctxT(t, 60*time.Second)
	seq := 0
	// call places a call to Arezzo's numbers through e and reports
	// whether Arezzo's PRI took it (else Siena's did, by failover).
	call := func(ua *siptest.UA, e *example) (*siptest.Call, bool) {
		t.Helper()
		seq++
		before := len(arezzo.Received("INVITE"))
		c, err := ua.Invite(ctx, fmt.Sprintf("sip:00575%06d@%s", 200000+seq, e.addr))
		if code := finalCode(t, c, err); code != 200 {
			t.Fatalf("call through %s: got %d, want 200\n%s", e.addr, code, tail(e.stderr.String(), 20))
		}
		return c, len(arezzo.Received("INVITE")) > before
	}
	for i := range 4 {
		if _, onArezzo := call(c3, n3); !onArezzo {
			t.Fatalf("node 3's call %d did not go to Arezzo's free PRI", i+1)
		}
	}
	if c, onArezzo := call(c1, n1); onArezzo {
		t.Fatalf("node 1 put a 5th call on Arezzo's 4-channel PRI")
	} else {
		c.Bye(ctx)
	}

	// Node 3 dies with its 4 calls up.
	px.cut()
	died := time.Now()
	n3.stop()
	if c, onArezzo := call(c2, n2); onArezzo {
		t.Fatalf("node 2 got Arezzo's PRI %v after node 3 died: its calls left the counts at once, as only a clean stop may", time.Since(died))
	} else {
		c.Bye(ctx)
	}
	for freed := false; !freed; {
		if time.Since(died) > 10*time.Second {
			t.Fatalf("Arezzo's PRI still full %v after node 3 died\nnode 1:\n%s", time.Since(died), tail(n1.stderr.String(), 20))
		}
		time.Sleep(200 * time.Millisecond)
		c, onArezzo := call(c1, n1)
		if freed = onArezzo; !freed {
			c.Bye(ctx)
		}
	}
	freed := time.Since(died)
	t.Logf("node 3's 4 channels left the cluster's counts %v after it died", freed.Round(10*time.Millisecond))
	// Expiry (5 s) after the last report (at most 1 s before the cut),
	// plus a call's time on a loaded machine.
	if freed > 8*time.Second {
		t.Errorf("node 3's channels were freed %v after it died, want within 5 s of its last report", freed)
	}
	// The PRI is the live nodes' again: 3 more calls fit, the next not.
	for i := range 3 {
		ua, e := c1, n1
		if i%2 == 1 {
			ua, e = c2, n2
		}
		if _, onArezzo := call(ua, e); !onArezzo {
			t.Errorf("call %d of the live nodes after the release did not go to Arezzo (%d of 4 channels theirs)", i+2, i+1)
		}
	}
	if c, onArezzo := call(c2, n2); onArezzo {
		t.Errorf("a 5th call of the live nodes went to Arezzo's 4-channel PRI")
	} else {
		c.Bye(ctx)
	}
}
