package accounting_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/palio-voip/palio/accounting"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// route is a stage standing in for the pipeline: it authenticates every
// caller as itself, classifies the number, and sends it to the gateway
// named by gateways[number] (404 for any other number: refused before
// the Forwarder).
func route(gateways map[string]*siptest.UA) sip.Middleware {
	return func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			call := sip.CallFrom(ctx)
			call.SetCaller(sip.CallerIdentity{User: r.From().Address.User, Domain: "voip.unisi.it"})
			n := r.Recipient.User
			call.SetClass(n, "national")
			gw, ok := gateways[n]
			if !ok {
				return sip.Reject(404, "Not Found")
			}
			u, err := sip.ParseURI("sip:" + n + "@" + gw.Addr())
			if err != nil {
				return err
			}
			return next.ServeSIP(sip.WithTargets(ctx, sip.Target{URI: u, Gateway: "gw-" + n}), w, r)
		})
	}
}

func waitCDRs(t *testing.T, st *accounting.MemStore, f accounting.Filter, n int) []accounting.CDR {
	t.Helper()
	var got []accounting.CDR
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got = got[:0]
		st.CDRs(context.Background(), f, func(c accounting.CDR) error {
			got = append(got, c)
			return nil
		})
		if len(got) >= n || time.Now().After(deadline) {
			break
		}
	}
	if len(got) != n {
		t.Fatalf("got %d records, want %d: %+v", len(got), n, got)
	}
	return got
}

// TestRecorderCalls places calls through a real proxy and checks the
// record of each: answered and hung up by the caller, busy, refused
// before the Forwarder (recorded by the stage, not the table), hung up
// by an operator from the live calls list; one record per call.
func TestRecorderCalls(t *testing.T) {
	siptest.LeakCheck(t)
	ctx := siptest.Context(t, 20*time.Second)
	st := accounting.NewMemStore()
	if _, err := st.PutRate(ctx, accounting.Rate{Class: "national", PerMinute: 60000, Initial: 1, Increment: 1}); err != nil { // 0.001 a second
		t.Fatal(err)
	}
	rec, err := accounting.New(accounting.Config{FlushInterval: 20 * time.Millisecond}, st, accounting.WithLogger(siptest.Logger()),
		accounting.WithCarrier(func(gw string) string { return "carrier-of-" + gw }))
	if err != nil {
		t.Fatal(err)
	}
	gws := map[string]*siptest.UA{
		"0577111": siptest.NewGateway(t, siptest.Respond(180), siptest.Respond(200)),
		"0577486": siptest.NewGateway(t, siptest.Respond(180), siptest.Respond(486)),
		"0577222": siptest.NewGateway(t, siptest.Respond(180), siptest.Respond(200)),
	}
	p := siptest.NewProxy(t, siptest.ProxyConfig{Stages: []sip.Middleware{rec.Wrap, route(gws)}})
	stop := rec.Watch(p.Server.Dialogs())
	defer stop()
	defer rec.Close()
	caller := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithProxy(p.Addr("udp")))

	start := time.Now()
	call, err := caller.Invite(ctx, "sip:0577111@"+p.Addr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := call.WaitFinal(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("answered call: %v %v", res, err)
	}
	time.Sleep(300 * time.Millisecond)
	if res, err := call.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE: %v %v", res, err)
	}
	c := waitCDRs(t, st, accounting.Filter{}, 1)[0]
	if c.CallID != call.CallID() || c.FromTag != call.FromTag() || c.ToTag == "" || c.Method != "INVITE" ||
		c.Code != 200 || c.Reason != "OK" || c.Caller != "5002@voip.unisi.it" || c.Number != "0577111" ||
		c.Class != "national" || c.Gateway != "gw-0577111" || c.Carrier != "carrier-of-gw-0577111" ||
		c.Direction != accounting.Out || c.Hangup != accounting.HangupCaller || c.Cause != "bye-caller" {
		t.Errorf("answered call's record: %+v", c)
	}
	if d := c.Talk(); d < 250*time.Millisecond || d > 2*time.Second {
		t.Errorf("talk time %v, want about 300ms", d)
	}
	if c.Duration != 1 || c.Cost != 1000 || c.Rate != 1 {
		t.Errorf("duration %d s, cost %v (rate %d); want 1 s, 0.001 (rate 1)", c.Duration, c.Cost, c.Rate)
	}
	if c.Created.Before(start.Add(-time.Second)) || c.Time.Before(c.Created) || c.Ended().After(time.Now()) {
		t.Errorf("times: created %v, answered %v, ended %v", c.Created, c.Time, c.Ended())
	}

	busy, err := caller.Invite(ctx, "sip:0577486@"+p.Addr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := busy.WaitFinal(ctx); err != nil || res.StatusCode != 486 {
		t.Fatalf("busy call: %v %v", res, err)
	}
	refused, err := caller.Invite(ctx, "sip:0999@"+p.Addr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := refused.WaitFinal(ctx); err != nil || res.StatusCode != 404 {
		t.Fatalf("refused call: %v %v", res, err)
	}
	missed := waitCDRs(t, st, accounting.Filter{Missed: true}, 2)
	if m := missed[0]; m.CallID != busy.CallID() || m.Code != 486 || m.Reason != "Busy Here" || m.Gateway != "gw-0577486" ||
		m.Hangup != accounting.HangupCallee || m.Duration != 0 || m.Cost != 0 {
		t.Errorf("busy call's record: %+v", m)
	}
	if m := missed[1]; m.CallID != refused.CallID() || m.Code != 404 || m.Gateway != "" || m.Number != "0999" || m.Cause != "rejected" {
		t.Errorf("refused call's record: %+v", m)
	}

	// An operator hangs up a call from the live calls list.
	held, err := caller.Invite(ctx, "sip:0577222@"+p.Addr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := held.WaitFinal(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("call to hang up: %v %v", res, err)
	}
	live := accounting.LiveCalls(p.Server.Dialogs(), time.Now())
	if len(live) != 1 || live[0].CallID != held.CallID() || live[0].State != "confirmed" || live[0].Gateway != "gw-0577222" ||
		live[0].Caller != "5002@voip.unisi.it" || live[0].Number != "0577222" {
		t.Fatalf("live calls: %+v", live)
	}
	if n, err := accounting.Hangup(ctx, p.Server, p.Server.Dialogs(), held.CallID(), "operator"); n != 1 || err != nil {
		t.Fatalf("hang up: %d %v", n, err)
	}
	if err := held.WaitEnded(ctx); err != nil {
		t.Fatalf("the caller got no BYE: %v", err)
	}
	if _, err := accounting.Hangup(ctx, p.Server, p.Server.Dialogs(), held.CallID(), "again"); !errors.Is(err, sip.ErrNoDialog) {
		t.Errorf("hanging up an ended call: %v, want ErrNoDialog", err)
	}
	all := waitCDRs(t, st, accounting.Filter{}, 4)
	if h := all[3]; h.CallID != held.CallID() || h.Hangup != accounting.HangupProxy || h.Cause != "hangup" || h.Code != 200 {
		t.Errorf("hung-up call's record: %+v", h)
	}
	if s := rec.Stats(); s.Written != 4 || s.Dropped != 0 || s.Queued != 0 {
		t.Errorf("stats: %+v", s)
	}
}
