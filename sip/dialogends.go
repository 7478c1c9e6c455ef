package sip

import (
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// dialogEnds is what the dialog table knows of the two ends of a call:
// enough to tell whether an in-dialog request goes from one end to the
// other (admits), and to send requests of the proxy's own to either end
// (Server.Hangup).
type dialogEnds struct {
	// caller holds the caller's targets (targetKey), callees each callee
	// that answered or opened an early dialog, by its tag.
	caller  []string
	callees []calleeEnd

	// The headers that name the two ends: the INVITE's From (with the
	// caller's tag) and To (without a tag).
	from *sipmsg.FromHeader
	to   *sipmsg.ToHeader
	// callerContact is the caller's remote target, callerHop where to
	// send to it (the INVITE's source and transport when the contact is
	// not reachable as it stands: a NAT, a TCP or WebSocket connection).
	callerContact URI
	callerHop     Target
	// calleeContact is the answering callee's remote target, calleeHop
	// the branch's next hop and transport.
	calleeContact URI
	calleeHop     Target
	// toCallee and toCaller are the route sets from the proxy to each end:
	// the Record-Route entries of the 2xx below and above ours.
	toCallee, toCaller []URI
	// seq is the highest CSeq seen from each end (Side).
	seq [2]uint32
}

// calleeEnd is one UA that answered a call (or several, when it forked):
// its To tag and the targets it gave in its Contact headers.
type calleeEnd struct {
	tag     string
	targets []string
}

// The bounds of what a dialog remembers of its ends: targets per end
// (a target refresh adds one, the oldest goes), and callees per call (the
// branches of a fork that sent a provisional response with a tag).
const (
	maxEndTargets = 4
	maxCallees    = 16
)

// targetKey is what identifies a remote target for admits: user, host and
// port (the transport's default when absent), host in lower case.
func targetKey(u *URI) string {
	port := u.Port
	if port == 0 {
		port = sipmsg.DefaultPort(uriTransport(u))
	}
	var b [8]byte
	return u.User + "@" + strings.ToLower(strings.Trim(u.Host, "[]")) + ":" + string(strconv.AppendInt(b[:0], int64(port), 10))
}

// addTarget appends key to targets, dropping the oldest beyond the bound.
func addTarget(targets []string, key string) []string {
	if slices.Contains(targets, key) {
		return targets
	}
	if len(targets) >= maxEndTargets {
		targets = slices.Delete(targets, 0, 1)
	}
	return append(targets, key)
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
	key := targetKey(&target.URI)
	if c := res.Contact(); c != nil {
		key = targetKey(&c.Address)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.callee(tag); c != nil {
		c.targets = addTarget(c.targets, key)
		return
	}
	if len(e.ends.callees) < maxCallees {
		e.ends.callees = append(e.ends.callees, calleeEnd{tag: tag, targets: []string{key}})
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
	key := targetKey(target)
	var contact string
	if c := r.Contact(); c != nil {
		contact = targetKey(&c.Address)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if fromCaller {
		c := e.callee(toTag(r))
		if c == nil || !slices.Contains(c.targets, key) {
			return false
		}
		if contact != "" {
			e.ends.caller = addTarget(e.ends.caller, contact)
		}
		e.ends.noteSeq(CallerSide, r)
		return true
	}
	c := e.callee(fromTag(r))
	if c == nil || !slices.Contains(e.ends.caller, key) {
		return false
	}
	if contact != "" {
		c.targets = addTarget(c.targets, contact)
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
	key := targetKey(&c.Address)
	e.mu.Lock()
	defer e.mu.Unlock()
	if !fromCaller {
		e.ends.caller = addTarget(e.ends.caller, key)
		return
	}
	if ce := e.callee(toTag(r)); ce != nil {
		ce.targets = addTarget(ce.targets, key)
	}
}

// noteCaller records the caller's end from the initial INVITE r.
func (en *dialogEnds) noteCaller(r *Request) {
	if f := r.From(); f != nil {
		en.from = sipmsg.HeaderClone(f).(*sipmsg.FromHeader)
	}
	if to := r.To(); to != nil {
		en.to = sipmsg.HeaderClone(to).(*sipmsg.ToHeader)
	}
	if cs := r.CSeq(); cs != nil {
		en.seq[CallerSide] = cs.SeqNo
	}
	c := r.Contact()
	if c == nil {
		return
	}
	en.caller = []string{targetKey(&c.Address)}
	en.callerContact = *c.Address.Clone()
	en.callerHop = hopTo(&en.callerContact, r.Source(), r.Transport())
}

// hopTo returns where to send requests for an end whose remote target is
// contact and whose requests come from source over transport: to the
// contact itself when it names where the requests come from, else to the
// source, over the same transport (a TCP, TLS or WebSocket connection is
// reused; a NATed phone's contact names an address nobody can reach, as
// OpenSIPS's nathelper finds with nat_uac_test and fixes with
// fix_nated_contact).
func hopTo(contact *URI, source, transport string) Target {
	hop := Target{URI: *contact, Transport: strings.ToUpper(transport)}
	if source == "" {
		return hop
	}
	host, port, err := net.SplitHostPort(source)
	if err != nil {
		return hop
	}
	cport := contact.Port
	if cport == 0 {
		cport = sipmsg.DefaultPort(hop.Transport)
	}
	same := strings.EqualFold(strings.Trim(contact.Host, "[]"), host) && strconv.Itoa(cport) == port
	switch {
	case same:
	case hop.Transport != "UDP":
		hop.NextHop = source // the connection the end opened
	case isPrivateHost(contact.Host):
		hop.NextHop = source // a NAT
	}
	return hop
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
	if c := res.Contact(); c != nil {
		en.calleeContact = *c.Address.Clone()
	} else {
		en.calleeContact = *target.URI.Clone()
	}
	en.calleeHop = Target{URI: en.calleeContact, NextHop: target.NextHop, Transport: target.transport(nil)}
	rrs := res.GetHeaders("Record-Route")
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
func (t *Dialogs) hop(e *dialogEntry, to Side, target *URI) (hop Target, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h, contact := e.ends.callerHop, &e.ends.callerContact
	if to == CalleeSide {
		h, contact = e.ends.calleeHop, &e.ends.calleeContact
	}
	if h.NextHop == "" || contact.Host == "" || targetKey(contact) != targetKey(target) {
		return Target{}, false
	}
	return h, true
}
