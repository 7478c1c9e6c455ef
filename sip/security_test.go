package sip_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// secureProxy is a proxy with a fixed route secret on fixed addresses, so
// that a test can restart it.
func secureProxy(t *testing.T, udp, tcp string, secret []byte) *testProxy {
	t.Helper()
	srv, err := sip.NewServer(sip.Config{
		Listen: []sip.Listen{
			{Network: "udp", Addr: udp},
			{Network: "tcp", Addr: tcp},
		},
		RouteSecret: secret,
	}, sip.WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	return startProxy(t, srv, sip.ForwarderConfig{})
}

// inDialogAttack is a request an outsider writes by hand: a To tag and our
// address as a loose Route, to reach the gateway through the proxy.
func inDialogAttack(method, from, proxy, gw, route string, n int) string {
	method = strings.TrimSpace(method)
	return fmt.Sprintf("%s sip:00577123456@%s SIP/2.0\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-att-%s-%d;rport\n"+
		"Route: <%s>\n"+
		"Max-Forwards: 70\n"+
		"From: <sip:attacker@example.net>;tag=att\n"+
		"To: <sip:00577123456@%s>;tag=forged\n"+
		"Call-ID: attack-%s@example.net\n"+
		"CSeq: 2 %s\n"+
		"Contact: <sip:attacker@%s>\n"+
		"Content-Length: 0\n\n", method, gw, from, method, n, route, gw, method, method, from)
}

// TestForgedInDialogRequestsRefused is the open-relay attack of issue 12:
// requests with a To tag and our Route, from someone who never made a call
// through us, must not reach the gateway behind the proxy.
func TestForgedInDialogRequestsRefused(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{FirstResponse: 500 * time.Millisecond})
	gw := siptest.NewGateway(t, siptest.Respond(200))
	gwHost := gw.Addr()
	u := newRawUDP(t, p.udp())
	from := u.conn.LocalAddr().String()
	sigRe := regexp.MustCompile(`pr=[A-Za-z0-9_-]+`)

	// A genuine call gives the attacker a real signature, of another dialog.
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("0577123456", target(t, gw.URI()))
	ctx := ctxT(t, 5*time.Second)
	call, _ := caller.Invite(ctx, "sip:0577123456@"+p.udp())
	if final, err := call.WaitFinal(ctx); err != nil || final.StatusCode != 200 {
		t.Fatalf("genuine call: %v %v", final, err)
	}
	in, _ := gw.WaitIncoming(ctx, 1)
	rr := in.Invite.GetHeader("Record-Route").Value()
	realSig := sigRe.FindString(rr)
	if realSig == "" {
		t.Fatalf("our Record-Route carries no signature: %q", rr)
	}
	invites, messages := len(gw.Received(sip.INVITE)), len(gw.Received(sip.MESSAGE))

	tests := []struct {
		name   string
		method string
		route  string
		want   string
	}{
		{"INVITE, plain Route", "INVITE", "sip:" + p.udp() + ";lr", "403"},
		{"MESSAGE, plain Route", "MESSAGE", "sip:" + p.udp() + ";lr", "403"},
		{"INVITE, forged signature", "INVITE", "sip:" + p.udp() + ";lr;pr=AAAAAAAAAAAAAAAA", "403"},
		{"INVITE, another dialog's signature", "INVITE", "sip:" + p.udp() + ";lr;" + realSig, "403"},
		{"INVITE, no Route of ours", "INVITE", "sip:" + gwHost + ";lr", "481"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u.send(inDialogAttack(tt.method+" ", from, p.udp(), gwHost, tt.route, i))
			res := u.read(2 * time.Second)
			if !strings.HasPrefix(res, "SIP/2.0 "+tt.want+" ") {
				t.Errorf("got %q, want %s", firstLine(res), tt.want)
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(gw.Received(sip.INVITE)); n != invites {
		t.Errorf("the gateway got %d forged INVITEs", n-invites)
	}
	if n := len(gw.Received(sip.MESSAGE)); n != messages {
		t.Errorf("the gateway got %d forged MESSAGEs", n-messages)
	}
	if res, err := call.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE: %v %v", res, err)
	}
}

// TestPartyCannotRedirectItsDialog: the caller of a real call sends an
// in-dialog INVITE along the call's (correctly signed) route, but to the
// gateway instead of the callee: the dialog table knows the two ends and
// refuses it.
func TestPartyCannotRedirectItsDialog(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{FirstResponse: 500 * time.Millisecond})
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	gw := siptest.NewGateway(t, siptest.Respond(200))
	p.route("5002", target(t, callee.URI()))
	u := newRawUDP(t, p.udp())
	from := u.conn.LocalAddr().String()

	// The caller is a raw socket, to write what it likes afterwards.
	invite := fmt.Sprintf("INVITE sip:5002@%s SIP/2.0\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-party-1;rport\n"+
		"Max-Forwards: 70\n"+
		"From: <sip:5001@example.net>;tag=party\n"+
		"To: <sip:5002@%s>\n"+
		"Call-ID: party-1@example.net\n"+
		"CSeq: 1 INVITE\n"+
		"Contact: <sip:5001@%s>\n"+
		"Content-Length: 0\n\n", p.udp(), from, p.udp(), from)
	u.send(invite)
	var ok string
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		res := u.read(time.Second)
		if strings.HasPrefix(res, "SIP/2.0 200 ") {
			ok = res
			break
		}
	}
	if ok == "" {
		t.Fatal("the call was not answered")
	}
	rr := regexp.MustCompile(`(?m)^Record-Route: <([^>]+)>`).FindStringSubmatch(ok)
	tag := regexp.MustCompile(`(?m)^To: [^\r\n]*;tag=([^;\r\n]+)`).FindStringSubmatch(ok)
	if rr == nil || tag == nil {
		t.Fatalf("no Record-Route or To tag in %q", ok)
	}
	inDialog := func(method, ruri string, cseq int) string {
		return fmt.Sprintf("%s %s SIP/2.0\n"+
			"Via: SIP/2.0/UDP %s;branch=z9hG4bK-party-%d;rport\n"+
			"Route: <%s>\n"+
			"Max-Forwards: 70\n"+
			"From: <sip:5001@example.net>;tag=party\n"+
			"To: <sip:5002@%s>;tag=%s\n"+
			"Call-ID: party-1@example.net\n"+
			"CSeq: %d %s\n"+
			"Contact: <sip:5001@%s>\n"+
			"Content-Length: 0\n\n", method, ruri, from, cseq, rr[1], p.udp(), tag[1], cseq, method, from)
	}
	calleeContact := regexp.MustCompile(`(?m)^Contact: <([^>]+)>`).FindStringSubmatch(ok)[1]
	u.send(inDialog("ACK", calleeContact, 1))

	u.send(inDialog("INVITE", "sip:00577123456@"+gw.Addr(), 2))
	if res := u.read(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 403 ") {
		t.Errorf("re-INVITE to the gateway: got %q, want 403", firstLine(res))
	}
	if n := len(gw.Received(sip.INVITE)); n != 0 {
		t.Errorf("the gateway got %d INVITEs", n)
	}
	// The same request to the callee is a genuine re-INVITE.
	u.send(inDialog("INFO", calleeContact, 3))
	if res := u.read(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200 ") {
		t.Errorf("INFO to the callee: got %q, want 200", firstLine(res))
	}
	u.send(inDialog("BYE", calleeContact, 4))
	if res := u.read(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200 ") {
		t.Errorf("BYE to the callee: got %q, want 200", firstLine(res))
	}
}

