package cluster

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/palio-voip/palio/accounting"
	"github.com/palio-voip/palio/sip"
)

// RemoteDialog is a call in progress on another node of the cluster, as
// the Bus last heard of it.
type RemoteDialog struct {
	// Node is the name of the node that routes the call (and can hang it
	// up).
	Node string
	// Dialog is the call as that node's table had it, with a call record
	// of its own (caller, callee, class, number).
	Dialog sip.Dialog
}

// Dialogs returns the other nodes' calls in progress, oldest first: what
// their events and snapshots said, at most maxTracked of them. A call
// appears here when its node's event arrives (within milliseconds on a
// LAN) and leaves with its terminated event, or NodeTimeout after its node
// went silent.
func (b *Bus) Dialogs() []RemoteDialog {
	b.inMu.Lock()
	var out []RemoteDialog
	b.eachLive(func(node string, ev sip.DialogEvent) {
		out = append(out, RemoteDialog{Node: node, Dialog: ev.Dialog})
	})
	b.inMu.Unlock()
	slices.SortFunc(out, func(a, b RemoteDialog) int {
		return cmp.Or(a.Dialog.Created.Compare(b.Dialog.Created), cmp.Compare(a.Node, b.Node), cmp.Compare(a.Dialog.CallID, b.Dialog.CallID))
	})
	return out
}

// Calls is the live calls list of the whole cluster: this node's dialog
// table and the other nodes' calls the Bus follows, each row naming its
// node (accounting.LiveCall.Node). It has what admin.Calls and
// admin.CallEvents ask (LiveCalls, Hangup, Subscribe), and what the
// example's /api/calls serves.
//
// A nil Bus leaves the local calls only, as admin.DialogCalls has them; a
// nil Dialogs the other nodes' only.
type Calls struct {
	Bus *Bus
	// Dialogs is this node's table (srv.Dialogs()); Hanger hangs up its
	// calls (the *sip.Server).
	Dialogs *sip.Dialogs
	Hanger  accounting.Hanger
}

// LiveCalls returns this node's calls in progress and the other nodes',
// oldest first, with their talk times at now.
func (c Calls) LiveCalls(now time.Time) []accounting.LiveCall {
	var out []accounting.LiveCall
	if c.Dialogs != nil {
		out = accounting.LiveCalls(c.Dialogs, now)
	}
	if c.Bus == nil {
		return out
	}
	for i := range out {
		out[i].Node = c.Bus.Node()
	}
	for _, rd := range c.Bus.Dialogs() {
		lc := accounting.LiveCallOf(rd.Dialog, now)
		lc.Node = rd.Node
		out = append(out, lc)
	}
	slices.SortStableFunc(out, func(a, b accounting.LiveCall) int { return a.Start.Compare(b.Start) })
	return out
}

// Hangup ends the calls with Call-ID callID wherever they are: this
// node's at once (accounting.Hangup), another node's by asking that node
// over NATS (Bus.Hangup), which sends the BYEs (or CANCELs) itself, since
// only it holds the call's transactions and connections. It returns how
// many calls were ended; an error wrapping sip.ErrNoDialog when no node
// has one; an error naming the node when a node did not answer (n counts
// only the calls ended).
func (c Calls) Hangup(ctx context.Context, callID, reason string) (int, error) {
	n, err := 0, error(sip.ErrNoDialog)
	if c.Dialogs != nil {
		n, err = accounting.Hangup(ctx, c.Hanger, c.Dialogs, callID, reason)
	}
	if c.Bus == nil || !errors.Is(err, sip.ErrNoDialog) {
		return n, err
	}
	var errs []error
	found := false
	for _, rd := range c.Bus.Dialogs() {
		if rd.Dialog.CallID != callID {
			continue
		}
		found = true
		switch err := c.Bus.Hangup(ctx, rd.Node, callID, rd.Dialog.FromTag, reason); {
		case err == nil:
			n++
		case errors.Is(err, sip.ErrNoDialog):
			// Ended meanwhile.
		default:
			errs = append(errs, err)
		}
	}
	if !found || n == 0 && len(errs) == 0 {
		return 0, sip.ErrNoDialog
	}
	return n, errors.Join(errs...)
}

// Subscribe calls fn at every dialog event, this node's and the other
// nodes' (for admin's live page), until unsubscribe.
func (c Calls) Subscribe(fn func()) (unsubscribe func()) {
	local, remote := func() {}, func() {}
	if c.Dialogs != nil {
		local = c.Dialogs.Subscribe(func(sip.DialogEvent) { fn() })
	}
	if c.Bus != nil {
		remote = c.Bus.Subscribe(func(sip.DialogEvent) { fn() })
	}
	return func() { local(); remote() }
}
