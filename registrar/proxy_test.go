package registrar_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: every
// proxy, registrar (its sweeper) and user agent must be closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func leakCheck(t *testing.T) { siptest.LeakCheck(t) }

func testLogger() *slog.Logger {
	if os.Getenv("PALIO_TEST_LOG") != "" {
		return siptest.Logger()
	}
	return quiet()
}

// testProxy is a Palio proxy on 127.0.0.1 (UDP and TCP, free ports) whose
// REGISTERs go to a registrar and whose initial requests go through
// stages (by default the registrar's Lookup) to the Forwarder.
type testProxy struct {
	srv   *sip.Server
	reg   *registrar.Registrar
	store *registrar.MemStore
}

func newProxy(t *testing.T, cfg registrar.Config, stages func(*registrar.Registrar) []sip.Middleware, opts ...registrar.Option) *testProxy {
	t.Helper()
	store := registrar.NewMemStore()
	for _, u := range []string{"5001", "5002", "5003"} {
		store.AddSubscriber(context.Background(), registrar.NewSubscriber(u, domain, "secret"))
	}
	reg, err := registrar.New(cfg, store, store, append([]registrar.Option{registrar.WithLogger(testLogger())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	mw := []sip.Middleware{reg.Lookup}
	if stages != nil {
		mw = stages(reg)
	}
	tp := siptest.NewProxy(t, siptest.ProxyConfig{Register: reg, Stages: mw, Options: []sip.Option{sip.WithLogger(testLogger())}})
	return &testProxy{srv: tp.Server, reg: reg, store: store}
}

func (p *testProxy) udp() string { return p.srv.Local().Addr("udp") }
func (p *testProxy) tcp() string { return p.srv.Local().Addr("tcp") }

func ctxT(t *testing.T, d time.Duration) context.Context { return siptest.Context(t, d) }

// register registers ua as aor through the proxy at addr and checks the
// 200.
func register(t *testing.T, ctx context.Context, ua *siptest.UA, addr, user string, expires int) *sip.Response {
	t.Helper()
	res, err := ua.Register(ctx, addr, "sip:"+user+"@"+domain, "secret", expires)
	if err != nil {
		t.Fatalf("register %s: %v", user, err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("register %s: got %d %s, want 200", user, res.StatusCode, res.Reason)
	}
	return res
}

func TestRegisterAndCall(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, registrar.Config{}, nil)
	ctx := ctxT(t, 10*time.Second)
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))

	res := register(t, ctx, callee, p.udp(), "5002", 300)
	if cs := res.GetHeaders("Contact"); len(cs) != 1 || !strings.Contains(cs[0].Value(), callee.URI()) ||
		!strings.Contains(cs[0].Value(), "expires=300") {
		t.Errorf("200 Contact: got %v, want %s with expires=300", cs, callee.URI())
	}

	call, err := caller.Invite(ctx, "sip:5002@"+domain)
	if err != nil {
		t.Fatal(err)
	}
	final, err := call.WaitFinal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if final.StatusCode != 200 {
		t.Fatalf("call: got %d, want 200", final.StatusCode)
	}
	in, err := callee.WaitIncoming(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := in.Invite.Recipient.String(); got != callee.URI() {
		t.Errorf("the callee's INVITE: got Request-URI %s, want its contact %s", got, callee.URI())
	}
	if bye, err := call.Bye(ctx); err != nil || bye.StatusCode != 200 {
		t.Errorf("BYE: got %v %v, want 200", bye, err)
	}
}

// Two phones on one AOR ring together; the first to answer wins and the
// other is cancelled.
func TestForkToTwoContacts(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, registrar.Config{}, nil)
	ctx := ctxT(t, 10*time.Second)
	desk := siptest.NewUA(t, siptest.WithUser("5002"),
		siptest.WithScript(siptest.Respond(180), siptest.Pause(100*time.Millisecond), siptest.Respond(200)))
	soft := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithScript(siptest.Respond(180), siptest.Hold()))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	register(t, ctx, desk, p.udp(), "5002", 300)
	res := register(t, ctx, soft, p.udp(), "5002", 300)
	if n := len(res.GetHeaders("Contact")); n != 2 {
		t.Errorf("the second 200 lists %d contacts, want 2", n)
	}

	call, err := caller.Invite(ctx, "sip:5002@"+domain)
	if err != nil {
		t.Fatal(err)
	}
	final, err := call.WaitFinal(ctx)
	if err != nil || final.StatusCode != 200 {
		t.Fatalf("call: got %v %v, want 200", final, err)
	}
	for name, ua := range map[string]*siptest.UA{"desk": desk, "soft": soft} {
		if _, err := ua.WaitIncoming(ctx, 1); err != nil {
			t.Errorf("%s phone: %v, want the INVITE (parallel fork)", name, err)
		}
	}
	in, _ := soft.WaitIncoming(ctx, 1)
	if err := in.WaitCancel(ctx); err != nil {
		t.Errorf("the phone that did not answer: %v", err)
	}
	if bye, err := call.Bye(ctx); err != nil || bye.StatusCode != 200 {
		t.Errorf("BYE: got %v %v, want 200", bye, err)
	}
}

