package siptest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/sip"
)

// Call is a call the UA placed (the UAC side of an INVITE).
type Call struct {
	u      *UA
	invite *sip.Request
	tx     sipmsg.ClientTransaction
	noAck  bool
	authed bool // the INVITE was resent with credentials once

	mu        sync.Mutex
	responses []*sip.Response
	oks       int
	final     *sip.Response
	finalCh   chan struct{}
	ack       *sip.Request
	d         *dialog
	txErr     error
}

// InviteOption adjusts an INVITE before it is sent.
type InviteOption func(*inviteOpts)

type inviteOpts struct {
	maxForwards int
	noAck       bool
	headers     []sip.Header
	dest        string
}

// MaxForwards sets the INVITE's Max-Forwards (default 70).
func MaxForwards(n int) InviteOption { return func(o *inviteOpts) { o.maxForwards = n } }

// NoAutoAck leaves the ACK for a 2xx to the test (Call.Ack).
func NoAutoAck() InviteOption { return func(o *inviteOpts) { o.noAck = true } }

// WithHeader adds a header to the INVITE.
func WithHeader(name, value string) InviteOption {
	return func(o *inviteOpts) { o.headers = append(o.headers, sipmsg.NewHeader(name, value)) }
}

// Via sends the INVITE to "host:port" instead of the UA's proxy.
func Via(addr string) InviteOption { return func(o *inviteOpts) { o.dest = addr } }

// Invite places a call to uri ("sip:5002@127.0.0.1:5060") through the UA's
// proxy (or to uri's host when the UA has none). It returns once the INVITE
// is sent; wait for the outcome with WaitFinal or WaitCode. A 2xx is ACKed
// at once, unless NoAutoAck.
func (u *UA) Invite(ctx context.Context, uri string, opts ...InviteOption) (*Call, error) {
	o := inviteOpts{maxForwards: 70, dest: u.proxy}
	for _, f := range opts {
		f(&o)
	}
	ruri, err := sip.ParseURI(uri)
	if err != nil {
		return nil, fmt.Errorf("siptest: invite %q: %w", uri, err)
	}
	d, req := u.initialRequest(sip.INVITE, ruri, o.maxForwards)
	for _, h := range o.headers {
		req.AppendHeader(h)
	}
	req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(u.sdp())
	u.route(req, o.dest)

	c := &Call{u: u, invite: req, noAck: o.noAck, finalCh: make(chan struct{}), d: d}
	u.mu.Lock()
	u.dialogs[d.callID] = d
	u.mu.Unlock()
	tx, err := u.cli.TransactionRequest(context.Background(), req.Clone(), prebuilt)
	if err != nil {
		return nil, fmt.Errorf("siptest: invite: %w", err)
	}
	c.tx = tx
	tx.OnRetransmission(c.retransmitted)
	u.wg.Add(1)
	go c.read()
	return c, nil
}

// initialRequest returns a new dialog of the UA towards ruri and the
// request that starts it: Via, Max-Forwards, From with the dialog's tag,
// To, Call-ID, CSeq 1 and the UA's Contact.
func (u *UA) initialRequest(method sip.Method, ruri sip.URI, maxForwards int) (*dialog, *sip.Request) {
	d := &dialog{
		callID:    sipmsg.GenerateTagN(24),
		localTag:  sipmsg.GenerateTagN(10),
		localURI:  sip.URI{Scheme: "sip", User: u.user, Host: u.host, Port: u.port},
		remoteURI: sip.URI{Scheme: ruri.Scheme, User: ruri.User, Host: ruri.Host, Port: ruri.Port},
		cseq:      1,
	}
	req := sipmsg.NewRequest(method, ruri)
	req.AppendHeader(u.via())
	mf := sipmsg.MaxForwardsHeader(uint32(maxForwards))
	req.AppendHeader(&mf)
	from := &sipmsg.FromHeader{Address: d.localURI}
	from.Params.Add("tag", d.localTag)
	req.AppendHeader(from)
	req.AppendHeader(&sipmsg.ToHeader{Address: d.remoteURI})
	cid := sipmsg.CallIDHeader(d.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: 1, MethodName: method})
	req.AppendHeader(&sipmsg.ContactHeader{Address: u.Contact()})
	return d, req
}

