package sip

import (
	"net"
	"net/netip"
	"strconv"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// dialogEnds is what the dialog table knows of the two ends of a call:
// enough to tell whether an in-dialog request goes from one end to the
// other (admits), and to send requests of the proxy's own to either end
// (Server.Hangup). It takes no allocation of its own beyond the callees'
// slice: the strings it keeps are the messages' own.
type dialogEnds struct {
	// caller holds the caller's targets, callees each callee that
	// answered or opened an early dialog, by its tag.
	caller  targetSet
	callees []calleeEnd

	// callerHop is the caller's remote target (the INVITE's Contact) and
	// where to send to it (the INVITE's source when the contact is not
	// reachable as it stands: a NAT, a TCP or WebSocket connection);
	// calleeHop the answering callee's and the branch's next hop.
	callerHop hop
	calleeHop hop
	// toCallee and toCaller are the route sets from the proxy to each end:
	// the Record-Route entries of the 2xx below and above ours.
	toCallee, toCaller []URI
	// seq is the highest CSeq seen from each end (Side).
	seq [2]uint32
}

// hop is where requests for an end go when not where its contact says.
type hop struct {
	target    remoteTarget // the contact it stands in for
	nextHop   string       // "ip:port"; empty: the contact itself
	transport string
}

// calleeEnd is one UA that answered a call (or several, when it forked):
// its To tag and the targets it gave in its Contact headers.
type calleeEnd struct {
	tag     string
	targets targetSet
}

// remoteTarget identifies a remote target for admits: user, host (without
// an IPv6 literal's brackets, compared without case) and port (the
// transport's default when absent).
type remoteTarget struct {
	user, host string
	port       int
}

func targetOf(u *URI) remoteTarget {
	port := u.Port
	if port == 0 {
		port = sipmsg.DefaultPort(uriTransport(u))
	}
	return remoteTarget{user: u.User, host: strings.Trim(u.Host, "[]"), port: port}
}

func (a remoteTarget) is(b remoteTarget) bool {
	return a.port == b.port && a.user == b.user && strings.EqualFold(a.host, b.host)
}

// maxEndTargets bounds the targets an end keeps (a target refresh adds
// one, the oldest goes); maxCallees the callees of a call (the branches of
// a fork that sent a provisional response with a tag).
const (
	maxEndTargets = 4
	maxCallees    = 16
)

// targetSet is a bounded set of targets.
type targetSet struct {
	t [maxEndTargets]remoteTarget
	n int
}

func (s *targetSet) has(x remoteTarget) bool {
	for i := range s.n {
		if s.t[i].is(x) {
			return true
		}
	}
	return false
}

// add adds x, dropping the oldest beyond the bound.
func (s *targetSet) add(x remoteTarget) {
	if s.has(x) {
		return
	}
	if s.n == maxEndTargets {
		copy(s.t[:], s.t[1:])
		s.n--
	}
	s.t[s.n] = x
	s.n++
}

// callee returns the callee end with tag, or nil.
func (e *dialogEntry) callee(tag string) *calleeEnd {
	for i := range e.ends.callees {
		if e.ends.callees[i].tag == tag {
			return &e.ends.callees[i]
		}
	}
	return nil
}

// noteCallee records the UA behind the response res of the branch to
// target: its tag and its Contact (the branch's Request-URI when it gave
// none). Responses without a tag open no dialog and are ignored.
func (t *Dialogs) noteCallee(e *dialogEntry, target Target, res *Response) {
	tag := toTag(res)
	if tag == "" {
		return
	}
	tt := targetOf(&target.URI)
	if c := res.Contact(); c != nil {
		tt = targetOf(&c.Address)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.callee(tag); c != nil {
		c.targets.add(tt)
		return
	}
	if len(e.ends.callees) < maxCallees {
		ce := calleeEnd{tag: tag}
		ce.targets.add(tt)
		e.ends.callees = append(e.ends.callees, ce)
	}
}

// admits reports whether the in-dialog request r, matched to e, comes from
// one end of the dialog and goes to the other (OpenSIPS's
// validate_dialog): its tags are the caller's and those of a callee that
// answered, and target, its remote target (the Request-URI after any
// strict-router fix-up), is one the other end gave as its Contact. A
// request that passes refreshes its sender's target when it carries a
// Contact (RFC 3261 §12.2.1.2: re-INVITE and UPDATE are target refresh
// requests; only the sender's own end changes, so no party can add a
// target for the other).
func (t *Dialogs) admits(e *dialogEntry, r *Request, fromCaller bool, target *URI) bool {
	to := targetOf(target)
	var contact remoteTarget
	hasContact := false
	if c := r.Contact(); c != nil {
		contact, hasContact = targetOf(&c.Address), true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if fromCaller {
		c := e.callee(toTag(r))
		if c == nil || !c.targets.has(to) {
			return false
		}
		if hasContact {
			e.ends.caller.add(contact)
		}
		e.ends.noteSeq(CallerSide, r)
		return true
	}
	c := e.callee(fromTag(r))
	if c == nil || !e.ends.caller.has(to) {
		return false
	}
	if hasContact {
		c.targets.add(contact)
	}
	e.ends.noteSeq(CalleeSide, r)
	return true
}

// noteRefresh records the Contact of a 2xx to an in-dialog request: the
// answering end's new target. fromCaller says who sent the request (the
// other end answered it).
func (t *Dialogs) noteRefresh(e *dialogEntry, r *Request, fromCaller bool, res *Response) {
	c := res.Contact()
	if c == nil {
		return
	}
	tt := targetOf(&c.Address)
	e.mu.Lock()
	defer e.mu.Unlock()
	if !fromCaller {
		e.ends.caller.add(tt)
		return
	}
	if ce := e.callee(toTag(r)); ce != nil {
		ce.targets.add(tt)
	}
}

// noteCaller records the caller's end from the initial INVITE r.
func (en *dialogEnds) noteCaller(r *Request) {
	if cs := r.CSeq(); cs != nil {
		en.seq[CallerSide] = cs.SeqNo
	}
	c := r.Contact()
	if c == nil {
		return
	}
	tt := targetOf(&c.Address)
	en.caller.add(tt)
	en.callerHop = hopTo(tt, r.Source(), r.Transport())
}

// hopTo returns where to send requests for an end whose remote target is
// contact and whose requests come from source over transport: to the
// contact itself when it names where the requests come from, else to the
// source, over the same transport (a TCP, TLS or WebSocket connection is
// reused; a NATed phone's contact names an address nobody can reach, as
// OpenSIPS's nathelper finds with nat_uac_test and fixes with
// fix_nated_contact).
func hopTo(contact remoteTarget, source, transport string) hop {
	h := hop{target: contact, transport: strings.ToUpper(transport)}
	host, port, err := net.SplitHostPort(source)
	if err != nil {
		return h
	}
	same := strings.EqualFold(contact.host, host) && strconv.Itoa(contact.port) == port
	switch {
	case same:
	case h.transport != "UDP":
		h.nextHop = source // the connection the end opened
	case isPrivateHost(contact.host):
		h.nextHop = source // a NAT
	}
	return h
}

// isPrivateHost reports whether host is an IP address no one outside its
// network can reach (RFC 1918, RFC 6598, RFC 4193, link-local).
func isPrivateHost(host string) bool {
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return false
	}
	return ip.IsPrivate() || ip.IsLinkLocalUnicast() || shared.Contains(ip.Unmap())
}

// shared is RFC 6598's shared address space (carrier-grade NAT).
var shared = netip.MustParsePrefix("100.64.0.0/10")

// noteAnswer records the answering callee's end from its 2xx: its remote
// target, the next hop of the branch it answered on, and the route sets
// both ways (RFC 3261 §12.1.1: the 2xx's Record-Route entries; those above
// ours lead to the callee, those below to the caller). local tells our
// entries.
func (en *dialogEnds) noteAnswer(local *Local, target Target, res *Response) {
	contact := &target.URI
	if c := res.Contact(); c != nil {
		contact = &c.Address
	}
	en.calleeHop = hop{target: targetOf(contact), nextHop: target.NextHop, transport: target.transport(nil)}
	rrs := HeadersNamed(res, "Record-Route")
	first, last := -1, -1
	for i, h := range rrs {
		if rr, ok := h.(*sipmsg.RecordRouteHeader); ok && local != nil && local.IsLocal(&rr.Address) {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return
	}
	en.toCallee, en.toCaller = nil, nil
	for i := first - 1; i >= 0; i-- {
		if rr, ok := rrs[i].(*sipmsg.RecordRouteHeader); ok {
			en.toCallee = append(en.toCallee, *rr.Address.Clone())
		}
	}
	for _, h := range rrs[last+1:] {
		if rr, ok := h.(*sipmsg.RecordRouteHeader); ok {
			en.toCaller = append(en.toCaller, *rr.Address.Clone())
		}
	}
}

// noteSeq records the CSeq of an in-dialog request from side.
func (en *dialogEnds) noteSeq(from Side, r *Request) {
	if cs := r.CSeq(); cs != nil && cs.SeqNo > en.seq[from] && r.Method != ACK && r.Method != CANCEL {
		en.seq[from] = cs.SeqNo
	}
}

// hop returns where to send an in-dialog request for the end to, whose
// remote target is target, when that end is known to be reachable only
// elsewhere (see hopTo): a NATed phone, a connection. ok is false when the
// request goes where its Request-URI says.
func (t *Dialogs) hop(e *dialogEntry, to Side, target *URI) (next, transport string, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.ends.callerHop
	if to == CalleeSide {
		h = e.ends.calleeHop
	}
	if h.nextHop == "" || !h.target.is(targetOf(target)) {
		return "", "", false
	}
	return h.nextHop, h.transport, true
}