// TestGenuineInDialogRequestsPass: re-INVITE, UPDATE, INFO and REFER of a
// real call, from either end, and the BYE, are relayed; a restarted proxy
// with the same route secret still relays them, one with another secret
// refuses them.
func TestGenuineInDialogRequestsPass(t *testing.T) {
	leakCheck(t)
	udp, tcp := freeUDPPort(t), freeTCPPort(t)
	secret := []byte("a secret shared by the nodes of a site")
	p := secureProxy(t, udp, tcp, secret)
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(udp))
	p.route("5002", target(t, callee.URI()))
	ctx := ctxT(t, 10*time.Second)
	call, _ := caller.Invite(ctx, "sip:5002@"+udp)
	if final, err := call.WaitFinal(ctx); err != nil || final.StatusCode != 200 {
		t.Fatalf("call: %v %v", final, err)
	}
	in, err := callee.WaitIncoming(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.WaitAck(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range []sip.Method{sip.INVITE, sip.UPDATE, sip.INFO, sip.REFER} {
		var body []byte
		if m == sip.INVITE {
			body = []byte("v=0\r\n")
		}
		if res, err := call.Request(ctx, m, body); err != nil || res.StatusCode != 200 {
			t.Errorf("caller's %s: %v %v", m, res, err)
		}
		if res, err := in.Request(ctx, m, body); err != nil || res.StatusCode != 200 {
			t.Errorf("callee's %s: %v %v", m, res, err)
		}
	}

	// A restart: the same addresses, the same secret, an empty table.
	p.srv.Close()
	p2 := secureProxy(t, udp, tcp, secret)
	if n := p2.srv.Dialogs().Len(); n != 0 {
		t.Fatalf("a new server has %d dialogs", n)
	}
	if res, err := call.Request(ctx, sip.INFO, nil); err != nil || res.StatusCode != 200 {
		t.Errorf("INFO after a restart: %v %v", res, err)
	}
	if res, err := in.Request(ctx, sip.UPDATE, nil); err != nil || res.StatusCode != 200 {
		t.Errorf("callee's UPDATE after a restart: %v %v", res, err)
	}
	// Another secret: the route is not ours any more.
	p2.srv.Close()
	secureProxy(t, udp, tcp, []byte("another secret"))
	if res, err := call.Request(ctx, sip.INFO, nil); err != nil || res.StatusCode != 403 {
		t.Errorf("INFO to a node with another secret: %v %v, want 403", res, err)
	}
}

// TestRejectionOfUnknownSenderSentOnce: an INVITE from a sender no stage
// vouched for, rejected by the proxy itself (here 407, as the registrar
// answers), is answered once and forgotten: no retransmissions to a source
// that never ACKs, no transaction held for Timer H. A sender a stage
// vouched for (a trusted gateway) keeps the reliable answer RFC 3261
// §17.2.1 wants. The ACK of the unreliable one is absorbed.
func TestRejectionOfUnknownSenderSentOnce(t *testing.T) {
	leakCheck(t)
	var handled atomic.Int32
	srv, err := sip.NewServer(sip.Config{Listen: []sip.Listen{{Network: "udp", Addr: "127.0.0.1:0"}}}, sip.WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		handled.Add(1)
		if r.Recipient.User == "trusted" {
			sip.CallFrom(ctx).SetSourceCheck(sip.SourceCheck{Trusted: true, Group: 1})
		}
		return sip.Reject(407, "Proxy Authentication Required")
	})
	if err := srv.Start(h); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	count := func(user string) (int, string) {
		u := newRawUDP(t, srv.Local().Addr("udp"))
		u.send(fmt.Sprintf("INVITE sip:%s@127.0.0.1 SIP/2.0\n"+
			"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s;rport\n"+
			"Max-Forwards: 70\n"+
			"From: <sip:flood@example.net>;tag=f1\n"+
			"To: <sip:%s@127.0.0.1>\n"+
			"Call-ID: flood-%s\n"+
			"CSeq: 1 INVITE\n"+
			"Content-Length: 0\n\n", user, u.port(), user, user, user))
		n, first := 0, ""
		// Timer G retransmits at 0.5 s and 1.5 s: wait past both.
		for deadline := time.Now().Add(1800 * time.Millisecond); time.Now().Before(deadline); {
			if res := u.read(time.Until(deadline)); res != "" {
				n++
				if first == "" {
					first = res
				}
			}
		}
		return n, first
	}
	if n, first := count("5002"); n != 1 {
		t.Errorf("an unknown sender got %d responses, want 1", n)
	} else if !strings.HasPrefix(first, "SIP/2.0 407 ") || !strings.Contains(first, ";tag=pl-") {
		t.Errorf("got %q, want a 407 with our local tag", firstLine(first))
	}
	if n, _ := count("trusted"); n < 2 {
		t.Errorf("a trusted sender got %d responses, want the 407 and its retransmissions", n)
	}
}

