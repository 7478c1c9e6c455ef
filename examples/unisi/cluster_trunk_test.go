package main

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
	"github.com/palio-voip/palio/store/storetest"
)

// redisURL returns the Redis server of the tests, or skips.
func redisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("PALIO_REDIS_URL")
	if u == "" {
		t.Skip("PALIO_REDIS_URL is not set: no Redis for the cluster's trunk counts (e.g. PALIO_REDIS_URL=redis://127.0.0.1:6379/0; .ci/run sets it and starts redis-server)")
	}
	return u
}

// TestClusterTrunkChannels: three example nodes on one MariaDB database
// share their trunk counts through Redis (with a generous timeout: the
// test is about the limit, and a race-detector build on a busy machine
// may be slower than the default 50 ms, which would rightly let calls
// through on each node's own counts). Arezzo's PRI has 4 channels;
// 12 calls to Arezzo placed at once through the three nodes all connect,
// at most 4 of them on Arezzo's PRI, the others failing over to Siena's
// (the alarm: TestClusterTrunkAlarmOnce).
func TestClusterTrunkChannels(t *testing.T) {
	arezzo := siptest.NewGateway(t, siptest.Respond(200)) // answers and keeps the call
	nodes, gws := newTrunkCluster(t, redisURL(t), make([]trunkNode, 3), arezzo.Addr())
	for _, e := range nodes {
		e.start()
	}
	var callers []*siptest.UA
	for i, e := range nodes {
		callers = append(callers, e.phone(strconv.Itoa(5002+i)))
	}
	ctx := ctxT(t, 30*time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var calls []*siptest.Call
	codes := map[int]int{}
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := i % 3
			c, err := callers[n].Invite(ctx, fmt.Sprintf("sip:00575%06d@%s", 100000+i, nodes[n].addr))
			code := finalCode(t, c, err)
			mu.Lock()
			codes[code]++
			if c != nil {
				calls = append(calls, c)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range calls {
			c.Bye(ctx)
		}
	}()
	onArezzo, onSiena := len(arezzo.Received(sip.INVITE)), invites(gws, sienaPRIs...)
	t.Logf("12 calls through 3 nodes: %d on Arezzo's 4-channel PRI, %d on Siena's; outcomes %v", onArezzo, onSiena, codes)
	if onArezzo > 4 || onArezzo < 1 {
		t.Errorf("Arezzo's 4-channel PRI got %d calls at once, want 1 to 4", onArezzo)
		for i, e := range nodes {
			t.Logf("node %d:\n%s", i+1, tail(e.stderr.String(), 10))
		}
	}
	if codes[200] != 12 || onArezzo+onSiena != 12 {
		t.Errorf("outcomes %v, %d on Arezzo and %d on Siena: want 12 connected", codes, onArezzo, onSiena)
	}
}

// TestClusterTrunkAlarmOnce: the 80 % alarm of Arezzo's 4-channel PRI
// (at 4 of 4) is the cluster's: four calls placed one after the other
// through nodes 1, 2, 3 and 1 fill the PRI, and exactly one node logs the
// alarm, however long the others report their counts; a fifth call
// (on Siena's PRI) raises nothing more.
func TestClusterTrunkAlarmOnce(t *testing.T) {
	arezzo := siptest.NewGateway(t, siptest.Respond(200))
	nodes, gws := newTrunkCluster(t, redisURL(t), make([]trunkNode, 3), arezzo.Addr())
	for _, e := range nodes {
		e.start()
	}
	var callers []*siptest.UA
	for i, e := range nodes {
		callers = append(callers, e.phone(strconv.Itoa(5002+i)))
	}
	ctx := ctxT(t, 30*time.Second)
	const raised = "gateway gw-arezzo: alarm, 4 of 4 channels in use"
	count := func(line string) int {
		n := 0
		for _, e := range nodes {
			n += strings.Count(e.stderr.String(), line)
		}
		return n
	}
	logs := func() string {
		var b strings.Builder
		for i, e := range nodes {
			fmt.Fprintf(&b, "node %d:\n%s\n", i+1, tail(e.stderr.String(), 10))
		}
		return b.String()
	}
	// settle waits for line to be logged, then two full reports more
	// (CounterInterval, 1 s), and returns how many nodes logged it.
	settle := func(line string) int {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); count(line) == 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%q never logged\n%s", line, logs())
			}
		}
		time.Sleep(2500 * time.Millisecond)
		return count(line)
	}
	var calls []*siptest.Call
	defer func() {
		for _, c := range calls {
			c.Bye(ctx)
		}
	}()
	for i, n := range []int{0, 1, 2, 0} {
		c, err := callers[n].Invite(ctx, fmt.Sprintf("sip:00575%06d@%s", 200000+i, nodes[n].addr))
		if code := finalCode(t, c, err); code != 200 {
			t.Fatalf("call %d through node %d: got %d, want 200\n%s", i+1, n+1, code, logs())
		}
		calls = append(calls, c)
		if i < 3 && count(raised) != 0 {
			t.Fatalf("the alarm was raised at %d of 4 channels\n%s", i+1, logs())
		}
	}
	if got := len(arezzo.Received(sip.INVITE)); got != 4 {
		t.Fatalf("Arezzo's PRI got %d calls, want the 4", got)
	}
	if n := settle(raised); n != 1 {
		t.Errorf("the alarm at 4 of 4 logged %d times across the nodes, want once\n%s", n, logs())
	}
	c, err := callers[1].Invite(ctx, fmt.Sprintf("sip:00575%06d@%s", 200004, nodes[1].addr))
	if code := finalCode(t, c, err); code != 200 {
		t.Fatalf("a fifth call: got %d, want 200 on Siena's PRI", code)
	}
	calls = append(calls, c)
	if got := invites(gws, sienaPRIs...); got != 1 {
		t.Errorf("Siena's PRIs got %d calls, want the fifth", got)
	}
	time.Sleep(500 * time.Millisecond)
	if n := count(raised); n != 1 {
		t.Errorf("after a fifth call the alarm is logged %d times, want still once", n)
	}
}

