// Package presence is the router's presence server for busy-lamp fields
// (BLF): phones SUBSCRIBE to the dialog event package (RFC 6665, RFC 4235)
// of a colleague's AOR and get a NOTIFY with a dialog-info document each
// time one of that AOR's calls changes state.
//
// OpenSIPS builds the same thing from three modules: pua_dialoginfo turns
// dialog-module transitions into PUBLISH requests, presence stores them
// and presence_dialoginfo aggregates them into NOTIFYs. Palio skips the
// PUBLISH loop: the Presence follows the proxy's dialog table
// (sip.Dialogs.Subscribe) directly, so the state it shows is the state the
// proxy routes by.
//
// A call is shown to the watchers of its caller's AOR (the account the
// caller authenticated as, CallInfo.Caller, direction "initiator") and of
// its callee's (CallInfo.Callee, set by the destination stage, direction
// "recipient"), as trying, early, confirmed and, once, terminated. Every
// NOTIFY carries the full state (state="full") with the version counting
// NOTIFYs of the subscription from 0.
//
// The Presence answers SUBSCRIBE itself; mount it behind the registrar's
// digest authentication, which puts the watcher's identity in the context:
//
//	pres, err := presence.New(presence.Config{}, presence.NewMemStore(), srv)
//	if err != nil {
//		return err
//	}
//	defer pres.Close()
//	mux := &sip.ServeMux{
//		Presence: reg.Authenticate(pres),
//		// Register, InDialog, Initial...
//	}
//
// Any authenticated account may watch any AOR of its own domain; others
// get 403. NOTIFYs are requests of the proxy's own (sip.Server.Send), sent
// in the subscription's dialog to the watcher's Contact, one at a time per
// subscription through a short queue; a NOTIFY answered 481, or not
// answered at all, ends the subscription. Subscriptions are written
// through a Store, and New takes up those of a previous run.
//
// Several nodes: WithDialogSource feeds the Presence the calls of other
// nodes (the cluster package's Bus implements DialogSource), and
// Config.Node makes each node own, reload and expire only the
// subscriptions it accepted when all share one Store.
package presence
