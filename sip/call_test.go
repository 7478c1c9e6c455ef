package sip_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
	"github.com/prometheus/client_golang/prometheus"
)

// recordingStage is a stage that writes into the call record, as the
// real stages do, and hooks a filter that logs every message it sees.
type filterLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *filterLog) filter(m sip.Message, from sip.Side) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch m := m.(type) {
	case *sip.Request:
		l.seen = append(l.seen, from.String()+":"+string(m.Method))
	case *sip.Response:
		l.seen = append(l.seen, fmt.Sprintf("%s:%d/%s", from, m.StatusCode, m.CSeq().MethodName))
	}
	return nil
}

func (l *filterLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.seen, " ")
}

func (l *filterLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, x := range l.seen {
		if x == s {
			n++
		}
	}
	return n
}

// TestCallRecordAndFilters: a stage writes into the record and hooks a
// filter; the filter sees every message of the call in both directions,
// the two 2xx retransmissions of a callee whose first 200 was already
// relayed included; the terminated event carries the record; OnEnd runs
// once.
func TestCallRecordAndFilters(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	callee := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithExtra2xx(2))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("5002", target(t, callee.URI()))
	var log filterLog
	var ended atomic.Int32
	p.setBefore(func(ctx context.Context, r *sip.Request) {
		c := sip.CallFrom(ctx)
		c.SetClass("5002", "voip")
		c.SetCallee("5002@voip.unisi.it")
		c.Trace("test", sip.Note("routed to the callee"))
		c.AddFilter(log.filter)
		c.OnEnd(func(d sip.Dialog) {
			if d.Cause != sip.CauseByeCaller {
				t.Errorf("OnEnd: cause %q, want %q", d.Cause, sip.CauseByeCaller)
			}
			ended.Add(1)
		})
	})
	var term sip.DialogEvent
	var mu sync.Mutex
	defer p.srv.Dialogs().Subscribe(func(ev sip.DialogEvent) {
		if ev.Kind == sip.EventTerminated {
			mu.Lock()
			term = ev
			mu.Unlock()
		}
	})()

	ctx := ctxT(t, 5*time.Second)
	call, _ := caller.Invite(ctx, "sip:5002@"+p.udp())
	if err := call.WaitOKs(ctx, 3); err != nil {
		t.Fatalf("the caller got %v, want the 200 and its two retransmissions", call.Codes())
	}
	in, _ := callee.WaitIncoming(ctx, 1)
	if err := in.WaitAck(ctx); err != nil {
		t.Fatal(err)
	}
	if res, err := call.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE: %v %v", res, err)
	}
	if n := log.count("callee:200/INVITE"); n != 3 {
		t.Errorf("the filter saw %d 200s to the INVITE, want 3 (the answer and two retransmissions): %s", n, &log)
	}
	for _, want := range []string{"caller:INVITE", "caller:ACK", "caller:BYE", "callee:200/BYE"} {
		if log.count(want) == 0 {
			t.Errorf("the filter did not see %s: %s", want, &log)
		}
	}
	if ended.Load() != 1 {
		t.Errorf("OnEnd ran %d times, want 1", ended.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	info := term.Dialog.Call.Info()
	if info.Class != "voip" || info.Callee != "5002@voip.unisi.it" || info.Dialled != "5002" {
		t.Errorf("the terminated event's record: got %+v", info)
	}
	if got := term.Dialog.Call.TraceString(); got != "test\trouted to the callee\n" {
		t.Errorf("trace: got %q", got)
	}
}

// TestCallFilterRefusesRequest: a filter that cannot handle the offer
// (488) stops the INVITE; the caller gets the filter's status and the
// callee nothing. A call rejected before the Forwarder ends too.
func TestCallFilterRefusesRequest(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("5002", target(t, callee.URI()))
	ends := make(chan sip.Dialog, 2)
	p.setBefore(func(ctx context.Context, r *sip.Request) {
		c := sip.CallFrom(ctx)
		c.OnEnd(func(d sip.Dialog) { ends <- d })
		c.AddFilter(func(m sip.Message, from sip.Side) error {
			if req, ok := m.(*sip.Request); ok && req.IsInvite() {
				return sip.Reject(488, "Not Acceptable Here")
			}
			return nil
		})
	})
	ctx := ctxT(t, 5*time.Second)
	call, _ := caller.Invite(ctx, "sip:5002@"+p.udp())
	if final, err := call.WaitFinal(ctx); err != nil || final.StatusCode != 488 {
		t.Fatalf("final: %v %v, want 488", final, err)
	}
	if n := len(callee.Received(sip.INVITE)); n != 0 {
		t.Errorf("the callee got %d INVITEs", n)
	}
	if d := <-ends; d.Code != 488 || d.Cause != sip.CauseRejected {
		t.Errorf("OnEnd: code %d cause %q, want 488 rejected", d.Code, d.Cause)
	}

	// Not routed at all: the call ends with the 404.
	call2, _ := caller.Invite(ctx, "sip:nobody@"+p.udp())
	if final, err := call2.WaitFinal(ctx); err != nil || final.StatusCode != 404 {
		t.Fatalf("final: %v %v, want 404", final, err)
	}
	select {
	case d := <-ends:
		if d.Code != 404 {
			t.Errorf("OnEnd of an unrouted call: code %d, want 404", d.Code)
		}
	case <-ctx.Done():
		t.Error("OnEnd of an unrouted call did not run")
	}
}

// TestSlowAsyncSubscriber: a subscriber that takes 200 ms an event,
// subscribed asynchronously with a small queue, delays no call; the events
// it could not queue are counted.
func TestSlowAsyncSubscriber(t *testing.T) {
	leakCheck(t)
	reg := prometheus.NewRegistry()
	srv, err := sip.NewServer(sip.Config{Listen: []sip.Listen{{Network: "udp", Addr: "127.0.0.1:0"}}},
		sip.WithLogger(testLogger()), sip.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, srv, sip.ForwarderConfig{})
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	p.route("5002", target(t, callee.URI()))
	var got []sip.EventKind
	var mu sync.Mutex
	var published atomic.Int32
	defer p.srv.Dialogs().Subscribe(func(sip.DialogEvent) { published.Add(1) })()
	unsub := p.srv.Dialogs().Subscribe(func(ev sip.DialogEvent) {
		time.Sleep(200 * time.Millisecond)
		mu.Lock()
		got = append(got, ev.Kind)
		mu.Unlock()
	}, sip.Async(3), sip.SubscriberName("slow"))
	ctx := ctxT(t, 10*time.Second)
	start := time.Now()
	for i := 0; i < 3; i++ {
		call, _ := caller.Invite(ctx, "sip:5002@"+p.udp())
		if final, err := call.WaitFinal(ctx); err != nil || final.StatusCode != 200 {
			t.Fatalf("call %d: %v %v", i, final, err)
		}
		if res, err := call.Bye(ctx); err != nil || res.StatusCode != 200 {
			t.Fatalf("BYE %d: %v %v", i, res, err)
		}
	}
	// Three calls of six events each would take 3.6 s through the slow
	// subscriber if it held them up.
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("three calls took %v beside a slow subscriber", d)
	}
	unsub() // waits for the queued events
	mu.Lock()
	n := len(got)
	order := fmt.Sprint(got)
	mu.Unlock()
	dropped := gatherCounter(t, reg, "palio_sip_dialog_events_dropped_total", "slow")
	if all := published.Load(); float64(n)+dropped != float64(all) || all < 15 {
		t.Errorf("delivered %d + dropped %v, want the %d events of three calls", n, dropped, all)
	}
	if dropped == 0 {
		t.Error("no event was counted as dropped")
	}
	if n == 0 || got[0] != sip.EventCreated {
		t.Errorf("delivered out of order: %s", order)
	}
}

// gatherCounter reads a counter with one label value from reg.
func gatherCounter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
