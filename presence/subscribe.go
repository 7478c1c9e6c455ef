package presence

import (
	"context"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
)

// EventPackage is the only event package served: dialog (RFC 4235).
const EventPackage = "dialog"

// ServeSIP answers a SUBSCRIBE (set it as sip.ServeMux.Presence, behind
// the registrar's Authenticate):
//
//   - Event other than dialog: 489 Bad Event with Allow-Events (RFC 6665
//     §4.2.1); PUBLISH: 405 (the state comes from the dialog table).
//   - initial SUBSCRIBE: the watcher (registrar.IdentityFrom) must belong
//     to the watched AOR's domain (or pass Config.Authorize), else 403; a non-zero Expires below
//     MinExpires gets 423 with Min-Expires; Expires above MaxExpires is
//     cut down. 202 Accepted with Expires and Contact, then a NOTIFY with
//     the full state of the AOR's calls. Expires 0 is a fetch: one NOTIFY,
//     already terminated.
//   - in-dialog SUBSCRIBE: a refresh (202 and a NOTIFY), or with Expires 0
//     an unsubscribe (202 and a final NOTIFY, terminated;reason=timeout);
//     481 when it matches no subscription.
func (p *Presence) ServeSIP(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
	if r.Method != sip.SUBSCRIBE {
		res := sip.NewResponse(r, 405, "")
		res.AppendHeader(sip.NewHeader("Allow", "SUBSCRIBE"))
		return &sip.StatusError{Code: 405, Response: res}
	}
	pkg, eventID := event(r)
	switch {
	case strings.EqualFold(pkg, EventPackage):
		pkg = EventPackage
	case strings.EqualFold(pkg, MessageSummary):
		pkg = MessageSummary
	default:
		res := sip.NewResponse(r, 489, "Bad Event")
		res.AppendHeader(sip.NewHeader("Allow-Events", EventPackage+", "+MessageSummary))
		return &sip.StatusError{Code: 489, Response: res}
	}
	expires := p.cfg.DefaultExpires
	if h := sip.FirstHeader(r, "Expires"); h != nil {
		n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
		if err != nil {
			return sip.Reject(400, "Bad Expires")
		}
		expires = time.Duration(n) * time.Second
	}
	if expires != 0 && expires < p.cfg.MinExpires {
		res := sip.NewResponse(r, 423, "Interval Too Brief")
		res.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(int(p.cfg.MinExpires/time.Second))))
		return &sip.StatusError{Code: 423, Response: res}
	}
	expires = min(expires, p.cfg.MaxExpires)
	id, ok := registrar.IdentityFrom(ctx)
	if !ok {
		// Presence runs behind Authenticate: no identity means no
		// authentication was asked for, and nobody may watch anonymously.
		return sip.Reject(403, "Forbidden")
	}
	if ct := contentTypeOf(pkg); !accepts(r, ct) {
		res := sip.NewResponse(r, 406, "Not Acceptable")
		res.AppendHeader(sip.NewHeader("Accept", ct))
		return &sip.StatusError{Code: 406, Response: res}
	}
	if tag := r.To().Params; tag.Has("tag") {
		return p.refresh(ctx, w, r, id, expires)
	}
	return p.subscribe(ctx, w, r, id, expires, pkg, eventID)
}

// event returns the Event header's package and id parameter.
func event(r *sip.Request) (pkg, id string) {
	h := sip.FirstHeader(r, "Event")
	if h == nil {
		h = sip.FirstHeader(r, "o")
	}
	if h == nil {
		return "", ""
	}
	parts := strings.Split(h.Value(), ";")
	pkg = strings.TrimSpace(parts[0])
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "id") {
			id = v
		}
	}
	return pkg, id
}

// accepts reports whether the SUBSCRIBE's Accept headers, if any, allow
// the content type ct.
func accepts(r *sip.Request, ct string) bool {
	hs := sip.HeadersNamed(r, "Accept")
	if len(hs) == 0 {
		return true
	}
	for _, h := range hs {
		for _, t := range strings.Split(h.Value(), ",") {
			t, _, _ = strings.Cut(t, ";")
			switch strings.ToLower(strings.TrimSpace(t)) {
			case ct, "*/*", "application/*":
				return true
			}
		}
	}
	return false
}

