package mediabox

import (
	"context"
	"errors"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// inviteGuard bounds an outgoing INVITE once it has been CANCELled: the
// final response (487, or a 2xx that crossed the CANCEL) is awaited up
// to Timer B (64×T1, RFC 3261 §17.1.1.2).
const inviteGuard = 64 * 500 * time.Millisecond

// place calls number through the router on the caller's behalf and
// waits up to ringFor for an answer. When ctx ends first (the caller
// left, or another agent answered) the attempt is CANCELled and its
// final response still awaited: a 2xx that crossed the CANCEL is ACKed
// and hung up (RFC 3261 §9.1, §15), so the callee never keeps a call
// no one is on.
//
// The CANCEL is sent here rather than by sipgo's dialog layer on a
// cancelled context: sipgo's inviteCancel returns as soon as the CANCEL
// is refused (a 481 when the router's transaction had just answered),
// leaving the INVITE's 2xx unread, unACKed and never hung up.
func (c *call) place(ctx context.Context, number string, ringFor time.Duration) (*diago.DialogClientSession, *diago.DialogMedia, error) {
	uri := c.box.router
	uri.User = number
	ringCtx, stopRinging := context.WithTimeout(ctx, ringFor)
	defer stopRinging()
	d, err := c.box.dg.NewDialog(uri, diago.NewDialogOptions{})
	if err != nil {
		return nil, nil, err
	}
	// The INVITE's own context outlives the ringing: it ends only once
	// a CANCEL had its chance to be answered.
	base, drop := context.WithCancelCause(context.WithoutCancel(ctx))
	defer drop(nil)
	// A closing box waits for no answer: with this cause sipgo ends the
	// INVITE's transaction at once rather than wait (up to Timer B) for
	// a hop that sent nothing to be CANCELled.
	defer context.AfterFunc(c.box.closed, func() { drop(sipgo.WaitAnswerForceCancelErr) })()
	inviteCtx, stopInvite := context.WithTimeout(base, ringFor+inviteGuard)
	defer stopInvite()

	provisional := make(chan struct{})
	var once bool
	opts := diago.InviteClientOptions{
		OnResponse: func(res *sip.Response) error {
			if res.IsProvisional() && !once {
				once = true
				close(provisional)
			}
			return nil
		},
	}
	caller := c.caller
	if caller == "" {
		caller = "anonymous"
	}
	opts.WithCaller("", caller, c.box.cfg.Domain)

	finished := make(chan struct{})
	canceller := make(chan struct{})
	go func() {
		defer close(canceller)
		select {
		case <-finished:
			return
		case <-ringCtx.Done():
		}
		// RFC 3261 §9.1: no CANCEL before a provisional response.
		select {
		case <-finished:
			return
		case <-provisional:
		}
		if err := c.cancelInvite(inviteCtx, d); err != nil {
			c.log.Info("mediabox: CANCEL failed", "to", number, "error", err)
		}
	}()
	med, err := d.Invite(inviteCtx, opts)
	close(finished)
	<-canceller
	if err == nil {
		// The dialog exists from the 2xx on (RFC 3261 §13.2.2.4). diago
		// files a placed call in its dialog table only once the ACK has
		// left (sipgo marks it confirmed after the write): the callee can
		// get that ACK through the router and hang up, and its BYE reach
		// the box, before this goroutine runs again, and be refused 481,
		// leaving the other leg up (seen under load in the example's
		// queue test). File it now.
		if serr := c.box.dg.DialogCacheClient().DialogStore(context.Background(), d.ID, d); serr != nil {
			c.log.Warn("mediabox: placed call not filed in the dialog table", "to", number, "error", serr)
		}
	}

	switch {
	case err == nil && ringCtx.Err() != nil:
		// Answered as the CANCEL crossed it, or as the caller left.
		hctx, hcancel := context.WithTimeout(context.WithoutCancel(c.ctx), 5*time.Second)
		if err := d.Ack(hctx); err == nil {
			_ = d.Hangup(hctx)
		}
		hcancel()
		c.box.closePlaced(d)
		c.box.m.placed.WithLabelValues("failed").Inc()
		c.log.Info("mediabox: a late answer hung up", "to", number)
		return nil, nil, context.Cause(ringCtx)
	case err == nil:
		if err = d.Ack(ringCtx); err == nil {
			c.box.m.placed.WithLabelValues("answered").Inc()
			return d, med, nil
		}
		hctx, hcancel := context.WithTimeout(context.WithoutCancel(c.ctx), 5*time.Second)
		_ = d.Hangup(hctx)
		hcancel()
	}
	if ringCtx.Err() != nil && !errors.Is(err, ringCtx.Err()) {
		// A 487 (or any final) after our CANCEL: report the reason the
		// attempt stopped, as callers test for it.
		err = errors.Join(context.Cause(ringCtx), err)
	}
	c.box.m.placed.WithLabelValues("failed").Inc()
	c.box.closePlaced(d)
	return nil, nil, err
}

// cancelInvite sends a CANCEL for d's INVITE (RFC 3261 §9.1: the same
// Request-URI, Call-ID, From, To, CSeq number and top Via) and waits for
// its response; the INVITE's own final response is read by its waiter.
func (c *call) cancelInvite(ctx context.Context, d *diago.DialogClientSession) error {
	inv := d.InviteRequest
	req := sip.NewRequest(sip.CANCEL, *inv.Recipient.Clone())
	if via := inv.Via(); via != nil {
		req.AppendHeader(sip.HeaderClone(via))
	}
	req.AppendHeader(sip.HeaderClone(inv.From()))
	req.AppendHeader(sip.HeaderClone(inv.To()))
	req.AppendHeader(sip.HeaderClone(inv.CallID()))
	if cs := inv.CSeq(); cs != nil {
		req.AppendHeader(&sip.CSeqHeader{SeqNo: cs.SeqNo, MethodName: sip.CANCEL})
	}
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	sip.CopyHeaders("Route", inv, req)
	req.SetTransport(inv.Transport())
	req.SetDestination(inv.Destination())
	req.SetSource(inv.Source())
	req.Laddr = inv.Laddr
	// The request is complete: no option rebuilds it (a second Via
	// would make it match no transaction).
	keep := func(*sipgo.Client, *sip.Request) error { return nil }
	tx, err := d.UA.Client.TransactionRequest(ctx, req, keep)
	if err != nil {
		return err
	}
	defer tx.Terminate()
	select {
	case res := <-tx.Responses():
		if res.StatusCode != 200 {
			// 481: the INVITE had its final response already; the
			// waiter reads it.
			return &sipgo.ErrDialogResponse{Res: res}
		}
		return nil
	case <-tx.Done():
		return tx.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// closePlaced releases a call the box placed, and takes it out of
// diago's dialog table: diago drops a client dialog from it only when its
// BYE succeeds, and place files it before its ACK.
func (b *Box) closePlaced(d *diago.DialogClientSession) {
	_ = d.Close()
	if d.ID != "" {
		_ = b.dg.DialogCacheClient().DialogDelete(context.Background(), d.ID)
	}
}
