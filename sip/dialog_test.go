package sip

import (
	"sync"
	"testing"
	"time"
)

type eventLog struct {
	mu     sync.Mutex
	events []DialogEvent
}

func (l *eventLog) add(ev DialogEvent) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

func (l *eventLog) kinds() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var k []string
	for _, ev := range l.events {
		k = append(k, ev.Kind.String())
	}
	return k
}

func (l *eventLog) last() DialogEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.events[len(l.events)-1]
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func answer(t *testing.T, r *Request, code int, tag string) *Response {
	res := NewResponse(r, code, "")
	res.To().Params.Add("tag", tag)
	return res
}

func TestDialogLifecycle(t *testing.T) {
	d := NewDialogs(time.Hour)
	defer d.Close()
	var log eventLog
	d.Subscribe(log.add)
	inv := parseRequest(t, inviteMsg)
	gw, _ := ParseURI("sip:0577123456@10.0.0.1")
	e := d.begin(inv, nil)
	if again := d.begin(inv, nil); again != e {
		t.Fatal("a second attempt of the same call created a second dialog")
	}
	d.legStarted(e, Target{URI: gw, Gateway: "siena-1"})
	d.early(e, answer(t, inv, 180, "callee"))
	if !d.confirm(e, Target{URI: gw, Gateway: "siena-1"}, answer(t, inv, 200, "callee")) {
		t.Fatal("confirm refused")
	}
	if d.confirm(e, Target{URI: gw}, answer(t, inv, 200, "other")) {
		t.Error("a second answer confirmed the dialog again")
	}
	active := d.Active()
	if len(active) != 1 || active[0].State != DialogConfirmed || active[0].Gateway != "siena-1" || active[0].ToTag != "callee" {
		t.Fatalf("active: %+v", active)
	}

	// A BYE of another (forked) dialog of the same call does not end it.
	stray := parseRequest(t, inviteMsg)
	stray.Method = BYE
	stray.To().Params.Add("tag", "other")
	d.bye(stray)
	if d.Len() != 1 {
		t.Fatal("a BYE for another fork ended the answered dialog")
	}
	// The callee's BYE: its From carries the callee tag, To the caller's.
	bye := parseRequest(t, inviteMsg)
	bye.Method = BYE
	bye.From().Params.Add("tag", "callee")
	bye.To().Params.Add("tag", "caller")
	d.bye(bye)
	if d.Len() != 0 {
		t.Fatal("the callee's BYE did not end the dialog")
	}
	want := []string{"created", "branch-started", "early", "confirmed", "branch-ended", "terminated"}
	if got := log.kinds(); !sameStrings(got, want) {
		t.Errorf("events: got %v, want %v", got, want)
	}
	end := log.last().Dialog
	if end.Cause != CauseByeCallee || end.Code != 200 || end.Duration(time.Now()) < 0 {
		t.Errorf("end: %+v", end)
	}
}

func TestDialogRejectedAndCanceled(t *testing.T) {
	d := NewDialogs(time.Hour)
	defer d.Close()
	var log eventLog
	d.Subscribe(log.add)
	for _, tt := range []struct {
		code  int
		cause Cause
	}{{486, CauseRejected}, {487, CauseCanceled}} {
		inv := parseRequest(t, inviteMsg)
		e := d.begin(inv, nil)
		uas, _ := ParseURI("sip:5002@127.0.0.1:5090")
		d.legStarted(e, Target{URI: uas})
		d.finish(inv, tt.code)
		d.legEnded(e, Target{URI: uas}, tt.code)
		if d.Len() != 0 {
			t.Fatalf("%d: dialog still in the table", tt.code)
		}
		var term DialogEvent
		for _, ev := range log.events {
			if ev.Kind == EventTerminated {
				term = ev
			}
		}
		if term.Dialog.Cause != tt.cause || term.Dialog.Code != tt.code {
			t.Errorf("%d: got %q %d", tt.code, term.Dialog.Cause, term.Dialog.Code)
		}
	}
	// finish leaves an answered call alone.
	inv := parseRequest(t, inviteMsg)
	e := d.begin(inv, nil)
	uas, _ := ParseURI("sip:5002@127.0.0.1:5090")
	d.confirm(e, Target{URI: uas}, answer(t, inv, 200, "x"))
	d.finish(inv, 500)
	if d.Len() != 1 {
		t.Error("finish ended an answered call")
	}
}

func TestDialogExpiry(t *testing.T) {
	d := NewDialogs(50 * time.Millisecond)
	defer d.Close()
	ended := make(chan Dialog, 1)
	d.Subscribe(func(ev DialogEvent) {
		if ev.Kind == EventTerminated {
			ended <- ev.Dialog
		}
	})
	inv := parseRequest(t, inviteMsg)
	e := d.begin(inv, nil)
	uas, _ := ParseURI("sip:5002@127.0.0.1:5090")
	d.confirm(e, Target{URI: uas}, answer(t, inv, 200, "callee"))
	select {
	case dl := <-ended:
		if dl.Cause != CauseExpired {
			t.Errorf("cause: got %q, want expired", dl.Cause)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a call without BYE never expired")
	}
	if d.Len() != 0 {
		t.Error("expired dialog still in the table")
	}
}

func TestDialogCloseEndsAll(t *testing.T) {
	d := NewDialogs(time.Hour)
	var log eventLog
	d.Subscribe(log.add)
	d.begin(parseRequest(t, inviteMsg), nil)
	d.Close()
	d.Close() // idempotent
	if log.last().Kind != EventTerminated || log.last().Dialog.Cause != CauseServerClosed {
		t.Errorf("last event: %+v", log.last())
	}
}

// TestDialogFinishSparesTheChallengeAnswer: a phone answers the proxy's
// 407 with a new INVITE (same Call-ID and From tag, next CSeq, new branch),
// which may create its dialog before the writer of the 407 reports that
// final response. The 407 must not end the new call's dialog.
func TestDialogFinishSparesTheChallengeAnswer(t *testing.T) {
	d := NewDialogs(time.Hour)
	defer d.Close()
	var log eventLog
	d.Subscribe(log.add)
	challenged := parseRequest(t, inviteMsg)
	authorized := parseRequest(t, inviteMsg)
	authorized.CSeq().SeqNo++
	authorized.Via().Params.Add("branch", "z9hG4bK-second-attempt")

	e := d.begin(authorized, nil)
	uas, _ := ParseURI("sip:5002@127.0.0.1:5090")
	d.legStarted(e, Target{URI: uas, Gateway: "gw"})
	d.finish(challenged, 407) // late: the 407 went out before the new INVITE came
	if d.Len() != 1 {
		t.Fatal("the 407 of the first INVITE ended the dialog of the second")
	}
	if !d.confirm(e, Target{URI: uas, Gateway: "gw"}, answer(t, authorized, 200, "x")) {
		t.Fatal("the answer of the second INVITE was not taken")
	}
	for _, ev := range log.events {
		if ev.Kind == EventTerminated || ev.Kind == EventBranchEnded {
			t.Errorf("unexpected %v event: %+v", ev.Kind, ev.Dialog)
		}
	}
	// The INVITE that created the dialog still ends it when rejected.
	d2 := NewDialogs(time.Hour)
	defer d2.Close()
	e2 := d2.begin(authorized, nil)
	d2.legStarted(e2, Target{URI: uas})
	d2.finish(authorized, 486)
	if d2.Len() != 0 {
		t.Error("finish of the creating INVITE left its dialog in the table")
	}
}