// TestProtocolEdges: unsupported versions, Max-Forwards 0 and an extension
// method, as the RFCs want them answered.
func TestProtocolEdges(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	u := newRawUDP(t, p.udp())
	from := u.conn.LocalAddr().String()
	req := func(method, ruri, version string, mf int) string {
		return fmt.Sprintf("%s %s %s\n"+
			"Via: SIP/2.0/UDP %s;branch=z9hG4bK-edge-%s-%d;rport\n"+
			"Max-Forwards: %d\n"+
			"From: <sip:5001@example.net>;tag=e1\n"+
			"To: <%s>\n"+
			"Call-ID: edge-%s-%s-%d\n"+
			"CSeq: 1 %s\n"+
			"Content-Length: 0\n\n", method, ruri, version, from, method, mf, mf, ruri, method, version, mf, method)
	}
	tests := []struct {
		name string
		msg  string
		want string
	}{
		{"INVITE in SIP/7.0", req("INVITE", "sip:5002@"+p.udp(), "SIP/7.0", 70), "SIP/2.0 505 "},
		{"OPTIONS to us in SIP/7.0", req("OPTIONS", "sip:"+p.udp(), "SIP/7.0", 70), "SIP/2.0 505 "},
		{"Max-Forwards 0 for another domain", req("INVITE", "sip:0577123456@example.com", "SIP/2.0", 0), "SIP/2.0 483 "},
		{"Max-Forwards 0 in dialog", strings.Replace(req("INFO", "sip:5002@example.com", "SIP/2.0", 0), "To: <sip:5002@example.com>", "To: <sip:5002@example.com>;tag=x", 1), "SIP/2.0 483 "},
		{"Max-Forwards 0 OPTIONS to us is answered", req("OPTIONS", "sip:"+p.udp(), "SIP/2.0", 0), "SIP/2.0 200 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u.send(tt.msg)
			if res := u.read(2 * time.Second); !strings.HasPrefix(res, tt.want) {
				t.Errorf("got %q, want %q", firstLine(res), tt.want)
			}
		})
	}

	// RFC 4475 §3.1.1.4: an extension method with unusual characters is
	// valid; a proxy whose pipeline does not route it answers 405 with
	// Allow, not 400.
	out, err := goModDir("github.com/emiago/sipgo")
	if err != nil {
		t.Skipf("cannot locate the sipgo module: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(out, "sip", "testdata", "torture", "valid", "intmeth.dat"))
	if err != nil {
		t.Fatal(err)
	}
	msg := regexp.MustCompile(`(?m)^Via: [^\r\n]*`).ReplaceAllString(string(data), "Via: SIP/2.0/UDP "+from+";branch=z9hG4bK-intmeth;rport")
	if _, err := u.conn.WriteToUDP([]byte(msg), u.to); err != nil {
		t.Fatal(err)
	}
	res := u.read(2 * time.Second)
	if !strings.HasPrefix(res, "SIP/2.0 405 ") || !strings.Contains(res, "\r\nAllow: ") {
		t.Errorf("intmeth.dat: got %q, want 405 with Allow", firstLine(res))
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

func freeUDPPort(t *testing.T) string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	c.Close()
	return addr
}

// TestNon2xxAckHasOneVia: the proxy's hop-by-hop ACK for a rejection, and
// for the 487 that follows a CANCEL, carries a single Via equal to the top
// Via of the INVITE it acknowledges (RFC 3261 §17.1.1.3), not the caller's
// Vias under it.
func TestNon2xxAckHasOneVia(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	uas := newRawUAS(t)
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("5002", target(t, "sip:5002@"+uas.addr()))
	check := func(t *testing.T, inv, ack *sip.Request) {
		t.Helper()
		if n := len(inv.GetHeaders("Via")); n < 2 {
			t.Fatalf("the forwarded INVITE has %d Vias, want the caller's under ours", n)
		}
		vias := ack.GetHeaders("Via")
		if len(vias) != 1 || vias[0].Value() != inv.Via().Value() {
			var got []string
			for _, v := range vias {
				got = append(got, v.Value())
			}
			t.Errorf("ACK Vias: got %q, want only %q", got, inv.Via().Value())
		}
	}
	for _, code := range []int{302, 404, 486, 500, 603} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			ctx := ctxT(t, 5*time.Second)
			call, _ := caller.Invite(ctx, "sip:5002@"+p.udp())
			inv, from := uas.expect(ctx, sip.INVITE)
			uas.respond(inv, from, code, "uas-"+strconv.Itoa(code))
			ack, _ := uas.expect(ctx, sip.ACK)
			check(t, inv, ack)
			if final, err := call.WaitFinal(ctx); err != nil || final.StatusCode != code {
				t.Fatalf("caller: %v %v, want %d", final, err, code)
			}
		})
	}
	t.Run("487 after CANCEL", func(t *testing.T) {
		ctx := ctxT(t, 5*time.Second)
		call, _ := caller.Invite(ctx, "sip:5002@"+p.udp())
		inv, from := uas.expect(ctx, sip.INVITE)
		uas.respond(inv, from, 180, "uas-c")
		if err := call.WaitCode(ctx, 180); err != nil {
			t.Fatal(err)
		}
		if _, err := call.Cancel(ctx); err != nil {
			t.Fatal(err)
		}
		cancel, cfrom := uas.expect(ctx, sip.CANCEL)
		uas.respond(cancel, cfrom, 200, "uas-c")
		uas.respond(inv, from, 487, "uas-c")
		ack, _ := uas.expect(ctx, sip.ACK)
		check(t, inv, ack)
	})
}

