package registrar_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// clusterNode is one of several proxies sharing a location store, as the
// nodes of a cluster share the location table on MariaDB: its own
// registrar, its own route secret, and sip.Flows recording a Path through
// it for the phones that register on it over TCP.
type clusterNode struct {
	srv *sip.Server
	reg *registrar.Registrar
}

func newClusterNode(t *testing.T, store *registrar.MemStore) *clusterNode {
	t.Helper()
	srv, err := sip.NewServer(sip.Config{Listen: []sip.Listen{
		{Network: "udp", Addr: "127.0.0.1:0"}, {Network: "tcp", Addr: "127.0.0.1:0"},
	}}, sip.WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	fwd := sip.NewForwarder(srv, sip.ForwarderConfig{})
	reg, err := registrar.New(registrar.Config{}, store, store, registrar.WithLogger(testLogger()))
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	self, err := sip.ParseURI("sip:" + srv.Local().Addr("tcp") + ";transport=tcp")
	if err != nil {
		t.Fatal(err)
	}
	flows, err := sip.NewFlows(fwd, sip.FlowConfig{URI: self})
	if err != nil {
		srv.Close()
		reg.Close()
		t.Fatal(err)
	}
	mux := &sip.ServeMux{
		Local:    srv.Local(),
		Register: flows.Path(reg),
		InDialog: sip.NewDialogRelay(fwd),
		Initial:  flows.Relay(reg.Lookup(fwd)),
	}
	if err := srv.Start(mux); err != nil {
		srv.Close()
		reg.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		reg.Close()
	})
	return &clusterNode{srv: srv, reg: reg}
}

func (n *clusterNode) udp() string { return n.srv.Local().Addr("udp") }
func (n *clusterNode) tcp() string { return n.srv.Local().Addr("tcp") }

func sharedStore() *registrar.MemStore {
	store := registrar.NewMemStore()
	for _, u := range []string{"5001", "5002", "5003"} {
		store.AddSubscriber(context.Background(), registrar.NewSubscriber(u, domain, "secret"))
	}
	return store
}

// call places a call from caller to user through the proxy at addr and
// returns it answered.
func answeredCall(t *testing.T, ctx context.Context, caller *siptest.UA, user string) *siptest.Call {
	t.Helper()
	call, err := caller.Invite(ctx, "sip:"+user+"@"+domain)
	if err != nil {
		t.Fatal(err)
	}
	final, err := call.WaitFinal(ctx)
	if err != nil || final.StatusCode != 200 {
		t.Fatalf("call to %s: got %v %v, want 200", user, final, err)
	}
	return call
}

// A phone registered over TCP on node 1 is reached by a call entering
// node 2: node 2 finds node 1's Path in the shared binding and sends the
// INVITE there; node 1 sends it over the phone's own connection. BYE
// works from either end. On node 1 itself the call takes no extra hop.
func TestPathAcrossNodes(t *testing.T) {
	leakCheck(t)
	store := sharedStore()
	n1, n2 := newClusterNode(t, store), newClusterNode(t, store)
	ctx := ctxT(t, 20*time.Second)

	phone := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithTransport("tcp"))
	register(t, ctx, phone, n1.tcp(), "5002", 300)
	list, err := store.Lookup(ctx, "5002")
	if err != nil || len(list) != 1 {
		t.Fatalf("bindings: %+v %v", list, err)
	}
	path := list[0].Path
	if !strings.Contains(path, "@"+n1.tcp()+";transport=tcp;lr>") || strings.HasPrefix(path, "<sip:@") {
		t.Fatalf("the binding's Path %q: want node 1's TCP address with a flow token", path)
	}

	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(n2.udp()))
	call := answeredCall(t, ctx, caller, "5002")
	in, err := phone.WaitIncoming(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	// The INVITE came over the connection the phone opened to node 1
	// (its far end is node 1's listener, not a port node 1 dialled from),
	// through both nodes.
	if got := in.Invite.Source(); got != n1.tcp() {
		t.Errorf("the phone's INVITE came from %s, want node 1's %s (the phone's own connection)", got, n1.tcp())
	}
	if vias := in.Invite.GetHeaders("Via"); len(vias) != 3 {
		t.Errorf("the phone's INVITE has %d Vias, want 3 (node 1, node 2, the caller):\n%s", len(vias), in.Invite)
	}
	if res, err := call.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("the caller's BYE: got %v %v, want 200", res, err)
	}
	if err := in.WaitBye(ctx); err != nil {
		t.Fatalf("the phone never got the caller's BYE: %v", err)
	}

	// The phone hangs up the next call: its BYE goes back through both.
	call = answeredCall(t, ctx, caller, "5002")
	in, err = phone.WaitIncoming(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := in.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("the phone's BYE: got %v %v, want 200", res, err)
	}
	if err := call.WaitEnded(ctx); err != nil {
		t.Fatalf("the caller never got the phone's BYE: %v", err)
	}

	// Through node 1 itself: no extra hop.
	local := siptest.NewUA(t, siptest.WithUser("5003"), siptest.WithProxy(n1.udp()))
	call = answeredCall(t, ctx, local, "5002")
	in, err = phone.WaitIncoming(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if vias := in.Invite.GetHeaders("Via"); len(vias) != 2 || in.Invite.Source() != n1.tcp() {
		t.Errorf("through node 1: %d Vias from %s, want 2 over the phone's connection to %s", len(vias), in.Invite.Source(), n1.tcp())
	}
	call.Bye(ctx)
}

