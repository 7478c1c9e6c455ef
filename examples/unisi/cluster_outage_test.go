package main

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip/siptest"
)

// TestClusterRedisOutage: two nodes share their trunk counts through
// Redis behind a TCP proxy the test controls; Arezzo's PRI has 4
// channels. The shared limit holds; then Redis goes away mid-traffic:
// calls keep connecting at once on each node's own counts (a failed
// reservation counted in the metrics, a warning logged), and none
// waits on the dead link beyond the configured timeout; Redis comes back
// and the cluster-wide limit holds again, the counts repaired by the
// nodes' reports.
func TestClusterRedisOutage(t *testing.T) {
	redis := redisURL(t)
	ru, err := url.Parse(redis)
	if err != nil || ru.Host == "" {
		t.Fatalf("PALIO_REDIS_URL %q: %v", redis, err)
	}
	px := newTCPProxy(t, ru.Host)
	viaProxy := strings.Replace(redis, ru.Host, px.addr(), 1)
	const timeout = 300 * time.Millisecond
	node := trunkNode{redis: viaProxy, timeout: timeout.String(), extra: "[guard.fraud]\nenabled = false\n"}
	arezzo := siptest.NewGateway(t, siptest.Respond(200)) // answers and keeps the calls
	nodes, _ := newTrunkCluster(t, redis, []trunkNode{node, node}, arezzo.Addr())
	for _, e := range nodes {
		e.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	}
	for _, e := range nodes {
		e.start()
	}
	phones := []*siptest.UA{nodes[0].phone("5002"), nodes[1].phone("5003")}
	ctx := ctxT(t, 90*time.Second)
	seq := 0
	// round places 5 calls to Arezzo's numbers, alternating the nodes,
	// and returns how many Arezzo's PRI took and the longest set-up; it
	// hangs them all up.
	round := func(label string) (onArezzo int, slowest time.Duration) {
		t.Helper()
		var up []*siptest.Call
		defer func() {
			for _, c := range up {
				c.Bye(ctx)
			}
		}()
		for i := range 5 {
			seq++
			before := len(arezzo.Received("INVITE"))
			start := time.Now()
			c, err := phones[i%2].Invite(ctx, fmt.Sprintf("sip:00575%06d@%s", 300000+seq, nodes[i%2].addr))
			if code := finalCode(t, c, err); code != 200 {
				t.Fatalf("%s: call %d through node %d: got %d, want 200\n%s", label, i+1, i%2+1, code, tail(nodes[i%2].stderr.String(), 20))
			}
			slowest = max(slowest, time.Since(start))
			up = append(up, c)
			if len(arezzo.Received("INVITE")) > before {
				onArezzo++
			}
		}
		return onArezzo, slowest
	}
	reserveErrors := func(e *example) float64 {
		m := regexp.MustCompile(`(?m)^palio_trunkcount_requests_total\{op="reserve",result="error"\} (\S+)$`).FindStringSubmatch(e.metrics())
		if m == nil {
			return 0
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}

	if n, _ := round("Redis up"); n != 4 {
		t.Fatalf("Redis up: Arezzo's 4-channel PRI took %d of 5 calls through two nodes, want 4", n)
	}

	px.cut()
	n, slowest := round("Redis down")
	t.Logf("Redis down: %d of 5 calls on Arezzo, the slowest set up in %v", n, slowest.Round(time.Millisecond))
	// Each node counts alone: 3 and 2 calls, each within its 4.
	if n != 5 {
		t.Errorf("Redis down: Arezzo took %d of 5 calls, want 5 (each node on its own counts)", n)
	}
	// A reservation waits at most the timeout; the rest is the call.
	if slowest > timeout+2*time.Second {
		t.Errorf("Redis down: a call took %v to set up, with redis_timeout %v", slowest, timeout)
	}
	for i, e := range nodes {
		if reserveErrors(e) == 0 {
			t.Errorf("node %d counts no failed reservation while Redis is away", i+1)
		}
		if !strings.Contains(e.stderr.String(), "trunkcount") {
			t.Errorf("node %d logged nothing about the shared counts:\n%s", i+1, tail(e.stderr.String(), 10))
		}
	}

	px.restore()
	// The nodes' reports (every second) repair the counts; the shared
	// limit holds again.
	deadline := time.Now().Add(15 * time.Second)
	for {
		n, _ := round("Redis back")
		if n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis back: Arezzo still takes %d of 5 calls 15 s after Redis returned, want 4", n)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
