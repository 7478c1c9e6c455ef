package routingtest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// NewCounter opens a fresh, empty counter engine whose nodes expire after
// expiry without a report, and returns the counter of each node by name.
// Each call must give an engine of its own (a key prefix or database per
// test), so that subtests and parallel tests do not see each other.
type NewCounter func(t *testing.T, expiry time.Duration) (node func(name string) routing.ChannelCounter)

// TestChannelCounter runs the conformance suite of routing.ChannelCounter
// against the engines newCounter opens.
func TestChannelCounter(t *testing.T, newCounter NewCounter) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newCounter NewCounter)
	}{
		{"WithinLimit", testCounterWithinLimit},
		{"AcrossNodes", testCounterAcrossNodes},
		{"Carrier", testCounterCarrier},
		{"LaterStampWins", testCounterLaterStampWins},
		{"Totals", testCounterTotals},
		{"AlarmOnce", testCounterAlarmOnce},
		{"DeadNode", testCounterDeadNode},
		{"Concurrent", testCounterConcurrent},
		{"RoutersShareLimit", testRoutersShareLimit},
		{"DeadRouter", testDeadRouter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newCounter) })
	}
}

func gw(id string, channels, used int) routing.TrunkCount {
	return routing.TrunkCount{ID: id, Channels: channels, Used: used, Calls: used}
}

func reserve(t *testing.T, c routing.ChannelCounter, seq int64, counts ...routing.TrunkCount) (int, int) {
	t.Helper()
	full, used, err := c.Reserve(ctx(), seq, counts)
	if err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	return full, used
}

func report(t *testing.T, c routing.ChannelCounter, seq int64, counts ...routing.TrunkCount) []routing.TrunkTotal {
	t.Helper()
	tot, err := c.Report(ctx(), seq, counts)
	if err != nil {
		t.Fatalf("Report: %v", err)
	}
	if len(tot) != len(counts) {
		t.Fatalf("Report: got %d totals, want %d", len(tot), len(counts))
	}
	return tot
}

func testCounterWithinLimit(t *testing.T, newCounter NewCounter) {
	a := newCounter(t, time.Minute)("a")
	report(t, a, 1)
	for used := 1; used <= 4; used++ {
		if full, _ := reserve(t, a, int64(1+used), gw("pri", 4, used)); full != -1 {
			t.Fatalf("call %d of 4: got full %d, want -1", used, full)
		}
	}
	if full, used := reserve(t, a, 10, gw("pri", 4, 5)); full != 0 || used != 4 {
		t.Errorf("fifth call on 4 channels: got full %d used %d, want 0 and 4", full, used)
	}
	// A trunk without a limit is never full.
	if full, _ := reserve(t, a, 11, gw("free", 0, 100)); full != -1 {
		t.Errorf("trunk without a limit: got full %d, want -1", full)
	}
}

func testCounterAcrossNodes(t *testing.T, newCounter NewCounter) {
	node := newCounter(t, time.Minute)
	a, b := node("a"), node("b")
	report(t, a, 1, gw("pri", 4, 3))
	report(t, b, 1)
	if full, _ := reserve(t, b, 2, gw("pri", 4, 1)); full != -1 {
		t.Fatalf("4th call across nodes: got full %d, want -1", full)
	}
	if full, used := reserve(t, b, 3, gw("pri", 4, 2)); full != 0 || used != 4 {
		t.Errorf("5th call across nodes: got full %d used %d, want 0 and 4", full, used)
	}
	// The refused call was not recorded: a's report sees 3 + 1.
	if tot := report(t, a, 4, gw("pri", 4, 3)); tot[0].Used != 4 {
		t.Errorf("after a refused reservation: got %d used, want 4", tot[0].Used)
	}
	// Calls that end on a free channels for the others.
	report(t, a, 5, gw("pri", 4, 1))
	if full, _ := reserve(t, b, 6, gw("pri", 4, 2)); full != -1 {
		t.Errorf("after a's calls ended: got full %d, want -1", full)
	}
}

func testCounterCarrier(t *testing.T, newCounter NewCounter) {
	node := newCounter(t, time.Minute)
	a, b := node("a"), node("b")
	carrier := func(used int) routing.TrunkCount {
		return routing.TrunkCount{Carrier: true, ID: "pri", Channels: 2, Used: used, Calls: used}
	}
	report(t, a, 1, carrier(1))
	report(t, b, 1)
	// A gateway and a carrier of the same name are different trunks.
	if full, _ := reserve(t, b, 2, gw("pri", 10, 1), carrier(1)); full != -1 {
		t.Fatalf("2nd call on a 2-channel carrier: got full %d, want -1", full)
	}
	if full, used := reserve(t, b, 3, gw("pri", 10, 2), carrier(2)); full != 1 || used != 2 {
		t.Errorf("3rd call on a 2-channel carrier: got full %d used %d, want 1 and 2", full, used)
	}
	if tot := report(t, a, 4, gw("pri", 10, 0), carrier(1)); tot[0].Used != 1 || tot[1].Used != 2 {
		t.Errorf("totals: got gateway %d carrier %d used, want 1 and 2 (nothing of the refused call)", tot[0].Used, tot[1].Used)
	}
}

