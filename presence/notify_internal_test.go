package presence

import (
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// The NOTIFY of a subscription that came through other proxies follows
// their Record-Route in the order received (RFC 3261 §12.1.1, the UAS
// side), and goes where the first Route says, not to the source address.
func TestNotifyRouteSet(t *testing.T) {
	siptest.LeakCheck(t)
	srv, err := sip.NewServer(sip.Config{Listen: []sip.Listen{{Network: "udp", Addr: "127.0.0.1:0"}}}, sip.WithLogger(siptest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	p, err := New(Config{}, NewMemStore(), srv, WithLogger(siptest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	now := time.Now()
	p.now = func() time.Time { return now }
	near, _ := sip.ParseURI("sip:10.0.0.9;lr")
	far, _ := sip.ParseURI("sip:10.0.0.10;lr")
	contact, _ := sip.ParseURI("sip:5003@192.168.1.3:5062")
	s := &subscription{aor: "5002@voip.unisi.it", routes: []sip.URI{near, far}, contact: contact}
	s.Subscription = Subscription{
		Key:           Key{CallID: "cid", ToTag: "ps-1", FromTag: "w1"},
		PresentityURI: "sip:5002@voip.unisi.it", WatcherURI: "sip:5003@voip.unisi.it", ToURI: "sip:5002@voip.unisi.it",
		Event: "dialog", EventID: "7", LocalCSeq: 4, Contact: contact.String(),
		Received: "198.51.100.7:40000", Transport: "UDP", LocalContact: "sip:127.0.0.1:5060",
		Expires: now.Add(90 * time.Second), Version: 2,
	}
	p.mu.Lock()
	req, target := p.notify(s, notice{})
	p.mu.Unlock()

	routes := req.GetHeaders("Route")
	if len(routes) != 2 || routes[0].Value() != "<sip:10.0.0.9;lr>" || routes[1].Value() != "<sip:10.0.0.10;lr>" {
		t.Errorf("Route: got %v, want the Record-Route in order", routes)
	}
	if target.NextHop != "" || target.URI.String() != contact.String() {
		t.Errorf("target: got %+v, want the contact and no next hop", target)
	}
	for name, want := range map[string]string{
		"Event": "dialog;id=7", "Subscription-State": "active;expires=90", "Content-Type": ContentType, "Call-ID": "cid",
	} {
		if h := req.GetHeader(name); h == nil || h.Value() != want {
			t.Errorf("%s: got %v, want %s", name, h, want)
		}
	}
	if tag, _ := req.From().Params.Get("tag"); tag != "ps-1" {
		t.Errorf("From tag %q, want ps-1", tag)
	}
	if tag, _ := req.To().Params.Get("tag"); tag != "w1" {
		t.Errorf("To tag %q, want w1", tag)
	}
	if req.CSeq().SeqNo != 5 || s.Version != 3 {
		t.Errorf("CSeq %d, next version %d: want 5 and 3", req.CSeq().SeqNo, s.Version)
	}

	// Without a route set, the NOTIFY goes where the SUBSCRIBE came from.
	s.routes = nil
	p.mu.Lock()
	req, target = p.notify(s, notice{reason: "timeout"})
	p.mu.Unlock()
	if target.NextHop != "198.51.100.7:40000" || target.Transport != "UDP" {
		t.Errorf("target: got %+v, want the received address", target)
	}
	if h := req.GetHeader("Subscription-State"); h == nil || h.Value() != "terminated;reason=timeout" {
		t.Errorf("Subscription-State: got %v", h)
	}
}
