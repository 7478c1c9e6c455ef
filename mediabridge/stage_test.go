package mediabridge

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// stageRig is a proxy on loopback routing every call to one callee
// (through a gateway named gateway, when set) with the media stage last.
type stageRig struct {
	relay *Relay
	proxy *siptest.Proxy

	mu    sync.Mutex
	calls []*sip.Call
}

func newStageRig(t *testing.T, rc Config, sc StageConfig, callee *siptest.UA, gateway string) *stageRig {
	t.Helper()
	rig := &stageRig{relay: newTestRelay(t, rc)}
	route := func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			rig.mu.Lock()
			rig.calls = append(rig.calls, sip.CallFrom(ctx))
			rig.mu.Unlock()
			u, _ := sip.ParseURI(callee.URI())
			return next.ServeSIP(sip.WithTargets(ctx, sip.Target{URI: u, Gateway: gateway}), w, r)
		})
	}
	// The stage exists before the proxy that runs it: its Hangup finds
	// the server through srv, set once the proxy is up.
	var srv atomic.Pointer[sip.Server]
	if sc.Hangup == nil {
		sc.Hangup = func(ctx context.Context, callID, fromTag, reason string) error {
			return srv.Load().Hangup(ctx, callID, fromTag, reason)
		}
	}
	stage := NewStage(rig.relay, sc)
	rig.proxy = siptest.NewProxy(t, siptest.ProxyConfig{Networks: []string{"udp"}, Stages: []sip.Middleware{route, stage.Wrap}})
	srv.Store(rig.proxy.Server)
	return rig
}

func (rig *stageRig) addr() string { return rig.proxy.Server.Local().Addr("udp") }

func (rig *stageRig) call(i int) *sip.Call {
	rig.mu.Lock()
	defer rig.mu.Unlock()
	return rig.calls[i]
}

func phoneSDP(user string, p *phone) []byte {
	a := p.addr()
	return fmt.Appendf(nil, "v=0\r\no=%s 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
		user, a.Addr(), a.Addr(), a.Port())
}

func sdpStreams(t *testing.T, body []byte) []SDPStream {
	t.Helper()
	d, err := ParseBody("application/sdp", body)
	if err != nil {
		t.Fatalf("SDP: %v\n%s", err, body)
	}
	return d.Streams()
}

func lastBody(c *siptest.Call) []byte {
	rs := c.Responses()
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].StatusCode == 200 {
			return rs[i].Body()
		}
	}
	return nil
}

// TestStageAnchorsGatewayCall: a call to a gateway is anchored: each end
// sees the relay's address, RTP flows through it both ways, the call
// record names the session and carries its statistics, and the BYE
// returns every port.
func TestStageAnchorsGatewayCall(t *testing.T) {
	a, b := newPhone(t), newPhone(t)
	callee := siptest.NewUA(t, siptest.WithUser("gw"), siptest.WithSDP(phoneSDP("gw", b)))
	rig := newStageRig(t, testConfig(8), StageConfig{}, callee, "gw-siena-1")
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(rig.addr()), siptest.WithSDP(phoneSDP("5001", a)))
	ctx := siptest.Context(t, 5*time.Second)

	call, _ := caller.Invite(ctx, "sip:0577123456@"+rig.addr())
	if res, err := call.WaitFinal(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("final: %v %v", res, err)
	}
	in, err := callee.WaitIncoming(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	toB, toA := sdpStreams(t, in.Invite.Body()), sdpStreams(t, lastBody(call))
	if toB[0].RTP == a.addr() || toA[0].RTP == b.addr() || toB[0].RTP.Addr() != loopback || toA[0].RTP.Addr() != loopback {
		t.Fatalf("SDP not anchored: the callee was offered %v, the caller answered %v", toB[0].RTP, toA[0].RTP)
	}
	p := rtp(1, 160, 0xa)
	a.send(toA[0].RTP, p)
	if got, _ := b.mustRecv("RTP caller→callee"); !bytes.Equal(got, p) {
		t.Fatal("the callee got another packet")
	}
	q := rtp(5, 160, 0xb)
	b.send(toB[0].RTP, q)
	if got, _ := a.mustRecv("RTP callee→caller"); !bytes.Equal(got, q) {
		t.Fatal("the caller got another packet")
	}

	rec := rig.call(0)
	if !strings.Contains(rec.TraceString(), "media\tanchor: call to gateway gw-siena-1") {
		t.Errorf("trace:\n%s\nwant the media decision", rec.TraceString())
	}
	if rec.Info().Media == "" {
		t.Error("the call record names no media session")
	}
	ms, ok := rec.MediaStats()
	if !ok || ms.Packets != 2 || ms.Bytes != 344 {
		t.Errorf("media stats: %+v %v, want 2 packets, 344 bytes", ms, ok)
	}
	if _, err := call.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ports back after the BYE", func() bool { return rig.relay.Sessions() == 0 && rig.relay.PortsInUse() == 0 })
}

