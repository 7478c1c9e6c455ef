package main

import (
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip/siptest"
	"github.com/palio-voip/palio/store/storetest"
)

// TestClusterNATSOutage: two nodes reach NATS through a TCP proxy the
// test controls. A watcher on node A follows 5003 (registered on A). NATS
// goes away mid-traffic: calls through both nodes keep connecting at
// once, and the call node B routes to 5003 is not on A's lamp (A cannot
// know). NATS comes back: A's lamp shows that call confirmed without any
// new call state (the nodes resynchronise), and its hang-up afterwards.
func TestClusterNATSOutage(t *testing.T) {
	nats := natsURL(t)
	nu, err := url.Parse(nats)
	if err != nil || nu.Host == "" {
		t.Fatalf("PALIO_NATS_URL %q: %v", nats, err)
	}
	px := newTCPProxy(t, nu.Host)
	viaProxy := strings.Replace(nats, nu.Host, px.addr(), 1)
	dsn := storetest.MySQLDSN(t)
	name := "t" + strconv.FormatUint(rand.Uint64()%1e9, 10)
	a := newExample(t, clusterConfig(dsn, viaProxy, name, "node-a"))
	b := newExample(t, clusterConfig(dsn, viaProxy, name, "node-b"))
	for _, e := range []*example{a, b} {
		e.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
		e.start()
	}
	heard := func(e *example, n string) bool { return strings.Contains(e.metrics(), "\npalio_cluster_nodes "+n+"\n") }
	connected := func(e *example, v string) bool {
		return strings.Contains(e.metrics(), "\npalio_cluster_connected "+v+"\n")
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10 s\nA:\n%s\nB:\n%s", what, tail(a.stderr.String(), 15), tail(b.stderr.String(), 15))
			}
		}
	}
	waitFor("the nodes hear each other", func() bool { return heard(a, "1") && heard(b, "1") })
	ctx := ctxT(t, 60*time.Second)

	watcher := a.phone("5004")
	a.phone("5003")
	sub, res, err := watcher.Subscribe(ctx, "sip:5003@voip.unisi.it", "dialog", 600)
	if err != nil || res.StatusCode >= 300 {
		t.Fatalf("SUBSCRIBE on A: %v %v\n%s", res, err, tail(a.stderr.String(), 20))
	}
	if _, err := sub.WaitNotify(ctx, 1); err != nil {
		t.Fatal(err)
	}
	lamp := func(st string) bool {
		for _, n := range sub.Notifies() {
			if strings.Contains(string(n.Body()), ">"+st+"</state>") {
				return true
			}
		}
		return false
	}

	px.cut()
	waitFor("both nodes see NATS gone", func() bool { return connected(a, "0") && connected(b, "0") })
	// Calls keep connecting through both nodes, promptly.
	other := b.phone("5001")
	for i, e := range []*example{a, b, a, b} {
		caller := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithProxy(e.addr), siptest.WithCredentials("5002", "unisi5002"))
		start := time.Now()
		c, err := caller.Invite(ctx, "sip:5001@"+e.addr)
		if code := finalCode(t, c, err); code != 200 {
			t.Fatalf("call %d with NATS down: got %d, want 200", i+1, code)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("call %d with NATS down took %v to connect", i+1, took)
		}
		c.Bye(ctx)
	}
	if got := len(other.Received("INVITE")); got != 4 {
		t.Errorf("5001 got %d calls, want 4", got)
	}
	// Node B routes a call to 5003, which stays up; A cannot know.
	caller := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithProxy(b.addr), siptest.WithCredentials("5002", "unisi5002"))
	call, err := caller.Invite(ctx, "sip:5003@"+b.addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := call.WaitCode(ctx, 200); err != nil {
		t.Fatalf("the call through B with NATS down: %v\n%s", err, tail(b.stderr.String(), 20))
	}
	time.Sleep(300 * time.Millisecond)
	if lamp("confirmed") {
		t.Fatal("A's lamp shows B's call while NATS is down: the test does not cut what it means to")
	}

	px.restore()
	restored := time.Now()
	waitFor("A's lamp shows B's call after NATS came back", func() bool { return lamp("confirmed") })
	t.Logf("A's lamp showed B's call %v after NATS came back", time.Since(restored).Round(time.Millisecond))
	if _, err := call.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor("A's lamp shows the hang-up", func() bool { return lamp("terminated") })
}
