package siptest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/sip"
)

// UA is a SIP user agent for tests: a phone, a softphone, a gateway or a
// PBX trunk, listening on 127.0.0.1 (UDP or TCP, on a free port). It places
// calls (Invite), registers (Register), and answers incoming INVITEs per its
// script (by default 180, then 200 with SDP 20 ms later: sipgo handles each
// received message on its own goroutine, so a 200 sent right behind a 180
// can overtake it at the next hop). It records every request it receives. Close it when done (NewUA registers a t.Cleanup that does).
type UA struct {
	t        testing.TB
	ua       *sipgo.UserAgent
	srv      *sipgo.Server
	cli      *sipgo.Client
	network  string // "udp", "tcp" or "tls"
	tlsConf  *tls.Config
	host     string
	port     int
	user     string
	proxy    string
	script   []Step
	extra2xx int
	authUser string
	password string
	listen   string
	body     []byte // the SDP offered and answered; nil: a fixed audio SDP
	instance string // +sip.instance of the registered Contact

	pc net.PacketConn
	ln net.Listener

	mu        sync.Mutex
	received  []*sip.Request
	changed   chan struct{} // closed and replaced on every change
	incoming  []*Incoming
	dialogs   map[string]*dialog // by Call-ID
	regCallID string
	regSeq    uint32
	answers   map[sip.Method]int // AnswerWith

	// arrivals stamps each response that came in a UDP datagram with its
	// order of arrival on the socket (see arrivalKey), since sipgo hands
	// each received message to a goroutine of its own and may deliver
	// them out of order (sipgo issue 306).
	arrivals map[string]uint64
	arrived  uint64

	closed    chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// Option configures a UA.
type Option func(*UA)

// WithTransport makes the UA listen and send over "udp" (default) or "tcp".
func WithTransport(network string) Option {
	return func(u *UA) { u.network = strings.ToLower(network) }
}

// WithTLS makes the UA listen and send over TLS: conf is its client
// configuration when it dials (RootCAs, ServerName for SNI, a client
// certificate) and, when it holds a certificate, its listener's.
func WithTLS(conf *tls.Config) Option {
	return func(u *UA) { u.network, u.tlsConf = "tls", conf }
}

// WithUser sets the user part of the UA's From and Contact (default "ua").
func WithUser(user string) Option { return func(u *UA) { u.user = user } }

// WithProxy sends the UA's initial requests to the proxy at "host:port"
// (an outbound proxy), whatever their Request-URI.
func WithProxy(addr string) Option { return func(u *UA) { u.proxy = addr } }

// WithScript sets how the UA answers incoming INVITEs.
func WithScript(steps ...Step) Option { return func(u *UA) { u.script = steps } }

// WithListen binds the UA to addr ("127.0.0.1:5070") instead of a free
// port: a gateway whose address the proxy trusts.
func WithListen(addr string) Option { return func(u *UA) { u.listen = addr } }

// WithCredentials makes the UA answer a 401/407 to its INVITEs with
// digest credentials (once per call).
func WithCredentials(user, password string) Option {
	return func(u *UA) { u.authUser, u.password = user, password }
}

// WithExtra2xx makes the UA send its 2xx n more times, 50 ms apart, even
// after the ACK: a UAS whose retransmissions the proxy must relay.
func WithExtra2xx(n int) Option { return func(u *UA) { u.extra2xx = n } }

// WithSDP sets the SDP the UA offers in its INVITEs and answers with
// (default: PCMU and PCMA on port 40000 of the UA's host), so that a test
// can name sockets of its own that send and receive real RTP.
func WithSDP(sdp []byte) Option { return func(u *UA) { u.body = sdp } }

// WithInstance makes Register send the Contact with +sip.instance="urn"
// (RFC 5626 §4.1: the same device registering over several flows), e.g.
// "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>".
func WithInstance(urn string) Option { return func(u *UA) { u.instance = urn } }

// NewUA starts a UA on 127.0.0.1 with a free port.
func NewUA(t testing.TB, opts ...Option) *UA {
	t.Helper()
	u := &UA{
		t:        t,
		network:  "udp",
		user:     "ua",
		script:   []Step{Respond(180), Pause(20 * time.Millisecond), Respond(200)},
		changed:  make(chan struct{}),
		dialogs:  map[string]*dialog{},
		arrivals: map[string]uint64{},
		closed:   make(chan struct{}),
	}
	for _, o := range opts {
		o(u)
	}
	if u.listen == "" {
		u.listen = "127.0.0.1:0"
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var tlsOpt []sipgo.UserAgentOption
	if u.tlsConf != nil {
		tlsOpt = append(tlsOpt, sipgo.WithUserAgenTLSConfig(u.tlsConf))
	}
	ua, err := sipgo.NewUA(append(tlsOpt,
		sipgo.WithUserAgent("siptest-"+u.user),
		sipgo.WithUserAgentTransportLayerOptions(sipmsg.WithTransportLayerLogger(quiet), sipmsg.WithTransportLayerReadFilter(u.stampArrival)),
		sipgo.WithUserAgentTransactionLayerOptions(
			sipmsg.WithTransactionLayerLogger(quiet),
			sipmsg.WithTransactionLayerUnhandledResponseHandler(func(*sipmsg.Response) {}),
		),
	)...)
	if err != nil {
		t.Fatalf("siptest: %v", err)
	}
	u.ua = ua
	u.srv, _ = sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	switch u.network {
	case "udp":
		pc, err := net.ListenPacket("udp", u.listen)
		if err != nil {
			t.Fatalf("siptest: %v", err)
		}
		u.pc = pc
		u.host, u.port = splitHostPort(pc.LocalAddr().String())
	case "tcp", "tls":
		ln, err := net.Listen("tcp", u.listen)
		if err != nil {
			t.Fatalf("siptest: %v", err)
		}
		u.ln = ln
		u.host, u.port = splitHostPort(ln.Addr().String())
	default:
		t.Fatalf("siptest: unsupported transport %q", u.network)
	}
	u.cli, _ = sipgo.NewClient(ua, sipgo.WithClientHostname(u.host), sipgo.WithClientPort(u.port), sipgo.WithClientLogger(quiet))
	u.srv.OnInvite(u.onInvite)
	u.srv.OnAck(u.onAck)
	u.srv.OnBye(u.onBye)
	u.srv.OnCancel(u.onCancel)
	u.srv.OnNoRoute(u.onOther)
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		switch {
		case u.pc != nil:
			_ = u.srv.ServeUDP(u.pc)
		case u.network == "tls":
			_ = u.srv.ServeTLS(tls.NewListener(u.ln, u.tlsConf))
		default:
			_ = u.srv.ServeTCP(u.ln)
		}
	}()
	if u.pc != nil {
		// Requests leave from the listening socket: wait until sipgo's pool
		// knows it, or the first one would try to bind it again.
		for i := 0; i < 1000; i++ {
			if c, err := ua.TransportLayer().GetConnection("udp", u.Addr()); err == nil {
				c.TryClose()
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	t.Cleanup(u.Close)
	return u
}

func splitHostPort(hp string) (string, int) {
	h, p, _ := net.SplitHostPort(hp)
	n, _ := strconv.Atoi(p)
	return h, n
}

// Close stops the UA. Calls still ringing are left to time out.
func (u *UA) Close() {
	u.closeOnce.Do(func() {
		close(u.closed)
		if u.pc != nil {
			u.pc.Close()
		}
		if u.ln != nil {
			u.ln.Close()
		}
		u.ua.Close()
		u.wg.Wait()
		// A message read just before the socket closed may still make sipgo
		// open a socket to answer it; sweep the pools once more.
		for range 3 {
			time.Sleep(5 * time.Millisecond)
			_ = u.ua.TransportLayer().Close()
		}
	})
}

// Addr returns the UA's "127.0.0.1:port".
func (u *UA) Addr() string { return net.JoinHostPort(u.host, strconv.Itoa(u.port)) }

// Contact returns the UA's contact URI, with transport=tcp on TCP and
// transport=tls on TLS.
func (u *UA) Contact() sip.URI {
	c := sip.URI{Scheme: "sip", User: u.user, Host: u.host, Port: u.port}
	if u.network != "udp" {
		c.UriParams = sipmsg.HeaderParams{{K: "transport", V: u.network}}
	}
	return c
}

// URI returns "sip:user@127.0.0.1:port" (with ;transport=tcp on TCP, tls on TLS): the
// address a proxy routes calls for this UA to.
func (u *UA) URI() string {
	c := u.Contact()
	return c.String()
}

func (u *UA) transport() string { return strings.ToUpper(u.network) }

// notify wakes everyone waiting for a change.
func (u *UA) notify() {
	close(u.changed)
	u.changed = make(chan struct{})
}

func (u *UA) record(req *sip.Request) {
	u.mu.Lock()
	u.received = append(u.received, req)
	u.notify()
	u.mu.Unlock()
}

// Received returns the requests of the given method the UA received ("" for
// all), in order.
func (u *UA) Received(method sip.Method) []*sip.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []*sip.Request
	for _, r := range u.received {
		if method == "" || r.Method == method {
			out = append(out, r)
		}
	}
	return out
}

// WaitRequest waits until the UA has received n requests of method and
// returns the nth.
func (u *UA) WaitRequest(ctx context.Context, method sip.Method, n int) (*sip.Request, error) {
	var got *sip.Request
	err := u.wait(ctx, func() bool {
		c := 0
		for _, r := range u.received {
			if r.Method == method {
				c++
				if c == n {
					got = r
					return true
				}
			}
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("siptest: %s: waiting for %s #%d: %w", u.user, method, n, err)
	}
	return got, nil
}

// wait runs cond under the UA's lock until it holds or ctx ends.
func (u *UA) wait(ctx context.Context, cond func() bool) error {
	for {
		u.mu.Lock()
		ok := cond()
		ch := u.changed
		u.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-u.closed:
			return errors.New("UA closed")
		}
	}
}

// via returns a new Via for a request the UA sends.
func (u *UA) via() *sipmsg.ViaHeader {
	return &sipmsg.ViaHeader{
		ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: u.transport(),
		Host: u.host, Port: u.port,
		Params: sipmsg.HeaderParams{{K: "branch", V: sipmsg.GenerateBranch()}},
	}
}

// route points req at dest (or its Route/R-URI when dest is empty) from
// the UA's socket.
func (u *UA) route(req *sip.Request, dest string) {
	req.SetTransport(u.transport())
	req.SetDestination(dest)
	if u.network == "udp" {
		req.Laddr = sipmsg.Addr{IP: net.ParseIP(u.host), Port: u.port}
	}
}

func prebuilt(*sipgo.Client, *sipmsg.Request) error { return nil }

// do sends req on a client transaction and returns its final response.
func (u *UA) do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	tx, err := u.cli.TransactionRequest(ctx, req, prebuilt)
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.StatusCode >= 200 {
				return res, nil
			}
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, err
			}
			return nil, errors.New("transaction ended without a final response")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Register registers the UA's contact for aor ("sip:user@domain") with the
// registrar at "host:port", answering a digest challenge with password. An
// expires of 0 removes the binding.
func (u *UA) Register(ctx context.Context, registrar, aor, password string, expires int) (*sip.Response, error) {
	a, err := sip.ParseURI(aor)
	if err != nil {
		return nil, err
	}
	u.mu.Lock()
	if u.regCallID == "" {
		u.regCallID = sipmsg.GenerateTagN(24)
	}
	u.regSeq++
	seq := u.regSeq
	cid := u.regCallID
	u.mu.Unlock()

	req := sipmsg.NewRequest(sip.REGISTER, sip.URI{Scheme: "sip", Host: a.Host, Port: a.Port})
	req.AppendHeader(u.via())
	mf := sipmsg.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	from := &sipmsg.FromHeader{Address: a}
	from.Params.Add("tag", sipmsg.GenerateTagN(10))
	req.AppendHeader(from)
	req.AppendHeader(&sipmsg.ToHeader{Address: a})
	callid := sipmsg.CallIDHeader(cid)
	req.AppendHeader(&callid)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: seq, MethodName: sip.REGISTER})
	contact := &sipmsg.ContactHeader{Address: u.Contact()}
	if u.instance != "" {
		contact.Params = sipmsg.HeaderParams{{K: "+sip.instance", V: `"` + u.instance + `"`}}
	}
	req.AppendHeader(contact)
	req.AppendHeader(sipmsg.NewHeader("Expires", strconv.Itoa(expires)))
	req.SetBody(nil)
	u.route(req, registrar)
	res, err := u.do(ctx, req.Clone())
	if err != nil || (res.StatusCode != 401 && res.StatusCode != 407) || password == "" {
		return res, err
	}
	u.mu.Lock()
	u.regSeq++
	u.mu.Unlock()
	auth := req.Clone()
	auth.RemoveHeader("Via")
	auth.PrependHeader(u.via())
	res2, err := u.cli.DoDigestAuth(ctx, auth, res, sipgo.DigestAuth{Username: a.User, Password: password})
	return res2, err
}

// sdp returns a small audio offer or answer from the UA.
func (u *UA) sdp() []byte {
	if u.body != nil {
		return u.body
	}
	return []byte("v=0\r\no=" + u.user + " 1 1 IN IP4 " + u.host + "\r\ns=-\r\nc=IN IP4 " + u.host +
		"\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n")
}

// onOther answers requests without a dedicated handler: OPTIONS, MESSAGE,
// INFO, NOTIFY, UPDATE... with 200; in-dialog ones update nothing.
func (u *UA) onOther(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	u.record(req)
	u.mu.Lock()
	code := u.answers[req.Method]
	u.mu.Unlock()
	if code == 0 {
		code = 200
	}
	_ = tx.Respond(sip.NewResponse(req, code, ""))
}

// AnswerWith makes the UA answer the requests of method it has no
// dedicated handler for (NOTIFY, MESSAGE, OPTIONS...) with code from now
// on, instead of 200; 0 restores 200. A watcher answering NOTIFY with 481
// tells the notifier its subscription is gone (RFC 6665 §4.1.3).
func (u *UA) AnswerWith(method sip.Method, code int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.answers == nil {
		u.answers = map[sip.Method]int{}
	}
	u.answers[method] = code
}

// onCancel answers a CANCEL that matched no INVITE.
func (u *UA) onCancel(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	u.record(req)
	_ = tx.Respond(sip.NewResponse(req, 481, ""))
}

func (u *UA) onAck(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	u.record(req)
	u.mu.Lock()
	d := u.dialogs[callIDOf(req)]
	u.mu.Unlock()
	if d != nil && d.in != nil {
		d.in.acked()
	}
}

func (u *UA) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	u.record(req)
	u.mu.Lock()
	d := u.dialogs[callIDOf(req)]
	if d != nil {
		d.ended = true
		u.notify()
	}
	u.mu.Unlock()
	if d == nil {
		_ = tx.Respond(sip.NewResponse(req, 481, ""))
		return
	}
	_ = tx.Respond(sip.NewResponse(req, 200, "OK"))
}