// TestStageDirect: a call between phones that are not behind NAT keeps
// its SDP as it came, and uses no port.
func TestStageDirect(t *testing.T) {
	a, b := newPhone(t), newPhone(t)
	callee := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithSDP(phoneSDP("5002", b)))
	rig := newStageRig(t, testConfig(8), StageConfig{}, callee, "")
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(rig.addr()), siptest.WithSDP(phoneSDP("5001", a)))
	ctx := siptest.Context(t, 5*time.Second)
	call, _ := caller.Invite(ctx, "sip:5002@"+rig.addr())
	if res, err := call.WaitFinal(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("final: %v %v", res, err)
	}
	in, _ := callee.WaitIncoming(ctx, 1)
	if got := sdpStreams(t, in.Invite.Body())[0].RTP; got != a.addr() {
		t.Errorf("the callee was offered %v, want the caller's own %v", got, a.addr())
	}
	if !strings.Contains(rig.call(0).TraceString(), "media\tdirect: no gateway") {
		t.Errorf("trace:\n%s", rig.call(0).TraceString())
	}
	if _, ok := rig.call(0).MediaStats(); ok || rig.relay.PortsInUse() != 0 {
		t.Errorf("a direct call has media stats or holds %d ports", rig.relay.PortsInUse())
	}
	call.Bye(ctx)
}

// TestStageRefusals: with anchoring mandatory a full port range answers
// 503 and an SDP the relay cannot use 488, at once; with it optional the
// call goes on with its SDP unchanged.
func TestStageRefusals(t *testing.T) {
	hostSDP := []byte("v=0\r\no=- 1 1 IN IP4 pbx.example\r\ns=-\r\nc=IN IP4 pbx.example\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n")
	for _, tt := range []struct {
		name      string
		policy    Policy
		fill      bool   // hold the only stream's ports first
		sdp       []byte // nil: a phone's
		wantCode  int
		unchanged bool
	}{
		{"ports full, mandatory", Always, true, nil, 503, false},
		{"ports full, optional", Gateways, true, nil, 200, true},
		{"host name in c=, mandatory", Always, false, hostSDP, 488, false},
		{"host name in c=, optional", Gateways, false, hostSDP, 200, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newPhone(t)
			body := tt.sdp
			if body == nil {
				body = phoneSDP("5001", a)
			}
			callee := siptest.NewUA(t, siptest.WithUser("gw"))
			rig := newStageRig(t, testConfig(2), StageConfig{Policy: tt.policy}, callee, "gw1")
			if tt.fill {
				s, _ := rig.relay.NewSession("filler")
				if _, err := s.Stream(0); err != nil {
					t.Fatal(err)
				}
				defer s.Close()
			}
			caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(rig.addr()), siptest.WithSDP(body))
			ctx := siptest.Context(t, 5*time.Second)
			call, _ := caller.Invite(ctx, "sip:0577123456@"+rig.addr())
			res, err := call.WaitFinal(ctx)
			if err != nil || res.StatusCode != tt.wantCode {
				t.Fatalf("final: %v %v, want %d", res, err, tt.wantCode)
			}
			if tt.unchanged {
				in, _ := callee.WaitIncoming(ctx, 1)
				if !bytes.Equal(in.Invite.Body(), body) {
					t.Errorf("the callee got\n%s\nwant the SDP unchanged\n%s", in.Invite.Body(), body)
				}
				call.Bye(ctx)
			} else if n := len(callee.Incoming()); n != 0 {
				t.Errorf("a refused INVITE reached the callee %d times", n)
			}
			want := 0
			if tt.fill {
				want = 4
			}
			eventually(t, "ports back", func() bool { return rig.relay.PortsInUse() == want })
		})
	}
}

