package cluster

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
)

func TestConfigCheck(t *testing.T) {
	ok := Config{URL: "nats://127.0.0.1:4222", Node: "siena-1"}
	for _, tt := range []struct {
		name string
		edit func(*Config)
		want string // "" when valid
	}{
		{"minimal", func(*Config) {}, ""},
		{"several servers and credentials", func(c *Config) { c.URL = "nats://u:pw@n1:4222, tls://n2:4443" }, ""},
		{"no scheme", func(c *Config) { c.URL = "127.0.0.1:4222" }, ""},
		{"no URL", func(c *Config) { c.URL = " " }, "URL is empty"},
		{"bad scheme", func(c *Config) { c.URL = "http://n1:4222" }, `scheme "http"`},
		{"password hidden", func(c *Config) { c.URL = "http://u:secret@n1:4222" }, "xxxxx"},
		{"no node", func(c *Config) { c.Node = "" }, "Node"},
		{"node with a space", func(c *Config) { c.Node = "siena 1" }, "Node"},
		{"node too long", func(c *Config) { c.Node = strings.Repeat("n", 33) }, "Node"},
		{"cluster with a dot", func(c *Config) { c.Cluster = "uni.si" }, "Cluster"},
		{"cluster wildcard", func(c *Config) { c.Cluster = ">" }, "Cluster"},
		{"negative queue", func(c *Config) { c.Queue = -1 }, "negative"},
		{"timeout below two heartbeats", func(c *Config) { c.Heartbeat, c.NodeTimeout = time.Second, 1500*time.Millisecond }, "two heartbeats"},
		{"unknown kind", func(c *Config) { c.Kinds = []sip.EventKind{42} }, "kind 42"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Check()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error naming %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "secret"):
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
	if got := (Config{Cluster: "unisi"}).Subject(); got != "palio.unisi.dialog" {
		t.Errorf("Subject: got %q", got)
	}
	if got := Redact("nats://palio:secret@n1:4222,n2:4222"); strings.Contains(got, "secret") || !strings.Contains(got, "n2:4222") {
		t.Errorf("Redact: got %q", got)
	}
}

// TestWireRoundTrip: what presence reads of an event (tags, From, To,
// state, cause, the caller's identity and the callee's AOR) survives the
// encoding, and the message is compact.
func TestWireRoundTrip(t *testing.T) {
	table := sip.NewFeed[sip.DialogEvent](sip.FeedConfig{})
	var ev sip.DialogEvent
	table.Subscribe(func(e sip.DialogEvent) { ev = e })
	c := newCall(table, "a84b4c76e66710@10.0.0.2", "5002@voip.unisi.it", "5003@voip.unisi.it")
	c.d.Gateway = "gw1"
	c.confirm()
	c.end(sip.CauseByeCallee)
	m := message{V: wireVersion, Node: "siena-1", Inst: 7, Seq: 3, Type: typeEvent, Time: 1, Event: ptr(encodeEvent(ev))}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 512 {
		t.Errorf("an event takes %d bytes: %s", len(b), b)
	}
	var back message
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	got, ok := back.Event.decode("siena-1", kinds[back.Event.Kind])
	if !ok {
		t.Fatalf("does not decode: %s", b)
	}
	want := ev.Dialog
	d := got.Dialog
	if got.Kind != sip.EventTerminated || d.CallID != want.CallID || d.FromTag != want.FromTag || d.ToTag != want.ToTag ||
		d.From != want.From || d.To != want.To || d.State != sip.DialogTerminated || d.Cause != sip.CauseByeCallee ||
		d.Gateway != "gw1" || d.Code != 200 || !d.Answered.Equal(want.Answered.Truncate(time.Millisecond)) {
		t.Errorf("got %+v, want %+v", d, want)
	}
	info := d.Call.Info()
	if info.Caller.AOR() != "5002@voip.unisi.it" || info.Callee != "5003@voip.unisi.it" || info.Class != "voip" || info.Dialled != "5003" {
		t.Errorf("call info: got %+v", info)
	}
	if tr := d.Call.TraceString(); !strings.Contains(tr, "node siena-1") {
		t.Errorf("trace %q does not name the node", tr)
	}
}

func ptr[T any](v T) *T { return &v }

// TestEventsCross: two nodes on one NATS server. A call on node A reaches
// B's subscribers as created, early, confirmed, terminated, with what the
// stages learned; A's own subscribers get none of its events (no echo),
// and B's events reach A likewise.
func TestEventsCross(t *testing.T) {
	leakCheck(t)
	url := natsURL(t)
	cfg := Config{URL: url, Cluster: testCluster()}
	a, b := newNode(t, cfg, "a"), newNode(t, cfg, "b")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.ready(ctx)
	b.ready(ctx)

	c := newCall(a.table, "call-1", "5002@voip.unisi.it", "5003@voip.unisi.it")
	c.early()
	c.confirm()
	c.end(sip.CauseByeCaller)
	waitFor(t, 5*time.Second, "B to get the call's four events", func() bool {
		return b.got.kinds("call-1") == "created early confirmed terminated"
	})
	last, _ := b.got.last("call-1")
	if last.Dialog.Cause != sip.CauseByeCaller || last.Dialog.Call.Info().Callee != "5003@voip.unisi.it" ||
		last.Dialog.Call.Info().Caller.AOR() != "5002@voip.unisi.it" || last.Dialog.ToTag != "tt-call-1" {
		t.Errorf("B's terminated event: %+v, info %+v", last.Dialog, last.Dialog.Call.Info())
	}

	r := newCall(b.table, "call-2", "5003@voip.unisi.it", "5004@voip.unisi.it")
	r.confirm()
	waitFor(t, 5*time.Second, "A to get B's call", func() bool { return a.got.kinds("call-2") == "created confirmed" })
	// Heartbeats and the join snapshots pass too: still no echo.
	time.Sleep(300 * time.Millisecond)
	if got := a.got.kinds("call-1"); got != "" {
		t.Errorf("A got its own events back: %s", got)
	}
	if got := b.got.kinds("call-2"); got != "" {
		t.Errorf("B got its own events back: %s", got)
	}
	if got := a.metric("palio_cluster_events_published_total", ""); got != 4 {
		t.Errorf("A published %v events, want 4", got)
	}
	if got := b.metric("palio_cluster_events_received_total", "event"); got != 4 {
		t.Errorf("B received %v events, want 4", got)
	}
	if got := b.metric("palio_cluster_event_delay_seconds", ""); got != 4 {
		t.Errorf("B's delay histogram has %v samples, want 4", got)
	}
	if got := a.metric("palio_cluster_nodes", ""); got != 1 {
		t.Errorf("A hears %v nodes, want 1", got)
	}
	if got := a.metric("palio_cluster_connected", ""); got != 1 {
		t.Errorf("palio_cluster_connected = %v, want 1", got)
	}
}

// TestSameNodeName: a second process with the same node name is ignored
// and counted, never delivered.
func TestSameNodeName(t *testing.T) {
	leakCheck(t)
	url := natsURL(t)
	cfg := Config{URL: url, Cluster: testCluster()}
	a, twin := newNode(t, cfg, "a"), newNode(t, cfg, "a")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.ready(ctx)
	twin.ready(ctx)
	newCall(twin.table, "call-1", "5002@voip.unisi.it", "5003@voip.unisi.it")
	waitFor(t, 5*time.Second, "the same_node drop to be counted", func() bool {
		return a.metric("palio_cluster_events_dropped_total", "same_node") > 0
	})
	if evs := a.got.events(); len(evs) != 0 {
		t.Errorf("A delivered %d events of its namesake", len(evs))
	}
}

// TestLateJoiner: a node that starts while another has calls up learns of
// them from a snapshot, in their current state.
func TestLateJoiner(t *testing.T) {
	leakCheck(t)
	url := natsURL(t)
	cfg := Config{URL: url, Cluster: testCluster()}
	a := newNode(t, cfg, "a")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.ready(ctx)
	up := newCall(a.table, "up", "5002@voip.unisi.it", "5003@voip.unisi.it")
	up.confirm()
	ringing := newCall(a.table, "ringing", "5001@voip.unisi.it", "5004@voip.unisi.it")
	ringing.early()
	gone := newCall(a.table, "gone", "5001@voip.unisi.it", "5004@voip.unisi.it")
	gone.end(sip.CauseRejected)
	waitFor(t, 5*time.Second, "A to publish its events", func() bool {
		return a.metric("palio_cluster_events_published_total", "") == 6
	})

	b := newNode(t, cfg, "b")
	b.ready(ctx)
	waitFor(t, 5*time.Second, "B to learn of A's calls", func() bool {
		return b.got.kinds("up") == "confirmed" && b.got.kinds("ringing") == "early"
	})
	if got := b.got.kinds("gone"); got != "" {
		t.Errorf("a call that ended before B started reached it: %s", got)
	}
	if got := b.metric("palio_cluster_events_received_total", "snapshot"); got != 2 {
		t.Errorf("events from the snapshot: %v, want 2", got)
	}
	// A subscriber that comes now catches up on the same state.
	late := &recorder{}
	defer b.bus.Subscribe(late.record)()
	if got := late.kinds("up") + "/" + late.kinds("ringing") + "/" + late.kinds("gone"); got != "confirmed/early/" {
		t.Errorf("a late subscriber caught up on %q, want confirmed/early/", got)
	}
	// And it goes on from there.
	up.end(sip.CauseByeCallee)
	waitFor(t, 5*time.Second, "the end of the call", func() bool { return b.got.kinds("up") == "confirmed terminated" })
}

// TestNodeGone: a node that closes (or dies) with calls up: after
// NodeTimeout the others take its calls as ended.
func TestNodeGone(t *testing.T) {
	leakCheck(t)
	url := natsURL(t)
	cfg := Config{URL: url, Cluster: testCluster(), Heartbeat: 50 * time.Millisecond, NodeTimeout: 300 * time.Millisecond}
	a, b := newNode(t, cfg, "a"), newNode(t, cfg, "b")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.ready(ctx)
	b.ready(ctx)
	c := newCall(a.table, "call-1", "5002@voip.unisi.it", "5003@voip.unisi.it")
	c.confirm()
	waitFor(t, 5*time.Second, "B to see the call", func() bool { return b.got.kinds("call-1") == "created confirmed" })
	// Heartbeats keep it alive well past the timeout.
	time.Sleep(600 * time.Millisecond)
	if got := b.got.kinds("call-1"); got != "created confirmed" {
		t.Fatalf("a live node's call: got %s", got)
	}
	closed := time.Now()
	a.bus.Close()
	waitFor(t, 3*time.Second, "the call to end with its node", func() bool {
		return b.got.kinds("call-1") == "created confirmed terminated"
	})
	// Its last heartbeat came up to one interval before it closed.
	if took := time.Since(closed); took < cfg.NodeTimeout-cfg.Heartbeat {
		t.Errorf("ended after %v, before NodeTimeout %v", took, cfg.NodeTimeout)
	}
	last, _ := b.got.last("call-1")
	if last.Dialog.State != sip.DialogTerminated || last.Dialog.Cause != sip.CauseServerClosed {
		t.Errorf("the implied end: state %v cause %q", last.Dialog.State, last.Dialog.Cause)
	}
	if got := b.metric("palio_cluster_events_received_total", "timeout"); got != 1 {
		t.Errorf("timeout events: %v, want 1", got)
	}
	if got := b.metric("palio_cluster_nodes", ""); got != 0 {
		t.Errorf("palio_cluster_nodes = %v after the node went, want 0", got)
	}
}

// TestQueueBound: while the publisher is stuck, the table's subscriber
// never waits: the queue holds Queue events, the rest are dropped and
// counted. Once the publisher goes on, the other node sees the gap and
// gets A's state from a snapshot: the ended calls end there too.
func TestQueueBound(t *testing.T) {
	leakCheck(t)
	url := natsURL(t)
	cfg := Config{URL: url, Cluster: testCluster(), Queue: 4}
	release := make(chan struct{})
	var stuck atomic.Bool
	stuckOpt := func(b *Bus) {
		b.sendHook = func() {
			if stuck.Load() {
				<-release
			}
		}
	}
	a := newNode(t, cfg, "a", stuckOpt)
	b := newNode(t, Config{URL: url, Cluster: cfg.Cluster}, "b")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.ready(ctx)
	b.ready(ctx)
	first := newCall(a.table, "first", "5002@voip.unisi.it", "5003@voip.unisi.it")
	first.confirm()
	waitFor(t, 5*time.Second, "B to see the first call", func() bool { return b.got.kinds("first") == "created confirmed" })
	// B's join request has been answered: no snapshot is pending at A.
	time.Sleep(300 * time.Millisecond)

	stuck.Store(true)
	// One message to hold the publisher in the hook.
	a.bus.outMu.Lock()
	a.bus.enqueue(&message{V: wireVersion, Node: "a", Inst: a.bus.inst, Seq: a.bus.seq, Type: typeHeartbeat}, time.Now())
	a.bus.outMu.Unlock()
	waitFor(t, time.Second, "the publisher to take it", func() bool { return len(a.bus.q) == 0 })

	start := time.Now()
	var slowest time.Duration
	for i := range 100 {
		t0 := time.Now()
		c := newCall(a.table, "burst-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "5001@voip.unisi.it", "5004@voip.unisi.it")
		c.end(sip.CauseCanceled)
		slowest = max(slowest, time.Since(t0))
	}
	if took := time.Since(start); slowest > 50*time.Millisecond {
		t.Errorf("publishing waited: slowest %v (all %v)", slowest, took)
	}
	if n := len(a.bus.q); n != cap(a.bus.q) {
		t.Errorf("queue holds %d, want its bound %d", n, cap(a.bus.q))
	}
	// A heartbeat may have taken a place in the queue, and counts when dropped.
	if got := a.metric("palio_cluster_events_dropped_total", "queue"); got < 200-4 || got > 200+2 {
		t.Errorf("dropped %v messages, want the 196 events the queue had no room for", got)
	}
	// The first call ends while events are being dropped.
	first.end(sip.CauseByeCaller)
	close(release)
	waitFor(t, 5*time.Second, "B to learn from A's snapshot that the first call ended", func() bool {
		return b.got.kinds("first") == "created confirmed terminated"
	})
	if got := b.metric("palio_cluster_events_missed_total", ""); got == 0 {
		t.Error("B counted no missed events")
	}
	if got := a.metric("palio_cluster_snapshots_total", ""); got == 0 {
		t.Error("A sent no snapshot")
	}
}

// TestNATSOutage: the NATS server is killed with a call up on each
// node. Calls go on and publishing never waits; after NodeTimeout each
// node takes the other's calls as ended (no lamp stays lit on stale
// state). The server comes back on the same port: the nodes reconnect,
// exchange snapshots (a call answered during the outage shows as
// confirmed) and new events cross again.
func TestNATSOutage(t *testing.T) {
	leakCheck(t)
	srv := startNATS(t)
	cfg := Config{URL: srv.url(), Cluster: testCluster(), Heartbeat: 50 * time.Millisecond, NodeTimeout: 400 * time.Millisecond}
	a, b := newNode(t, cfg, "a"), newNode(t, cfg, "b")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a.ready(ctx)
	b.ready(ctx)
	up := newCall(a.table, "up", "5002@voip.unisi.it", "5003@voip.unisi.it")
	up.confirm()
	ringing := newCall(a.table, "ringing", "5001@voip.unisi.it", "5004@voip.unisi.it")
	ringing.early()
	waitFor(t, 5*time.Second, "B to see A's calls", func() bool {
		return b.got.kinds("up") == "created confirmed" && b.got.kinds("ringing") == "created early"
	})

	srv.stop()
	waitFor(t, 5*time.Second, "A to notice", func() bool { return !a.bus.Connected() })
	var slowest time.Duration
	for i := range 50 {
		t0 := time.Now()
		c := newCall(a.table, "during-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "5001@voip.unisi.it", "5004@voip.unisi.it")
		c.end(sip.CauseRejected)
		slowest = max(slowest, time.Since(t0))
	}
	ringing.confirm() // answered during the outage
	if slowest > 50*time.Millisecond {
		t.Errorf("publishing waited %v with NATS down", slowest)
	}
	waitFor(t, 3*time.Second, "B to take A's calls as ended", func() bool {
		return strings.HasSuffix(b.got.kinds("up"), "terminated") && strings.HasSuffix(b.got.kinds("ringing"), "terminated")
	})
	if got := a.metric("palio_cluster_connected", ""); got != 0 {
		t.Errorf("palio_cluster_connected = %v during the outage", got)
	}

	srv.start()
	a.ready(ctx)
	b.ready(ctx)
	waitFor(t, 10*time.Second, "B to get A's calls back from a snapshot", func() bool {
		up, _ := b.got.last("up")
		ringing, _ := b.got.last("ringing")
		return up.Dialog.State == sip.DialogConfirmed && ringing.Dialog.State == sip.DialogConfirmed
	})
	// None of the calls that came and went during the outage is left up.
	evs := b.got.events()
	live := map[string]bool{}
	for _, ev := range evs {
		live[ev.Dialog.CallID] = ev.Kind != sip.EventTerminated
	}
	for id, up := range live {
		if up && id != "up" && id != "ringing" {
			t.Errorf("call %s is left up at B", id)
		}
	}
	if got := a.metric("palio_cluster_reconnects_total", ""); got < 1 {
		t.Errorf("palio_cluster_reconnects_total = %v, want ≥ 1", got)
	}
	after := newCall(a.table, "after", "5002@voip.unisi.it", "5003@voip.unisi.it")
	after.early()
	waitFor(t, 5*time.Second, "new events to cross", func() bool { return b.got.kinds("after") == "created early" })
}

// TestLatency: how long an event takes from one node's table to the
// other node's subscriber, over the NATS server of the tests. Loopback:
// the issue asks for under 100 ms; the log line gives the figures, the
// test fails only on an event held back.
func TestLatency(t *testing.T) {
	leakCheck(t)
	url := natsURL(t)
	cfg := Config{URL: url, Cluster: testCluster()}
	a, b := newNode(t, cfg, "a"), newNode(t, cfg, "b")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.ready(ctx)
	b.ready(ctx)
	time.Sleep(300 * time.Millisecond) // the join snapshots
	const n = 200
	sent := make([]time.Time, n)
	for i := range n {
		sent[i] = time.Now()
		newCall(a.table, "lat-"+strings.Repeat("x", i%7)+string(rune('A'+i%50))+string(rune('A'+i/50)), "5002@voip.unisi.it", "5003@voip.unisi.it")
		time.Sleep(time.Millisecond)
	}
	waitFor(t, 5*time.Second, "every event", func() bool { return len(b.got.events()) >= n })
	b.got.mu.Lock()
	var lat []time.Duration
	for i := range n {
		lat = append(lat, b.got.at[i].Sub(sent[i]))
	}
	b.got.mu.Unlock()
	slices.Sort(lat)
	p50, p99, worst := lat[n/2], lat[n*99/100], lat[n-1]
	t.Logf("event across nodes over %s: p50 %v, p99 %v, max %v (%d events)", url, p50, p99, worst, n)
	// The figure is the log line (the README's, measured on a quiet
	// machine): a timed test asserts no speed. What fails here is an
	// event held back for seconds, as by a batch or a flush timer.
	if worst > 2*time.Second {
		t.Errorf("an event took %v to cross, want it sent at once", worst)
	}
}

// TestSnapshotParts: a snapshot larger than one message goes in parts,
// and the receiver applies it once all have come.
func TestSnapshotParts(t *testing.T) {
	leakCheck(t)
	url := natsURL(t)
	cfg := Config{URL: url, Cluster: testCluster()}
	a := newNode(t, cfg, "a")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.ready(ctx)
	const n = 2*snapshotPart + 100
	for i := range n {
		c := newCall(a.table, "up-"+strconv.Itoa(i), "5002@voip.unisi.it", "5003@voip.unisi.it")
		c.confirm()
	}
	waitFor(t, 5*time.Second, "A to publish its calls", func() bool {
		return a.metric("palio_cluster_events_published_total", "") == 2*n
	})
	b := newNode(t, cfg, "b")
	b.ready(ctx)
	waitFor(t, 5*time.Second, "B to learn of A's calls", func() bool { return len(b.got.events()) >= n })
	time.Sleep(100 * time.Millisecond)
	seen := map[string]bool{}
	for _, ev := range b.got.events() {
		if ev.Kind != sip.EventConfirmed || seen[ev.Dialog.CallID] {
			t.Fatalf("unexpected %v of %s", ev.Kind, ev.Dialog.CallID)
		}
		seen[ev.Dialog.CallID] = true
	}
	if len(seen) != n {
		t.Errorf("B learnt of %d calls, want %d", len(seen), n)
	}
}