// A phone on UDP gets no Path: a call entering node 2 goes to it directly.
func TestPathNotForUDP(t *testing.T) {
	leakCheck(t)
	store := sharedStore()
	n1, n2 := newClusterNode(t, store), newClusterNode(t, store)
	ctx := ctxT(t, 10*time.Second)
	phone := siptest.NewUA(t, siptest.WithUser("5002"))
	register(t, ctx, phone, n1.udp(), "5002", 300)
	if list, _ := store.Lookup(ctx, "5002"); len(list) != 1 || list[0].Path != "" {
		t.Fatalf("a UDP phone's binding: %+v, want no Path", list)
	}
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(n2.udp()))
	call := answeredCall(t, ctx, caller, "5002")
	in, err := phone.WaitIncoming(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if vias := in.Invite.GetHeaders("Via"); len(vias) != 2 || in.Invite.Source() == n1.udp() {
		t.Errorf("%d Vias from %s, want 2, straight from node 2", len(vias), in.Invite.Source())
	}
	call.Bye(ctx)
}

// closeFlow closes phone, registered over TCP on n, and waits until n
// has seen its connection go.
func closeFlow(t *testing.T, ctx context.Context, n *clusterNode, phone *siptest.UA) {
	t.Helper()
	before := n.srv.Connections()["tcp"]
	phone.Close()
	for n.srv.Connections()["tcp"] >= before {
		if ctx.Err() != nil {
			t.Fatal("node 1 never saw the phone's connection close")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Once the phone's connection is gone, node 1 answers 430 (Flow Failed):
// the lookup that routed the call, node 2's or node 1's own, removes the
// binding (RFC 5626 §7), publishes EventFlowFailed and, with no other
// binding to try, answers the caller 480. The next call finds the AOR
// not registered.
func TestPathFlowFailed(t *testing.T) {
	leakCheck(t)
	store := sharedStore()
	n1, n2 := newClusterNode(t, store), newClusterNode(t, store)
	ctx := ctxT(t, 10*time.Second)
	var mu sync.Mutex
	var dropped []registrar.Event
	for _, n := range []*clusterNode{n1, n2} {
		unsubscribe := n.reg.Subscribe(func(ev registrar.Event) {
			if ev.Kind == registrar.EventFlowFailed {
				mu.Lock()
				dropped = append(dropped, ev)
				mu.Unlock()
			}
		})
		defer unsubscribe()
	}
	for i, via := range []*clusterNode{n2, n1} {
		phone := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithTransport("tcp"))
		register(t, ctx, phone, n1.tcp(), "5002", 300)
		contact := phone.URI()
		closeFlow(t, ctx, n1, phone)
		caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(via.udp()))
		for _, want := range []int{480, 404} {
			call, err := caller.Invite(ctx, "sip:5002@"+domain)
			if err != nil {
				t.Fatal(err)
			}
			final, err := call.WaitFinal(ctx)
			if err != nil || final.StatusCode != want {
				t.Errorf("call %d through %s after the phone's connection closed: got %v %v, want %d", i+1, via.udp(), final, err, want)
			}
		}
		if list, err := store.Lookup(ctx, "5002"); err != nil || len(list) != 0 {
			t.Errorf("after the 430: bindings %+v %v, want none", list, err)
		}
		mu.Lock()
		if len(dropped) != i+1 || dropped[i].Binding.Contact != contact || dropped[i].Binding.AOR != "5002" {
			t.Errorf("flow-failed events: got %+v, want %d, the last for %s", dropped, i+1, contact)
		}
		mu.Unlock()
	}
}

// A phone (one +sip.instance) registered over two flows: over TCP on
// node 1, the newer and so the preferred, and over UDP. Only the best
// flow of an instance is tried at a time (RFC 5626 §7): while the TCP
// flow is up the UDP contact gets nothing; once it is gone, node 1's 430
// makes node 2 drop that binding and try the UDP flow, which answers.
func TestPathFlowFailedOtherFlow(t *testing.T) {
	leakCheck(t)
	store := sharedStore()
	n1, n2 := newClusterNode(t, store), newClusterNode(t, store)
	ctx := ctxT(t, 20*time.Second)
	const instance = "<urn:uuid:00000000-0000-1000-8000-000a95a0e128>"
	udp := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithInstance(instance))
	register(t, ctx, udp, n2.udp(), "5002", 300)
	time.Sleep(20 * time.Millisecond) // the TCP flow is the newer
	tcp := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithTransport("tcp"), siptest.WithInstance(instance))
	register(t, ctx, tcp, n1.tcp(), "5002", 300)
	if list, err := store.Lookup(ctx, "5002"); err != nil || len(list) != 2 || list[0].Instance != instance || list[1].Instance != instance {
		t.Fatalf("bindings: %+v %v, want two of instance %s", list, err, instance)
	}

	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(n2.udp()))
	call := answeredCall(t, ctx, caller, "5002")
	if _, err := tcp.WaitIncoming(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := len(udp.Received(sip.INVITE)); got != 0 {
		t.Errorf("the instance's other flow got %d INVITEs while the best one was up, want 0", got)
	}
	call.Bye(ctx)

	closeFlow(t, ctx, n1, tcp)
	call = answeredCall(t, ctx, caller, "5002")
	if _, err := udp.WaitIncoming(ctx, 1); err != nil {
		t.Fatalf("the instance's other flow was not tried after the 430: %v", err)
	}
	call.Bye(ctx)
	list, err := store.Lookup(ctx, "5002")
	if err != nil || len(list) != 1 || list[0].Contact != udp.URI() {
		t.Errorf("after the 430: bindings %+v %v, want only the UDP flow's %s", list, err, udp.URI())
	}
}

