package guard_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/sip"
)

var caller5002 = sip.CallerIdentity{User: "5002", Domain: "voip.unisi.it"}

// fraudEnv is a guard with the fraud check alone, over rules.
func fraudEnv(t *testing.T, block bool, rules ...guard.Rule) *env {
	t.Helper()
	return newEnv(t, guard.Config{Flood: guard.FloodConfig{Off: true}, Fraud: guard.FraudConfig{Block: block, Location: time.UTC}}, guard.NewMemStore(rules...))
}

// call begins a call and reports its status: 0 going on, 403 refused;
// end ends it with a talk time.
func (e *env) call(t *testing.T, number string) (code int, end func(time.Duration)) {
	t.Helper()
	end, err := e.g.Begin(context.Background(), nil, caller5002, number)
	if end == nil {
		end = func(time.Duration) {}
	}
	if err != nil {
		se, ok := sip.AsStatus(err)
		if !ok {
			t.Fatal(err)
		}
		return se.Code, end
	}
	return 0, end
}

// alerts returns the fraud events so far as "warning total-calls 2" lines.
func (e *env) alerts() []string {
	var out []string
	for _, ev := range e.took() {
		switch ev.Kind {
		case guard.EventFraudWarning:
			out = append(out, "warning "+ev.Fraud.Param+" "+itoa(ev.Fraud.Value))
		case guard.EventFraudCritical:
			s := "critical " + ev.Fraud.Param + " " + itoa(ev.Fraud.Value)
			if ev.Fraud.Blocked {
				s += " blocked"
			}
			out = append(out, s)
		case guard.EventBanned:
			out = append(out, "banned "+string(ev.Ban.Kind)+" "+ev.Ban.Subject)
		case guard.EventUnbanned:
			out = append(out, "unbanned "+string(ev.Ban.Kind)+" "+ev.Ban.Subject)
		}
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

func same(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// TestFraudCallsPerMinute: the calls of the last 60 s against cpm
// thresholds; each level is reported once per day and rule.
func TestFraudCallsPerMinute(t *testing.T) {
	e := fraudEnv(t, false, guard.Rule{ID: 1, Prefix: "000", CallsPerMinute: guard.Threshold{Warning: 3, Critical: 5}})
	var got []string
	for i := 1; i <= 6; i++ {
		if code, end := e.call(t, "000442079460000"); code != 0 {
			t.Fatalf("call %d refused (%d) without Block", i, code)
		} else {
			end(0)
		}
		got = append(got, e.alerts()...)
		e.clock.Advance(5 * time.Second)
	}
	if !same(got, "warning calls-per-minute 3", "critical calls-per-minute 5") {
		t.Errorf("alerts: %q", got)
	}
	e.clock.Advance(time.Minute)
	e.call(t, "000442079460000")
	if s := e.g.FraudStats("5002"); len(s) != 1 || s[0].CallsPerMinute != 1 || s[0].TotalCalls != 7 {
		t.Errorf("a minute later: %+v, want 1 call this minute of 7 today", s)
	}
}

// TestFraudTotalCallsBlock: with Block, the call that reaches the critical
// total is refused and blocks the caller's outbound calls, stored, until
// an operator clears the block: the next day too. Cleared, the caller's
// figures start afresh.
func TestFraudTotalCallsBlock(t *testing.T) {
	e := fraudEnv(t, true, guard.Rule{ID: 3, Prefix: "000", TotalCalls: guard.Threshold{Warning: 2, Critical: 3}})
	for i, want := range []int{0, 0, 403, 403} {
		if code, end := e.call(t, "000442079460000"); code != want {
			t.Fatalf("call %d: got %d, want %d", i+1, code, want)
		} else {
			end(0)
		}
	}
	if got := e.alerts(); !same(got, "warning total-calls 2", "critical total-calls 3 blocked", "banned fraud 5002") {
		t.Errorf("alerts: %q", got)
	}
	if code, _ := e.call(t, "0577232111"); code != 403 {
		t.Errorf("a national call of a blocked caller: %d, want 403 (every outbound call)", code)
	}
	bans := waitStored(t, e.store, func(bs []guard.Ban) bool { return len(bs) == 1 })
	if b := bans[0]; b.Kind != guard.BanFraud || b.Subject != "5002" || !b.Until.IsZero() || !strings.Contains(b.Reason, "total-calls 3 >= 3 (rule 3") {
		t.Errorf("stored: %+v", b)
	}
	e.clock.Advance(24 * time.Hour)
	e.g.Sweep()
	if code, _ := e.call(t, "000442079460000"); code != 403 {
		t.Errorf("the next day: %d, want 403 until cleared", code)
	}
	if err := e.g.Unban(context.Background(), guard.BanFraud, "5002"); err != nil {
		t.Fatal(err)
	}
	e.took()
	for i := range 2 {
		if code, _ := e.call(t, "000442079460000"); code != 0 {
			t.Fatalf("call %d after the clear: %d", i+1, code)
		}
	}
	if got := e.alerts(); !same(got, "warning total-calls 2") {
		t.Errorf("after the clear the count starts afresh: %q", got)
	}
	waitStored(t, e.store, func(bs []guard.Ban) bool { return len(bs) == 0 })
}

// TestFraudConcurrent: calls in progress, this one included; ended calls
// leave the count.
func TestFraudConcurrent(t *testing.T) {
	e := fraudEnv(t, true, guard.Rule{ID: 1, Prefix: "0", ConcurrentCalls: guard.Threshold{Warning: 2, Critical: 3}})
	_, end1 := e.call(t, "00577232111")
	_, end2 := e.call(t, "00577232112")
	end1(time.Minute)
	if code, _ := e.call(t, "00577232113"); code != 0 {
		t.Fatalf("2 at once: %d", code)
	}
	if code, _ := e.call(t, "00577232114"); code != 403 {
		t.Fatalf("3 at once: %d, want 403", code)
	}
	end2(time.Minute)
	if got := e.alerts(); !same(got, "warning concurrent-calls 2", "critical concurrent-calls 3 blocked", "banned fraud 5002") {
		t.Errorf("alerts: %q", got)
	}
}

// TestFraudSequential: calls in a row to the same number.
func TestFraudSequential(t *testing.T) {
	e := fraudEnv(t, false, guard.Rule{ID: 1, SequentialCalls: guard.Threshold{Critical: 3}})
	for _, n := range []string{"0577111", "0577111", "0577222", "0577222", "0577222"} {
		e.call(t, n)
	}
	if got := e.alerts(); !same(got, "critical sequential-calls 3") {
		t.Errorf("alerts: %q", got)
	}
}

// TestFraudMinutes: the day's talk time is checked when a call ends (and
// blocks then), one call's duration likewise; the next call is refused.
func TestFraudMinutes(t *testing.T) {
	e := fraudEnv(t, true, guard.Rule{ID: 1, Prefix: "000", TotalMinutes: guard.Threshold{Warning: 5, Critical: 10}, CallDuration: guard.Threshold{Warning: 400}})
	_, end := e.call(t, "000442079460000")
	end(7 * time.Minute)
	_, end = e.call(t, "000442079460000")
	end(4 * time.Minute)
	if code, _ := e.call(t, "000442079460000"); code != 403 {
		t.Errorf("after 11 minutes: %d, want 403", code)
	}
	if got := e.alerts(); !same(got, "warning total-minutes 7", "warning call-duration 420", "critical total-minutes 11 blocked", "banned fraud 5002") {
		t.Errorf("alerts: %q", got)
	}
}

// TestFraudRuleChoice: the longest prefix with a rule in force wins; at
// one prefix the narrower window (the night) wins over the whole day; a
// night window belongs to the day it opens on; a number no rule matches
// is not counted.
func TestFraudRuleChoice(t *testing.T) {
	rules := []guard.Rule{
		{ID: 1, Prefix: "", TotalCalls: guard.Threshold{Warning: 1}},
		{ID: 2, Prefix: "000", TotalCalls: guard.Threshold{Warning: 1}},
		{ID: 3, Prefix: "000", StartHour: "22:00", EndHour: "06:59", Days: "Mon-Fri", TotalCalls: guard.Threshold{Warning: 1}},
		{ID: 4, Profile: 2, Prefix: "0899", TotalCalls: guard.Threshold{Warning: 1}},
	}
	tests := []struct {
		name   string
		at     time.Time
		number string
		rule   int
	}{
		{"national, by day", t0, "00577232111", 1},
		{"international, by day", t0, "000442079460000", 2},
		{"international, Wednesday night", time.Date(2026, 12, 2, 23, 0, 0, 0, time.UTC), "000442079460000", 3},
		{"international, Thursday 03:00 (Wednesday's night)", time.Date(2026, 12, 3, 3, 0, 0, 0, time.UTC), "000442079460000", 3},
		{"international, Saturday 03:00 (Friday's night)", time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC), "000442079460000", 3},
		{"international, Saturday 23:00 (no night rule)", time.Date(2026, 12, 5, 23, 0, 0, 0, time.UTC), "000442079460000", 2},
		{"international, 07:00", time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC), "000442079460000", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := fraudEnv(t, false, rules...)
			e.clock.mu.Lock()
			e.clock.t = tt.at
			e.clock.mu.Unlock()
			e.call(t, tt.number)
			evs := e.took()
			if len(evs) != 1 || evs[0].Fraud.RuleID != tt.rule {
				t.Fatalf("got %+v, want a warning of rule %d", evs, tt.rule)
			}
		})
	}
	t.Run("profile", func(t *testing.T) {
		e := newEnv(t, guard.Config{Flood: guard.FloodConfig{Off: true}, Fraud: guard.FraudConfig{
			ProfileOf: func(_ context.Context, c sip.CallerIdentity) (int, bool) { return 2, c.User == "5002" },
		}}, guard.NewMemStore(rules...))
		e.call(t, "0899123456")
		if evs := e.took(); len(evs) != 1 || evs[0].Fraud.RuleID != 4 {
			t.Fatalf("got %+v, want rule 4 of profile 2", evs)
		}
		e.call(t, "00577232111")
		if evs := e.took(); len(evs) != 0 {
			t.Fatalf("a number profile 2 has no rule for: %+v", evs)
		}
	})
}

