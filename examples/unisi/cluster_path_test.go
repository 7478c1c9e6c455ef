package main

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip/siptest"
	"github.com/palio-voip/palio/store/mysql"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/palio-voip/palio/store/storetest"
)

// tcpPhone registers user over TCP, as a phone whose connection only this
// node holds.
func (e *example) tcpPhone(user string, opts ...siptest.Option) *siptest.UA {
	e.t.Helper()
	opts = append([]siptest.Option{siptest.WithUser(user), siptest.WithTransport("tcp"), siptest.WithProxy(e.addr),
		siptest.WithCredentials(user, "unisi"+user)}, opts...)
	ua := siptest.NewUA(e.t, opts...)
	res, err := ua.Register(ctxT(e.t, 5*time.Second), e.addr, "sip:"+user+"@voip.unisi.it", "unisi"+user, 3600)
	if err != nil || res.StatusCode != 200 {
		e.t.Fatalf("REGISTER %s over TCP: %v %v\n%s", user, res, err, e.stderr.String())
	}
	return ua
}

// TestClusterPhoneOnOtherNode: three nodes on one MariaDB database, with
// [cluster] node set and nothing else shared. A phone registered over TCP
// on node 1 is reached by a call entering node 2: node 2 sends it through
// node 1 (the Path in the binding), node 1 over the phone's connection.
// BYE works both ways. A UDP phone on node 1 is called from node 2
// directly, with no hop through node 1; a call entering node 1 takes no
// extra hop either. Once the TCP phone's connection is gone, the caller
// on node 3 gets 480 and the binding is gone from the shared table (node
// 1's 430, RFC 5626 §7). A phone registered over two flows, TCP on node 1
// and UDP on node 2, with one +sip.instance: once the TCP flow is gone a
// call entering node 3 drops that binding and reaches the UDP flow.
func TestClusterPhoneOnOtherNode(t *testing.T) {
	dsn := storetest.MySQLDSN(t)
	var nodes []*example
	for i := range 3 {
		cfg := mysqlConfig(dsn) + fmt.Sprintf("[routing]\nprobe_interval = \"0s\"\n[cluster]\nnode = \"node-%d\"\n[media]\npolicy = \"never\"\n", i+1)
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
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	ctx := ctxT(t, 30*time.Second)
	logs := func() string {
		var b strings.Builder
		for i, e := range nodes {
			fmt.Fprintf(&b, "node %d:\n%s\n", i+1, tail(e.stderr.String(), 15))
		}
		return b.String()
	}

	phone := n1.tcpPhone("5003")
	db, err := mysql.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	loc := db.Location(sqlstore.LocationOptions{CacheTTL: -1})
	defer loc.Close()
	list, err := loc.Lookup(ctx, "5003")
	if err != nil || len(list) != 1 || !strings.Contains(list[0].Path, "@"+n1.addr+";transport=tcp;lr>") {
		t.Fatalf("5003's binding in the shared database: %+v %v, want a Path through node 1 (%s)", list, err, n1.addr)
	}

	caller := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithProxy(n2.addr), siptest.WithCredentials("5002", "unisi5002"))
	call, err := caller.Invite(ctx, "sip:5003@"+n2.addr)
	if code := finalCode(t, call, err); code != 200 {
		t.Fatalf("a call entering node 2 for the TCP phone on node 1: got %d\n%s", code, logs())
	}
	in, err := phone.WaitIncoming(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := in.Invite.Source(); got != n1.addr {
		t.Errorf("the phone's INVITE came from %s, want node 1's %s: over the connection the phone opened", got, n1.addr)
	}
	if vias := in.Invite.GetHeaders("Via"); len(vias) != 3 {
		t.Errorf("the phone's INVITE has %d Vias, want 3 (node 1, node 2, the caller)", len(vias))
	}
	if res, err := call.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("the caller's BYE: got %v %v, want 200\n%s", res, err, logs())
	}
	if err := in.WaitBye(ctx); err != nil {
		t.Fatalf("the phone never got the caller's BYE: %v", err)
	}

	// The phone hangs up the second call.
	call, err = caller.Invite(ctx, "sip:5003@"+n2.addr)
	if code := finalCode(t, call, err); code != 200 {
		t.Fatalf("second call: got %d\n%s", code, logs())
	}
	in, err = phone.WaitIncoming(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := in.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("the phone's BYE: got %v %v, want 200\n%s", res, err, logs())
	}
	if err := call.WaitEnded(ctx); err != nil {
		t.Fatalf("the caller never got the phone's BYE: %v", err)
	}

	// The call entering node 1 itself: no hop through another node.
	local := siptest.NewUA(t, siptest.WithUser("5004"), siptest.WithProxy(n1.addr), siptest.WithCredentials("5004", "unisi5004"))
	call, err = local.Invite(ctx, "sip:5003@"+n1.addr)
	if code := finalCode(t, call, err); code != 200 {
		t.Fatalf("a call entering node 1: got %d\n%s", code, logs())
	}
	in, err = phone.WaitIncoming(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if vias := in.Invite.GetHeaders("Via"); len(vias) != 2 || in.Invite.Source() != n1.addr {
		t.Errorf("through node 1: %d Vias from %s, want 2 over the phone's connection", len(vias), in.Invite.Source())
	}
	call.Bye(ctx)

	// A UDP phone on node 1 is called from node 2 directly.
	udpPhone := n1.phone("5001")
	call, err = caller.Invite(ctx, "sip:5001@"+n2.addr)
	if code := finalCode(t, call, err); code != 200 {
		t.Fatalf("a call entering node 2 for the UDP phone on node 1: got %d\n%s", code, logs())
	}
	in, err = udpPhone.WaitIncoming(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if vias := in.Invite.GetHeaders("Via"); len(vias) != 2 || in.Invite.Source() != n2.addr {
		t.Errorf("the UDP phone's INVITE: %d Vias from %s, want 2, from node 2 (%s)", len(vias), in.Invite.Source(), n2.addr)
	}
	if res, err := in.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Errorf("the UDP phone's BYE: got %v %v, want 200", res, err)
	}

	// The TCP phone goes away without unregistering: its binding stays,
	// its flow is gone. Node 1 answers node 3 430, node 3 the caller 480.
	conns := func() int {
		m := n1.metrics()
		for _, l := range strings.Split(m, "\n") {
			if v, ok := strings.CutPrefix(l, `palio_sip_stream_connections{transport="tcp"} `); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
		t.Fatalf("node 1 has no TCP connections gauge:\n%s", grepLines(m, "palio_sip"))
		return 0
	}
	before := conns()
	phone.Close()
	for deadline := time.Now().Add(5 * time.Second); conns() >= before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("node 1 never saw the phone's connection close")
		}
	}
	other := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithProxy(n3.addr), siptest.WithCredentials("5002", "unisi5002"))
	call, err = other.Invite(ctx, "sip:5003@"+n3.addr)
	if code := finalCode(t, call, err); code != 480 {
		t.Errorf("a call for the phone whose connection closed: got %d, want 480\n%s", code, logs())
	}
	if list, err := loc.Lookup(ctx, "5003"); err != nil || len(list) != 0 {
		t.Errorf("5003's binding after node 1's 430: %+v %v, want none", list, err)
	}
	if m := n3.metrics(); !strings.Contains(m, `palio_registrar_binding_events_total{kind="flow-failed"} 1`) {
		t.Errorf("node 3's binding events, want one flow-failed:\n%s", grepLines(m, "palio_registrar_binding_events_total"))
	}

	// The same phone (one instance) over two flows: UDP on node 2 first,
	// then TCP on node 1, the newer and so the one tried first.
	const instance = "<urn:uuid:00000000-0000-1000-8000-00005003abcd>"
	udp5003 := n2.phoneWith("5003", siptest.WithInstance(instance))
	time.Sleep(1100 * time.Millisecond) // last_modified keeps seconds
	tcp5003 := n1.tcpPhone("5003", siptest.WithInstance(instance))
	if list, err := loc.Lookup(ctx, "5003"); err != nil || len(list) != 2 {
		t.Fatalf("5003's bindings: %+v %v, want two", list, err)
	}
	before = conns()
	tcp5003.Close()
	for deadline := time.Now().Add(5 * time.Second); conns() >= before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("node 1 never saw the second phone's connection close")
		}
	}
	call, err = other.Invite(ctx, "sip:5003@"+n3.addr)
	if code := finalCode(t, call, err); code != 200 {
		t.Fatalf("a call for the phone with a second flow: got %d, want 200 from the UDP flow\n%s", code, logs())
	}
	if _, err := udp5003.WaitIncoming(ctx, 1); err != nil {
		t.Fatalf("the UDP flow never got the call: %v", err)
	}
	call.Bye(ctx)
	if list, err := loc.Lookup(ctx, "5003"); err != nil || len(list) != 1 || list[0].Contact != udp5003.URI() {
		t.Errorf("5003's bindings after the TCP flow's 430: %+v %v, want only %s", list, err, udp5003.URI())
	}
	if m := n1.metrics(); !strings.Contains(m, `palio_sip_flows_total{outcome="failed"} 2`) ||
		!strings.Contains(m, `palio_sip_flows_total{outcome="path"} `) || strings.Contains(m, `palio_sip_flows_total{outcome="path"} 0`) {
		t.Errorf("node 1's flow metrics, want Paths and two failed flows:\n%s", grepLines(m, "palio_sip_flows_total"))
	}
}