// TestStageCancelReleases: a call cancelled while ringing gives its ports
// back.
func TestStageCancelReleases(t *testing.T) {
	a := newPhone(t)
	callee := siptest.NewUA(t, siptest.WithUser("gw"), siptest.WithScript(siptest.Respond(180), siptest.Hold()))
	rig := newStageRig(t, testConfig(8), StageConfig{Policy: Always}, callee, "gw1")
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(rig.addr()), siptest.WithSDP(phoneSDP("5001", a)))
	ctx := siptest.Context(t, 5*time.Second)
	call, _ := caller.Invite(ctx, "sip:0577123456@"+rig.addr())
	if err := call.WaitCode(ctx, 180); err != nil {
		t.Fatal(err)
	}
	if rig.relay.PortsInUse() != 4 {
		t.Fatalf("ringing: %d ports in use, want 4", rig.relay.PortsInUse())
	}
	call.Cancel(ctx)
	if res, err := call.WaitFinal(ctx); err != nil || res.StatusCode != 487 {
		t.Fatalf("final: %v %v, want 487", res, err)
	}
	eventually(t, "ports back after CANCEL", func() bool { return rig.relay.Sessions() == 0 && rig.relay.PortsInUse() == 0 })
}

// TestStageMediaTimeoutHangsUp: an answered call whose media stops is hung
// up: both ends get a BYE.
func TestStageMediaTimeoutHangsUp(t *testing.T) {
	a, b := newPhone(t), newPhone(t)
	callee := siptest.NewUA(t, siptest.WithUser("gw"), siptest.WithSDP(phoneSDP("gw", b)))
	cfg := testConfig(8)
	cfg.NoMediaTimeout = 200 * time.Millisecond
	rig := newStageRig(t, cfg, StageConfig{Policy: Always}, callee, "gw1")
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(rig.addr()), siptest.WithSDP(phoneSDP("5001", a)))
	ctx := siptest.Context(t, 5*time.Second)
	call, _ := caller.Invite(ctx, "sip:0577123456@"+rig.addr())
	if res, err := call.WaitFinal(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("final: %v %v", res, err)
	}
	in, _ := callee.WaitIncoming(ctx, 1)
	if err := in.WaitBye(ctx); err != nil {
		t.Fatalf("callee: %v", err)
	}
	if err := call.WaitEnded(ctx); err != nil {
		t.Fatalf("caller: %v", err)
	}
	eventually(t, "ports back", func() bool { return rig.relay.PortsInUse() == 0 })
}