func TestCallNotRegistered(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, registrar.Config{NotRegistered: 480}, nil)
	ctx := ctxT(t, 10*time.Second)
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))

	register(t, ctx, callee, p.udp(), "5002", 300)
	register(t, ctx, callee, p.udp(), "5002", 0) // unregister
	for _, user := range []string{"5002", "5009"} {
		call, err := caller.Invite(ctx, "sip:"+user+"@"+domain)
		if err != nil {
			t.Fatal(err)
		}
		final, err := call.WaitFinal(ctx)
		if err != nil || final.StatusCode != 480 {
			t.Errorf("call to %s: got %v %v, want 480", user, final, err)
		}
	}
	if n := len(callee.Received(sip.INVITE)); n != 0 {
		t.Errorf("the unregistered phone got %d INVITEs, want 0", n)
	}
}

// TestCallUnknownUser: with UnknownUser, a call to an account whose phone
// is off gets 480 and one to a number without an account 404, over real
// sockets.
func TestCallUnknownUser(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, registrar.Config{NotRegistered: 480, UnknownUser: 404}, nil)
	ctx := ctxT(t, 10*time.Second)
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	for _, tt := range []struct {
		user string
		want int
	}{{"5002", 480}, {"5999", 404}} {
		call, err := caller.Invite(ctx, "sip:"+tt.user+"@"+domain)
		if err != nil {
			t.Fatal(err)
		}
		final, err := call.WaitFinal(ctx)
		if err != nil || final.StatusCode != tt.want {
			t.Errorf("call to %s: got %v %v, want %d", tt.user, final, err, tt.want)
		}
	}
}

// A phone registered over TCP is called back over its own connection.
func TestRegisterOverTCP(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, registrar.Config{}, nil)
	ctx := ctxT(t, 10*time.Second)
	callee := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithTransport("tcp"))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	register(t, ctx, callee, p.tcp(), "5002", 300)

	list, _ := p.reg.Bindings(ctx, "5002")
	if len(list) != 1 || list[0].Transport != "TCP" {
		t.Fatalf("binding: got %+v, want one over TCP", list)
	}
	call, err := caller.Invite(ctx, "sip:5002@"+domain)
	if err != nil {
		t.Fatal(err)
	}
	final, err := call.WaitFinal(ctx)
	if err != nil || final.StatusCode != 200 {
		t.Fatalf("call: got %v %v, want 200", final, err)
	}
	in, err := callee.WaitIncoming(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if v := in.Invite.Via(); v == nil || !strings.EqualFold(v.Transport, "TCP") {
		t.Errorf("the callee's INVITE came with Via %v, want TCP", v)
	}
	call.Bye(ctx)
}

// rawPhone is a phone behind a NAT, on a bare UDP socket: its Via and
// Contact say 10.1.2.3:5060 (its private address), but its packets come
// from 127.0.0.1:port (the NAT's mapping).
type rawPhone struct {
	t    *testing.T
	pc   net.PacketConn
	user string
	// last is the last REGISTER sent, byte for byte.
	last []byte
}

func newRawPhone(t *testing.T, user string) *rawPhone {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return &rawPhone{t: t, pc: pc, user: user}
}

func (ph *rawPhone) read(ctx context.Context) (sipmsg.Message, net.Addr) {
	ph.t.Helper()
	dl, _ := ctx.Deadline()
	ph.pc.SetReadDeadline(dl)
	buf := make([]byte, 65535)
	n, from, err := ph.pc.ReadFrom(buf)
	if err != nil {
		ph.t.Fatalf("raw phone: %v", err)
	}
	msg, err := sipmsg.ParseMessage(buf[:n])
	if err != nil {
		ph.t.Fatalf("raw phone: parse: %v", err)
	}
	return msg, from
}