// subscribe serves an initial SUBSCRIBE.
func (p *Presence) subscribe(ctx context.Context, w sip.ResponseWriter, r *sip.Request, id registrar.Identity, expires time.Duration, pkg, eventID string) error {
	ruri := r.Recipient
	if ruri.User == "" {
		return sip.Reject(404, "Not Found")
	}
	domain := ruri.Host
	if net.ParseIP(strings.Trim(domain, "[]")) != nil {
		// A phone that names the proxy by address means its own domain.
		domain = id.Domain
	}
	aor := aorKey(ruri.User, domain)
	allowed := strings.EqualFold(domain, id.Domain)
	if p.cfg.Authorize != nil {
		allowed = p.cfg.Authorize(id, aor)
	} else if allowed {
		p.mu.Lock()
		allowed = p.rules.allows(aor, aorKey(id.Username, id.Domain))
		p.mu.Unlock()
	}
	if !allowed {
		return sip.Reject(403, "Forbidden")
	}
	c := r.Contact()
	if c == nil {
		return sip.Reject(400, "Missing Contact")
	}
	now := p.now()
	s := &subscription{aor: aor, contact: *c.Address.Clone()}
	s.Key = Key{CallID: r.CallID().Value(), ToTag: newTag(), FromTag: r.From().Params.GetOr("tag", "")}
	s.PresentityURI = "sip:" + aor
	s.WatcherUser, s.WatcherDomain = id.Username, id.Domain
	s.WatcherURI = r.From().Address.String()
	s.ToURI = r.To().Address.String()
	s.Event, s.EventID = pkg, eventID
	s.RemoteCSeq = r.CSeq().SeqNo
	s.Contact = s.contact.String()
	for _, h := range sip.HeadersNamed(r, "Record-Route") {
		if rr, ok := h.(*sipmsg.RecordRouteHeader); ok {
			s.routes = append(s.routes, *rr.Address.Clone())
			s.RouteSet = append(s.RouteSet, rr.Address.String())
		}
	}
	s.Received, s.Transport = r.Source(), strings.ToUpper(r.Transport())
	s.LocalContact = p.localContact(s.Transport)
	s.Expires = now.Add(expires)
	s.Node = p.cfg.Node

	if expires == 0 {
		// A fetch (RFC 6665 §4.4.3): the state once, and no subscription.
		if err := w.WriteResponse(p.accepted(r, s, 0)); err != nil {
			return err
		}
		p.mu.Lock()
		s.ended = true
		n := p.current(s)
		n.reason = "timeout"
		p.enqueue(s, n)
		p.mu.Unlock()
		return nil
	}
	if err := p.persist(ctx, s); err != nil {
		return sip.Rejectf(500, "Server Internal Error", err)
	}
	// The subscription goes live before the 202 is sent, so that no change
	// of the AOR's calls falls between the two; its NOTIFYs wait for the
	// 202 (held).
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return sip.Reject(503, "Service Unavailable")
	}
	s.held = true
	p.add(s)
	p.enqueue(s, p.current(s))
	p.mu.Unlock()
	if err := w.WriteResponse(p.accepted(r, s, expires)); err != nil {
		p.mu.Lock()
		p.remove(s)
		p.mu.Unlock()
		_ = p.persist(ctx, s)
		return err
	}
	p.mu.Lock()
	s.held = false
	p.start(s)
	p.mu.Unlock()
	p.log.Debug("presence: subscribed", "aor", aor, "watcher", id.Username+"@"+id.Domain, "expires", expires, "callid", s.CallID)
	return nil
}

// refresh serves an in-dialog SUBSCRIBE.
func (p *Presence) refresh(ctx context.Context, w sip.ResponseWriter, r *sip.Request, id registrar.Identity, expires time.Duration) error {
	k := Key{CallID: r.CallID().Value(), ToTag: r.To().Params.GetOr("tag", ""), FromTag: r.From().Params.GetOr("tag", "")}
	p.mu.Lock()
	s := p.subs[k]
	if s == nil {
		p.mu.Unlock()
		return sip.Reject(481, "Subscription Does Not Exist")
	}
	if s.WatcherUser != id.Username || !strings.EqualFold(s.WatcherDomain, id.Domain) {
		p.mu.Unlock()
		return sip.Reject(403, "Forbidden")
	}
	if r.CSeq().SeqNo <= s.RemoteCSeq {
		// Out of order within the dialog (RFC 3261 §12.2.2).
		p.mu.Unlock()
		return sip.Reject(500, "CSeq Out of Order")
	}
	s.RemoteCSeq = r.CSeq().SeqNo
	if c := r.Contact(); c != nil {
		// A refresh is a target refresh (RFC 6665 §4.1.2.1).
		s.contact = *c.Address.Clone()
		s.Contact = s.contact.String()
	}
	s.Expires = p.now().Add(expires)
	res := p.accepted(r, s, expires)
	p.mu.Unlock()

	if expires == 0 {
		if err := w.WriteResponse(res); err != nil {
			return err
		}
		p.mu.Lock()
		p.terminate(s, "timeout")
		p.mu.Unlock()
		_ = p.persist(ctx, s)
		return nil
	}
	// A store that fails is logged (persist); the refresh still counts.
	_ = p.persist(ctx, s)
	if err := w.WriteResponse(res); err != nil {
		return err
	}
	p.mu.Lock()
	p.serving() // a SUBSCRIBE came: the server serves
	s.reloaded = false
	p.enqueue(s, p.current(s))
	p.mu.Unlock()
	return nil
}

// accepted returns the 202 for r: our To tag, Expires and Contact.
func (p *Presence) accepted(r *sip.Request, s *subscription, expires time.Duration) *sip.Response {
	res := sip.NewResponse(r, 202, "Accepted")
	if to := res.To(); to != nil {
		to.Params.Add("tag", s.ToTag)
	}
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	res.AppendHeader(sip.NewHeader("Contact", "<"+s.LocalContact+">"))
	return res
}

// localContact is our Contact for a subscription over transport.
func (p *Presence) localContact(transport string) string {
	network := strings.ToLower(transport)
	addr := p.srv.Local().Addr(network)
	if addr == "" {
		network, addr = "udp", p.srv.Local().Addr("udp")
	}
	c := "sip:" + addr
	if network != "udp" {
		c += ";transport=" + network
	}
	return c
}

// newTag returns a random tag for our end of a subscription.
func newTag() string {
	return "ps-" + strconv.FormatUint(rand.Uint64(), 36)
}
