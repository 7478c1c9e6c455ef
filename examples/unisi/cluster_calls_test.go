package main

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/accounting"
	"github.com/palio-voip/palio/sip/siptest"
	"github.com/palio-voip/palio/store/storetest"
)

// TestClusterCallsList: three nodes on one MariaDB database and one NATS
// server. A call routed by node B is in node A's (and C's) calls list
// within 100 ms of B's 200, with B named as its node, and leaves it after
// the BYE; an operator on node A hangs up a call of B's (`unisi calls
// hangup` on A: B sends the BYEs); a node whose NATS link is cut cannot
// be asked (the error names it), has its calls leave the others' lists
// after NodeTimeout (5 s), and brings them back when the link returns.
func TestClusterCallsList(t *testing.T) {
	nats := natsURL(t)
	dsn := storetest.MySQLDSN(t)
	name := "t" + strconv.FormatUint(rand.Uint64()%1e9, 10)
	px := newTCPProxy(t, strings.TrimPrefix(nats, "nats://"))
	a := newExample(t, clusterConfig(dsn, nats, name, "node-a"))
	b := newExample(t, clusterConfig(dsn, "nats://"+px.addr(), name, "node-b"))
	c := newExample(t, clusterConfig(dsn, nats, name, "node-c"))
	for _, e := range []*example{a, b, c} {
		e.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
		e.start()
	}
	for _, e := range []*example{a, b, c} {
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(e.metrics(), "\npalio_cluster_nodes 2\n") {
			if time.Now().After(deadline) {
				t.Fatalf("the nodes never heard each other:\n%s", tail(e.stderr.String(), 20))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	ctx := ctxT(t, 60*time.Second)
	callee := b.phone("5003")
	caller := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithProxy(b.addr), siptest.WithCredentials("5002", "unisi5002"))

	// row returns the call's row in e's list, if any.
	row := func(e *example, callID string) (accounting.LiveCall, bool) {
		var live []accounting.LiveCall
		e.apiGet(t, "/api/calls", &live)
		for _, lc := range live {
			if lc.CallID == callID {
				return lc, true
			}
		}
		return accounting.LiveCall{}, false
	}
	// waitRow waits until the call's presence in e's list is want and
	// returns how long that took.
	waitRow := func(e *example, callID string, want bool, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			if lc, ok := row(e, callID); ok == want && (!ok || lc.State == "confirmed") {
				return time.Since(start)
			}
			if time.Since(start) > within {
				t.Fatalf("call %s in the list of %s: want %v, still not after %v\n%s", callID, e.addr, want, within, tail(e.stderr.String(), 20))
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	invite := func() *siptest.Call {
		t.Helper()
		call, err := caller.Invite(ctx, "sip:5003@"+b.addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := call.WaitCode(ctx, 200); err != nil {
			t.Fatalf("the call through B: %v\nB:\n%s", err, tail(b.stderr.String(), 20))
		}
		return call
	}

	// 1. In every list within 100 ms, with its node; gone after BYE.
	call := invite()
	lag := waitRow(a, call.CallID(), true, 2*time.Second)
	t.Logf("B's call reached A's calls list %v after the caller got B's 200", lag)
	if lag > 100*time.Millisecond {
		t.Errorf("B's call reached A's list %v after its 200, want within 100 ms", lag)
	}
	for _, e := range []*example{a, b, c} {
		lc, ok := row(e, call.CallID())
		if !ok || lc.Node != "node-b" || lc.Caller != "5002@voip.unisi.it" || lc.Callee != "5003@voip.unisi.it" || lc.Answered.IsZero() {
			t.Errorf("the row of B's call on %s: %+v (%v)", e.addr, lc, ok)
		}
	}
	if out := a.cli(0, "calls", "list"); !strings.Contains(out, call.CallID()) || !strings.Contains(out, "node-b") {
		t.Errorf("calls list on A:\n%s", out)
	}
	if _, err := call.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("the ended call left A's list %v after the BYE's answer", waitRow(a, call.CallID(), false, time.Second))

	// 2. Hung up from A: B ends it, both ends get a BYE.
	call = invite()
	waitRow(a, call.CallID(), true, 2*time.Second)
	if out := a.cli(0, "calls", "hangup", call.CallID(), "-reason", "hung up on A"); out != "hung up "+call.CallID()+"\n" {
		t.Errorf("calls hangup on A: %q", out)
	}
	if err := call.WaitEnded(ctx); err != nil {
		t.Fatalf("the caller got no BYE: %v\nB:\n%s", err, tail(b.stderr.String(), 20))
	}
	in, err := callee.WaitIncoming(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.WaitBye(ctx); err != nil {
		t.Fatalf("the callee got no BYE: %v", err)
	}
	if bye := callee.Received("BYE"); len(bye) == 0 || !strings.Contains(bye[len(bye)-1].String(), "hung up on A") {
		t.Errorf("the callee's BYE lacks the reason: %v", bye)
	}
	waitRow(a, call.CallID(), false, time.Second)
	if msg := a.cliErr(1, "calls", "hangup", call.CallID()); !strings.Contains(msg, "no call in progress") {
		t.Errorf("hanging up an ended call from A: %q", msg)
	}

	// 3. B goes silent (its NATS link cut): its call leaves A's list
	// after NodeTimeout, and comes back with the link.
	call = invite()
	waitRow(a, call.CallID(), true, 2*time.Second)
	px.cut()
	cut := time.Now()
	// Meanwhile A still lists it, but cannot have it hung up: the error
	// names the node.
	if msg := a.cliErr(1, "calls", "hangup", call.CallID()); !strings.Contains(msg, "node-b") {
		t.Errorf("hanging up the call of a node cut off, from A: %q, want an error naming node-b", msg)
	}
	waitRow(a, call.CallID(), false, 10*time.Second)
	gone := time.Since(cut)
	t.Logf("the silent node's call left A's list %v after its link was cut", gone)
	if gone < 3*time.Second {
		t.Errorf("B's call left A's list %v after the cut: before NodeTimeout", gone)
	}
	if _, ok := row(b, call.CallID()); !ok {
		t.Errorf("B lost its own call when its NATS link was cut")
	}
	px.restore()
	back := waitRow(a, call.CallID(), true, 10*time.Second)
	t.Logf("B's call came back to A's list %v after its link returned", back)
	if _, err := call.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	waitRow(a, call.CallID(), false, 2*time.Second)
}
