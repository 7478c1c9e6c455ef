package guard_test

import (
	"testing"
	"time"

	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/sip"
)

// peerCall publishes a dialog event of another node's call on feed.
func peerCall(feed *sip.Feed[sip.DialogEvent], kind sip.EventKind, id, caller, ruri string, created time.Time) {
	rec := &sip.Call{CallID: id, FromTag: "ft-" + id}
	if caller != "" {
		rec.SetCaller(sip.CallerIdentity{User: caller, Domain: "voip.unisi.it"})
	}
	state := map[sip.EventKind]sip.DialogState{sip.EventCreated: sip.DialogTrying, sip.EventEarly: sip.DialogEarly,
		sip.EventConfirmed: sip.DialogConfirmed, sip.EventTerminated: sip.DialogTerminated}[kind]
	d := sip.Dialog{CallID: id, FromTag: "ft-" + id, RequestURI: ruri, State: state, Created: created, Call: rec}
	if kind == sip.EventTerminated {
		d.Answered, d.Ended = created, created.Add(3*time.Minute)
	}
	feed.Publish(sip.DialogEvent{Kind: kind, Dialog: d})
}

// TestFraudPeerCalls: the other nodes' calls (FollowCalls) count in the
// caller's figures, once per call, against the rule their dialled number
// matches here; they raise nothing themselves, and the next local call
// is checked against the sum.
func TestFraudPeerCalls(t *testing.T) {
	rules := []guard.Rule{{ID: 1, Prefix: "00", ConcurrentCalls: guard.Threshold{Critical: 3}, CallsPerMinute: guard.Threshold{Critical: 10}, TotalCalls: guard.Threshold{Warning: 100}}}
	tests := []struct {
		name string
		// peers publishes the other nodes' events; at is the env's time.
		peers    func(feed *sip.Feed[sip.DialogEvent], at time.Time)
		wantCode int    // of the local call that follows
		want     string // FraudStats of 5002 after it: "cpm total concurrent"
	}{
		{"two peer calls in progress: the local third is refused", func(f *sip.Feed[sip.DialogEvent], at time.Time) {
			peerCall(f, sip.EventCreated, "p1", "5002", "sip:00442079460001@voip.unisi.it", at)
			peerCall(f, sip.EventEarly, "p1", "5002", "sip:00442079460001@voip.unisi.it", at)
			peerCall(f, sip.EventConfirmed, "p1", "5002", "sip:00442079460001@voip.unisi.it", at)
			peerCall(f, sip.EventCreated, "p2", "5002", "sip:00442079460002@voip.unisi.it;user=phone", at)
		}, 403, "3 3 3"},
		{"an ended peer call leaves the concurrent calls", func(f *sip.Feed[sip.DialogEvent], at time.Time) {
			peerCall(f, sip.EventCreated, "p1", "5002", "sip:00442079460001@voip.unisi.it", at)
			peerCall(f, sip.EventCreated, "p2", "5002", "sip:00442079460002@voip.unisi.it", at)
			peerCall(f, sip.EventTerminated, "p2", "5002", "sip:00442079460002@voip.unisi.it", at)
			peerCall(f, sip.EventTerminated, "p2", "5002", "sip:00442079460002@voip.unisi.it", at)
		}, 0, "3 3 2"},
		{"another caller's, an anonymous one's, one without a rule: not counted", func(f *sip.Feed[sip.DialogEvent], at time.Time) {
			peerCall(f, sip.EventCreated, "p1", "5003", "sip:00442079460001@voip.unisi.it", at)
			peerCall(f, sip.EventCreated, "p2", "", "sip:00442079460002@voip.unisi.it", at)
			peerCall(f, sip.EventCreated, "p3", "5002", "sip:5004@voip.unisi.it", at)
		}, 0, "1 1 1"},
		{"calls heard late: since yesterday concurrent only, since 2 min not in the minute", func(f *sip.Feed[sip.DialogEvent], at time.Time) {
			peerCall(f, sip.EventConfirmed, "p1", "5002", "sip:00442079460001@voip.unisi.it", at.Add(-24*time.Hour))
			peerCall(f, sip.EventConfirmed, "p2", "5002", "sip:00442079460002@voip.unisi.it", at.Add(-2*time.Minute))
		}, 403, "1 2 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := fraudEnv(t, true, rules...)
			feed := sip.NewFeed[sip.DialogEvent](sip.FeedConfig{})
			defer feed.Close()
			stop := e.g.FollowCalls(feed)
			defer stop()
			tt.peers(feed, e.clock.Now())
			if got := e.alerts(); len(got) != 0 {
				t.Errorf("the peer calls raised %q here; their node raises their alerts", got)
			}
			code, _ := e.call(t, "00390577232111")
			if code != tt.wantCode {
				t.Errorf("the local call: got %d, want %d", code, tt.wantCode)
			}
			s := e.g.FraudStats("5002")
			got := ""
			if len(s) == 1 {
				got = itoa(s[0].CallsPerMinute) + " " + itoa(s[0].TotalCalls) + " " + itoa(s[0].ConcurrentCalls)
			}
			if got != tt.want {
				t.Errorf("5002's figures (cpm total concurrent): got %q, want %q (%+v)", got, tt.want, s)
			}
		})
	}
}