func testCounterLaterStampWins(t *testing.T, newCounter NewCounter) {
	node := newCounter(t, time.Minute)
	a, b := node("a"), node("b")
	report(t, a, 10, gw("pri", 4, 3))
	report(t, a, 5, gw("pri", 4, 1)) // late: ignored
	if tot := report(t, b, 1, gw("pri", 4, 0)); tot[0].Used != 3 {
		t.Errorf("after a late report: got %d used, want 3", tot[0].Used)
	}
	// A late reservation is judged on the node's latest counts, which
	// include it: 3 + 1 fits in 4 but records nothing over the later stamp.
	if full, _ := reserve(t, a, 7, gw("pri", 4, 2)); full != -1 {
		t.Errorf("late reservation: got full %d, want -1", full)
	}
	if tot := report(t, b, 2, gw("pri", 4, 0)); tot[0].Used != 3 {
		t.Errorf("after a late reservation: got %d used, want 3", tot[0].Used)
	}
	report(t, a, 11, gw("pri", 4, 4))
	if full, used := reserve(t, b, 3, gw("pri", 4, 1)); full != 0 || used != 4 {
		t.Errorf("after a's later report: got full %d used %d, want 0 and 4", full, used)
	}
}

func testCounterTotals(t *testing.T, newCounter NewCounter) {
	node := newCounter(t, time.Minute)
	a, b, c := node("a"), node("b"), node("c")
	report(t, a, 1, routing.TrunkCount{ID: "pri", Channels: 30, Used: 2, Calls: 1})
	report(t, b, 1, routing.TrunkCount{ID: "pri", Channels: 30, Used: 5, Calls: 5})
	tot := report(t, c, 1, routing.TrunkCount{ID: "pri", Channels: 30, Used: 1, Calls: 0}, gw("other", 0, 0))
	if tot[0].Used != 8 || tot[0].Calls != 6 {
		t.Errorf("pri: got used %d calls %d, want 8 and 6", tot[0].Used, tot[0].Calls)
	}
	if tot[1].Used != 0 || tot[1].Alarm {
		t.Errorf("other: got %+v, want nothing", tot[1])
	}
}

func testCounterAlarmOnce(t *testing.T, newCounter NewCounter) {
	node := newCounter(t, time.Minute)
	a, b := node("a"), node("b")
	trunk := func(calls int) routing.TrunkCount {
		return routing.TrunkCount{ID: "pri", Channels: 10, AlarmAt: 8, Used: calls, Calls: calls}
	}
	check := func(step string, got routing.TrunkTotal, alarm, changed bool) {
		t.Helper()
		if got.Alarm != alarm || got.Changed != changed {
			t.Errorf("%s: got alarm %v changed %v, want %v %v", step, got.Alarm, got.Changed, alarm, changed)
		}
	}
	check("a at 5", report(t, a, 1, trunk(5))[0], false, false)
	check("b at 3 (8 of 10)", report(t, b, 1, trunk(3))[0], true, true)
	check("a again", report(t, a, 2, trunk(5))[0], true, false)
	check("b again", report(t, b, 2, trunk(3))[0], true, false)
	check("b at 2 (7 of 10)", report(t, b, 3, trunk(2))[0], false, true)
	check("a after the clear", report(t, a, 3, trunk(5))[0], false, false)
	// A limit removed clears the alarm.
	check("b at 3 again", report(t, b, 4, trunk(3))[0], true, true)
	check("limit removed", report(t, a, 4, gw("pri", 0, 5))[0], false, true)
}

