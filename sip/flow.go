package sip

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// FlowConfig configures Flows.
type FlowConfig struct {
	// URI is this server's SIP URI as the other nodes of the cluster reach
	// it: scheme, host, port and transport ("sip:10.0.0.1:5060;transport=tcp").
	// It must address this server (Local.IsLocal) and name a transport it
	// listens on; its user part and parameters other than transport are
	// replaced.
	URI URI
	// Datagram records a Path for phones that register over UDP too. Off,
	// a UDP phone is reached directly by whichever node routes a call to
	// it, as without Flows; turn it on when phones sit behind NATs that
	// only let in packets from the address they sent to.
	Datagram bool
}

// Flows makes this server the edge proxy of the flows its phones register
// over, for the other nodes of a cluster that share its location table
// (RFC 3327 Path, with RFC 5626 flow tokens, as OpenSIPS's federated
// usrloc records a Path per node). A phone on TCP, TLS or WebSocket can
// only be reached over the connection it opened, which lives on the node
// that took its REGISTER:
//
//   - Path, in front of the registrar, adds to each REGISTER a Path header
//     naming this server and the flow the REGISTER came over
//     (<sip:TOKEN@host:port;transport=tcp;lr>); the registrar stores it in
//     the binding.
//   - Any node's registrar lookup turns that Path into the target's route
//     set (Target.Route). Another node sends the request to this server;
//     this server, finding its own entry, sends it over the flow, without
//     a hop (as before Flows) when it routes the call itself.
//   - Relay, in front of the pipeline, takes an initial request whose top
//     Route is one of its flow entries and forwards it over that flow,
//     record-routing with a token of the flow so that in-dialog requests
//     find the flow too. That token is marked as a dialog's: the other
//     end of the call sees it, so it reaches the phone inside dialogs
//     only; a new request carrying it goes through the pipeline. The call belongs to the node that routed it: it
//     is not in this server's dialog table and has no call record here.
//
// The token is the flow itself (transport, the phone's address and port)
// signed with the server's Config.RouteSecret, so this server keeps no
// table of flows: only the live connection. A token that fails its
// signature gets 403; a flow whose connection is gone gets 430 (Flow
// Failed), which the registrar's Lookup stage turns into 480 for the
// caller. A UDP flow is always taken as alive.
type Flows struct {
	f        *Forwarder
	uri      URI
	datagram bool
}

// NewFlows returns the Flows of f's server, reached by the other nodes at
// cfg.URI.
func NewFlows(f *Forwarder, cfg FlowConfig) (*Flows, error) {
	u := *cfg.URI.Clone()
	if u.Scheme == "" {
		u.Scheme = "sip"
	}
	if u.Host == "" || (u.Scheme != "sip" && u.Scheme != "sips") {
		return nil, fmt.Errorf("sip: flows: URI %q: want sip:host:port", cfg.URI.String())
	}
	s := f.s
	if !s.local.IsLocal(&u) {
		return nil, fmt.Errorf("sip: flows: URI %s is not an address of this server", u.String())
	}
	tp := URITransport(&u)
	if _, ok := s.local.listen(tp); !ok {
		return nil, fmt.Errorf("sip: flows: URI %s: %w", u.String(), errNoListener(tp))
	}
	u.User, u.Password, u.Headers = "", "", nil
	params := sipmsg.HeaderParams{}
	if v, ok := u.UriParams.Get("transport"); ok {
		params = append(params, sipmsg.HeaderParams{{K: "transport", V: strings.ToLower(v)}}...)
	}
	u.UriParams = append(params, sipmsg.HeaderParams{{K: "lr", V: ""}}...)
	return &Flows{f: f, uri: u, datagram: cfg.Datagram}, nil
}

// PathURI returns the Path entry for the flow r came over: the server's
// URI with the flow's token as its user part. It reports false for a
// request over UDP (unless FlowConfig.Datagram) or without a source.
func (fl *Flows) PathURI(r *Request) (URI, bool) {
	f, ok := flowOf(r)
	if !ok || (f.transport == "UDP" && !fl.datagram) {
		return URI{}, false
	}
	u := *fl.uri.Clone()
	u.User = fl.f.s.flowToken(f)
	return u, true
}