// A Route naming node 1 with a token node 1 did not sign is refused:
// nobody can make a node relay to an address of their choosing.
func TestPathForgedToken(t *testing.T) {
	leakCheck(t)
	store := sharedStore()
	n1, n2 := newClusterNode(t, store), newClusterNode(t, store)
	ctx := ctxT(t, 10*time.Second)
	// A phone registered on node 2 gets a token signed by node 2: put it
	// in a Path naming node 1 instead.
	phone := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithTransport("tcp"))
	register(t, ctx, phone, n2.tcp(), "5002", 300)
	list, _ := store.Lookup(ctx, "5002")
	if len(list) != 1 {
		t.Fatalf("bindings: %+v", list)
	}
	b := list[0]
	b.Path = strings.Replace(b.Path, n2.tcp(), n1.tcp(), 1)
	if err := store.Put(ctx, b); err != nil {
		t.Fatal(err)
	}
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(n2.udp()))
	call, err := caller.Invite(ctx, "sip:5002@"+domain)
	if err != nil {
		t.Fatal(err)
	}
	final, err := call.WaitFinal(ctx)
	if err != nil || final.StatusCode != 403 {
		t.Fatalf("a forged flow token: got %v %v, want 403", final, err)
	}
	if n := len(phone.Received(sip.INVITE)); n != 0 {
		t.Errorf("the phone got %d INVITEs, want none", n)
	}
}

