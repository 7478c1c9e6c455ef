package presence_test

import (
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/presence"
	"github.com/palio-voip/palio/presence/presencetest"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// remoteCall is a call on another node, as a DialogSource (the cluster's
// bus) reports it.
type remoteCall struct {
	src *sip.Feed[sip.DialogEvent]
	d   sip.Dialog
}

func newRemoteCall(src *sip.Feed[sip.DialogEvent], id, caller, callee string) *remoteCall {
	rec := &sip.Call{CallID: id, FromTag: "ft-" + id}
	user, dom, _ := strings.Cut(caller, "@")
	rec.SetCaller(sip.CallerIdentity{User: user, Domain: dom})
	rec.SetCallee(callee)
	c := &remoteCall{src: src, d: sip.Dialog{CallID: id, FromTag: "ft-" + id, From: "sip:" + caller, To: "sip:" + callee, Call: rec}}
	c.to(sip.EventCreated, sip.DialogTrying)
	return c
}

func (c *remoteCall) to(k sip.EventKind, s sip.DialogState) {
	c.d.State = s
	if s >= sip.DialogEarly {
		c.d.ToTag = "tt-" + c.d.CallID
	}
	c.src.Publish(sip.DialogEvent{Kind: k, Dialog: c.d})
}

// TestRemoteDialogs: a Presence fed by a DialogSource besides its
// server's table notifies its watchers of the calls that source reports
// (another node's), as it does local ones.
func TestRemoteDialogs(t *testing.T) {
	remote := sip.NewFeed[sip.DialogEvent](sip.FeedConfig{})
	t.Cleanup(remote.Close)
	rg := newRig(t, presence.Config{}, presence.WithDialogSource(remote))
	ctx := siptest.Context(t, 10*time.Second)
	sub, ok := rg.subscribe(ctx, rg.phone("5003"), "5002", 600)
	if _, err := sub.WaitNotify(ctx, 1); err != nil {
		t.Fatal(err)
	}
	c := newRemoteCall(remote, "remote-1", "5001@"+domain, "5002@"+domain)
	c.to(sip.EventEarly, sip.DialogEarly)
	c.to(sip.EventConfirmed, sip.DialogConfirmed)
	c.d.Cause = sip.CauseByeCallee
	c.to(sip.EventTerminated, sip.DialogTerminated)
	docs, _ := notifies(t, ctx, sub, ok, 5)
	if got := strings.Join(states(docs), " "); got != "- trying early confirmed terminated/local-bye" {
		t.Errorf("got states %q", got)
	}
	if x := docs[3].Dialogs[0]; x.CallID != "remote-1" || x.Direction != "recipient" || x.LocalTag != "tt-remote-1" ||
		x.RemoteTag != "ft-remote-1" || x.Remote.Identity != "sip:5001@"+domain {
		t.Errorf("the remote call's dialog: %+v", x)
	}
	// After Close the source has no subscriber left.
	rg.pres.Close()
	if n := remote.Len(); n != 0 {
		t.Errorf("the source keeps %d subscribers after Close", n)
	}
}

// TestNodeOwnsSubscriptions: two nodes on one store. Each stores its
// subscriptions with its name, reloads only its own, and deletes only its
// own expired ones.
func TestNodeOwnsSubscriptions(t *testing.T) {
	rg := newRig(t, presence.Config{Node: "siena-1"})
	ctx := siptest.Context(t, 10*time.Second)
	sub, _ := rg.subscribe(ctx, rg.phone("5003"), "5002", 600)
	if _, err := sub.WaitNotify(ctx, 1); err != nil {
		t.Fatal(err)
	}
	stored, _ := rg.store.Subscriptions(ctx, "siena-1")
	if len(stored) != 1 || stored[0].Node != "siena-1" {
		t.Fatalf("stored for siena-1: %+v", stored)
	}
	for _, node := range []string{"siena-1", "arezzo-1"} {
		old := presencetest.Sample("old-" + node)
		old.Node, old.Expires = node, time.Now().Add(-time.Minute)
		if err := rg.store.Put(ctx, old); err != nil {
			t.Fatal(err)
		}
	}
	other, err := presence.New(presence.Config{Node: "arezzo-1", SweepInterval: 20 * time.Millisecond}, rg.store, rg.proxy.Server, presence.WithLogger(siptest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	if n := other.Len(); n != 0 {
		t.Errorf("arezzo-1 took up %d subscriptions of siena-1", n)
	}
	time.Sleep(100 * time.Millisecond) // a few of arezzo-1's sweeps
	if got, _ := rg.store.Subscriptions(ctx, "arezzo-1"); len(got) != 0 {
		t.Errorf("arezzo-1's expired subscription is still stored: %+v", got)
	}
	if got, _ := rg.store.Subscriptions(ctx, "siena-1"); len(got) != 2 {
		t.Errorf("siena-1's subscriptions: got %d, want its live one and its expired one, left to it", len(got))
	}
	if _, err := presence.New(presence.Config{Node: "bad node"}, rg.store, rg.proxy.Server); err == nil {
		t.Error("a node name with a space accepted")
	}
}