func natRequest(t *testing.T, transport, source, via, contact, sdpAddr string) *sip.Request {
	t.Helper()
	msg := "INVITE sip:5002@voip.unisi.it SIP/2.0\r\n" +
		"Via: SIP/2.0/" + transport + " " + via + ";branch=z9hG4bK1\r\n" +
		"From: <sip:5001@voip.unisi.it>;tag=a\r\nTo: <sip:5002@voip.unisi.it>\r\n" +
		"Call-ID: nat-1\r\nCSeq: 1 INVITE\r\nContact: <sip:5001@" + contact + ">\r\nMax-Forwards: 70\r\n"
	body := ""
	if sdpAddr != "" {
		body = "v=0\r\no=- 1 1 IN IP4 " + sdpAddr + "\r\ns=-\r\nc=IN IP4 " + sdpAddr + "\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
		msg += "Content-Type: application/sdp\r\n"
	}
	msg += fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
	m, err := sipmsg.ParseMessage([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	r := m.(*sip.Request)
	r.SetSource(source)
	r.SetTransport(transport)
	return r
}

func TestNATTest(t *testing.T) {
	for _, tt := range []struct {
		name                 string
		tests                NATTest
		transport, src, via  string
		contact, sdp, wantIs string
	}{
		{"all in order", DefaultNATTest, "UDP", "192.0.2.7:5060", "192.0.2.7:5060", "192.0.2.7:5060", "192.0.2.7", ""},
		{"Via received", NATViaReceived, "UDP", "198.51.100.1:5060", "10.1.2.3:5060", "10.1.2.3:5060", "", "Via received"},
		{"Via port", NATViaPort, "UDP", "198.51.100.1:40123", "198.51.100.1:5060", "198.51.100.1:5060", "", "Via port"},
		{"Via port over TCP", NATViaPort, "TCP", "198.51.100.1:40123", "198.51.100.1:5060", "198.51.100.1:5060", "", ""},
		{"Via without port", NATViaPort, "UDP", "198.51.100.1:5060", "198.51.100.1", "198.51.100.1", "", ""},
		{"Contact private", NATContactPrivate, "UDP", "10.1.2.3:5060", "10.1.2.3:5060", "10.1.2.3:5060", "", "Contact private"},
		{"Contact CGNAT", NATContactPrivate, "UDP", "100.64.2.3:5060", "100.64.2.3:5060", "100.64.2.3:5060", "", "Contact private"},
		{"Contact not the source", NATContactSource, "UDP", "198.51.100.1:5060", "198.51.100.1:5060", "10.1.2.3:5060", "", "Contact not the source"},
		{"Contact port", NATContactPort, "UDP", "198.51.100.1:5062", "198.51.100.1:5062", "198.51.100.1:5060", "", "Contact port"},
		{"Contact host name", NATContactSource, "UDP", "198.51.100.1:5060", "198.51.100.1:5060", "phone.example:5060", "", ""},
		{"SDP private", NATSDPPrivate, "UDP", "198.51.100.1:5060", "198.51.100.1:5060", "198.51.100.1:5060", "192.168.1.20", "SDP private"},
		{"SDP not the source", NATSDPSource, "UDP", "198.51.100.1:5060", "198.51.100.1:5060", "198.51.100.1:5060", "203.0.113.9", "SDP not the source"},
		{"Via private", NATViaPrivate, "UDP", "198.51.100.1:5060", "172.16.0.4:5060", "198.51.100.1:5060", "", "Via private"},
		{"no test selected", 0, "UDP", "198.51.100.1:5060", "10.1.2.3:5060", "10.1.2.3:5060", "10.1.2.3", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := natRequest(t, tt.transport, tt.src, tt.via, tt.contact, tt.sdp)
			if got := tt.tests.Check(r); got != tt.wantIs {
				t.Errorf("Check = %q, want %q", got, tt.wantIs)
			}
		})
	}
}

func TestPolicies(t *testing.T) {
	inside := natRequest(t, "UDP", "192.0.2.7:5060", "192.0.2.7:5060", "192.0.2.7:5060", "192.0.2.7")
	natted := natRequest(t, "UDP", "198.51.100.1:40000", "10.1.2.3:5060", "10.1.2.3:5060", "10.1.2.3")
	u, _ := sip.ParseURI("sip:5002@10.9.9.9:5060")
	phoneNAT := sip.Target{URI: u, NextHop: "198.51.100.2:41000"}
	phoneDirect := sip.Target{URI: u}
	gw, _ := sip.ParseURI("sip:0577123456@192.0.2.50")
	gateway := sip.Target{URI: gw, Gateway: "gw-siena-1"}
	def := DefaultPolicy
	for _, tt := range []struct {
		name    string
		p       Policy
		r       *sip.Request
		targets []sip.Target
		want    string
	}{
		{"always", Always, inside, nil, "anchor (mandatory): policy always"},
		{"never", Never, natted, []sip.Target{gateway}, "direct: policy never"},
		{"inside to inside", def, inside, []sip.Target{phoneDirect}, "direct: no gateway"},
		{"caller behind NAT", def, natted, []sip.Target{phoneDirect}, "anchor: caller behind NAT (Via received)"},
		{"callee behind NAT", def, inside, []sip.Target{phoneNAT}, "anchor: callee behind NAT (5002 registered from 198.51.100.2:41000)"},
		{"to a gateway", def, inside, []sip.Target{gateway}, "anchor: call to gateway gw-siena-1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p(tt.r, nil, tt.targets).String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	trusted := sip.NewCall(inside)
	trusted.SetSourceCheck(sip.SourceCheck{Checked: true, Trusted: true, Group: 2})
	if d := Gateways(inside, trusted, nil); !d.Anchor {
		t.Errorf("a call from a trusted source: %v, want anchored", d)
	}
}

func parseMsg(t *testing.T, start, ctype string, body []byte) sip.Message {
	t.Helper()
	msg := start + "\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK2\r\n" +
		"From: <sip:5001@voip.unisi.it>;tag=a\r\nTo: <sip:5002@voip.unisi.it>;tag=b\r\n" +
		"Call-ID: late-1\r\nCSeq: 1 INVITE\r\n"
	if ctype != "" {
		msg += "Content-Type: " + ctype + "\r\n"
	}
	msg += fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + string(body)
	m, err := sipmsg.ParseMessage([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestStageLateOffer: an INVITE without SDP, the offer in the callee's
// 200 and the answer in the caller's ACK; then a 183 from the callee with
// a multipart body and a re-offer in an UPDATE. Every SDP is rewritten to
// the relay and RTP flows between the addresses they gave.
func TestStageLateOffer(t *testing.T) {
	r := newTestRelay(t, testConfig(8))
	st := NewStage(r, StageConfig{Policy: Always})
	inv := parseMsg(t, "INVITE sip:5002@127.0.0.1 SIP/2.0", "", nil).(*sip.Request)
	call := sip.NewCall(inv)
	a := &anchored{s: st, call: call, d: Always(inv, call, nil)}
	if err := a.filter(inv, sip.CallerSide); err != nil || len(inv.Body()) != 0 {
		t.Fatalf("INVITE without SDP: %v, body %q", err, inv.Body())
	}
	pa, pb := newPhone(t), newPhone(t)
	ok := parseMsg(t, "SIP/2.0 200 OK", "application/sdp", phoneSDP("5002", pb))
	if err := a.filter(ok, sip.CalleeSide); err != nil {
		t.Fatal(err)
	}
	ack := parseMsg(t, "ACK sip:5002@127.0.0.1 SIP/2.0", "application/sdp", phoneSDP("5001", pa))
	if err := a.filter(ack, sip.CallerSide); err != nil {
		t.Fatal(err)
	}
	toA, toB := sdpStreams(t, ok.Body())[0].RTP, sdpStreams(t, ack.Body())[0].RTP
	if toA == pb.addr() || toB == pa.addr() {
		t.Fatalf("not anchored: the caller got %v, the callee %v", toA, toB)
	}
	if ok.ContentLength() == nil || int(*ok.ContentLength()) != len(ok.Body()) {
		t.Errorf("Content-Length %v for a body of %d bytes", ok.ContentLength(), len(ok.Body()))
	}
	pa.send(toA, rtp(1, 160, 1))
	pb.mustRecv("caller→callee after a late offer")
	pb.send(toB, rtp(1, 160, 2))
	pa.mustRecv("callee→caller after a late offer")

	// A failure response's body is never touched; a non-SDP body neither.
	busy := parseMsg(t, "SIP/2.0 486 Busy Here", "application/sdp", phoneSDP("5002", pb))
	before := string(busy.Body())
	if err := a.filter(busy, sip.CalleeSide); err != nil || string(busy.Body()) != before {
		t.Errorf("486 with SDP: %v, body changed", err)
	}
	info := parseMsg(t, "INFO sip:5002@127.0.0.1 SIP/2.0", "application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	if err := a.filter(info, sip.CallerSide); err != nil || string(info.Body()) != "Signal=5\r\nDuration=160\r\n" {
		t.Errorf("INFO: %v, body %q", err, info.Body())
	}

	// The callee moves in an UPDATE with a multipart body.
	pb2 := newPhone(t)
	mp := "--xyz\r\nContent-Type: application/sdp\r\n\r\n" + string(phoneSDP("5002", pb2)) + "\r\n--xyz\r\nContent-Type: application/isup\r\n\r\nISUP\r\n--xyz--\r\n"
	upd := parseMsg(t, "UPDATE sip:5001@127.0.0.1 SIP/2.0", "multipart/mixed;boundary=xyz", []byte(mp))
	if err := a.filter(upd, sip.CalleeSide); err != nil {
		t.Fatal(err)
	}
	d, err := ParseBody("multipart/mixed;boundary=xyz", upd.Body())
	if err != nil || d.Streams()[0].RTP != toA || !strings.Contains(string(upd.Body()), "application/isup\r\n\r\nISUP") {
		t.Errorf("multipart UPDATE (%v), want the caller's relay address %v and the ISUP part kept:\n%s", err, toA, upd.Body())
	}
	pa.send(toA, rtp(2, 320, 1))
	pb2.mustRecv("caller→callee after the callee moved")
	a.end()
	if r.PortsInUse() != 0 {
		t.Errorf("%d ports in use after the end", r.PortsInUse())
	}
}

// TestStageThousandCallsNoLeak: a thousand anchored calls, answered and
// hung up, 50 at a time, leave no session, no port, no socket and (the
// package's TestMain checks) no goroutine behind.
func TestStageThousandCallsNoLeak(t *testing.T) {
	calls := 1000
	if testing.Short() {
		calls = 100
	}
	a, b := newPhone(t), newPhone(t)
	callee := siptest.NewUA(t, siptest.WithUser("gw"), siptest.WithSDP(phoneSDP("gw", b)),
		siptest.WithScript(siptest.Respond(200)))
	rig := newStageRig(t, testConfig(200), StageConfig{Policy: Always}, callee, "gw1")
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(rig.addr()), siptest.WithSDP(phoneSDP("5001", a)))
	ctx := siptest.Context(t, 120*time.Second)
	// Warm up: the first call opens what stays open (the UAs' and the
	// proxy's connections, the pollers).
	warm, _ := caller.Invite(ctx, "sip:0577000000@"+rig.addr())
	if res, err := warm.WaitFinal(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("warm-up call: %v %v", res, err)
	}
	warm.Bye(ctx)
	eventually(t, "warm-up call's ports back", func() bool { return rig.relay.PortsInUse() == 0 })
	before := fdCount(t)

	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	var firstErr error
	sem := make(chan struct{}, 50)
	for i := range calls {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			call, err := caller.Invite(ctx, fmt.Sprintf("sip:0577%06d@%s", i, rig.addr()))
			if err == nil {
				var res *sip.Response
				if res, err = call.WaitFinal(ctx); err == nil && res.StatusCode == 200 {
					_, err = call.Bye(ctx)
				} else if err == nil {
					err = fmt.Errorf("final %d", res.StatusCode)
				}
			}
			if err != nil {
				mu.Lock()
				failed++
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed > 0 {
		t.Errorf("%d of %d calls failed, the first: %v", failed, calls, firstErr)
	}
	eventually(t, "every session closed and port back", func() bool {
		return rig.relay.Sessions() == 0 && rig.relay.PortsInUse() == 0
	})
	eventually(t, "file descriptors back to where they were", func() bool { return fdCount(t) <= before })
	if c := rig.relay.Counters(); c.Packets != 0 {
		t.Logf("relay counters: %+v", c)
	}
}