// When the node holding the phone's connection is down, the caller on
// another node gets 480, not the 500 a transport error would become.
func TestPathNodeDown(t *testing.T) {
	leakCheck(t)
	store := sharedStore()
	n1, n2 := newClusterNode(t, store), newClusterNode(t, store)
	ctx := ctxT(t, 10*time.Second)
	phone := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithTransport("tcp"))
	register(t, ctx, phone, n1.tcp(), "5002", 300)
	n1.srv.Close()
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(n2.udp()))
	call, err := caller.Invite(ctx, "sip:5002@"+domain)
	if err != nil {
		t.Fatal(err)
	}
	final, err := call.WaitFinal(ctx)
	if err != nil || final.StatusCode != 480 {
		t.Fatalf("a call for a phone whose node is down: got %v %v, want 480", final, err)
	}
}

// The other end of a call sees node 1's Record-Route entry, token and
// all: that token reaches the phone within dialogs only. A new request
// carrying it as a Route goes through node 1's own routing (here: a
// Request-URI nobody registered, 404), never straight to the phone.
func TestPathRecordRouteToken(t *testing.T) {
	leakCheck(t)
	store := sharedStore()
	n1, n2 := newClusterNode(t, store), newClusterNode(t, store)
	ctx := ctxT(t, 10*time.Second)
	phone := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithTransport("tcp"))
	register(t, ctx, phone, n1.tcp(), "5002", 300)
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(n2.udp()))
	call := answeredCall(t, ctx, caller, "5002")
	defer call.Bye(ctx)
	rr := ""
	for _, res := range call.Responses() {
		for _, h := range res.GetHeaders("Record-Route") {
			if strings.Contains(h.Value(), "@"+n1.tcp()) {
				rr = h.Value()
			}
		}
	}
	if rr == "" {
		t.Fatalf("no Record-Route of node 1 with a token in the caller's responses")
	}
	intruder := siptest.NewUA(t, siptest.WithUser("5003"))
	c, err := intruder.Invite(ctx, "sip:nobody@"+domain, siptest.Via(n1.udp()), siptest.WithHeader("Route", rr))
	if err != nil {
		t.Fatal(err)
	}
	final, err := c.WaitFinal(ctx)
	if err != nil || final.StatusCode != 404 {
		t.Errorf("a new INVITE routed with node 1's Record-Route token: got %v %v, want 404 from node 1's lookup", final, err)
	}
	if n := len(phone.Received(sip.INVITE)); n != 1 {
		t.Errorf("the phone got %d INVITEs, want only the call's", n)
	}
}

// Two phones of one AOR, no instance: both are forked. The TCP one's
// flow is gone (430), the UDP one is busy (486): the caller gets the busy,
// not a 480 for the dead flow, and the dead flow's binding is removed.
func TestPathFlowFailedForkBusy(t *testing.T) {
	leakCheck(t)
	store := sharedStore()
	n1, n2 := newClusterNode(t, store), newClusterNode(t, store)
	ctx := ctxT(t, 10*time.Second)
	busy := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithScript(siptest.Respond(486)))
	register(t, ctx, busy, n2.udp(), "5002", 300)
	tcp := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithTransport("tcp"))
	register(t, ctx, tcp, n1.tcp(), "5002", 300)
	closeFlow(t, ctx, n1, tcp)
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(n2.udp()))
	call, err := caller.Invite(ctx, "sip:5002@"+domain)
	if err != nil {
		t.Fatal(err)
	}
	if final, err := call.WaitFinal(ctx); err != nil || final.StatusCode != 486 {
		t.Errorf("a fork to a dead flow and a busy phone: got %v %v, want 486", final, err)
	}
	if list, err := store.Lookup(ctx, "5002"); err != nil || len(list) != 1 || list[0].Contact != busy.URI() {
		t.Errorf("bindings after the fork: %+v %v, want only the busy phone's", list, err)
	}
}
