package sip

import "context"

// DialogRelay forwards in-dialog requests (those with a To tag) of the
// calls the proxy record-routed: it pops our Route (loose routing, RFC 3261
// §16.4; a strict router's Request-URI is fixed up too) and sends the
// request on per the remaining Route or the Request-URI. An ACK for a 2xx is
// relayed statelessly; other requests go through a client transaction,
// with the Forwarder's timers, CANCEL handling and response relay. A BYE
// ends the call in the dialog table. Requests that carry no Route of ours
// and belong to no dialog we know get 481.
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
	fwd, _, err := s.prepareInDialog(r)
	if err != nil {
		if ack {
			return nil // an ACK is never answered
		}
		return err
	}
	if ack {
		if err := s.tr.write(fwd); err != nil {
			s.log.Debug("sip: ACK not relayed", "callid", callID(r), "error", err)
		}
		return nil
	}
	if r.Method == BYE {
		s.dialogs.bye(r)
	}
	b := &branch{f: d.f, w: w, t: Target{URI: fwd.Recipient}, req: fwd, invite: r.IsInvite()}
	return d.f.result(w, []outcome{b.run(ctx)})
}
