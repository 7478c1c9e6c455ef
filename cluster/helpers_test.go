package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/palio-voip/palio/sip"
)

// natsURL returns the NATS server of the tests (PALIO_NATS_URL), or skips.
func natsURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("PALIO_NATS_URL")
	if u == "" {
		t.Skip("PALIO_NATS_URL is not set: no NATS server to test against (e.g. PALIO_NATS_URL=nats://127.0.0.1:4222; .ci/run sets it and starts nats-server)")
	}
	return u
}

// leakCheck fails t if goroutines started during the test outlive it.
func leakCheck(t *testing.T) {
	cur := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, cur) })
}

func testLogger() *slog.Logger {
	if os.Getenv("PALIO_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// node is a Bus under test with its own dialog table (a feed the test
// publishes on), registry and a recorder of what it delivers.
type node struct {
	t     *testing.T
	bus   *Bus
	table *sip.Feed[sip.DialogEvent]
	reg   *prometheus.Registry
	got   *recorder
}

// testCluster returns a cluster name no other test run uses.
func testCluster() string { return "test" + strconv.FormatUint(rand.Uint64()%1e9, 10) }

// newNode starts a bus named name on cfg (URL, Cluster and timing), with
// extra options, and closes it at the end of the test.
func newNode(t *testing.T, cfg Config, name string, opts ...Option) *node {
	t.Helper()
	n := &node{t: t, table: sip.NewFeed[sip.DialogEvent](sip.FeedConfig{}), reg: prometheus.NewRegistry(), got: &recorder{}}
	cfg.Node = name
	var err error
	n.bus, err = NewBus(cfg, n.table, append([]Option{WithLogger(testLogger().With("node", name)), WithRegisterer(n.reg)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.bus.Close)
	n.bus.Subscribe(n.got.record)
	return n
}

// ready waits for the bus's connection.
func (n *node) ready(ctx context.Context) {
	n.t.Helper()
	if err := n.bus.Ready(ctx); err != nil {
		n.t.Fatal(err)
	}
}

// metric returns the value of a series of the node's registry (0 when
// absent); label, when set, selects the series with that label value.
func (n *node) metric(name, label string) float64 {
	mfs, err := n.reg.Gather()
	if err != nil {
		n.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			switch {
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// call is a call of a test's dialog table, whose events it publishes.
type call struct {
	table *sip.Feed[sip.DialogEvent]
	d     sip.Dialog
}

// newCall returns a call from caller to callee ("5002@voip.unisi.it")
// and publishes its EventCreated.
func newCall(table *sip.Feed[sip.DialogEvent], id, caller, callee string) *call {
	rec := &sip.Call{CallID: id, FromTag: "ft-" + id}
	user, domain, _ := cut(caller)
	rec.SetCaller(sip.CallerIdentity{User: user, Domain: domain})
	rec.SetCallee(callee)
	rec.SetClass("5003", "voip")
	rec.SetDialled("5003")
	c := &call{table: table, d: sip.Dialog{
		CallID: id, FromTag: "ft-" + id, From: "sip:" + caller, To: "sip:" + callee, RequestURI: "sip:" + callee,
		State: sip.DialogTrying, Created: time.Now(), Call: rec,
	}}
	c.publish(sip.EventCreated)
	return c
}

func cut(aor string) (string, string, bool) {
	for i := len(aor) - 1; i >= 0; i-- {
		if aor[i] == '@' {
			return aor[:i], aor[i+1:], true
		}
	}
	return aor, "", false
}

func (c *call) publish(k sip.EventKind) { c.table.Publish(sip.DialogEvent{Kind: k, Dialog: c.d}) }

func (c *call) early() {
	c.d.State, c.d.ToTag = sip.DialogEarly, "tt-"+c.d.CallID
	c.publish(sip.EventEarly)
}

func (c *call) confirm() {
	c.d.State, c.d.ToTag, c.d.Answered, c.d.Code = sip.DialogConfirmed, "tt-"+c.d.CallID, time.Now(), 200
	c.publish(sip.EventConfirmed)
}

func (c *call) end(cause sip.Cause) {
	c.d.State, c.d.Ended, c.d.Cause = sip.DialogTerminated, time.Now(), cause
	c.publish(sip.EventTerminated)
}

// recorder keeps the events a subscriber got.
type recorder struct {
	mu  sync.Mutex
	evs []sip.DialogEvent
	at  []time.Time
}

func (r *recorder) record(ev sip.DialogEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
	r.at = append(r.at, time.Now())
}

func (r *recorder) events() []sip.DialogEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sip.DialogEvent(nil), r.evs...)
}

// kinds lists the events of one call, "created early confirmed
// terminated".
func (r *recorder) kinds(callID string) string {
	var s string
	for _, ev := range r.events() {
		if ev.Dialog.CallID == callID {
			if s != "" {
				s += " "
			}
			s += ev.Kind.String()
		}
	}
	return s
}

// last returns the latest event of a call.
func (r *recorder) last(callID string) (sip.DialogEvent, bool) {
	evs := r.events()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Dialog.CallID == callID {
			return evs[i], true
		}
	}
	return sip.DialogEvent{}, false
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// natsServer is a nats-server subprocess the test can stop and start
// again on the same port.
type natsServer struct {
	t    *testing.T
	bin  string
	port int
	cmd  *exec.Cmd
}

// startNATS starts a nats-server of the test's own on a free loopback
// port, or skips when the binary is not installed.
func startNATS(t *testing.T) *natsServer {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nats-server"); serr != nil {
			t.Skip("nats-server is not installed (apt-get install nats-server): cannot test a NATS outage")
		}
		bin = "/usr/sbin/nats-server"
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &natsServer{t: t, bin: bin, port: port}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

func (s *natsServer) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "-a", "127.0.0.1", "-p", strconv.Itoa(s.port))
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("nats-server did not start on port %d: %v", s.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the server (SIGKILL: it goes away without a goodbye).
func (s *natsServer) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}
