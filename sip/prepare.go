package sip

import (
	"math/rand/v2"
	"net"
	"strconv"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// branchPrefix starts every Via branch Palio writes: the RFC 3261 magic
// cookie and a mark of our own.
const branchPrefix = "z9hG4bKpl"

// newBranch returns a unique Via branch; a non-empty loop hash is appended
// after a dot, for loop detection (RFC 3261 §16.6 step 8).
func newBranch(loopHash string) string {
	return formatBranch("", rand.Uint64(), loopHash)
}

// formatBranch writes our branch: the prefix, a kind marker, id in base
// 36, and the loop hash after a dot when there is one.
func formatBranch(kind string, id uint64, loopHash string) string {
	var sb strings.Builder
	sb.Grow(len(branchPrefix) + len(kind) + 13 + 1 + len(loopHash))
	sb.WriteString(branchPrefix)
	sb.WriteString(kind)
	var b [13]byte
	sb.Write(strconv.AppendUint(b[:0], id, 36))
	if loopHash != "" {
		sb.WriteByte('.')
		sb.WriteString(loopHash)
	}
	return sb.String()
}

// stableBranch returns the branch of our Via for the non-INVITE request r
// forwarded to next: derived from r's own top Via (branch, sent-by), its
// method and CSeq and next, so that a retransmission of r forwarded again
// after our transactions ended carries the same branch, and the next hop's
// transaction (which keeps its final response for Timer J) answers it as a
// retransmission (RFC 3261 §16.11 does the same for stateless proxies). A
// request without an RFC 3261 branch is identified by its Call-ID and tags
// too. The loop hash follows, as in newBranch.
func stableBranch(r *Request, next *URI, loop string) string {
	h := newFNV()
	if v := r.Via(); v != nil {
		b, _ := v.Params.Get("branch")
		h.str(b)
		h.byte(0)
		h.str(v.Host)
		h.uint(uint64(v.Port))
		if !strings.HasPrefix(b, sipmsg.RFC3261BranchMagicCookie) {
			h.byte(0)
			h.str(callID(r))
			h.byte(0)
			h.str(fromTag(r))
			h.byte(0)
			h.str(toTag(r))
		}
	}
	h.byte(0)
	h.str(string(r.Method))
	if c := r.CSeq(); c != nil {
		h.uint(uint64(c.SeqNo))
	}
	h.byte(0)
	h.uri(next)
	return formatBranch("s", uint64(h), loop)
}

// loopHash digests what identifies a forwarded request for loop detection
// (RFC 3261 §16.6 step 8): the Request-URI we send it to, the tags, Call-ID,
// CSeq number and Proxy-Require/Proxy-Authorization. The same request coming
// back with the same values is a loop; one whose Request-URI was changed on
// the way is a spiral, which is legal.
func loopHash(r *Request, ruri *URI) string {
	h := newFNV()
	h.uri(ruri)
	h.byte(0)
	h.str(fromTag(r))
	h.byte(0)
	h.str(toTag(r))
	h.byte(0)
	h.str(callID(r))
	h.byte(0)
	if c := r.CSeq(); c != nil {
		h.uint(uint64(c.SeqNo))
	}
	for _, hd := range r.Headers() {
		switch hd.Name() {
		case "Proxy-Require", "Proxy-Authorization":
			h.byte(0)
			h.str(hd.Value())
		}
	}
	var b [13]byte
	return string(strconv.AppendUint(b[:0], uint64(h), 36))
}

// fnv64a is FNV-1a over strings without the []byte conversions of the
// hash.Hash interface.
type fnv64a uint64

func newFNV() fnv64a { return 14695981039346656037 }

func (h *fnv64a) byte(c byte) { *h = (*h ^ fnv64a(c)) * 1099511628211 }

func (h *fnv64a) str(s string) {
	for i := 0; i < len(s); i++ {
		h.byte(s[i])
	}
}

func (h *fnv64a) uint(n uint64) {
	for {
		h.byte(byte('0' + n%10))
		if n < 10 {
			return
		}
		n /= 10
	}
}

// uri feeds the parts of u that make it a different URI.
func (h *fnv64a) uri(u *URI) {
	h.str(u.Scheme)
	h.byte(':')
	h.str(u.User)
	h.byte('@')
	h.str(u.Host)
	h.byte(':')
	h.uint(uint64(u.Port))
	for _, kv := range u.UriParams {
		h.byte(';')
		h.str(kv.K)
		h.byte('=')
		h.str(kv.V)
	}
}

// looped reports whether r already passed through us with the same loop
// hash: one of its Vias is ours and carries hash.
func (s *Server) looped(r *Request, hash string) bool {
	for _, h := range r.Headers() {
		v, ok := h.(*sipmsg.ViaHeader)
		if !ok || !s.local.isOurVia(v) {
			continue
		}
		b, _ := v.Params.Get("branch")
		if i := strings.LastIndexByte(b, '.'); i >= 0 && strings.HasPrefix(b, branchPrefix) && b[i+1:] == hash {
			return true
		}
	}
	return false
}

// isOurVia reports whether a Via's sent-by is one we write.
func (l *Local) isOurVia(v *sipmsg.ViaHeader) bool {
	for _, ls := range l.listens {
		if strings.EqualFold(ls.host, v.Host) && (ls.port == v.Port || (v.Port == 0 && ls.port == sipmsg.DefaultPort(v.Transport))) {
			return true
		}
	}
	return false
}

// checkMaxForwards refuses a request that may not be forwarded further
// (RFC 3261 §16.3 step 3).
func checkMaxForwards(r *Request) error {
	if mf := r.MaxForwards(); mf != nil && mf.Val() == 0 {
		return Reject(483, "Too Many Hops")
	}
	return nil
}

// decMaxForwards sets Max-Forwards on the copy b of r to one less than r's
// (70 when r had none). It writes a new header: the relay copy shares r's.
func decMaxForwards(b, r *Request) {
	n := uint32(70)
	if mf := r.MaxForwards(); mf != nil {
		n = mf.Val() - 1
	}
	h := sipmsg.MaxForwardsHeader(n)
	if b.MaxForwards() != nil {
		b.ReplaceHeader(&h)
	} else {
		b.AppendHeader(&h)
	}
}

// markReceived writes received and rport into the top Via of b, the copy
// of r (RFC 3261 §18.2.1, RFC 3581 §4), so that responses find their way
// back to a NATed sender.
func markReceived(b, r *Request) {
	v := b.Via()
	if v == nil {
		return
	}
	host, port, err := net.SplitHostPort(r.Source())
	if err != nil {
		return
	}
	if v.Params.Has("rport") {
		v.Params.Add("rport", port)
		v.Params.Add("received", host)
	} else if v.Host != host {
		v.Params.Add("received", host)
	}
}

// hideCallerVias keeps the Via header fields of b, a copy of an INVITE about
// to get our Via on top, out of sight of sipgo while leaving the wire as it
// was: the next hop reads the same Via lines, in their long form, in the
// same order, under ours. What sipgo must not see is the hop-by-hop ACK
// its client transaction builds for a 3xx-6xx answer (a 486, the 487 after
// a CANCEL): it copies every header field named "Via" of the INVITE into
// it, where RFC 3261 §17.1.1.3 wants exactly one, the INVITE's top Via
// (ours).
//
// The caller's Vias therefore travel in the name of the Max-Forwards
// field, which every forwarded request has (decMaxForwards runs first) and
// which neither sipgo's ACK nor our CANCEL copies: sipgo writes a field as
// its name, ": ", its value, so a field named "Via: A\r\nVia: B\r\nMax-Forwards"
// with the value "69" is, on the wire, the lines Via: A, Via: B and
// Max-Forwards: 69. It sits right under ours (addVia prepends after this).
// The compact form ("v:") once did the same job with less cunning, but
// SIPp's [last_Via:], the shared harness's UAS, copies only long-form
// Vias into its answers, and answers without the caller's Via reached the
// caller with no Via at all.
func hideCallerVias(b *Request) {
	vias := HeadersNamed(b, "Via")
	mf := b.MaxForwards()
	if len(vias) == 0 || mf == nil {
		return
	}
	// Every one: RemoveHeader takes the first only, and a request that
	// passed another proxy has several (compact ones are read as Via).
	for b.RemoveHeader("Via") {
	}
	b.RemoveHeader("Max-Forwards")
	b.PrependHeader(sipmsg.NewHeader(viaCarrierName(vias), mf.Value()))
}

// viaCarrierName returns the name of the field that carries vias (see
// hideCallerVias): each as a long-form Via line, then "Max-Forwards".
func viaCarrierName(vias []sipmsg.Header) string {
	var sb strings.Builder
	for _, v := range vias {
		sb.WriteString("Via: ")
		sb.WriteString(v.Value())
		sb.WriteString("\r\n")
	}
	sb.WriteString("Max-Forwards")
	return sb.String()
}

// addVia prepends our Via for transport and points b at the listener that
// sends it.
func (s *Server) addVia(b *Request, transport, branch string) error {
	ls, ok := s.local.listen(transport)
	if !ok {
		return Rejectf(503, "Service Unavailable", errNoListener(transport))
	}
	b.PrependHeader(&sipmsg.ViaHeader{
		ProtocolName:    "SIP",
		ProtocolVersion: "2.0",
		Transport:       transport,
		Host:            ls.host,
		Port:            ls.port,
		Params:          sipmsg.HeaderParams{{K: "branch", V: branch}},
	})
	b.SetTransport(transport)
	if transport == "UDP" {
		// Send from the listening socket, so that the peer's responses and
		// in-dialog requests come back to the address in our Via.
		b.Laddr = ls.laddr
	} else {
		// A local address pins a pooled TCP connection by our side's
		// address, which may be another peer's: let the pool choose.
		b.Laddr = sipmsg.Addr{}
	}
	return nil
}

type errNoListener string

func (e errNoListener) Error() string { return "sip: no listener for transport " + string(e) }

// prepare builds the request for one branch of r towards t (RFC 3261 §16.6):
// the copy's Request-URI, Max-Forwards, our Route popped, received/rport,
// our Via and, for dialog-creating requests, our Record-Route (two of them,
// RFC 5658, when the request changes transport).
func (s *Server) prepare(r *Request, t Target, recordRoute bool) (*Request, error) {
	b := relayCopy(r, &t.URI)
	// A preloaded Route to us (a phone's outbound proxy setting), then the
	// target's route set (a binding's Path), without our own entries.
	hop, err := s.routeTarget(b, r, t)
	if err != nil {
		return nil, err
	}
	route := hop.route
	if route == nil && hop.addr == "" && s.local.IsLocal(&t.URI) {
		return nil, Reject(404, "Not Found")
	}
	hash := loopHash(r, &t.URI)
	if s.looped(r, hash) {
		return nil, Reject(482, "Loop Detected")
	}
	decMaxForwards(b, r)
	markReceived(b, r)
	if r.IsInvite() {
		hideCallerVias(b)
	}
	tp := hop.transport
	secure := isSIPS(&r.Recipient) || isSIPS(&t.URI) || (route != nil && isSIPS(route))
	if err := s.securePath(secure, tp); err != nil {
		return nil, err
	}
	branch := newBranch(hash)
	if !r.IsInvite() {
		branch = stableBranch(r, &t.URI, hash)
	}
	if err := s.addVia(b, tp, branch); err != nil {
		return nil, err
	}
	if recordRoute {
		sig := s.rr.sign(callID(r), fromTag(r))
		in := strings.ToUpper(r.Transport())
		if in != tp {
			if ls, ok := s.local.listen(in); ok {
				b.PrependHeader(&sipmsg.RecordRouteHeader{Address: ls.recordRoute(sig, secure)})
			}
		}
		ls, _ := s.local.listen(tp)
		u := ls.recordRoute(sig, secure)
		// Sent over a phone's flow: our entry facing it names the flow, so
		// that the dialog's requests towards the phone take it too (RFC
		// 5626 §5.3), with no state of ours.
		u.User = hop.token
		b.PrependHeader(&sipmsg.RecordRouteHeader{Address: u})
	}
	b.SetDestination(hop.addr)
	return b, nil
}

// prepareInDialog builds the request that relays the in-dialog request r
// (RFC 3261 §16.4, §16.6): strict-router fix-up, our Routes popped, then
// Max-Forwards, received/rport and our Via. It admits r only when it
// belongs to a dialog we routed (see DialogRelay) and returns the dialog
// entry it matched, if any, and whether r came from the caller.
func (s *Server) prepareInDialog(r *Request) (b *Request, e *dialogEntry, fromCaller bool, err error) {
	b = relayCopy(r, &r.Recipient)
	popped, signed := false, false
	var last *URI
	var fl flow
	flowToken := ""
	var flowErr error
	check := func(u *URI) {
		if sig, ok := u.UriParams.Get(routeParam); ok && !signed {
			id := callID(r)
			signed = s.rr.verify(sig, id, fromTag(r)) || s.rr.verify(sig, id, toTag(r))
		}
		// Our Record-Route entry facing a phone's flow names it.
		switch f, ok, err := s.routeFlow(u); {
		case err != nil:
			flowErr = err
		case ok:
			fl, flowToken = f, u.User
		}
	}
	if topRoute(b) != nil && s.local.IsLocal(&b.Recipient) {
		// The previous hop is a strict router: it put our Record-Route URI
		// in the Request-URI and the remote target in the last Route.
		u := b.Recipient
		b.Recipient = popLastRoute(b)
		check(&u)
		last = &u
		popped = true
	}
	for rt := topRoute(b); rt != nil && s.local.IsLocal(&rt.Address); rt = topRoute(b) {
		u := rt.Address
		check(&u)
		last = &u
		b.RemoveHeader("Route")
		popped = true
	}
	if flowErr != nil {
		return nil, nil, false, flowErr
	}
	e, fromCaller = s.dialogs.match(r)
	switch {
	case e != nil:
		if !s.dialogs.admits(e, r, fromCaller, &b.Recipient) {
			s.metrics.inDialogRefused.WithLabelValues("not-a-party").Inc()
			return nil, nil, false, Reject(403, "Forbidden: Not a Party of This Dialog")
		}
	case signed:
		// A dialog we routed that is not in our table.
	case popped:
		s.metrics.inDialogRefused.WithLabelValues("bad-signature").Inc()
		return nil, nil, false, Reject(403, "Forbidden: Route Not Issued by This Proxy")
	default:
		s.metrics.inDialogRefused.WithLabelValues("unknown-dialog").Inc()
		return nil, nil, false, Reject(481, "Call/Transaction Does Not Exist")
	}
	next := &b.Recipient
	var hopAddr, hopTransport string
	hasHop := false
	if rt := topRoute(b); rt != nil {
		next = &rt.Address
	} else if flowToken != "" && !arrivedOver(r, fl) {
		// Towards the phone at the end of a flow of ours (RFC 5626 §5.3):
		// over that flow, whatever its Contact says, or 430.
		if !s.flowAlive(fl) {
			s.metrics.flows.WithLabelValues(flowFailed).Inc()
			return nil, nil, false, errFlowFailed(fl)
		}
		s.metrics.flows.WithLabelValues(flowRelayed).Inc()
		hopAddr, hopTransport, hasHop = fl.addr.String(), fl.transport, true
	} else if s.local.IsLocal(next) {
		return nil, nil, false, Reject(481, "Call/Transaction Does Not Exist")
	} else if e != nil {
		// The next hop is the other end itself: behind a NAT, or on a
		// connection it opened, it is reached where the dialog saw it.
		to := CalleeSide
		if !fromCaller {
			to = CallerSide
		}
		hopAddr, hopTransport, hasHop = s.dialogs.hop(e, to, next)
	}
	tp := "UDP"
	if _, ok := next.UriParams.Get("transport"); ok || next.Scheme == "sips" {
		tp = uriTransport(next)
	} else if last != nil {
		if _, ok := last.UriParams.Get("transport"); ok {
			// The Route we popped last is our interface towards the next hop
			// (with double Record-Route it differs from the inbound one).
			tp = uriTransport(last)
		}
	}
	if hasHop && hopTransport != "" {
		tp = hopTransport
	}
	if err := s.securePath(isSIPS(&r.Recipient) || isSIPS(next), tp); err != nil {
		return nil, nil, false, err
	}
	decMaxForwards(b, r)
	markReceived(b, r)
	if r.IsInvite() {
		hideCallerVias(b)
	}
	branch := newBranch("")
	if !r.IsInvite() && !r.IsAck() {
		branch = stableBranch(r, next, "")
	}
	if err := s.addVia(b, tp, branch); err != nil {
		return nil, nil, false, err
	}
	b.SetDestination(hopAddr)
	return b, e, fromCaller, nil
}

// popLastRoute removes the last Route header of b and returns its URI.
func popLastRoute(b *Request) URI {
	routes := HeadersNamed(b, "Route")
	last := routes[len(routes)-1].(*sipmsg.RouteHeader).Address
	for range routes {
		b.RemoveHeader("Route")
	}
	for _, h := range routes[:len(routes)-1] {
		b.AppendHeader(h)
	}
	return last
}

// upstream turns a downstream response into the one to relay upstream:
// the same message without our Via (RFC 3261 §16.7 step 3). It edits res in
// place: once the client transaction has passed a response up, sipgo does
// not read it again (the ACK of a non-2xx is built before, from the same
// headers), so the copy a clone would make is not needed.
func upstream(res *Response) *Response {
	res.RemoveHeader("Via")
	return res
}

// cancelRequest builds the CANCEL for the forwarded request b (RFC 3261
// §9.1): same Request-URI, top Via, Route, From, To, Call-ID and CSeq
// number; sent where b went.
func cancelRequest(b *Request, reason string) *Request {
	c := sipmsg.NewRequest(CANCEL, *b.Recipient.Clone())
	c.AppendHeader(b.Via().Clone())
	for _, h := range HeadersNamed(b, "Route") {
		c.AppendHeader(sipmsg.HeaderClone(h))
	}
	mf := sipmsg.MaxForwardsHeader(70)
	c.AppendHeader(&mf)
	if h := b.From(); h != nil {
		c.AppendHeader(sipmsg.HeaderClone(h))
	}
	if h := b.To(); h != nil {
		c.AppendHeader(sipmsg.HeaderClone(h))
	}
	if h := b.CallID(); h != nil {
		c.AppendHeader(sipmsg.HeaderClone(h))
	}
	seq := uint32(0)
	if cs := b.CSeq(); cs != nil {
		seq = cs.SeqNo
	}
	c.AppendHeader(&sipmsg.CSeqHeader{SeqNo: seq, MethodName: CANCEL})
	if reason != "" {
		c.AppendHeader(sipmsg.NewHeader("Reason", reason))
	}
	c.SetBody(nil)
	c.SetTransport(b.Transport())
	c.SetDestination(b.Destination())
	c.Laddr = b.Laddr
	return c
}

// dialogRequest builds an ACK or BYE of the dialog a 2xx to the forwarded
// INVITE b created, sent by the proxy itself (the answer lost the race with
// the caller's CANCEL). The route set is the 2xx's Record-Route reversed,
// without our own entries (RFC 3261 §12.1.2).
func (s *Server) dialogRequest(method Method, b *Request, res *Response, seq uint32, nextHop string) (*Request, error) {
	target := b.Recipient
	if c := res.Contact(); c != nil {
		target = c.Address
	}
	req := sipmsg.NewRequest(method, *target.Clone())
	rrs := HeadersNamed(res, "Record-Route")
	var first *URI
	for i := len(rrs) - 1; i >= 0; i-- {
		rr, ok := rrs[i].(*sipmsg.RecordRouteHeader)
		if !ok || s.local.IsLocal(&rr.Address) {
			continue
		}
		rh := &sipmsg.RouteHeader{Address: *rr.Address.Clone()}
		if first == nil {
			first = &rh.Address
		}
		req.AppendHeader(rh)
	}
	mf := sipmsg.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	if h := b.From(); h != nil {
		req.AppendHeader(sipmsg.HeaderClone(h))
	}
	if h := res.To(); h != nil {
		req.AppendHeader(sipmsg.HeaderClone(h))
	}
	if h := b.CallID(); h != nil {
		req.AppendHeader(sipmsg.HeaderClone(h))
	}
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: seq, MethodName: method})
	req.SetBody(nil)
	next := &req.Recipient
	if first != nil {
		next = first
	}
	if err := s.addVia(req, uriTransport(next), newBranch("")); err != nil {
		return nil, err
	}
	if first == nil {
		req.SetDestination(nextHop)
	}
	return req, nil
}

func isSIPS(u *URI) bool { return strings.EqualFold(u.Scheme, "sips") }

// securePath refuses to send a secure request (its Request-URI, as
// received or as retargeted, or its next Route is a sips URI) over
// transport tp unless tp is TLS or WSS: RFC 3261 §26.2 and RFC 5630 §3
// (every hop of a sips request is secured). With no TLS or WSS listener
// the proxy cannot forward sips at all (416 Unsupported URI Scheme); with
// one but a target reachable only in the clear (a phone registered over
// UDP), there is no secure path to that target (480).
func (s *Server) securePath(secure bool, tp string) error {
	if !secure {
		return nil
	}
	if tp == "TLS" || tp == "WSS" {
		return nil
	}
	_, tls := s.local.listen("TLS")
	_, wss := s.local.listen("WSS")
	if !tls && !wss {
		return Reject(416, "Unsupported URI Scheme")
	}
	return Reject(480, "No Secure Path")
}
