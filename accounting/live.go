package accounting

import (
	"context"
	"errors"
	"time"

	"github.com/palio-voip/palio/sip"
)

// LiveCall is a call in progress as the dialog table shows it: a row of
// the real-time calls list (the seed's "VoIP calls in real-time").
type LiveCall struct {
	CallID  string `json:"callid"`
	FromTag string `json:"from_tag"`
	// From and To are the INVITE's From and To (user@host).
	From string `json:"from"`
	To   string `json:"to"`
	// Caller is the account the caller authenticated as, Callee the
	// local account called, Number the number as the dialplan left it,
	// Class its class.
	Caller string `json:"caller"`
	Callee string `json:"callee"`
	Number string `json:"number"`
	Class  string `json:"class"`
	// State is "trying", "early" or "confirmed".
	State string `json:"state"`
	// Gateway is the gateway of the branch that answered or is ringing.
	Gateway string `json:"gateway"`
	// Start is when the INVITE arrived, Answered when it was answered
	// (zero while not), and Seconds the talk time so far.
	Start    time.Time `json:"start"`
	Answered time.Time `json:"answered,omitzero"`
	Seconds  int64     `json:"seconds"`
	// Node is the cluster node that routes the call (package cluster's
	// Calls sets it); empty for a router alone.
	Node string `json:"node,omitempty"`
}

// LiveCalls returns the calls in progress in the dialog table d, oldest
// first, with their talk times at now.
func LiveCalls(d *sip.Dialogs, now time.Time) []LiveCall {
	active := d.Active()
	out := make([]LiveCall, 0, len(active))
	for _, dl := range active {
		out = append(out, LiveCallOf(dl, now))
	}
	return out
}

// LiveCallOf returns the row of the calls list of dl, a call in progress,
// with its talk time at now.
func LiveCallOf(dl sip.Dialog, now time.Time) LiveCall {
	info := dl.Call.Info()
	start := dl.Created
	if dl.Call != nil && !dl.Call.Received.IsZero() && dl.Call.Received.Before(start) {
		start = dl.Call.Received
	}
	number := info.Number
	if number == "" {
		number = info.Dialled
	}
	return LiveCall{
		CallID: dl.CallID, FromTag: dl.FromTag,
		From: userHost(dl.From), To: userHost(dl.To),
		Caller: info.Caller.AOR(), Callee: info.Callee, Number: number, Class: info.Class,
		State: dl.State.String(), Gateway: dl.Gateway,
		Start: start, Answered: dl.Answered, Seconds: int64(dl.Duration(now) / time.Second),
	}
}

// Hanger hangs up a call of the dialog table: *sip.Server.
type Hanger interface {
	Hangup(ctx context.Context, callID, fromTag, reason string) error
}

// Hangup ends every call in progress with Call-ID callID (one, unless
// the caller forked it under several From tags), as an operator's "hang
// up" does: an answered call gets a BYE at both ends, a ringing one is
// cancelled (sip.Server.Hangup). It returns how many calls it ended, and
// sip.ErrNoDialog when there was none.
func Hangup(ctx context.Context, h Hanger, d *sip.Dialogs, callID, reason string) (int, error) {
	var errs []error
	n := 0
	for _, dl := range d.Active() {
		if dl.CallID != callID {
			continue
		}
		n++
		if err := h.Hangup(ctx, dl.CallID, dl.FromTag, reason); err != nil && !errors.Is(err, sip.ErrNoDialog) {
			errs = append(errs, err)
		}
	}
	if n == 0 {
		return 0, sip.ErrNoDialog
	}
	return n, errors.Join(errs...)
}
