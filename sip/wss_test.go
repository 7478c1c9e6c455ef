package sip_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/gobwas/ws"
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
}

func (f *flowRegistrar) ServeSIP(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
	c := r.Contact()
	if c == nil {
		return sip.Reject(400, "No Contact")
	}
	f.mu.Lock()
	f.bindings[r.From().Address.User] = sip.Target{URI: *c.Address.Clone(), NextHop: r.Source(), Transport: r.Transport()}
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

// wsPhone is a browser softphone for tests: SIP over a WebSocket (RFC
// 7118), one text frame per message.
type wsPhone struct {
	t    *testing.T
	conn net.Conn
	user string
	tp   string // "WS" or "WSS"
}

func dialWS(ctx context.Context, url, origin string, conf *tls.Config) (net.Conn, error) {
	d := ws.Dialer{TLSConfig: conf, Protocols: []string{"sip"}, Timeout: 3 * time.Second}
	if origin != "" {
		d.Header = ws.HandshakeHeaderHTTP(http.Header{"Origin": {origin}})
	}
	c, _, _, err := d.Dial(ctx, url)
	return c, err
}

func (p *wsPhone) send(msg string) {
	p.t.Helper()
	p.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := wsutil.WriteClientText(p.conn, []byte(msg)); err != nil {
		p.t.Fatal(err)
	}
}

// read returns the next SIP message the proxy sends.
func (p *wsPhone) read() sipmsg.Message {
	p.t.Helper()
	p.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := wsutil.ReadServerText(p.conn)
	if err != nil {
		p.t.Fatal(err)
	}
	m, err := sipmsg.ParseMessage(b)
	if err != nil {
		p.t.Fatalf("%v: %q", err, b)
	}
	return m
}

func (p *wsPhone) register(proxy string) *sipmsg.Response {
	p.t.Helper()
	p.send(fmt.Sprintf("REGISTER sip:voip.unisi.it SIP/2.0\r\n"+
		"Via: SIP/2.0/%s df7jal23ls0d.invalid;branch=z9hG4bK%d\r\n"+
		"Max-Forwards: 70\r\nTo: <sip:%s@voip.unisi.it>\r\nFrom: <sip:%s@voip.unisi.it>;tag=ws1\r\n"+
		"Call-ID: ws-reg-%s\r\nCSeq: 1 REGISTER\r\nContact: <sip:%s@df7jal23ls0d.invalid;transport=ws>\r\n"+
		"Expires: 60\r\nContent-Length: 0\r\n\r\n", p.tp, time.Now().UnixNano(), p.user, p.user, p.user, p.user))
	res, ok := p.read().(*sipmsg.Response)
	if !ok {
		p.t.Fatal("REGISTER: got a request, want its response")
	}
	return res
}

// answer answers the next request the proxy sends with code (a 2xx to an
// INVITE carries SDP and a To tag).
func (p *wsPhone) answer(method sip.Method, code int) *sipmsg.Request {
	p.t.Helper()
	req, ok := p.read().(*sipmsg.Request)
	if !ok || req.Method != method {
		p.t.Fatalf("got %v, want a %s", req, method)
	}
	if method == sip.ACK {
		return req
	}
	var body []byte
	if method == sip.INVITE && code == 200 {
		body = []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\n")
	}
	res := sipmsg.NewResponseFromRequest(req, code, "OK", body)
	if to := res.To(); to != nil && method == sip.INVITE {
		to.Params.Add("tag", "wsphone")
		res.AppendHeader(&sipmsg.ContactHeader{Address: sip.URI{Scheme: "sip", User: p.user, Host: "df7jal23ls0d.invalid", UriParams: sipmsg.HeaderParams{{K: "transport", V: "ws"}}}})
	}
	if body != nil {
		res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	}
	p.send(res.String())
	return req
}

// TestWSSRegistrationAndCall: a browser phone registers over WSS; a UDP
// phone's call reaches it over the flow it registered on (no new
// connection: the contact's host is .invalid), it answers, and the UDP
// phone hangs up. A WebSocket upgrade from an origin not allowed is
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

	conn, err := dialWS(ctx, wssURL, "https://phone.unisi.it", p.clientConf("voip.unisi.it"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	phone := &wsPhone{t: t, conn: conn, user: "5010", tp: "WSS"}
	if res := phone.register(tp.Addr("udp")); res.StatusCode != 200 {
		t.Fatalf("REGISTER over WSS: got %d, want 200", res.StatusCode)
	}

	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(tp.Addr("udp")))
	call, err := caller.Invite(ctx, "sip:5010@voip.unisi.it")
	if err != nil {
		t.Fatal(err)
	}
	inv := phone.answer(sip.INVITE, 200)
	if tr := inv.Via().Transport; tr != "WSS" {
		t.Errorf("the INVITE's top Via: transport %s, want WSS", tr)
	}
	if code := tlsFinal(ctx, call); code != 200 {
		t.Fatalf("UDP → WSS: got %d, want 200", code)
	}
	phone.answer(sip.ACK, 0)
	bye := make(chan error, 1)
	go func() { _, err := call.Bye(ctx); bye <- err }()
	phone.answer(sip.BYE, 200)
	if err := <-bye; err != nil {
		t.Fatalf("BYE: %v", err)
	}

	for _, tt := range []struct{ name, url string }{
		{"wss", wssURL},
		{"ws", "ws://" + tp.Server.Local().Addr("ws")},
	} {
		t.Run("origin refused over "+tt.name, func(t *testing.T) {
			c, err := dialWS(ctx, tt.url, "https://evil.example.com", p.clientConf("voip.unisi.it"))
			if err == nil {
				c.Close()
				t.Fatal("upgrade from a foreign origin accepted")
			}
			if !strings.Contains(err.Error(), "403") {
				t.Errorf("got %v, want a 403", err)
			}
			c, err = dialWS(ctx, tt.url, "", p.clientConf("voip.unisi.it"))
			if err != nil {
				t.Fatalf("upgrade without Origin (not a browser): %v", err)
			}
			c.Close()
		})
	}
}
