package guard_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/guard"
)

// callLog is a History over the calls recorded so far, as the call
// records of package accounting would hold them.
type callLog struct {
	mu    sync.Mutex
	calls []guard.PastCall
}

func (l *callLog) record(c guard.PastCall) {
	l.mu.Lock()
	l.calls = append(l.calls, c)
	l.mu.Unlock()
}

func (l *callLog) history(ctx context.Context, from, to time.Time, fn func(guard.PastCall) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.calls {
		if !c.Start.Before(from) && c.Start.Before(to) {
			if err := fn(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestFraudFiguresSurviveRestart: a guard started with the day's calls
// (WithHistory) goes on counting where the one before it stopped: the
// calls and minutes of the day, the calls in a row; the warnings already
// raised are not raised again, and the next call reaches the critical
// and is refused, as it would have been without the restart. A call of
// the day before does not count; without the history the day starts
// afresh; a history that fails leaves the figures at zero, and the guard
// starts.
func TestFraudFiguresSurviveRestart(t *testing.T) {
	rule := guard.Rule{ID: 3, Prefix: "000", TotalCalls: guard.Threshold{Warning: 2, Critical: 3}, TotalMinutes: guard.Threshold{Warning: 5}}
	cfg := guard.Config{Flood: guard.FloodConfig{Off: true}, Fraud: guard.FraudConfig{Block: true, Location: time.UTC}}
	var log callLog
	log.record(guard.PastCall{Caller: "5002", Domain: "voip.unisi.it", Number: "000442079460000", Start: t0.Add(-24 * time.Hour), Talk: time.Hour})

	store := guard.NewMemStore(rule)
	before := newEnvWith(t, cfg, store, guard.WithHistory(log.history))
	for i, talk := range []time.Duration{4 * time.Minute, 2 * time.Minute} {
		start := before.clock.Now()
		code, end := before.call(t, "000442079460000")
		if code != 0 {
			t.Fatalf("call %d: %d", i+1, code)
		}
		before.clock.Advance(talk)
		end(talk)
		log.record(guard.PastCall{Caller: "5002", Domain: "voip.unisi.it", Number: "000442079460000", Start: start, Talk: talk})
		before.clock.Advance(time.Minute)
	}
	if got := before.alerts(); !same(got, "warning total-calls 2", "warning total-minutes 6") {
		t.Fatalf("alerts before the restart: %q", got)
	}
	before.g.Close()

	restart := func(t *testing.T, opts ...guard.Option) *env {
		t.Helper()
		// The day goes on: the new guard starts 20 minutes later.
		later := newClock(t0.Add(20 * time.Minute))
		return newEnvWith(t, cfg, guard.NewMemStore(rule), append(opts, guard.WithClock(later))...)
	}
	t.Run("with the day's calls", func(t *testing.T) {
		e := restart(t, guard.WithHistory(log.history))
		s := e.g.FraudStats("5002")
		if len(s) != 1 || s[0].TotalCalls != 2 || s[0].TotalMinutes != 6 || s[0].SequentialCalls != 2 || s[0].ConcurrentCalls != 0 || s[0].Rule != 3 {
			t.Fatalf("figures after the restart: %+v; want 2 calls, 6 minutes, 2 in a row, none in progress, rule 3", s)
		}
		if code, _ := e.call(t, "000442079460001"); code != 403 {
			t.Errorf("the third call of the day: %d, want 403 (critical total-calls 3)", code)
		}
		if got := e.alerts(); !same(got, "critical total-calls 3 blocked", "banned fraud 5002") {
			t.Errorf("alerts after the restart: %q (the warnings were raised before it)", got)
		}
		if !e.logs.contains("fraud figures rebuilt from the day's calls") || !e.logs.contains("calls=2") {
			t.Errorf("no rebuild line:\n%s", e.logs)
		}
	})
	t.Run("without", func(t *testing.T) {
		e := restart(t)
		if code, _ := e.call(t, "000442079460001"); code != 0 {
			t.Errorf("the third call, figures afresh: %d, want 0", code)
		}
	})
	t.Run("a history that fails", func(t *testing.T) {
		e := restart(t, guard.WithHistory(func(context.Context, time.Time, time.Time, func(guard.PastCall) error) error {
			return errors.New("database down")
		}))
		if s := e.g.FraudStats(""); len(s) != 0 {
			t.Errorf("figures: %+v, want none", s)
		}
		if !e.logs.contains("the fraud figures start from zero") {
			t.Errorf("no warning:\n%s", e.logs)
		}
	})
}
