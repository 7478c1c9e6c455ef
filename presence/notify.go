package presence

import (
	"context"
	"errors"
	"strconv"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/palio-voip/palio/sip"
)

// run sends the queued NOTIFYs of s, one at a time, and returns when the
// queue is empty: a subscription has at most one sender goroutine, and
// none while idle.
func (p *Presence) run(s *subscription) {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		if len(s.queue) == 0 || p.closed {
			s.sending = false
			p.mu.Unlock()
			return
		}
		n := s.queue[0]
		s.queue = slices0(s.queue)
		req, target := p.notify(s, n)
		p.mu.Unlock()

		ctx, cancel := context.WithTimeout(p.ctx, p.cfg.NotifyTimeout)
		res, err := p.srv.Send(ctx, req, target)
		cancel()
		if p.ctx.Err() != nil {
			return // Close: s.sending no longer matters
		}
		if err != nil && p.srv.Stopping() {
			// The server is stopping (its transports close under the
			// NOTIFY): the watcher is not gone, and the subscription stays
			// in the store for the next start.
			p.mu.Lock()
			s.sending = false
			p.mu.Unlock()
			return
		}
		code := 0
		if err == nil {
			code = res.StatusCode
		} else if se, ok := errors.AsType[*sip.StatusError](err); ok {
			code = se.Code
		}
		if code >= 200 && code < 300 {
			p.metrics.notifies.WithLabelValues("ok").Inc()
		} else {
			p.metrics.notifies.WithLabelValues("failed").Inc()
			p.log.Debug("presence: NOTIFY failed", "aor", s.aor, "contact", s.Contact, "code", code, "error", err)
		}
		if n.reason != "" {
			p.mu.Lock()
			s.sending = false
			p.mu.Unlock()
			return
		}
		if code >= 200 && code < 300 {
			// The CSeq and version move on: write them through, so that a
			// restart goes on from there.
			_ = p.persist(p.ctx, s)
		}
		// RFC 6665 §4.2.2: a NOTIFY answered 481, or timing out, ends the
		// subscription; so does a watcher that cannot be reached (503).
		// Other errors (the server shutting down) leave it be.
		if code == 481 || code == 408 || code == 503 || errors.Is(err, context.DeadlineExceeded) {
			p.mu.Lock()
			gone := p.remove(s)
			s.queue = nil
			s.sending = false
			p.mu.Unlock()
			if gone {
				p.log.Info("presence: subscription ended by its NOTIFY", "aor", s.aor, "watcher", s.WatcherUser, "code", code)
				_ = p.persist(p.ctx, s)
			}
			return
		}
	}
}

// slices0 drops the first element of q, reusing its array once empty.
func slices0(q []notice) []notice {
	if len(q) == 1 {
		return q[:0]
	}
	return q[1:]
}

// notify builds the next NOTIFY of s for n: in the subscription's dialog
// (our To tag as From tag, the next CSeq), along its route set, to its
// Contact. p.mu is held.
func (p *Presence) notify(s *subscription, n notice) (*sip.Request, sip.Target) {
	s.LocalCSeq++
	version := s.Version
	s.Version++
	state := "active;expires=" + strconv.Itoa(max(0, int(s.Expires.Sub(p.now()).Round(time.Second)/time.Second)))
	if n.reason != "" {
		state = "terminated;reason=" + n.reason
	}
	from, _ := sip.ParseURI(s.ToURI)
	to, _ := sip.ParseURI(s.WatcherURI)
	req := p.srv.NewRequest(sip.NOTIFY, s.contact, from, to)
	req.From().Params.Add("tag", s.ToTag)
	req.To().Params.Add("tag", s.FromTag)
	*req.CallID() = sipmsg.CallIDHeader(s.CallID)
	req.CSeq().SeqNo = s.LocalCSeq
	for _, r := range s.routes {
		req.AppendHeader(&sipmsg.RouteHeader{Address: *r.Clone()})
	}
	req.AppendHeader(sip.NewHeader("Contact", "<"+s.LocalContact+">"))
	ev := s.Event
	if s.EventID != "" {
		ev += ";id=" + s.EventID
	}
	req.AppendHeader(sip.NewHeader("Event", ev))
	req.AppendHeader(sip.NewHeader("Subscription-State", state))
	req.AppendHeader(sip.NewHeader("Content-Type", contentTypeOf(s.Event)))
	if s.Event == MessageSummary {
		req.SetBody(MessageSummaryBody(s.PresentityURI, n.mailbox))
	} else {
		req.SetBody(DialogInfo(s.PresentityURI, version, n.dialogs))
	}

	t := sip.Target{URI: *s.contact.Clone()}
	if len(s.routes) == 0 {
		// No proxy in between: answer where the SUBSCRIBE came from, on
		// its transport (a phone behind NAT, a TCP connection).
		t.NextHop, t.Transport = s.Received, s.Transport
	}
	return req, t
}