// register registers through the proxy at addr, answering the challenge.
func (ph *rawPhone) register(ctx context.Context, addr, password string) *sip.Response {
	ph.t.Helper()
	to, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		ph.t.Fatal(err)
	}
	auth := ""
	for cseq := 1; cseq <= 2; cseq++ {
		msg := fmt.Sprintf("REGISTER sip:%[2]s SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP 10.1.2.3:5060;rport;branch=z9hG4bK%[3]s\r\n"+
			"Max-Forwards: 70\r\n"+
			"From: <sip:%[1]s@%[2]s>;tag=nat1\r\n"+
			"To: <sip:%[1]s@%[2]s>\r\n"+
			"Call-ID: nat-%[1]s\r\n"+
			"CSeq: %[4]d REGISTER\r\n"+
			"Contact: <sip:%[1]s@10.1.2.3:5060>\r\n"+
			"Expires: 300\r\n%[5]s"+
			"Content-Length: 0\r\n\r\n", ph.user, domain, sipmsg.GenerateTagN(10), cseq, auth)
		ph.last = []byte(msg)
		if _, err := ph.pc.WriteTo(ph.last, to); err != nil {
			ph.t.Fatal(err)
		}
		m, _ := ph.read(ctx)
		res, ok := m.(*sip.Response)
		if !ok {
			ph.t.Fatalf("raw phone: got %v, want a response", m)
		}
		if res.StatusCode != 401 {
			return res
		}
		chal, err := digest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
		if err != nil {
			ph.t.Fatal(err)
		}
		cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:" + domain, Username: ph.user, Password: password})
		if err != nil {
			ph.t.Fatal(err)
		}
		auth = "Authorization: " + cred.String() + "\r\n"
	}
	ph.t.Fatal("raw phone: still challenged")
	return nil
}

// A NATed phone: its contact is unreachable, the INVITE goes to the
// address its REGISTER came from.
func TestCallNATedPhone(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, registrar.Config{}, nil)
	ctx := ctxT(t, 10*time.Second)
	phone := newRawPhone(t, "5003")
	if res := phone.register(ctx, p.udp(), "secret"); res.StatusCode != 200 {
		t.Fatalf("register: got %d, want 200", res.StatusCode)
	}
	list, _ := p.reg.Bindings(ctx, "5003")
	if len(list) != 1 || list[0].Received != phone.pc.LocalAddr().String() {
		t.Fatalf("binding: got %+v, want received %s", list, phone.pc.LocalAddr())
	}

	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	call, err := caller.Invite(ctx, "sip:5003@"+domain)
	if err != nil {
		t.Fatal(err)
	}
	m, from := phone.read(ctx)
	inv, ok := m.(*sip.Request)
	if !ok || inv.Method != sip.INVITE {
		t.Fatalf("the NATed phone got %v, want the INVITE", m)
	}
	if got := inv.Recipient.String(); got != "sip:5003@10.1.2.3:5060" {
		t.Errorf("INVITE Request-URI: got %s, want the registered contact", got)
	}
	busy := sip.NewResponse(inv, 486, "")
	if _, err := phone.pc.WriteTo([]byte(busy.String()), from); err != nil {
		t.Fatal(err)
	}
	final, err := call.WaitFinal(ctx)
	if err != nil || final.StatusCode != 486 {
		t.Errorf("call: got %v %v, want the phone's 486", final, err)
	}
}

// With the Authenticate stage in the pipeline, an INVITE without
// credentials gets 407 with a Proxy-Authenticate challenge.
func TestAuthenticateThroughProxy(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, registrar.Config{Algorithms: []string{registrar.MD5, registrar.SHA256}},
		func(r *registrar.Registrar) []sip.Middleware { return []sip.Middleware{r.Authenticate, r.Lookup} })
	ctx := ctxT(t, 10*time.Second)
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	register(t, ctx, callee, p.udp(), "5002", 300) // SHA-256, the first challenge

	call, err := caller.Invite(ctx, "sip:5002@"+domain)
	if err != nil {
		t.Fatal(err)
	}
	final, err := call.WaitFinal(ctx)
	if err != nil || final.StatusCode != 407 {
		t.Fatalf("call: got %v %v, want 407", final, err)
	}
	if hs := final.GetHeaders("Proxy-Authenticate"); len(hs) != 2 || !strings.Contains(hs[0].Value(), "SHA-256") {
		t.Errorf("Proxy-Authenticate: got %v, want SHA-256 then MD5", hs)
	}
	if n := len(callee.Received(sip.INVITE)); n != 0 {
		t.Errorf("the callee got %d INVITEs, want 0", n)
	}
}
