package sip_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// fakeDNS answers A queries from a table on 127.0.0.1 (UDP) and returns a
// resolver that asks it alone. Names it does not know get NXDOMAIN.
func fakeDNS(t *testing.T, a map[string][]string) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		name := strings.TrimSuffix(strings.ToLower(q.Question[0].Name), ".")
		mu.Lock()
		ips, ok := a[name]
		mu.Unlock()
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case q.Question[0].Qtype == dns.TypeA:
			for _, ip := range ips {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(ip)})
			}
		}
		_ = w.WriteMsg(m)
	})
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: handler, NotifyStartedFunc: func() { close(started) }}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown(); <-done })
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

// loopbackServer is a proxy bound to 127.0.0.1 (UDP and TCP) whose
// resolver is r, and whose pipeline sends each call to the targets of
// its Request-URI user one after the other (as the routing stage fails
// over), recording each branch's error.
type loopbackServer struct {
	srv *sip.Server
	reg *prometheus.Registry

	mu      sync.Mutex
	targets map[string][]sip.Target
	errs    []error
}

func newLoopbackServer(t *testing.T, r *net.Resolver) *loopbackServer {
	t.Helper()
	ls := &loopbackServer{reg: prometheus.NewRegistry(), targets: map[string][]sip.Target{}}
	srv, err := sip.NewServer(sip.Config{Listen: []sip.Listen{
		{Network: "udp", Addr: "127.0.0.1:0"},
		{Network: "tcp", Addr: "127.0.0.1:0"},
	}}, sip.WithLogger(testLogger()), sip.WithResolver(r), sip.WithRegisterer(ls.reg))
	if err != nil {
		t.Fatal(err)
	}
	ls.srv = srv
	fwd := sip.NewForwarder(srv, sip.ForwarderConfig{})
	serial := func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			ls.mu.Lock()
			targets := ls.targets[r.Recipient.User]
			ls.mu.Unlock()
			var err error = sip.Reject(404, "Not Found")
			for _, tg := range targets {
				err = next.ServeSIP(sip.WithTargets(ctx, tg), w, r.Clone())
				ls.mu.Lock()
				ls.errs = append(ls.errs, err)
				ls.mu.Unlock()
				if sip.StatusOf(err) != 503 {
					break
				}
			}
			return err
		})
	}
	if err := srv.Start(&sip.ServeMux{Local: srv.Local(), Initial: sip.Chain(serial)(fwd)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return ls
}

// checks returns palio_sip_loopback_checks_total by outcome.
func (ls *loopbackServer) checks(t *testing.T) map[string]float64 {
	t.Helper()
	mfs, err := ls.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "palio_sip_loopback_checks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}

// TestPingOffLoopback: a server bound to loopback refuses, before
// sending, a probe whose destination is outside loopback (an address, a
// name that resolves there or not at all, a next hop), over UDP and TCP
// alike, and still probes destinations on loopback.
func TestPingOffLoopback(t *testing.T) {
	leakCheck(t)
	ua := siptest.NewUA(t, siptest.WithUser("gw"))
	_, uaPort, _ := net.SplitHostPort(ua.Addr())
	r := fakeDNS(t, map[string][]string{
		"gw.example.test":    {"203.0.113.5"},
		"mixed.example.test": {"127.0.0.1", "203.0.113.6"},
		"lo.example.test":    {"127.0.0.1"},
	})
	ls := newLoopbackServer(t, r)
	tests := []struct {
		name, uri, nextHop string
		refused            bool
		says               string // in the error
	}{
		{name: "UDP, documentation address", uri: "sip:198.51.100.11:5060", refused: true,
			says: "sip: destination is not on loopback: 198.51.100.11:5060, from the UDP listener bound to 127.0.0.1:"},
		{name: "TCP, documentation address", uri: "sip:198.51.100.51:5060;transport=tcp", refused: true,
			says: "198.51.100.51:5060, from the TCP listener bound to 127.0.0.1:"},
		{name: "IPv6", uri: "sip:[2001:db8::1]:5060", refused: true, says: "[2001:db8::1]:5060"},
		{name: "IPv4-mapped IPv6", uri: "sip:[::ffff:198.51.100.1]", refused: true, says: "[::ffff:198.51.100.1]:5060"},
		{name: "name off loopback", uri: "sip:gw.example.test;transport=tcp", refused: true, says: "gw.example.test:5060 (203.0.113.5)"},
		{name: "name partly off loopback", uri: "sip:mixed.example.test", refused: true, says: "(127.0.0.1, 203.0.113.6)"},
		{name: "unknown name", uri: "sip:nowhere.example.test", refused: true, says: "no such host"},
		{name: "next hop off loopback", uri: ua.URI(), nextHop: "198.51.100.9:5060", refused: true, says: "198.51.100.9:5060"},
		{name: "loopback", uri: ua.URI()},
		{name: "loopback name", uri: "sip:gw@lo.example.test:" + uaPort},
		{name: "next hop on loopback", uri: "sip:gw@198.51.100.9", nextHop: ua.Addr()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := target(t, tt.uri)
			tg.NextHop = tt.nextHop
			ctx := ctxT(t, 5*time.Second)
			res, err := ls.srv.Ping(ctx, tg, "")
			if !tt.refused {
				if err != nil || res.StatusCode != 200 {
					t.Fatalf("ping %s: got %v %v, want 200", tg, res, err)
				}
				return
			}
			if !errors.Is(err, sip.ErrNotLoopback) {
				t.Fatalf("ping %s: got %v %v, want ErrNotLoopback", tg, res, err)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("ping %s: got %q, want it to say %q", tg, err, tt.says)
			}
		})
	}
	if got, want := ls.checks(t), map[string]float64{"allowed": 3, "refused": 8}; got["allowed"] != want["allowed"] || got["refused"] != want["refused"] {
		t.Errorf("palio_sip_loopback_checks_total: got %v, want %v", got, want)
	}
	if n := len(ua.Received(sip.OPTIONS)); n != 3 {
		t.Errorf("the UA on loopback got %d OPTIONS, want 3 (one a probe on loopback)", n)
	}
}

// TestForwardOffLoopback: the Forwarder answers a branch to a destination
// off loopback with 503 and an error that says why, without sending it,
// so that serial failover moves on to the next destination; a call with
// no other destination gets 503.
func TestForwardOffLoopback(t *testing.T) {
	leakCheck(t)
	ls := newLoopbackServer(t, nil)
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(ls.srv.Local().Addr("udp")))
	off := target(t, "sip:5002@198.51.100.11:5060")
	ls.mu.Lock()
	ls.targets["5002"] = []sip.Target{off, target(t, callee.URI())}
	ls.targets["5003"] = []sip.Target{target(t, "sip:5003@198.51.100.51;transport=tcp")}
	ls.mu.Unlock()
	ctx := ctxT(t, 10*time.Second)

	call, err := caller.Invite(ctx, "sip:5002@"+ls.srv.Local().Addr("udp"))
	if code := finalCode(t, call, err); code != 200 {
		t.Fatalf("call failing over to the callee: got %d, want 200", code)
	}
	call.Bye(ctx)
	call, err = caller.Invite(ctx, "sip:5003@"+ls.srv.Local().Addr("udp"))
	if code := finalCode(t, call, err); code != 503 {
		t.Fatalf("call to a trunk off loopback: got %d, want 503", code)
	}
	// The answered branch may not have returned yet (the Forwarder waits
	// for its transaction): look at the refused ones.
	ls.mu.Lock()
	var refused []error
	for _, err := range ls.errs {
		if err != nil {
			refused = append(refused, err)
		}
	}
	ls.mu.Unlock()
	if len(refused) != 2 {
		t.Fatalf("failed branches: got %v, want 2 (one per call)", refused)
	}
	for i, err := range refused {
		se, ok := sip.AsStatus(err)
		if !ok || se.Code != 503 || !errors.Is(err, sip.ErrNotLoopback) {
			t.Errorf("failed branch %d: got %v, want 503 wrapping ErrNotLoopback", i, err)
		}
	}
	if got := ls.checks(t); got["refused"] != 2 {
		t.Errorf("palio_sip_loopback_checks_total: got %v, want 2 refused", got)
	}
}

func finalCode(t *testing.T, c *siptest.Call, err error) int {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.WaitFinal(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode
}