// TestFraudNewDay: the daily figures start afresh at midnight (of
// FraudConfig.Location).
func TestFraudNewDay(t *testing.T) {
	e := fraudEnv(t, false, guard.Rule{ID: 1, TotalCalls: guard.Threshold{Warning: 2}})
	e.call(t, "0577111")
	e.clock.Advance(15 * time.Hour) // 00:00 the next day
	e.call(t, "0577111")
	if got := e.alerts(); len(got) != 0 {
		t.Errorf("one call a day: %q", got)
	}
}

// TestFraudStage: Wrap counts the INVITEs of authenticated callers, and
// lets the others through uncounted.
func TestFraudStage(t *testing.T) {
	e := fraudEnv(t, true, guard.Rule{ID: 1, TotalCalls: guard.Threshold{Critical: 1}})
	reached := 0
	h := e.g.Wrap(sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		reached++
		return nil
	}))
	anon := register(t, "10.0.0.5:5060", "")
	anon.Method = sip.INVITE
	call := sip.NewCall(anon)
	if err := h.ServeSIP(sip.WithCall(context.Background(), call), nil, anon); err != nil || reached != 1 {
		t.Fatalf("a caller without identity: %v, reached %d", err, reached)
	}
	call = sip.NewCall(anon)
	call.SetCaller(caller5002)
	err := h.ServeSIP(sip.WithCall(context.Background(), call), nil, anon)
	var se *sip.StatusError
	if !errors.As(err, &se) || se.Code != 403 || reached != 1 {
		t.Fatalf("5002's first call with a critical of 1: %v, reached %d", err, reached)
	}
	if tr := call.TraceString(); !strings.Contains(tr, "refused: 5002 total-calls 1 >= 1") {
		t.Errorf("trace: %s", tr)
	}
}