// Path is the middleware, in front of the registrar, that adds this
// server's Path entry to each REGISTER (RFC 3327 §5.1: on top of any an
// edge proxy before it added), so that the binding it saves names the
// flow. Other requests pass unchanged.
func (fl *Flows) Path(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
		if r.Method != REGISTER {
			return next.ServeSIP(ctx, w, r)
		}
		u, ok := fl.PathURI(r)
		if !ok {
			return next.ServeSIP(ctx, w, r)
		}
		b := r.Clone()
		b.PrependHeader(sipmsg.NewHeader("Path", "<"+u.String()+">"))
		fl.f.s.metrics.flows.WithLabelValues(flowPath).Inc()
		return next.ServeSIP(ctx, w, b)
	})
}

// Relay is the middleware, in front of the pipeline (sip.ServeMux's
// Initial), that forwards an initial request whose top Route is one of
// this server's flow entries (another node found the Path in the location
// table) over that flow, without running next: the node that sent it
// already authenticated, classified and routed it. Anything else goes to
// next.
func (fl *Flows) Relay(next Handler) Handler {
	s := fl.f.s
	return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
		rt := topRoute(r)
		if rt == nil || rt.Address.User == "" || !s.local.IsLocal(&rt.Address) {
			return next.ServeSIP(ctx, w, r)
		}
		f, ok, err := s.routeFlow(&rt.Address)
		if err != nil {
			return err
		}
		if !ok || f.dialog || arrivedOver(r, f) {
			// A Record-Route entry's token, which the other end of a
			// dialog saw, does not start requests to the phone; nor does
			// a request from the phone itself skip the pipeline.
			return next.ServeSIP(ctx, w, r)
		}
		return fl.f.relayFlow(ctx, w, r)
	})
}

// relayFlow forwards r, an initial request routed to one of our flows, as
// a transit hop: one branch to its Request-URI (prepare sends it over the
// flow), no dialog entry, its call record taken out of the edge's hands
// (the node that routed the call keeps the call's record and events).
func (f *Forwarder) relayFlow(ctx context.Context, w ResponseWriter, r *Request) error {
	if err := checkMaxForwards(r); err != nil {
		return err
	}
	if r.IsInvite() {
		sendTrying(w, r)
	}
	CallFrom(ctx).adopt()
	return f.result(w, []outcome{f.branch(ctx, w, r, 0, Target{URI: r.Recipient}, nil, createsDialog(r.Method))})
}

// flow is a transport connection a user agent opened to us, or over UDP
// the address it sends from (RFC 5626 §3.2).
type flow struct {
	transport string // upper case: UDP, TCP, TLS, WS, WSS
	addr      netip.AddrPort
	// dialog marks the token of a Record-Route entry: the other end of
	// every dialog sees it, so it reaches the phone inside a dialog
	// only. A Path's token (in the location table and between nodes
	// only) also starts new requests.
	dialog bool
}

// flowTransports are the transports a token can name, by code.
var flowTransports = [...]string{1: "UDP", 2: "TCP", 3: "TLS", 4: "WS", 5: "WSS"}

func flowTransportCode(tp string) byte {
	for i, t := range flowTransports {
		if i > 0 && t == tp {
			return byte(i)
		}
	}
	return 0
}

// flowOf returns the flow r came over.
func flowOf(r *Request) (flow, bool) {
	tp := strings.ToUpper(r.Transport())
	if flowTransportCode(tp) == 0 {
		return flow{}, false
	}
	ap, err := netip.ParseAddrPort(r.Source())
	if err != nil {
		return flow{}, false
	}
	return flow{transport: tp, addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}, true
}

// arrivedOver reports whether r came over f: a request from the phone at
// the end of the flow, which goes away from it.
func arrivedOver(r *Request, f flow) bool {
	if r == nil {
		return false
	}
	g, ok := flowOf(r)
	return ok && g.transport == f.transport && g.addr == f.addr
}

// flowMACLen is how many bytes of the HMAC a token keeps: 80 bits.
const flowMACLen = 10

// Token lengths in bytes: transport code, IPv4 or IPv6 address, port, MAC.
const (
	flowToken4 = 1 + 4 + 2 + flowMACLen
	flowToken6 = 1 + 16 + 2 + flowMACLen
)