// TestClusterTLSPhoneOnOtherNode: a phone registered over TLS on node 1
// (the node with the [tls] listener) is reached by a call entering node
// 2, which has none: node 2 sends the INVITE through node 1 (the Path,
// over TCP between the nodes), node 1 over the phone's TLS connection.
// BYE works both ways.
func TestClusterTLSPhoneOnOtherNode(t *testing.T) {
	dsn := storetest.MySQLDSN(t)
	cluster := func(node string) string {
		return mysqlConfig(dsn) + fmt.Sprintf("[routing]\nprobe_interval = \"0s\"\n[cluster]\nnode = %q\n[media]\npolicy = \"never\"\n", node)
	}
	n1 := newTLSExample(t, "\n"+cluster("node-1"))
	n2 := newBareExample(t, cluster("node-2"))
	n2.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	n1.start()
	n2.start()
	ctx := ctxT(t, 20*time.Second)
	logs := func() string {
		return fmt.Sprintf("node 1:\n%s\nnode 2:\n%s", tail(n1.stderr.String(), 15), tail(n2.stderr.String(), 15))
	}

	phone := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithTLS(n1.conf), siptest.WithProxy(n1.tlsAddr), siptest.WithCredentials("5001", "unisi5001"))
	res, err := phone.Register(ctx, n1.tlsAddr, "sip:5001@voip.unisi.it", "unisi5001", 3600)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER over TLS on node 1: %v %v\n%s", res, err, logs())
	}
	db, err := mysql.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	loc := db.Location(sqlstore.LocationOptions{CacheTTL: -1})
	defer loc.Close()
	list, err := loc.Lookup(ctx, "5001")
	if err != nil || len(list) != 1 || list[0].Transport != "TLS" || !strings.Contains(list[0].Path, "@"+n1.addr+";transport=tcp;lr>") {
		t.Fatalf("5001's binding: %+v %v, want a TLS binding with a Path through node 1 (%s)", list, err, n1.addr)
	}

	caller := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithProxy(n2.addr), siptest.WithCredentials("5002", "unisi5002"))
	call, err := caller.Invite(ctx, "sip:5001@"+n2.addr)
	if code := finalCode(t, call, err); code != 200 {
		t.Fatalf("a call entering node 2 for the TLS phone on node 1: got %d\n%s", code, logs())
	}
	in, err := phone.WaitIncoming(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if tr := in.Invite.Transport(); tr != "TLS" {
		t.Errorf("the phone's INVITE came over %s, want TLS (its own connection)", tr)
	}
	if vias := in.Invite.GetHeaders("Via"); len(vias) != 3 {
		t.Errorf("the phone's INVITE has %d Vias, want 3 (node 1, node 2, the caller)", len(vias))
	}
	if res, err := call.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("the caller's BYE: got %v %v, want 200\n%s", res, err, logs())
	}
	if err := in.WaitBye(ctx); err != nil {
		t.Fatalf("the phone never got the caller's BYE: %v", err)
	}

	call, err = caller.Invite(ctx, "sip:5001@"+n2.addr)
	if code := finalCode(t, call, err); code != 200 {
		t.Fatalf("second call: got %d\n%s", code, logs())
	}
	in, err = phone.WaitIncoming(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := in.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("the phone's BYE over TLS: got %v %v, want 200\n%s", res, err, logs())
	}
	if err := call.WaitEnded(ctx); err != nil {
		t.Fatalf("the caller never got the phone's BYE: %v", err)
	}
}