func testCounterDeadNode(t *testing.T, newCounter NewCounter) {
	const expiry = 500 * time.Millisecond
	node := newCounter(t, expiry)
	a, b := node("a"), node("b")
	report(t, a, 1, gw("pri", 4, 4))
	if full, _ := reserve(t, b, 1, gw("pri", 4, 1)); full != 0 {
		t.Fatalf("while a holds every channel: got full %d, want 0", full)
	}
	// a stops reporting; b keeps on. Its channels come back within the
	// expiry (waited for generously: the machine may be busy).
	start := time.Now()
	seq := int64(2)
	for {
		seq++
		tot := report(t, b, seq, gw("pri", 4, 0))
		if tot[0].Used == 0 {
			break
		}
		if time.Since(start) > 20*expiry {
			t.Fatalf("a's calls still counted %v after it stopped reporting (expiry %v)", time.Since(start), expiry)
		}
		time.Sleep(expiry / 10)
	}
	if took := time.Since(start); took < expiry/2 {
		t.Errorf("a's calls left after %v, before the expiry %v", took, expiry)
	}
	if full, _ := reserve(t, b, seq+1, gw("pri", 4, 1)); full != -1 {
		t.Errorf("after a expired: got full %d, want -1", full)
	}
	// a comes back: its report counts again.
	report(t, a, 100, gw("pri", 4, 3))
	if tot := report(t, b, seq+2, gw("pri", 4, 1)); tot[0].Used != 4 {
		t.Errorf("after a came back: got %d used, want 4", tot[0].Used)
	}
}

// testCounterConcurrent races 3 nodes' calls for 4 channels, each node
// counting its own as a Router does: exactly 4 get one.
func testCounterConcurrent(t *testing.T, newCounter NewCounter) {
	node := newCounter(t, time.Minute)
	type local struct {
		mu        sync.Mutex
		used, seq int64
		c         routing.ChannelCounter
	}
	nodes := []*local{{c: node("a")}, {c: node("b")}, {c: node("c")}}
	for _, n := range nodes {
		report(t, n.c, 0)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for i := range 60 {
		n := nodes[i%len(nodes)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.mu.Lock()
			n.used++
			n.seq++
			counts := []routing.TrunkCount{gw("pri", 4, int(n.used))}
			seq := n.seq
			n.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			full, _, err := n.c.Reserve(ctx, seq, counts)
			if err != nil {
				t.Errorf("Reserve: %v", err)
				return
			}
			if full >= 0 {
				// Refused: given back, as the Router does, and reported
				// below.
				n.mu.Lock()
				n.used--
				n.mu.Unlock()
				return
			}
			mu.Lock()
			admitted++
			mu.Unlock()
		}()
	}
	wg.Wait()
	// A refused call may be counted until its node's next report (a later
	// reservation of the node recorded it): the race may leave channels
	// unused, never overshoot.
	if admitted < 1 || admitted > 4 {
		t.Fatalf("calls admitted on 4 channels by 3 nodes: got %d, want 1 to 4", admitted)
	}
	for _, n := range nodes {
		n.seq++
		report(t, n.c, n.seq, gw("pri", 4, int(n.used)))
	}
	a := nodes[0]
	for admitted < 4 {
		a.used++
		a.seq++
		if full, _ := reserve(t, a.c, a.seq, gw("pri", 4, int(a.used))); full != -1 {
			t.Fatalf("after the reports, %d calls admitted: got full %d, want room", admitted, full)
		}
		admitted++
	}
	if full, used := reserve(t, a.c, a.seq+1, gw("pri", 4, int(a.used)+1)); full != 0 || used != 4 {
		t.Errorf("5th call: got full %d used %d, want 0 and 4", full, used)
	}
}

// sharedData is a 4-channel trunk that every call goes to.
func sharedData() routing.Data {
	return routing.Data{
		Gateways: []routing.Gateway{{ID: 1, GWID: "pri", Address: "192.0.2.1", Channels: 4}},
		Rules:    []routing.Rule{{ID: 1, Groups: "0", GWList: "pri"}},
	}
}

// holder is the next handler of the routers: a call occupies its channel
// until released.
type holder struct {
	mu      sync.Mutex
	cond    *sync.Cond
	active  int
	max     int
	entered int
	release chan struct{}
}

func newHolder() *holder {
	h := &holder{release: make(chan struct{})}
	h.cond = sync.NewCond(&h.mu)
	return h
}

func (h *holder) ServeSIP(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
	h.mu.Lock()
	h.active++
	h.entered++
	h.max = max(h.max, h.active)
	h.cond.Broadcast()
	h.mu.Unlock()
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	h.mu.Lock()
	h.active--
	h.cond.Broadcast()
	h.mu.Unlock()
	return w.WriteResponse(sip.NewResponse(r, 200, ""))
}

// waitFor waits until cond holds (checked under h.mu at every change), or
// fails after a generous deadline.
func (h *holder) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	done := make(chan struct{})
	timer := time.AfterFunc(30*time.Second, func() {
		h.mu.Lock()
		close(done)
		h.cond.Broadcast()
		h.mu.Unlock()
	})
	defer timer.Stop()
	h.mu.Lock()
	defer h.mu.Unlock()
	for !cond() {
		select {
		case <-done:
			t.Fatalf("waiting for %s: gave up after 30s (active %d, entered %d)", what, h.active, h.entered)
		default:
		}
		h.cond.Wait()
	}
}

