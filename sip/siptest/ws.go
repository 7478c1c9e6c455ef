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

// WSCall is a call a WSPhone placed (the UAC side of its INVITE): the
// dialog it made, for the in-dialog requests the phone sends (Bye). A BYE
// from the other end is read and answered with the phone's Answer.
type WSCall struct {
	p *WSPhone
	// Final is the INVITE's final response.
	Final *sip.Response
	// Challenged is the 401 or 407 the INVITE was answered with first,
	// when the phone resent it with credentials; nil otherwise.
	Challenged *sip.Response

	callID    string
	localTag  string
	remoteTag string
	local     sip.URI // From
	remote    sip.URI // To
	target    sip.URI // the remote target: the 2xx's Contact
	routes    []sip.URI
	cseq      uint32
	ack       string // the ACK of the 2xx, sent again for a retransmitted 2xx
}

// Invite places a call from the phone to uri over its connection and
// waits until ctx ends for the final response, skipping provisional ones.
// A 401 or 407 is ACKed and answered once with digest credentials (the
// phone's user and password), as a browser phone does through its
// proxy's challenge; a 2xx is ACKed at once (RFC 3261 §13.2.2.4: to the
// Contact, through the Record-Route set reversed). The INVITE offers an
// SDP with no media behind it. A non-2xx final response is returned in
// Final with no error.
func (p *WSPhone) Invite(ctx context.Context, uri, password string) (*WSCall, error) {
	ruri, err := sip.ParseURI(uri)
	if err != nil {
		return nil, fmt.Errorf("siptest: invite %q: %w", uri, err)
	}
	c := &WSCall{
		p:        p,
		callID:   "ws-" + sipmsg.GenerateTagN(16),
		localTag: sipmsg.GenerateTagN(8),
		local:    sip.URI{Scheme: "sip", User: p.user, Host: ruri.Host},
		remote:   sip.URI{Scheme: ruri.Scheme, User: ruri.User, Host: ruri.Host},
	}
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40004 RTP/AVP 0\r\n"
	auth := ""
	contact := p.Contact()
	for range 2 {
		c.cseq = p.seq.Add(1)
		branch := sipmsg.GenerateBranch()
		inv := fmt.Sprintf("INVITE %s SIP/2.0\r\n"+
			"Via: SIP/2.0/%s %s;branch=%s\r\nMax-Forwards: 70\r\n"+
			"To: <%s>\r\nFrom: <%s>;tag=%s\r\nCall-ID: %s\r\nCSeq: %d INVITE\r\n"+
			"Contact: <%s>\r\n%sContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
			ruri.String(), p.tp, p.host, branch, c.remote.String(), c.local.String(), c.localTag,
			c.callID, c.cseq, contact.String(), auth, len(sdp), sdp)
		if err := p.Send(inv); err != nil {
			return nil, err
		}
		res, err := c.final(ctx, sip.INVITE)
		if err != nil {
			return nil, err
		}
		c.Final = res
		if res.StatusCode >= 300 {
			// The ACK of a non-2xx is part of the INVITE transaction
			// (RFC 3261 §17.1.1.3): its branch, its Request-URI.
			ack := fmt.Sprintf("ACK %s SIP/2.0\r\n"+
				"Via: SIP/2.0/%s %s;branch=%s\r\nMax-Forwards: 70\r\n"+
				"To: %s\r\nFrom: <%s>;tag=%s\r\nCall-ID: %s\r\nCSeq: %d ACK\r\nContent-Length: 0\r\n\r\n",
				ruri.String(), p.tp, p.host, branch, res.To().Value(), c.local.String(), c.localTag, c.callID, c.cseq)
			if err := p.Send(ack); err != nil {
				return nil, err
			}
		}
		if (res.StatusCode != 401 && res.StatusCode != 407) || auth != "" || password == "" {
			break
		}
		name, authName := "WWW-Authenticate", "Authorization"
		if res.StatusCode == 407 {
			name, authName = "Proxy-Authenticate", "Proxy-Authorization"
		}
		h := res.GetHeader(name)
		if h == nil {
			break
		}
		chal, err := digest.ParseChallenge(h.Value())
		if err != nil {
			return nil, err
		}
		cred, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: ruri.String(), Username: p.user,
			Password: password, Count: 1, Cnonce: sipmsg.GenerateTagN(12)})
		if err != nil {
			return nil, err
		}
		auth = authName + ": " + cred.String() + "\r\n"
		c.Challenged = res
	}
	if c.Final.StatusCode < 200 || c.Final.StatusCode >= 300 {
		return c, nil
	}
	c.remoteTag = tagOf(c.Final.To().Params)
	if ct := c.Final.Contact(); ct != nil {
		c.target = *ct.Address.Clone()
	} else {
		c.target = *ruri.Clone()
	}
	c.routes = routeSetOf(c.Final, true)
	c.ack = c.request(sip.ACK, c.cseq)
	return c, p.Send(c.ack)
}

