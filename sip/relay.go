package sip

import "context"

// DialogRelay forwards in-dialog requests (those with a To tag) of the
// calls the proxy record-routed: it pops our Route (loose routing, RFC 3261
// §16.4; a strict router's Request-URI is fixed up too) and sends the
// request on per the remaining Route or the Request-URI. An ACK for a 2xx is
// relayed statelessly; other requests go through a client transaction,
// with the Forwarder's timers, CANCEL handling and response relay. A BYE
// ends the call in the dialog table.
//
// It relays only what belongs to a dialog the proxy routed, so that
// nobody can use it to reach a gateway that trusts the proxy's address
// (RFC 3261 §16.12 does not oblige a proxy to relay what it never
// routed):
//
//   - A request of a call in the dialog table must come from one end of
//     it and go to the other (Dialogs.admits: its tags, and its
//     Request-URI against the Contacts each end gave, with target
//     refreshes); anything else gets 403.
//   - A request of a dialog not in the table (routed before a restart, by
//     another node sharing the secret, or a subscription's) must carry a
//     Route of ours whose signature matches its Call-ID and one of its
//     tags (see Config.RouteSecret); a Route of ours with no or a wrong
//     signature gets 403.
//   - Anything else gets 481.
//
// An ACK that fails these checks is dropped, as an ACK is never answered.
type DialogRelay struct {
	f *Forwarder
}

var _ Handler = (*DialogRelay)(nil)

// NewDialogRelay returns the relay that shares f's server and timers.
func NewDialogRelay(f *Forwarder) *DialogRelay { return &DialogRelay{f: f} }

// ServeSIP relays r. See DialogRelay.
func (d *DialogRelay) ServeSIP(ctx context.Context, w ResponseWriter, r *Request) error {
	s := d.f.s
	ack := r.IsAck()
	if err := checkMaxForwards(r); err != nil {
		if ack {
			return nil
		}
		return err
	}
	fwd, e, fromCaller, err := s.prepareInDialog(r)
	if err != nil {
		if ack {
			return nil // an ACK is never answered
		}
		return err
	}
	sender := CalleeSide
	if fromCaller {
		sender = CallerSide
	}
	var call *Call
	if e != nil {
		call = e.call
	}
	if ack {
		if err := call.filter(fwd, sender); err != nil {
			s.metrics.filterErrors.WithLabelValues("request").Inc()
			s.log.Debug("sip: ACK not relayed: call filter failed", "callid", callID(r), "error", err)
			return nil
		}
		if err := s.tr.write(fwd); err != nil {
			s.log.Debug("sip: ACK not relayed", "callid", callID(r), "error", err)
		}
		return nil
	}
	switch {
	case r.Method == BYE:
		s.dialogs.bye(r)
	case r.IsInvite():
		sendTrying(w, r) // a re-INVITE: as for the initial one
	}
	b := &branch{f: d.f, w: w, t: Target{URI: fwd.Recipient}, req: fwd, invite: r.IsInvite(), call: call, replier: sender.Other()}
	if e != nil {
		b.refresh = func(res *Response) { s.dialogs.noteRefresh(e, r, fromCaller, res) }
	}
	return d.f.result(w, []outcome{b.run(ctx)})
}
