package trunkcount_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/palio-voip/palio/cluster/trunkcount"
	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// proxy is a TCP proxy between the nodes and Redis that the test can
// take down (every connection closed, new ones closed at once: Redis
// stopped) and bring back.
type proxy struct {
	ln     net.Listener
	target string
	down   atomic.Bool
	hang   atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.closeAll()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			c.Close()
			continue
		}
		if p.hang.Load() {
			// Accepted, never answered: a Redis that stopped responding.
			p.mu.Lock()
			p.conns[c] = true
			p.mu.Unlock()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.down.Load() || p.hang.Load() {
			// Taken down while dialing: closeAll has run already.
			p.mu.Unlock()
			c.Close()
			up.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

func (p *proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// stop takes Redis away from the nodes (connections refused), freeze
// makes it stop answering; start brings it back.
func (p *proxy) stop()   { p.down.Store(true); p.closeAll() }
func (p *proxy) freeze() { p.hang.Store(true); p.closeAll() }
func (p *proxy) start()  { p.down.Store(false); p.hang.Store(false); p.closeAll() }

// trunk is a 4-channel trunk every call goes to.
func trunk() routing.Data {
	return routing.Data{
		Gateways: []routing.Gateway{{ID: 1, GWID: "pri", Address: "192.0.2.1", Channels: 4}},
		Rules:    []routing.Rule{{ID: 1, Groups: "0", GWList: "pri"}},
	}
}

type node struct {
	r   *routing.Router
	reg *prometheus.Registry
}

// newNodes returns n Routers sharing their counts through url.
func newNodes(t *testing.T, url, cluster string, n int, expiry time.Duration) []node {
	t.Helper()
	var out []node
	for i := range n {
		c := newCounter(t, trunkcount.Config{URL: url, Cluster: cluster, Node: fmt.Sprint("node-", i+1), Expiry: expiry})
		reg := prometheus.NewRegistry()
		r, err := routing.New(routing.Config{VolatileState: true, CounterInterval: 100 * time.Millisecond, CounterTimeout: 250 * time.Millisecond},
			routing.NewMemStore(trunk()), routing.WithChannelCounter(c), routing.WithRegisterer(reg))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		out = append(out, node{r: r, reg: reg})
	}
	return out
}

// gauge returns the value of the metric name in reg (0 if absent).
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) > 0 {
			m := mf.Metric[0]
			if m.Gauge != nil {
				return m.Gauge.GetValue()
			}
			return m.Counter.GetValue()
		}
	}
	return 0
}

// eventually waits for cond, checking it every 20 ms, for a generous
// time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// holder holds its calls until released.
type holder struct {
	release chan struct{}
	up      atomic.Int32
}

func (h *holder) ServeSIP(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
	h.up.Add(1)
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	h.up.Add(-1)
	return w.WriteResponse(sip.NewResponse(r, 200, ""))
}

type answer struct{}

func (answer) ServeSIP(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
	return w.WriteResponse(sip.NewResponse(r, 200, ""))
}

func call(ctx context.Context, r *routing.Router, next sip.Handler, i int) int {
	req := siptest.NewRequest(sip.INVITE, fmt.Sprintf("sip:0577%06d@voip.unisi.it", i))
	rec, err := siptest.Serve(ctx, r.Wrap(next), req)
	return siptest.Code(rec, err)
}