// trunkNode is a node of the tests where example nodes share trunk
// counts through Redis.
type trunkNode struct {
	redis   string // its Redis URL (default: the tests' Redis)
	timeout string // [cluster] redis_timeout (default 2s)
	extra   string // more configuration
}

// newTrunkCluster makes the nodes (not started) on the tests' MariaDB,
// one cluster sharing trunk counts through Redis, and gives Arezzo's PRI
// 4 channels at arezzo; it returns the nodes and the other gateways
// (example.gateways). A generous redis_timeout by default: these tests
// are about the limit, and a race-detector build on a busy machine may
// be slower than the default 50 ms, which would rightly let calls through
// on each node's own counts.
func newTrunkCluster(t *testing.T, redis string, specs []trunkNode, arezzo string) ([]*example, map[string]*siptest.UA) {
	t.Helper()
	dsn := storetest.MySQLDSN(t)
	name := "t" + strconv.FormatUint(rand.Uint64()%1e9, 10)
	var nodes []*example
	for i, sp := range specs {
		r, timeout := cmp.Or(sp.redis, redis), cmp.Or(sp.timeout, "2s")
		cfg := fmt.Sprintf("[store]\nmysql = %q\npoll = \"200ms\"\n[log]\nlevel = \"warn\"\ncalls = false\n"+
			"[routing]\nprobe_interval = \"0s\"\n"+
			"[cluster]\nnode = \"node-%d\"\nredis = %q\nredis_timeout = %q\nname = %q\n[media]\npolicy = \"never\"\n[mediabox]\nenabled = false\n%s",
			dsn, i+1, r, timeout, name, sp.extra)
		var e *example
		if i == 0 {
			e = newExample(t, cfg)
		} else {
			e = newBareExample(t, cfg)
		}
		nodes = append(nodes, e)
	}
	gws := nodes[0].gateways(map[string]string{"gw-arezzo": arezzo})
	nodes[0].editRouting(func(d *routing.Data) {
		for i := range d.Gateways {
			if d.Gateways[i].GWID == "gw-arezzo" {
				d.Gateways[i].Channels = 4
			}
		}
	})
	return nodes, gws
}