func callIDOf(m interface{ CallID() *sipmsg.CallIDHeader }) string {
	if c := m.CallID(); c != nil {
		return string(*c)
	}
	return ""
}

func tagOf(params sipmsg.HeaderParams) string {
	t, _ := params.Get("tag")
	return t
}

// dialog is the UA's side of a dialog, as UAC (Call) or UAS (Incoming).
type dialog struct {
	callID       string
	localTag     string
	remoteTag    string
	localURI     sip.URI
	remoteURI    sip.URI
	remoteTarget sip.URI
	routeSet     []sip.URI
	cseq         uint32
	ended        bool
	in           *Incoming
}

// request builds an in-dialog request of d (RFC 3261 §12.2.1.1).
func (u *UA) request(d *dialog, method sip.Method, body []byte) *sip.Request {
	u.mu.Lock()
	if method != sip.ACK {
		d.cseq++
	}
	seq := d.cseq
	u.mu.Unlock()
	req := sipmsg.NewRequest(method, *d.remoteTarget.Clone())
	req.AppendHeader(u.via())
	for _, r := range d.routeSet {
		req.AppendHeader(&sipmsg.RouteHeader{Address: *r.Clone()})
	}
	mf := sipmsg.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	from := &sipmsg.FromHeader{Address: d.localURI}
	from.Params.Add("tag", d.localTag)
	req.AppendHeader(from)
	to := &sipmsg.ToHeader{Address: d.remoteURI}
	to.Params.Add("tag", d.remoteTag)
	req.AppendHeader(to)
	cid := sipmsg.CallIDHeader(d.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: seq, MethodName: method})
	req.AppendHeader(&sipmsg.ContactHeader{Address: u.Contact()})
	if body != nil {
		req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	}
	req.SetBody(body)
	u.route(req, "")
	return req
}