// newRouters returns n Routers over the same tables, each counting with
// the counter of a node of its own.
func newRouters(t *testing.T, node func(string) routing.ChannelCounter, n int) []*routing.Router {
	t.Helper()
	var out []*routing.Router
	for i := range n {
		r, err := routing.New(routing.Config{VolatileState: true, CounterInterval: 100 * time.Millisecond, CounterTimeout: 5 * time.Second},
			routing.NewMemStore(sharedData()), routing.WithChannelCounter(node(fmt.Sprint("node-", i+1))))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		out = append(out, r)
	}
	return out
}

// call sends a call through r's stage to next and returns its status.
func call(ctx context.Context, r *routing.Router, next sip.Handler, i int) int {
	req := siptest.NewRequest(sip.INVITE, fmt.Sprintf("sip:0577%06d@voip.unisi.it", i))
	rec, err := siptest.Serve(ctx, r.Wrap(next), req)
	return siptest.Code(rec, err)
}

// testRoutersShareLimit sends 30 concurrent calls through 3 Routers to a
// 4-channel trunk: never more than 4 are up, and once the nodes have
// reported, exactly 4 can be.
func testRoutersShareLimit(t *testing.T, newCounter NewCounter) {
	routers := newRouters(t, newCounter(t, time.Minute), 3)
	h := newHolder()
	var refused atomic.Int32
	var wg sync.WaitGroup
	defer func() {
		close(h.release)
		wg.Wait()
	}()
	place := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code := call(t.Context(), routers[i%3], h, i); code != 200 {
				if code != 503 {
					t.Errorf("call %d: got %d, want 200 or 503", i, code)
				}
				h.mu.Lock()
				refused.Add(1)
				h.cond.Broadcast()
				h.mu.Unlock()
			}
		}()
	}
	for i := range 30 {
		place(i)
	}
	h.waitFor(t, "every call placed or refused", func() bool { return h.entered+int(refused.Load()) == 30 })
	h.mu.Lock()
	entered, most := h.entered, h.max
	h.mu.Unlock()
	if most > 4 || entered > 4 || entered < 1 {
		t.Fatalf("30 calls on 4 channels over 3 nodes: got %d up at most, %d placed, want 1 to 4", most, entered)
	}
	// A call refused in the race may be counted until its node's next
	// report: place calls until the trunk is full, which it must become.
	deadline := time.Now().Add(30 * time.Second)
	for i := 30; ; i++ {
		h.mu.Lock()
		entered = h.entered
		h.mu.Unlock()
		if entered == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of 4 channels usable after the race", entered)
		}
		place(i)
		h.waitFor(t, "the call placed or refused", func() bool { return int(refused.Load())+h.entered >= i+1 })
	}
	for i, r := range routers {
		if code := call(t.Context(), r, h, 100+i); code != 503 {
			t.Errorf("a 5th call on node %d: got %d, want 503", i+1, code)
		}
	}
	h.mu.Lock()
	most = h.max
	h.mu.Unlock()
	if most > 4 {
		t.Errorf("calls up at once: got %d, want at most 4", most)
	}
}

// testDeadRouter stops a Router with calls up (it reports no more, as a
// node that died): its channels come back to the others within the
// counter's expiry.
func testDeadRouter(t *testing.T, newCounter NewCounter) {
	const expiry = time.Second
	routers := newRouters(t, newCounter(t, expiry), 2)
	dead, alive := routers[0], routers[1]
	h := newHolder()
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(t.Context())
	defer func() {
		cancel()
		close(h.release)
		wg.Wait()
	}()
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			call(ctx, dead, h, i)
		}()
		h.waitFor(t, "the call up", func() bool { return h.entered == i+1 })
	}
	if code := call(t.Context(), alive, h, 10); code != 503 {
		t.Fatalf("while the other node holds every channel: got %d, want 503", code)
	}
	dead.Close()
	start := time.Now()
	for i := 11; ; i++ {
		waited := time.Since(start)
		if code := call(ctx, alive, nopAnswer{}, i); code == 200 {
			t.Logf("the dead node's channels came back after %v (expiry %v)", waited.Round(time.Millisecond), expiry)
			break
		}
		if waited > 30*expiry {
			t.Fatalf("the dead node's channels still counted after %v (expiry %v)", waited, expiry)
		}
		time.Sleep(expiry / 20)
	}
}

// nopAnswer answers at once.
type nopAnswer struct{}

func (nopAnswer) ServeSIP(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
	return w.WriteResponse(sip.NewResponse(r, 200, ""))
}
