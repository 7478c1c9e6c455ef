package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip/siptest"
	"github.com/palio-voip/palio/store/mysql"
	"github.com/palio-voip/palio/store/storetest"
)

// natsURL returns the NATS server of the tests, or skips.
func natsURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("PALIO_NATS_URL")
	if u == "" {
		t.Skip("PALIO_NATS_URL is not set: no NATS server for the cluster test (e.g. PALIO_NATS_URL=nats://127.0.0.1:4222; .ci/run sets it and starts nats-server)")
	}
	return u
}

// clusterConfig is a node's config on a shared MariaDB database and NATS.
func clusterConfig(dsn, nats, cluster, node string) string {
	// Two nodes in one process: no media box (it would take 127.0.0.1:5080
	// twice).
	return mysqlConfig(dsn) + fmt.Sprintf("[cluster]\nnode = %q\nnats = %q\nname = %q\n[media]\npolicy = \"never\"\n[mediabox]\nenabled = false\n", node, nats, cluster)
}

// metrics returns the node's /metrics page.
func (e *example) metrics() string {
	e.t.Helper()
	res, err := http.Get("http://" + e.http + "/metrics")
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// TestClusterBusyLamp: three example nodes on one MariaDB database and
// one NATS server. A watcher subscribed on node A sees the early,
// confirmed and terminated states of a call that node C alone routes;
// its subscription belongs to A in the database.
func TestClusterBusyLamp(t *testing.T) {
	nats := natsURL(t)
	dsn := storetest.MySQLDSN(t)
	name := "t" + strconv.FormatUint(rand.Uint64()%1e9, 10)
	a := newExample(t, clusterConfig(dsn, nats, name, "node-a"))
	b := newExample(t, clusterConfig(dsn, nats, name, "node-b"))
	c := newExample(t, clusterConfig(dsn, nats, name, "node-c"))
	for _, e := range []*example{a, b, c} {
		e.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
		e.start()
	}
	// Each node has heard the others: their subscriptions are in place.
	for _, e := range []*example{a, b, c} {
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(e.metrics(), "\npalio_cluster_nodes 2\n") {
			if time.Now().After(deadline) {
				t.Fatalf("the nodes never heard each other:\n%s", tail(e.stderr.String(), 20))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	ctx := ctxT(t, 20*time.Second)

	watcher := a.phone("5004")
	a.phone("5003")
	sub, res, err := watcher.Subscribe(ctx, "sip:5003@voip.unisi.it", "dialog", 600)
	if err != nil || res.StatusCode >= 300 {
		t.Fatalf("SUBSCRIBE on A: %v %v\n%s", res, err, tail(a.stderr.String(), 20))
	}
	if _, err := sub.WaitNotify(ctx, 1); err != nil {
		t.Fatal(err)
	}

	caller := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithProxy(c.addr), siptest.WithCredentials("5002", "unisi5002"))
	call, err := caller.Invite(ctx, "sip:5003@"+c.addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := call.WaitCode(ctx, 200); err != nil {
		t.Fatalf("the call through C: %v\nC:\n%s", err, tail(c.stderr.String(), 20))
	}
	answered := time.Now()
	state := func(st string) bool {
		for _, n := range sub.Notifies() {
			if strings.Contains(string(n.Body()), ">"+st+"</state>") {
				return true
			}
		}
		return false
	}
	for !state("confirmed") {
		if time.Since(answered) > 5*time.Second {
			t.Fatalf("no confirmed NOTIFY on A for C's call\nA:\n%s", tail(a.stderr.String(), 20))
		}
		time.Sleep(time.Millisecond)
	}
	lag := time.Since(answered)
	t.Logf("the confirmed NOTIFY from node A came %v after the caller on node C got its 200", lag)
	if lag > 500*time.Millisecond {
		t.Errorf("the confirmed NOTIFY took %v", lag)
	}
	if _, err := call.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !state("terminated") {
		if time.Now().After(deadline) {
			t.Fatalf("no terminated NOTIFY on A for C's call")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var states []string
	for _, n := range sub.Notifies() {
		body := string(n.Body())
		for _, st := range []string{"early", "confirmed", "terminated"} {
			if strings.Contains(body, ">"+st+"</state>") {
				states = append(states, st)
			}
		}
		if strings.Contains(body, "<dialog ") && (!strings.Contains(body, `call-id="`+call.CallID()+`"`) || !strings.Contains(body, `direction="recipient"`)) {
			t.Errorf("a NOTIFY about another dialog, or not as the callee's:\n%s", body)
		}
	}
	if got := strings.Join(states, " "); got != "early confirmed terminated" {
		t.Errorf("lamp states %q, want early confirmed terminated", got)
	}
	if m := a.metrics(); !strings.Contains(m, `palio_cluster_events_received_total{origin="event"}`) {
		t.Errorf("A's metrics lack the received events:\n%s", m)
	}

	// The subscription belongs to node A in the shared database: B and C never
	// reload, expire or notify it.
	db, err := mysql.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	own, err := db.Presence().Subscriptions(ctx, "node-a")
	if err != nil || len(own) != 1 || own[0].CallID != sub.CallID() {
		t.Errorf("node-a's subscriptions: %+v %v, want the watcher's", own, err)
	}
	for _, node := range []string{"node-b", "node-c"} {
		if other, err := db.Presence().Subscriptions(ctx, node); err != nil || len(other) != 0 {
			t.Errorf("%s's subscriptions: %+v %v, want none", node, other, err)
		}
	}
}

// TestClusterGuardBan: three example nodes on one MariaDB database and
// one NATS server, the store polled only every 30 s. A password guesser
// banned by node 1 is refused by nodes 2 and 3 well before any of them
// rereads the store: the ban crosses over NATS (guard.Share).
func TestClusterGuardBan(t *testing.T) {
	nats := natsURL(t)
	dsn := storetest.MySQLDSN(t)
	name := "t" + strconv.FormatUint(rand.Uint64()%1e9, 10)
	var nodes []*example
	for i := range 3 {
		cfg := fmt.Sprintf("[store]\nmysql = %q\npoll = \"30s\"\n[log]\nlevel = \"warn\"\ncalls = false\n"+
			"[routing]\nprobe_interval = \"0s\"\n[guard.auth]\nip_failures = 5\n"+
			"[cluster]\nnode = \"node-%d\"\nnats = %q\nname = %q\n[media]\npolicy = \"never\"\n[mediabox]\nenabled = false\n",
			dsn, i+1, nats, name)
		var e *example
		if i == 0 {
			e = newExample(t, cfg)
		} else {
			e = newBareExample(t, cfg)
		}
		e.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
		e.start()
		nodes = append(nodes, e)
	}
	for _, e := range nodes {
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(e.metrics(), "\npalio_cluster_nodes 2\n") {
			if time.Now().After(deadline) {
				t.Fatalf("the nodes never heard each other:\n%s", tail(e.stderr.String(), 20))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	attacker := siptest.NewUA(t, siptest.WithListen("127.0.0.7:0"), siptest.WithUser("scanner"))
	for i, e := range nodes[1:] {
		if !e.answered(t, attacker) {
			t.Fatalf("node %d does not answer the source before the ban", i+2)
		}
	}
	if n := nodes[0].bruteForce(t, attacker, "5002", "5003", "6001", "6002", "6003", "6004", "6005"); n != 5 {
		t.Fatalf("%d of 7 guesses answered by node 1, want 5 (then banned)", n)
	}
	banned := time.Now()
	for i, e := range nodes[1:] {
		eventually(t, fmt.Sprintf("node %d refuses the source banned by node 1", i+2), func() bool { return !e.answered(t, attacker) })
		if !strings.Contains(e.stderr.String(), `msg="guard: banned" src=127.0.0.7 kind=ip`) {
			t.Errorf("node %d did not log the ban for fail2ban:\n%s", i+2, tail(e.stderr.String(), 10))
		}
	}
	took := time.Since(banned)
	t.Logf("the ban on node 1 was enforced by nodes 2 and 3 within %v, two unanswered OPTIONS of 700 ms included (store polled every 30 s)", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("the ban took %v to reach the other nodes", took)
	}
	// Phones on other addresses are still served.
	nodes[2].phone("5003")
}