// inDialog answers an in-dialog INVITE (re-INVITE) with 200 and SDP.
func (u *UA) reinvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	res := sip.NewResponse(req, 200, "OK")
	res.AppendHeader(&sipmsg.ContactHeader{Address: u.Contact()})
	res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	res.SetBody(u.sdp())
	_ = tx.Respond(res)
	// Wait for the ACK (it arrives on OnAck) so that the transaction lives
	// long enough to absorb INVITE retransmissions.
	select {
	case <-tx.Done():
	case <-time.After(2 * time.Second):
	case <-u.closed:
	}
}

func routeSetOf(m interface{ GetHeaders(string) []sipmsg.Header }, reverse bool) []sip.URI {
	var out []sip.URI
	for _, h := range m.GetHeaders("Record-Route") {
		if rr, ok := h.(*sipmsg.RecordRouteHeader); ok {
			out = append(out, *rr.Address.Clone())
		}
	}
	if reverse {
		slices.Reverse(out)
	}
	return out
}

// Options sends an out-of-dialog OPTIONS to uri (a ping) and returns the
// final response.
func (u *UA) Options(ctx context.Context, uri string) (*sip.Response, error) {
	ruri, err := sip.ParseURI(uri)
	if err != nil {
		return nil, err
	}
	req := sipmsg.NewRequest(sip.OPTIONS, ruri)
	req.AppendHeader(u.via())
	mf := sipmsg.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	from := &sipmsg.FromHeader{Address: sip.URI{Scheme: "sip", User: u.user, Host: u.host, Port: u.port}}
	from.Params.Add("tag", sipmsg.GenerateTagN(10))
	req.AppendHeader(from)
	req.AppendHeader(&sipmsg.ToHeader{Address: ruri})
	cid := sipmsg.CallIDHeader(sipmsg.GenerateTagN(24))
	req.AppendHeader(&cid)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: 1, MethodName: sip.OPTIONS})
	req.SetBody(nil)
	u.route(req, u.proxy)
	return u.do(ctx, req)
}