// request builds an in-dialog request of the call (RFC 3261 §12.2.1.1)
// with CSeq number seq.
func (c *WSCall) request(method sip.Method, seq uint32) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=%s\r\nMax-Forwards: 70\r\n",
		method, c.target.String(), c.p.tp, c.p.host, sipmsg.GenerateBranch())
	for _, r := range c.routes {
		fmt.Fprintf(&b, "Route: <%s>\r\n", r.String())
	}
	fmt.Fprintf(&b, "To: <%s>;tag=%s\r\nFrom: <%s>;tag=%s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nContent-Length: 0\r\n\r\n",
		c.remote.String(), c.remoteTag, c.local.String(), c.localTag, c.callID, seq, method)
	return b.String()
}

// final reads the phone's messages until the final response to the
// call's request of method; a retransmitted 2xx to the INVITE is ACKed
// again, any other message is an error.
func (c *WSCall) final(ctx context.Context, method sip.Method) (*sip.Response, error) {
	for {
		m, err := c.p.Next(ctx)
		if err != nil {
			return nil, err
		}
		res, ok := m.(*sip.Response)
		if !ok || res.CallID() == nil || string(*res.CallID()) != c.callID || res.CSeq() == nil {
			return nil, fmt.Errorf("siptest: got %q, want a response to the %s", strings.SplitN(m.String(), "\r\n", 2)[0], method)
		}
		cs := res.CSeq()
		switch {
		case cs.MethodName == sip.INVITE && method != sip.INVITE && res.StatusCode < 300 && c.ack != "":
			if err := c.p.Send(c.ack); err != nil {
				return nil, err
			}
		case cs.MethodName != method || cs.SeqNo != c.cseq:
			return nil, fmt.Errorf("siptest: got a response to %d %s, want one to %d %s", cs.SeqNo, cs.MethodName, c.cseq, method)
		case res.StatusCode >= 200:
			return res, nil
		}
	}
}

// Bye hangs up the answered call from the phone and returns the BYE's
// final response.
func (c *WSCall) Bye(ctx context.Context) (*sip.Response, error) {
	if c.remoteTag == "" {
		return nil, errors.New("siptest: the call has no dialog")
	}
	c.cseq = c.p.seq.Add(1)
	if err := c.p.Send(c.request(sip.BYE, c.cseq)); err != nil {
		return nil, err
	}
	return c.final(ctx, sip.BYE)
}

// HangUp ends the answered call c, whose other end is in (the incoming
// side at a UA), from the phone (fromPhone) or from the UA, and fails
// unless the BYE is answered 200 and reaches the other end. For a BYE
// from the UA it returns the BYE the phone received.
func (c *WSCall) HangUp(ctx context.Context, in *Incoming, fromPhone bool) (*sip.Request, error) {
	if fromPhone {
		res, err := c.Bye(ctx)
		if err != nil || res.StatusCode != 200 {
			return nil, fmt.Errorf("siptest: BYE from the WSS phone: %v %v", res, err)
		}
		if err := in.WaitBye(ctx); err != nil {
			return nil, fmt.Errorf("siptest: the UA got no BYE: %w", err)
		}
		return nil, nil
	}
	bye := make(chan *sip.Response, 1)
	go func() { res, _ := in.Bye(ctx); bye <- res }()
	req, err := c.p.Answer(ctx, sip.BYE, 200)
	if err != nil {
		return nil, fmt.Errorf("siptest: BYE from the UA: %w", err)
	}
	if res := <-bye; res == nil || res.StatusCode != 200 {
		return req, fmt.Errorf("siptest: BYE from the UA: got %v, want 200", res)
	}
	return req, nil
}