// TestRedisOutage takes Redis away from three nodes mid-traffic: calls
// keep flowing on each node's own counts, promptly, and once Redis is
// back the limit is the cluster's again, counting the calls that went up
// meanwhile.
func TestRedisOutage(t *testing.T) {
	url := redisURL(t)
	o, _ := redisOptions(url)
	px := newProxy(t, o.Addr)
	purl := fmt.Sprintf("redis://%s/%d", px.addr(), o.DB)
	nodes := newNodes(t, purl, testCluster(t, url), 3, 5*time.Second)
	ctx := t.Context()
	h := &holder{release: make(chan struct{})}
	var wg sync.WaitGroup
	defer func() {
		close(h.release)
		wg.Wait()
	}()
	hold := func(n node, i int) <-chan int {
		ch := make(chan int, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch <- call(ctx, n.r, h, i)
		}()
		return ch
	}

	for i, n := range nodes {
		if code := call(ctx, n.r, answer{}, i); code != 200 {
			t.Fatalf("before the outage, node %d: got %d, want 200", i+1, code)
		}
	}
	px.stop()
	// Calls flow on local counts, each promptly (the counter's timeout
	// at most), and every node notices.
	for i := range 30 {
		n := nodes[i%3]
		start := time.Now()
		if code := call(ctx, n.r, answer{}, 100+i); code != 200 {
			t.Fatalf("during the outage, call %d: got %d, want 200", i, code)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("during the outage, call %d took %v", i, took)
		}
	}
	for i, n := range nodes {
		eventually(t, fmt.Sprintf("node %d counting alone", i+1), func() bool {
			return gauge(t, n.reg, "palio_routing_counter_up") == 0
		})
	}
	// Three calls go up on node 1 while Redis is away.
	for i := range 3 {
		hold(nodes[0], 200+i)
		eventually(t, "the call up", func() bool { return h.up.Load() == int32(i+1) })
	}
	if got := gauge(t, nodes[0].reg, "palio_routing_counter_local_total"); got < 3 {
		t.Errorf("palio_routing_counter_local_total: got %v, want at least 3", got)
	}
	px.start()
	for i, n := range nodes {
		eventually(t, fmt.Sprintf("node %d counting with the cluster again", i+1), func() bool {
			return gauge(t, n.reg, "palio_routing_counter_up") == 1
		})
	}
	// Node 1's three calls are the cluster's: node 2 gets the fourth
	// channel, not a fifth.
	if code := <-waitOrHold(t, h, hold(nodes[1], 300), 4); code != 0 {
		t.Fatalf("4th call, on node 2: got %d, want it up", code)
	}
	if code := call(ctx, nodes[2].r, h, 301); code != 503 {
		t.Errorf("5th call, on node 3: got %d, want 503", code)
	}
}

// waitOrHold waits until the call of ch is up (h has up calls) and
// returns 0, or returns the call's status if it ended first.
func waitOrHold(t *testing.T, h *holder, ch <-chan int, up int32) <-chan int {
	out := make(chan int, 1)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case code := <-ch:
			out <- code
			return out
		default:
		}
		if h.up.Load() >= up {
			out <- 0
			return out
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the call neither went up nor ended in 30s")
	return nil
}

// TestRedisUnresponsive: a Redis that accepts connections but answers
// nothing delays a call by the Router's CounterTimeout once, then not at
// all: calls go on the node's own counts until Redis answers again.
func TestRedisUnresponsive(t *testing.T) {
	url := redisURL(t)
	o, _ := redisOptions(url)
	px := newProxy(t, o.Addr)
	purl := fmt.Sprintf("redis://%s/%d", px.addr(), o.DB)
	nodes := newNodes(t, purl, testCluster(t, url), 2, 5*time.Second)
	ctx := t.Context()
	if code := call(ctx, nodes[0].r, answer{}, 0); code != 200 {
		t.Fatalf("before: got %d, want 200", code)
	}
	px.freeze()
	var slowest time.Duration
	for i := range 20 {
		start := time.Now()
		if code := call(ctx, nodes[i%2].r, answer{}, 10+i); code != 200 {
			t.Fatalf("call %d with Redis frozen: got %d, want 200", i, code)
		}
		slowest = max(slowest, time.Since(start))
	}
	// CounterTimeout is 250 ms in these tests; a busy machine may add to it.
	if slowest > 3*time.Second {
		t.Errorf("slowest call with Redis frozen: %v, want about the counter timeout (250 ms)", slowest)
	}
	t.Logf("slowest of 20 calls with Redis frozen: %v (counter timeout 250 ms)", slowest.Round(time.Millisecond))
	for i, n := range nodes {
		eventually(t, fmt.Sprintf("node %d counting alone", i+1), func() bool {
			return gauge(t, n.reg, "palio_routing_counter_up") == 0
		})
	}
	px.start()
	for i, n := range nodes {
		eventually(t, fmt.Sprintf("node %d counting with the cluster again", i+1), func() bool {
			return gauge(t, n.reg, "palio_routing_counter_up") == 1
		})
	}
}

