package siptest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/icholy/digest"
	"github.com/palio-voip/palio/sip"
)

// WSPhone is a browser softphone for tests: SIP over one WebSocket
// connection (RFC 7118), a text frame per message, driven step by step
// by the test (Register, Next, Answer). Its contact is
// sip:user@<random>.invalid;transport=ws, reachable only over the
// connection it registered on, as a browser's is.
type WSPhone struct {
	conn net.Conn
	user string
	tp   string // "WS" or "WSS", for Via
	host string
	seq  atomic.Uint32
}

// DialWS opens a WebSocket to url ("ws://host:port" or "wss://…") with the
// "sip" subprotocol, sending Origin when origin is not empty; conf is the
// TLS configuration for wss.
func DialWS(ctx context.Context, url, origin string, conf *tls.Config) (net.Conn, error) {
	d := ws.Dialer{TLSConfig: conf, Protocols: []string{"sip"}, Timeout: 5 * time.Second}
	if origin != "" {
		d.Header = ws.HandshakeHeaderHTTP(http.Header{"Origin": {origin}})
	}
	c, _, _, err := d.Dial(ctx, url)
	return c, err
}

// NewWSPhone dials url as user (see DialWS).
func NewWSPhone(ctx context.Context, url, user, origin string, conf *tls.Config) (*WSPhone, error) {
	c, err := DialWS(ctx, url, origin, conf)
	if err != nil {
		return nil, err
	}
	tp := "WS"
	if strings.HasPrefix(url, "wss:") {
		tp = "WSS"
	}
	return &WSPhone{conn: c, user: user, tp: tp, host: sipmsg.GenerateTagN(10) + ".invalid"}, nil
}

// Close closes the connection.
func (p *WSPhone) Close() error { return p.conn.Close() }

// Send sends one SIP message.
func (p *WSPhone) Send(msg string) error {
	_ = p.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return wsutil.WriteClientText(p.conn, []byte(msg))
}

// Next returns the next SIP message the proxy sends, waiting until ctx
// ends.
func (p *WSPhone) Next(ctx context.Context) (sipmsg.Message, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(30 * time.Second)
	}
	_ = p.conn.SetReadDeadline(dl)
	b, err := wsutil.ReadServerText(p.conn)
	if err != nil {
		return nil, err
	}
	return sipmsg.ParseMessage(b)
}

// Contact is the phone's contact URI.
func (p *WSPhone) Contact() sip.URI {
	return sip.URI{Scheme: "sip", User: p.user, Host: p.host, UriParams: sipmsg.HeaderParams{{K: "transport", V: "ws"}}}
}

// Register registers the phone's contact for aor, answering a digest
// challenge with password, and returns the final response.
func (p *WSPhone) Register(ctx context.Context, aor, password string) (*sip.Response, error) {
	a, err := sip.ParseURI(aor)
	if err != nil {
		return nil, err
	}
	callID := "ws-" + sipmsg.GenerateTagN(16)
	auth := ""
	contact := p.Contact()
	for range 2 {
		seq := p.seq.Add(1)
		msg := fmt.Sprintf("REGISTER sip:%s SIP/2.0\r\n"+
			"Via: SIP/2.0/%s %s;branch=%s\r\nMax-Forwards: 70\r\n"+
			"To: <%s>\r\nFrom: <%s>;tag=%s\r\nCall-ID: %s\r\nCSeq: %d REGISTER\r\n"+
			"Contact: <%s>\r\nExpires: 600\r\n%sContent-Length: 0\r\n\r\n",
			a.Host, p.tp, p.host, sipmsg.GenerateBranch(), a.String(), a.String(), sipmsg.GenerateTagN(8),
			callID, seq, contact.String(), auth)
		if err := p.Send(msg); err != nil {
			return nil, err
		}
		m, err := p.Next(ctx)
		if err != nil {
			return nil, err
		}
		res, ok := m.(*sip.Response)
		if !ok {
			return nil, errors.New("siptest: REGISTER: got a request, want its response")
		}
		if res.StatusCode != 401 && res.StatusCode != 407 || auth != "" {
			return res, nil
		}
		name, authName := "WWW-Authenticate", "Authorization"
		if res.StatusCode == 407 {
			name, authName = "Proxy-Authenticate", "Proxy-Authorization"
		}
		h := res.GetHeader(name)
		if h == nil {
			return res, nil
		}
		chal, err := digest.ParseChallenge(h.Value())
		if err != nil {
			return nil, err
		}
		cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:" + a.Host, Username: a.User, Password: password, Count: 1})
		if err != nil {
			return nil, err
		}
		auth = authName + ": " + cred.String() + "\r\n"
	}
	return nil, errors.New("siptest: REGISTER: challenged twice")
}

// Answer reads the next request, which must be a method, and answers it
// with code (nothing for an ACK): a 2xx to an INVITE carries an SDP
// answer, a To tag and the phone's contact.
func (p *WSPhone) Answer(ctx context.Context, method sip.Method, code int) (*sip.Request, error) {
	m, err := p.Next(ctx)
	if err != nil {
		return nil, err
	}
	req, ok := m.(*sip.Request)
	if !ok || req.Method != method {
		return nil, fmt.Errorf("siptest: got %q, want a %s", strings.SplitN(m.String(), "\r\n", 2)[0], method)
	}
	if method == sip.ACK {
		return req, nil
	}
	var body []byte
	if method == sip.INVITE && code >= 200 && code < 300 {
		body = []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\n")
	}
	res := sipmsg.NewResponseFromRequest(req, code, "OK", body)
	if method == sip.INVITE {
		if to := res.To(); to != nil {
			to.Params.Add("tag", "ws"+sipmsg.GenerateTagN(6))
		}
		res.AppendHeader(&sipmsg.ContactHeader{Address: p.Contact()})
	}
	if body != nil {
		res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	}
	return req, p.Send(res.String())
}
