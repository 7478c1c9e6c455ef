package sip_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/gobwas/ws/wsutil"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// flowRegistrar is the least of a registrar: it keeps the contact of each
// REGISTER with the flow it came on (source and transport), as the
// registrar package does, and routes calls to the user over that flow.
type flowRegistrar struct {
	mu       sync.Mutex
	bindings map[string]sip.Target
	peer     *sip.Peer // of the last REGISTER
}

func (f *flowRegistrar) ServeSIP(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
	c := r.Contact()
	if c == nil {
		return sip.Reject(400, "No Contact")
	}
	f.mu.Lock()
	f.bindings[r.From().Address.User] = sip.Target{URI: *c.Address.Clone(), NextHop: r.Source(), Transport: r.Transport()}
	f.peer = sip.PeerFrom(ctx)
	f.mu.Unlock()
	res := sip.NewResponse(r, 200, "OK")
	res.AppendHeader(sipmsg.NewHeader("Contact", "<"+c.Address.String()+">;expires=60"))
	return w.WriteResponse(res)
}

func (f *flowRegistrar) lookup(next sip.Handler) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		f.mu.Lock()
		tg, ok := f.bindings[r.Recipient.User]
		f.mu.Unlock()
		if !ok {
			return sip.Reject(480, "Temporarily Unavailable")
		}
		return next.ServeSIP(sip.WithTargets(ctx, tg), w, r)
	})
}

// TestWSSRegistrationAndCall: a browser phone registers over WSS; a UDP
// phone's call reaches it over the flow it registered on (no new
// connection: the contact's host is .invalid), it answers, and the UDP
// phone hangs up. The browser phone then calls the UDP phone twice,
// hanging up the first call itself, the second hung up by the UDP phone.
// A WebSocket upgrade from an origin not allowed is
// refused with 403, over WSS and WS alike.
func TestWSSRegistrationAndCall(t *testing.T) {
	leakCheck(t)
	p := newPKI(t)
	cfg := p.tlsConfig()
	cfg.Origins = []string{"https://phone.unisi.it"}
	reg := &flowRegistrar{bindings: map[string]sip.Target{}}
	tp := siptest.NewProxy(t, siptest.ProxyConfig{
		Networks: []string{"udp", "wss", "ws"},
		Server:   sip.Config{TLS: newTLS(t, cfg)},
		Register: reg,
		Stages:   []sip.Middleware{reg.lookup},
	})
	ctx := ctxT(t, 15*time.Second)
	wssURL := "wss://" + tp.Server.Local().Addr("wss")

	phone, err := siptest.NewWSPhone(ctx, wssURL, "5010", "https://phone.unisi.it", p.clientConf("voip.unisi.it"))
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	res, err := phone.Register(ctx, "sip:5010@voip.unisi.it", "")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER over WSS: %v %v", res, err)
	}
	reg.mu.Lock()
	peer := reg.peer
	reg.mu.Unlock()
	if peer == nil || !peer.Secure || peer.Transport != "WSS" || peer.ServerName != "voip.unisi.it" {
		t.Errorf("peer of the WSS REGISTER: got %+v, want secure WSS with SNI voip.unisi.it", peer)
	}

	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(tp.Addr("udp")))
	call, err := caller.Invite(ctx, "sip:5010@voip.unisi.it")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := phone.Answer(ctx, sip.INVITE, 200)
	if err != nil {
		t.Fatal(err)
	}
	if tr := inv.Via().Transport; tr != "WSS" {
		t.Errorf("the INVITE's top Via: transport %s, want WSS", tr)
	}
	if code := tlsFinal(ctx, call); code != 200 {
		t.Fatalf("UDP → WSS: got %d, want 200", code)
	}
	if _, err := phone.Answer(ctx, sip.ACK, 0); err != nil {
		t.Fatal(err)
	}
	bye := make(chan error, 1)
	go func() { _, err := call.Bye(ctx); bye <- err }()
	if _, err := phone.Answer(ctx, sip.BYE, 200); err != nil {
		t.Fatal(err)
	}
	if err := <-bye; err != nil {
		t.Fatalf("BYE: %v", err)
	}

	// The browser phone calls the UDP phone, registered too, twice: the
	// first call hung up by the browser, the second by the UDP phone
	// (its BYE reaches the browser over the WSS connection it called on).
	if res, err := caller.Register(ctx, tp.Addr("udp"), "sip:5001@voip.unisi.it", "", 60); err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER over UDP: %v %v", res, err)
	}
	for i, hangup := range []string{"wss", "udp"} {
		out, err := phone.Invite(ctx, "sip:5001@voip.unisi.it", "")
		if err != nil {
			t.Fatalf("WSS → UDP call %d: %v", i+1, err)
		}
		if out.Final.StatusCode != 200 {
			t.Fatalf("WSS → UDP call %d: got %d, want 200", i+1, out.Final.StatusCode)
		}
		in, err := caller.WaitIncoming(ctx, i+1)
		if err != nil {
			t.Fatal(err)
		}
		if err := in.WaitAck(ctx); err != nil {
			t.Fatalf("call %d: the UDP phone got no ACK: %v", i+1, err)
		}
		req, err := out.HangUp(ctx, in, hangup == "wss")
		if err != nil {
			t.Fatalf("call %d, hung up from the %s phone: %v", i+1, hangup, err)
		}
		if req != nil {
			if cid := req.CallID(); cid == nil || string(*cid) != string(*out.Final.CallID()) {
				t.Errorf("the BYE's Call-ID: got %v, want the call's", cid)
			}
		}
	}
	if n := tp.Server.Dialogs().Len(); n != 0 {
		t.Errorf("dialogs left after both hang-ups: %d", n)
	}

	// An RFC 5626 ping in a frame of its own is answered with a pong.
	ka, err := siptest.DialWS(ctx, wssURL, "", p.clientConf("voip.unisi.it"))
	if err != nil {
		t.Fatal(err)
	}
	defer ka.Close()
	ka.SetDeadline(time.Now().Add(5 * time.Second))
	if err := wsutil.WriteClientText(ka, []byte("\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if pong, err := wsutil.ReadServerText(ka); err != nil || string(pong) != "\r\n" {
		t.Errorf("CRLF ping over WSS: got %q %v, want a CRLF pong", pong, err)
	}

	for _, tt := range []struct{ name, url string }{
		{"wss", wssURL},
		{"ws", "ws://" + tp.Server.Local().Addr("ws")},
	} {
		t.Run("origin refused over "+tt.name, func(t *testing.T) {
			c, err := siptest.DialWS(ctx, tt.url, "https://evil.example.com", p.clientConf("voip.unisi.it"))
			if err == nil {
				c.Close()
				t.Fatal("upgrade from a foreign origin accepted")
			}
			if !strings.Contains(err.Error(), "403") {
				t.Errorf("got %v, want a 403", err)
			}
			c, err = siptest.DialWS(ctx, tt.url, "", p.clientConf("voip.unisi.it"))
			if err != nil {
				t.Fatalf("upgrade without Origin (not a browser): %v", err)
			}
			c.Close()
		})
	}
}