// flowKey derives the key of flow tokens from the route secret, so that
// a token and a Record-Route signature are never the same MAC.
func flowKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("palio flow token v1"))
	return m.Sum(nil)
}

// flowDialog is the bit of a token's first byte that marks a Record-Route
// entry's token (flow.dialog).
const flowDialog = 0x80

// flowToken returns the token of f: base64url of the transport code (and
// the dialog bit), the address, the port and an HMAC of them.
func (s *Server) flowToken(f flow) string {
	ip := f.addr.Addr().Unmap()
	var buf [flowToken6]byte
	code := flowTransportCode(f.transport)
	if f.dialog {
		code |= flowDialog
	}
	b := append(buf[:0], code)
	b = append(b, ip.AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, f.addr.Port())
	m := hmac.New(sha256.New, s.flowKey)
	m.Write(b)
	b = append(b, m.Sum(nil)[:flowMACLen]...)
	return base64.RawURLEncoding.EncodeToString(b)
}

var errForgedFlow = errors.New("sip: flow token with a wrong signature")

// parseFlowToken reads a token. ok is false for a string that is not
// shaped as a token at all (a Route of ours with some other user part);
// err is set for one shaped as a token whose signature is wrong.
func (s *Server) parseFlowToken(tok string) (f flow, ok bool, err error) {
	n := base64.RawURLEncoding.DecodedLen(len(tok))
	if n != flowToken4 && n != flowToken6 {
		return flow{}, false, nil
	}
	var buf [flowToken6]byte
	b := buf[:n]
	if _, err := base64.RawURLEncoding.Strict().Decode(b, []byte(tok)); err != nil {
		return flow{}, false, nil
	}
	code, dialog := b[0]&^flowDialog, b[0]&flowDialog != 0
	if code == 0 || int(code) >= len(flowTransports) {
		return flow{}, false, nil
	}
	body, mac := b[:n-flowMACLen], b[n-flowMACLen:]
	m := hmac.New(sha256.New, s.flowKey)
	m.Write(body)
	if !hmac.Equal(mac, m.Sum(nil)[:flowMACLen]) {
		return flow{}, true, errForgedFlow
	}
	ipLen := len(body) - 3
	ip, _ := netip.AddrFromSlice(body[1 : 1+ipLen])
	port := binary.BigEndian.Uint16(body[1+ipLen:])
	return flow{transport: flowTransports[code], addr: netip.AddrPortFrom(ip, port), dialog: dialog}, true, nil
}

// routeFlow reads the flow token of u, a Route entry of ours: ok when it
// carries a valid one, a 403 when it carries a forged one.
func (s *Server) routeFlow(u *URI) (flow, bool, error) {
	if u.User == "" {
		return flow{}, false, nil
	}
	f, ok, err := s.parseFlowToken(u.User)
	if err != nil {
		s.metrics.flows.WithLabelValues(flowForged).Inc()
		return flow{}, false, Rejectf(403, "Forbidden: Bad Flow Token", err)
	}
	return f, ok, nil
}

// flowAlive reports whether f can still carry a request: a UDP flow
// always can; a stream flow while its connection is open (sipgo's pool
// holds it). Another connection from the same phone is another flow.
func (s *Server) flowAlive(f flow) bool {
	if f.transport == "UDP" {
		return true
	}
	if s.ua == nil {
		return false
	}
	pool := s.ua.TransportLayer().Pool(f.transport)
	if pool == nil {
		return false
	}
	c := pool.Get(f.addr.String())
	if c == nil {
		return false
	}
	c.TryClose() // Get took a reference
	return true
}

// errFlowFailed is the 430 of a request for a flow whose connection is
// gone (RFC 5626 §5.3, §11.5).
func errFlowFailed(f flow) error {
	return Rejectf(430, "Flow Failed", fmt.Errorf("sip: flow %s %s is gone", f.transport, f.addr))
}

// routeHop is where a request goes once its Route entries that are us
// are removed.
type routeHop struct {
	route     *URI   // the top Route left, nil when none
	addr      string // the destination when it is not per route or Request-URI
	transport string // the transport when the route or Request-URI does not say
	token     string // the Record-Route token of the flow the request goes over, if any
}

