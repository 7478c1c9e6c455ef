package sip_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// TestHangupAnsweredCall: the proxy hangs up a confirmed call (the admin
// page's button): each end gets a BYE that looks like the other end's,
// with the Reason, and the dialog ends with CauseHangup.
func TestHangupAnsweredCall(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("5002", target(t, callee.URI()))
	ended := make(chan sip.Dialog, 1)
	p.setBefore(func(ctx context.Context, r *sip.Request) {
		sip.CallFrom(ctx).OnEnd(func(d sip.Dialog) { ended <- d })
	})
	ctx := ctxT(t, 5*time.Second)
	call, _ := caller.Invite(ctx, "sip:5002@"+p.udp())
	if final, err := call.WaitFinal(ctx); err != nil || final.StatusCode != 200 {
		t.Fatalf("call: %v %v", final, err)
	}
	in, _ := callee.WaitIncoming(ctx, 1)
	if err := in.WaitAck(ctx); err != nil {
		t.Fatal(err)
	}
	// The caller refreshes the session once: the BYE to the callee must
	// carry a higher CSeq than that re-INVITE's.
	if res, err := call.ReInvite(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("re-INVITE: %v %v", res, err)
	}
	reinvite := callee.Received(sip.INVITE)[1]

	if err := p.srv.Hangup(ctx, call.CallID(), call.FromTag(), "hung up by the operator"); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	if err := call.WaitEnded(ctx); err != nil {
		t.Fatalf("the caller got no BYE: %v", err)
	}
	if err := in.WaitBye(ctx); err != nil {
		t.Fatalf("the callee got no BYE: %v", err)
	}
	toCallee := callee.Received(sip.BYE)[0]
	toCaller := caller.Received(sip.BYE)[0]
	if got, _ := toCallee.From().Params.Get("tag"); got != call.FromTag() {
		t.Errorf("BYE to the callee: From tag %q, want the caller's %q", got, call.FromTag())
	}
	if toCallee.CSeq().SeqNo <= reinvite.CSeq().SeqNo {
		t.Errorf("BYE to the callee: CSeq %d, want above the caller's last (%d)", toCallee.CSeq().SeqNo, reinvite.CSeq().SeqNo)
	}
	if got, _ := toCaller.To().Params.Get("tag"); got != call.FromTag() {
		t.Errorf("BYE to the caller: To tag %q, want the caller's %q", got, call.FromTag())
	}
	for _, b := range []*sip.Request{toCallee, toCaller} {
		if h := b.GetHeader("Reason"); h == nil || !strings.Contains(h.Value(), "hung up by the operator") {
			t.Errorf("BYE without the Reason: %v", h)
		}
		if n := len(b.GetHeaders("Via")); n != 1 {
			t.Errorf("BYE with %d Vias, want the proxy's alone", n)
		}
	}
	select {
	case d := <-ended:
		if d.Cause != sip.CauseHangup {
			t.Errorf("dialog ended with %q, want %q", d.Cause, sip.CauseHangup)
		}
	case <-ctx.Done():
		t.Fatal("the call did not end")
	}
	if err := p.srv.Hangup(ctx, call.CallID(), call.FromTag(), ""); !errors.Is(err, sip.ErrNoDialog) {
		t.Errorf("second Hangup: %v, want ErrNoDialog", err)
	}
}

// TestHangupRingingCall: a call not answered yet is cancelled: the callee
// gets a CANCEL, the caller a 487.
func TestHangupRingingCall(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	gw := siptest.NewGateway(t, siptest.Respond(180), siptest.Hold())
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("0577123456", target(t, gw.URI()))
	ctx := ctxT(t, 5*time.Second)
	call, _ := caller.Invite(ctx, "sip:0577123456@"+p.udp())
	if err := call.WaitCode(ctx, 180); err != nil {
		t.Fatal(err)
	}
	in, _ := gw.WaitIncoming(ctx, 1)
	if err := p.srv.Hangup(ctx, call.CallID(), call.FromTag(), "operator"); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	if final, err := call.WaitFinal(ctx); err != nil || final.StatusCode != 487 {
		t.Fatalf("caller: %v %v, want 487", final, err)
	}
	if err := in.WaitCancel(ctx); err != nil {
		t.Fatalf("the gateway got no CANCEL: %v", err)
	}
}

// TestSendOutOfDialog: a request of the proxy's own reaches a phone and
// its final response comes back; one to nowhere times out as 408.
func TestSendOutOfDialog(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	phone := siptest.NewUA(t, siptest.WithUser("5002"))
	ctx := ctxT(t, 5*time.Second)
	uri, _ := sip.ParseURI(phone.URI())
	from, _ := sip.ParseURI("sip:presence@voip.unisi.it")
	req := p.srv.NewRequest(sip.MESSAGE, uri, from, uri)
	req.AppendHeader(sip.NewHeader("Content-Type", "text/plain"))
	req.SetBody([]byte("the boss is free"))
	res, err := p.srv.Send(ctx, req, sip.Target{URI: uri})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("Send: %v %v", res, err)
	}
	got := phone.Received(sip.MESSAGE)
	if len(got) != 1 || string(got[0].Body()) != "the boss is free" {
		t.Fatalf("the phone got %d MESSAGEs", len(got))
	}
	bh := siptest.NewBlackhole(t)
	defer bh.Close()
	nowhere, _ := sip.ParseURI("sip:5003@" + bh.Addr())
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := p.srv.Send(sctx, p.srv.NewRequest(sip.OPTIONS, nowhere, from, nowhere), sip.Target{URI: nowhere}); err == nil {
		t.Error("Send to a black hole: no error")
	}
	if _, err := p.srv.Send(ctx, p.srv.NewRequest(sip.INVITE, uri, from, uri), sip.Target{URI: uri}); err == nil {
		t.Error("Send of an INVITE: no error")
	}
}
