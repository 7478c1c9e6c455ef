package siptest

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/palio-voip/palio/sip"
)

// Subscription is a subscription the UA made with Subscribe (the
// subscriber side of RFC 6665). The NOTIFYs it receives are answered by the
// UA (200, or what AnswerWith says) and recorded; Notifies and WaitNotify
// return those of this subscription (by Call-ID).
type Subscription struct {
	u     *UA
	d     *dialog
	event string
}

// Subscribe sends a SUBSCRIBE for event ("dialog") to uri
// ("sip:5002@voip.unisi.it") through the UA's proxy, with Expires expires,
// and returns the subscription and the final response. When the response
// is a 2xx the subscription's dialog is set up from it (To tag, Contact,
// Record-Route), so that Refresh sends in-dialog SUBSCRIBEs.
func (u *UA) Subscribe(ctx context.Context, uri, event string, expires int) (*Subscription, *sip.Response, error) {
	ruri, err := sip.ParseURI(uri)
	if err != nil {
		return nil, nil, fmt.Errorf("siptest: subscribe %q: %w", uri, err)
	}
	d, req := u.initialRequest(sip.SUBSCRIBE, ruri, 70)
	req.AppendHeader(sipmsg.NewHeader("Event", event))
	req.AppendHeader(sipmsg.NewHeader("Expires", strconv.Itoa(expires)))
	req.SetBody(nil)
	u.route(req, u.proxy)
	s := &Subscription{u: u, d: d, event: event}
	res, err := u.do(ctx, req.Clone())
	if err != nil {
		return s, nil, err
	}
	if (res.StatusCode == 401 || res.StatusCode == 407) && u.authUser != "" {
		// Challenged: once more with credentials (WithCredentials).
		if req, err = u.withCredentials(req, res); err != nil {
			return s, res, err
		}
		d.cseq = req.CSeq().SeqNo
		if res, err = u.do(ctx, req.Clone()); err != nil {
			return s, nil, err
		}
	}
	if res.StatusCode < 300 {
		d.remoteTag = tagOf(res.To().Params)
		d.remoteTarget = *ruri.Clone()
		if c := res.Contact(); c != nil {
			d.remoteTarget = *c.Address.Clone()
		}
		d.routeSet = routeSetOf(res, true)
	}
	return s, res, nil
}

// CallID returns the subscription's Call-ID.
func (s *Subscription) CallID() string { return s.d.callID }

// Refresh sends an in-dialog SUBSCRIBE with Expires expires (0
// unsubscribes) and returns the final response.
func (s *Subscription) Refresh(ctx context.Context, expires int) (*sip.Response, error) {
	req := s.u.request(s.d, sip.SUBSCRIBE, nil)
	req.AppendHeader(sipmsg.NewHeader("Event", s.event))
	req.AppendHeader(sipmsg.NewHeader("Expires", strconv.Itoa(expires)))
	return s.u.do(ctx, req)
}

// Notifies returns the NOTIFYs of this subscription received so far, in
// order of arrival.
func (s *Subscription) Notifies() []*sip.Request {
	var out []*sip.Request
	for _, r := range s.u.Received(sip.NOTIFY) {
		if callIDOf(r) == s.d.callID {
			out = append(out, r)
		}
	}
	return out
}

// WaitNotify waits until the subscription has received n NOTIFYs and
// returns the nth.
func (s *Subscription) WaitNotify(ctx context.Context, n int) (*sip.Request, error) {
	var got *sip.Request
	err := s.u.wait(ctx, func() bool {
		c := 0
		for _, r := range s.u.received {
			if r.Method == sip.NOTIFY && callIDOf(r) == s.d.callID {
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
		return nil, fmt.Errorf("siptest: %s: waiting for NOTIFY #%d of %s: %w", s.u.user, n, s.d.callID, err)
	}
	return got, nil
}

// withCredentials returns req again, with a new Via branch, the next CSeq
// and the digest answer to the challenge of res.
func (u *UA) withCredentials(req *sip.Request, res *sip.Response) (*sip.Request, error) {
	name, hdr := "Authorization", res.GetHeader("WWW-Authenticate")
	if res.StatusCode == 407 {
		name, hdr = "Proxy-Authorization", res.GetHeader("Proxy-Authenticate")
	}
	if hdr == nil {
		return nil, errors.New("siptest: a challenge without its header")
	}
	chal, err := digest.ParseChallenge(hdr.Value())
	if err != nil {
		return nil, err
	}
	cred, err := digest.Digest(chal, digest.Options{
		Method: string(req.Method), URI: req.Recipient.String(), Username: u.authUser, Password: u.password,
		Count: 1, Cnonce: sipmsg.GenerateTagN(12),
	})
	if err != nil {
		return nil, err
	}
	next := req.Clone()
	next.RemoveHeader("Via")
	next.PrependHeader(u.via())
	next.CSeq().SeqNo++
	next.RemoveHeader(name)
	next.AppendHeader(sipmsg.NewHeader(name, cred.String()))
	return next, nil
}