// popOurRoutes removes the Route entries at the top of b, a request
// outside any dialog, that are us and returns the flow named by the last
// of them that carries a Path's token. A forged token is a 403; a Record-
// Route entry's token does not start requests (flow.dialog).
func (s *Server) popOurRoutes(b *Request) (f flow, token string, n int, err error) {
	for rt := topRoute(b); rt != nil && s.local.IsLocal(&rt.Address); rt = topRoute(b) {
		g, ok, ferr := s.routeFlow(&rt.Address)
		if ferr != nil {
			return flow{}, "", n, ferr
		}
		if ok && !g.dialog {
			f, token = g, rt.Address.User
		}
		b.RemoveHeader("Route")
		n++
	}
	return f, token, n, nil
}

// routeTarget prepares the routing of b, a copy of r (nil for a request
// of our own) being sent to t: it removes the Route entries at the top of
// b that are us (a phone's outbound proxy setting), pushes t.Route, and
// removes the entries of ours again. A route set that leads to another
// node wins over t.NextHop and t.Transport; one that ends with a flow of
// ours sends the request over that flow (430 when it is gone), unless r
// came over that very flow (it goes away from the phone).
func (s *Server) routeTarget(b, r *Request, t Target) (routeHop, error) {
	f, token, _, err := s.popOurRoutes(b)
	if err != nil {
		return routeHop{}, err
	}
	viaPath := false
	if len(t.Route) > 0 {
		for i := len(t.Route) - 1; i >= 0; i-- {
			b.PrependHeader(&sipmsg.RouteHeader{Address: *t.Route[i].Clone()})
		}
		g, tok, n, err := s.popOurRoutes(b)
		if err != nil {
			return routeHop{}, err
		}
		if tok != "" {
			f, token = g, tok
		}
		viaPath = n < len(t.Route)
	}
	h := routeHop{}
	if rt := topRoute(b); rt != nil {
		h.route = &rt.Address
	}
	switch {
	case viaPath:
		h.transport = URITransport(h.route)
	case h.route == nil && token != "" && !arrivedOver(r, f):
		if !s.flowAlive(f) {
			s.metrics.flows.WithLabelValues(flowFailed).Inc()
			return routeHop{}, errFlowFailed(f)
		}
		s.metrics.flows.WithLabelValues(flowRelayed).Inc()
		h.addr, h.transport = f.addr.String(), f.transport
		f.dialog = true
		h.token = s.flowToken(f)
	default:
		h.addr, h.transport = t.NextHop, t.transport(h.route)
	}
	return h, nil
}

// Outcomes of palio_sip_flows_total.
const (
	flowPath    = "path"    // a Path entry added to a REGISTER
	flowRelayed = "relayed" // a request sent over a flow named by a Route
	flowFailed  = "failed"  // 430: the flow's connection is gone
	flowForged  = "forged"  // 403: a token with a wrong signature
)

// ParseRouteSet parses a comma-separated list of name-addrs, as a Path or
// Route header value or a binding's stored Path ("<sip:a;lr>,<sip:b;lr>"),
// into URIs, first first. Commas inside angle brackets or quotes do not
// split.
func ParseRouteSet(s string) ([]URI, error) {
	var out []URI
	depth, quoted, start := 0, false, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			switch c := s[i]; {
			case c == '"' && (i == 0 || s[i-1] != '\\'):
				quoted = !quoted
				continue
			case quoted:
				continue
			case c == '<':
				depth++
				continue
			case c == '>':
				depth--
				continue
			case c != ',' || depth > 0:
				continue
			}
		}
		part := strings.TrimSpace(s[start:i])
		start = i + 1
		if part == "" {
			continue
		}
		var u URI
		var params sipmsg.HeaderParams
		if _, err := sipmsg.ParseAddressValue(part, &u, &params); err != nil {
			return nil, fmt.Errorf("sip: route %q: %w", part, err)
		}
		if u.Host == "" {
			return nil, fmt.Errorf("sip: route %q: no host", part)
		}
		out = append(out, u)
	}
	if quoted || depth != 0 {
		return nil, fmt.Errorf("sip: route set %q: unbalanced", s)
	}
	return out, nil
}