// CallID returns the call's Call-ID.
func (c *Call) CallID() string { return c.d.callID }

// FromTag returns the caller's tag.
func (c *Call) FromTag() string { return c.d.localTag }

func (c *Call) read() {
	defer c.u.wg.Done()
	for {
		select {
		case res := <-c.tx.Responses():
			if (res.StatusCode == 401 || res.StatusCode == 407) && c.u.password != "" && !c.authed {
				c.mu.Lock()
				c.responses = append(c.responses, res)
				c.mu.Unlock()
				if err := c.authenticate(res); err == nil {
					continue
				}
			}
			c.mu.Lock()
			c.responses = append(c.responses, res)
			final := res.StatusCode >= 200 && c.final == nil
			if final {
				c.final = res
			}
			ok := res.StatusCode >= 200 && res.StatusCode < 300
			if ok {
				c.oks++
			}
			c.mu.Unlock()
			if ok {
				c.u.mu.Lock()
				c.d.remoteTag = tagOf(res.To().Params)
				if ct := res.Contact(); ct != nil {
					c.d.remoteTarget = *ct.Address.Clone()
				}
				c.d.routeSet = routeSetOf(res, true)
				c.u.mu.Unlock()
			}
			if res.StatusCode >= 200 && res.StatusCode < 300 && !c.noAck {
				_ = c.Ack()
			}
			c.u.mu.Lock()
			c.u.notify()
			c.u.mu.Unlock()
			if final {
				close(c.finalCh)
			}
			if res.StatusCode >= 300 {
				return
			}
		case <-c.tx.Done():
			c.mu.Lock()
			c.txErr = c.tx.Err()
			notFinal := c.final == nil
			c.mu.Unlock()
			if notFinal {
				close(c.finalCh)
			}
			return
		case <-c.u.closed:
			return
		}
	}
}

// authenticate resends the INVITE with the credentials a 401/407 asks for
// (RFC 3261 §22.2): same Call-ID and tags, CSeq plus one, a new branch.
func (c *Call) authenticate(res *sip.Response) error {
	inv, err := c.u.withCredentials(c.invite, res)
	if err != nil {
		return err
	}
	tx, err := c.u.cli.TransactionRequest(context.Background(), inv.Clone(), prebuilt)
	if err != nil {
		return err
	}
	c.u.mu.Lock()
	c.d.cseq = inv.CSeq().SeqNo
	c.u.mu.Unlock()
	c.mu.Lock()
	c.invite, c.tx, c.authed = inv, tx, true
	c.mu.Unlock()
	tx.OnRetransmission(c.retransmitted)
	return nil
}

// retransmitted counts a 2xx retransmission and ACKs it again.
func (c *Call) retransmitted(res *sip.Response) {
	c.mu.Lock()
	c.oks++
	c.responses = append(c.responses, res)
	ack := c.ack
	c.mu.Unlock()
	if ack != nil {
		_ = c.u.cli.WriteRequest(ack.Clone(), prebuilt)
	}
	c.u.mu.Lock()
	c.u.notify()
	c.u.mu.Unlock()
}

// WaitFinal waits for the INVITE's first final response.
func (c *Call) WaitFinal(ctx context.Context) (*sip.Response, error) {
	select {
	case <-c.finalCh:
	case <-ctx.Done():
		return nil, fmt.Errorf("siptest: waiting for a final response: %w (got %v)", ctx.Err(), c.Codes())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.final == nil {
		return nil, fmt.Errorf("siptest: INVITE transaction ended without a final response: %v", c.txErr)
	}
	return c.final, nil
}

// WaitCode waits until a response with code has been received.
func (c *Call) WaitCode(ctx context.Context, code int) error {
	return c.u.wait(ctx, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, r := range c.responses {
			if r.StatusCode == code {
				return true
			}
		}
		return false
	})
}

// WaitOKs waits until n 2xx (first answer and retransmissions) arrived.
func (c *Call) WaitOKs(ctx context.Context, n int) error {
	return c.u.wait(ctx, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.oks >= n
	})
}