// stampArrival notes the order in which responses arrive on the UA's UDP
// socket, before sipgo's transaction layer (which may reorder them)
// sees them. A retransmission keeps its first stamp.
func (u *UA) stampArrival(props sipmsg.TransportReadProps, data []byte) ([]byte, error) {
	if props.Transport != "UDP" || !bytes.HasPrefix(data, []byte("SIP/2.0 ")) {
		return data, nil
	}
	m, err := sipmsg.ParseMessage(data)
	if err != nil {
		return data, nil // sipgo's parser answers it
	}
	if res, ok := m.(*sipmsg.Response); ok {
		k := arrivalKey(res)
		u.mu.Lock()
		if _, seen := u.arrivals[k]; !seen {
			u.arrived++
			u.arrivals[k] = u.arrived
		}
		u.mu.Unlock()
	}
	return data, nil
}

// arrival returns res's stamp of arrival, 0 when it has none (it came
// over a stream transport).
func (u *UA) arrival(res *sip.Response) uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.arrivals[arrivalKey(res)]
}

// arrivalKey names a response up to retransmission: its call, its
// transaction's CSeq, its status and its To tag.
func arrivalKey(res *sipmsg.Response) string {
	var callID, cseq, tag string
	if h := res.CallID(); h != nil {
		callID = h.Value()
	}
	if h := res.CSeq(); h != nil {
		cseq = h.Value()
	}
	if h := res.To(); h != nil {
		tag, _ = h.Params.Get("tag")
	}
	return callID + "\x00" + cseq + "\x00" + strconv.Itoa(res.StatusCode) + "\x00" + tag
}