// TestCalleeCopyingLongViasOnly: a UAS that builds its answers by copying
// the INVITE's "Via:" lines as text, as SIPp's [last_Via:] does, and reads
// no compact "v:" line, still answers the caller through the proxy: the
// forwarded INVITE carries every Via in long form, so the 180 and the 200
// reach the caller with its own Via, the one its transaction matches.
func TestCalleeCopyingLongViasOnly(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	invites := make(chan string, 1)
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			raw := string(buf[:n])
			if !strings.HasPrefix(raw, "INVITE ") {
				continue
			}
			var copied []string
			for _, line := range strings.Split(raw, "\r\n") {
				for _, name := range []string{"Via:", "From:", "To:", "Call-ID:", "CSeq:", "Record-Route:"} {
					if strings.HasPrefix(line, name) {
						if name == "To:" {
							line += ";tag=uas"
						}
						copied = append(copied, line)
					}
				}
			}
			head := strings.Join(copied, "\r\n") + "\r\nContact: <sip:5002@" + pc.LocalAddr().String() + ">\r\n"
			for _, status := range []string{"180 Ringing", "200 OK"} {
				_, _ = pc.WriteTo([]byte("SIP/2.0 "+status+"\r\n"+head+"Content-Length: 0\r\n\r\n"), from)
			}
			select {
			case invites <- raw:
			default:
			}
		}
	}()
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("5002", target(t, "sip:5002@"+pc.LocalAddr().String()))
	ctx := ctxT(t, 5*time.Second)
	call, err := caller.Invite(ctx, "sip:5002@"+p.udp())
	if err != nil {
		t.Fatal(err)
	}
	final, err := call.WaitFinal(ctx)
	if err != nil || final.StatusCode != 200 {
		t.Fatalf("caller: %v %v, want the callee's 200", final, err)
	}
	_ = call.Ack()
	raw := <-invites
	if strings.Contains(raw, "\r\nv:") {
		t.Errorf("the forwarded INVITE has a compact Via:\n%s", raw)
	}
	if n := strings.Count(raw, "\r\nVia: "); n != 2 {
		t.Errorf("the forwarded INVITE has %d long-form Via lines, want ours and the caller's:\n%s", n, raw)
	}
}