// TestRedisEmptied: Redis comes back empty mid-traffic (its keys and its
// script cache gone, as after a restart without persistence) while the
// 4-channel trunk is full. The nodes' next full reports (every
// CounterInterval, 100 ms here) write their counts back: within about an
// interval every node's counts are in Redis again and the trunk refuses a
// fifth call, on every node; no call failed meanwhile for want of the
// scripts.
func TestRedisEmptied(t *testing.T) {
	url := redisURL(t)
	cluster := testCluster(t, url)
	nodes := newNodes(t, url, cluster, 3, 5*time.Second)
	ctx := t.Context()
	h := &holder{release: make(chan struct{})}
	var wg sync.WaitGroup
	defer func() {
		close(h.release)
		wg.Wait()
	}()
	for i, n := range []node{nodes[0], nodes[0], nodes[1], nodes[2]} {
		ch := make(chan int, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch <- call(ctx, n.r, h, i)
		}()
		if code := <-waitOrHold(t, h, ch, int32(i+1)); code != 0 {
			t.Fatalf("call %d: got %d, want it up", i+1, code)
		}
	}
	for i, n := range nodes {
		if code := call(ctx, n.r, answer{}, 10+i); code != 503 {
			t.Fatalf("5th call on node %d with the trunk full: got %d, want 503", i+1, code)
		}
	}

	o, err := redisOptions(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(o)
	defer rdb.Close()
	keys, err := rdb.Keys(ctx, "palio:{"+cluster+"}:*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("the cluster's keys: %v %v, want some", keys, err)
	}
	if err := rdb.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	emptied := time.Now()
	// Calls go on meanwhile on nodes 1 and 2, on the scripts loaded again
	// (an admitted one ends at once: until every node has reported, Redis
	// may lack a node's counts and admit a fifth). Node 3 has no traffic:
	// only its full report brings its count back.
	for i := range 6 {
		if code := call(ctx, nodes[i%2].r, answer{}, 100+i); code != 200 && code != 503 {
			t.Fatalf("call %d after Redis was emptied: got %d, want 200 or 503", i, code)
		}
	}
	// Every node's counts are back after its next full report.
	trunkKey := "palio:{" + cluster + "}:trunk:gateway:pri"
	var took time.Duration
	for {
		f, err := rdb.HGetAll(ctx, trunkKey).Result()
		if err != nil {
			t.Fatal(err)
		}
		if f["u:node-1"] == "2" && f["u:node-2"] == "1" && f["u:node-3"] == "1" {
			took = time.Since(emptied)
			break
		}
		if time.Since(emptied) > 10*time.Second {
			t.Fatalf("the nodes' counts never came back to Redis: %v", f)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("every node's counts back in Redis %v after it was emptied (CounterInterval 100 ms)", took.Round(time.Millisecond))
	// An interval and some slack for a busy machine.
	if took > time.Second {
		t.Errorf("the counts came back only after %v, want within about CounterInterval (100 ms)", took)
	}
	for i, n := range nodes {
		if code := call(ctx, n.r, answer{}, 200+i); code != 503 {
			t.Errorf("a fifth call on node %d after Redis came back empty: got %d, want 503", i+1, code)
		}
		if got := gauge(t, n.reg, "palio_routing_counter_up"); got != 1 {
			t.Errorf("node %d's palio_routing_counter_up: %v, want 1", i+1, got)
		}
	}
}