// Codes returns the status codes received so far, in the order they
// arrived on the UA's socket (over UDP; over a stream, in the order sipgo
// delivered them).
func (c *Call) Codes() []int {
	c.mu.Lock()
	rs := slices.Clone(c.responses)
	c.mu.Unlock()
	stamps := make(map[*sip.Response]uint64, len(rs))
	for _, r := range rs {
		if stamps[r] = c.u.arrival(r); stamps[r] == 0 {
			stamps = nil // not all stamped: keep the order of delivery
			break
		}
	}
	if stamps != nil {
		slices.SortStableFunc(rs, func(a, b *sip.Response) int { return cmp.Compare(stamps[a], stamps[b]) })
	}
	out := make([]int, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.StatusCode)
	}
	return out
}

// Responses returns the responses received so far.
func (c *Call) Responses() []*sip.Response {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*sip.Response(nil), c.responses...)
}

// Ack sends the ACK for the 2xx (RFC 3261 §13.2.2.4): to the remote
// target, through the route set.
func (c *Call) Ack() error {
	c.mu.Lock()
	if c.final == nil || c.final.StatusCode >= 300 {
		c.mu.Unlock()
		return errors.New("siptest: no 2xx to ACK")
	}
	c.mu.Unlock()
	c.mu.Lock()
	seq := c.invite.CSeq().SeqNo
	c.mu.Unlock()
	ack := c.u.request(c.d, sip.ACK, nil)
	ack.CSeq().SeqNo = seq
	c.mu.Lock()
	c.ack = ack
	c.mu.Unlock()
	return c.u.cli.WriteRequest(ack.Clone(), prebuilt)
}

// Bye hangs up an answered call and returns the BYE's final response.
func (c *Call) Bye(ctx context.Context) (*sip.Response, error) {
	return c.Request(ctx, sip.BYE, nil)
}

// Request sends an in-dialog request (BYE, INFO, re-INVITE with body...)
// and returns its final response; a 2xx to a re-INVITE is ACKed.
func (c *Call) Request(ctx context.Context, method sip.Method, body []byte) (*sip.Response, error) {
	c.u.mu.Lock()
	established := c.d.remoteTag != ""
	c.u.mu.Unlock()
	if !established {
		return nil, errors.New("siptest: the call has no dialog")
	}
	req := c.u.request(c.d, method, body)
	res, err := c.u.do(ctx, req.Clone())
	if err != nil {
		return nil, err
	}
	if method == sip.INVITE && res.StatusCode < 300 {
		ack := c.u.request(c.d, sip.ACK, nil)
		ack.CSeq().SeqNo = req.CSeq().SeqNo
		_ = c.u.cli.WriteRequest(ack, prebuilt)
	}
	if method == sip.BYE {
		c.u.mu.Lock()
		c.d.ended = true
		c.u.mu.Unlock()
	}
	return res, nil
}

// ReInvite sends a re-INVITE with a new offer and returns its final
// response (a 2xx is ACKed).
func (c *Call) ReInvite(ctx context.Context) (*sip.Response, error) {
	return c.Request(ctx, sip.INVITE, c.u.sdp())
}

// Cancel sends a CANCEL for the INVITE (RFC 3261 §9.1) and returns the
// CANCEL's own final response; the INVITE's (487) comes via WaitFinal.
func (c *Call) Cancel(ctx context.Context) (*sip.Response, error) {
	c.mu.Lock()
	inv := c.invite
	c.mu.Unlock()
	cancel := sipmsg.NewRequest(sip.CANCEL, *inv.Recipient.Clone())
	cancel.AppendHeader(inv.Via().Clone())
	mf := sipmsg.MaxForwardsHeader(70)
	cancel.AppendHeader(&mf)
	cancel.AppendHeader(sipmsg.HeaderClone(inv.From()))
	cancel.AppendHeader(sipmsg.HeaderClone(inv.To()))
	cancel.AppendHeader(sipmsg.HeaderClone(inv.CallID()))
	cancel.AppendHeader(&sipmsg.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	cancel.SetBody(nil)
	c.u.route(cancel, inv.Destination())
	return c.u.do(ctx, cancel)
}

// Ended reports whether the call was hung up (by either side).
func (c *Call) Ended() bool {
	c.u.mu.Lock()
	defer c.u.mu.Unlock()
	return c.d.ended
}

// WaitEnded waits until the other side hangs up.
func (c *Call) WaitEnded(ctx context.Context) error {
	return c.u.wait(ctx, func() bool { return c.d.ended })
}
