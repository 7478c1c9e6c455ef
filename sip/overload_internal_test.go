package sip

import (
	"testing"
	"time"
)

// TestOverloadBurst: above MaxPending, new requests are admitted up to
// BurstFactor × MaxPending while the pending ones leave within
// MaxPendingDelay (the least time of the last published interval), and
// refused when they leave slowly, when no interval was published for two
// (nothing left), and always when MaxPendingDelay is negative.
func TestOverloadBurst(t *testing.T) {
	ms := int64(time.Millisecond)
	iv := int64(delayInterval)
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC).UnixNano()
	// admitted fills the pending count from zero and returns how many
	// requests were admitted before the first refusal (at most 100).
	admitted := func(o *overload, now int64) int {
		o.pending.Store(0)
		n := 0
		for n < 100 && o.admitAt(now) {
			n++
		}
		return n
	}
	// paced publishes intervals whose quickest request took d.
	paced := func(o *overload, d, from int64) int64 {
		o.leave.observe(d, from)
		o.leave.observe(d+ms, from+iv)
		o.leave.observe(d+ms, from+2*iv)
		return from + 2*iv
	}
	for _, tt := range []struct {
		name     string
		maxDelay time.Duration
		pace     int64 // the quickest leave of the published intervals; 0: none published
		after    int64 // how long after the last publication the burst comes
		want     int
	}{
		{"nothing left yet", 0, 0, 0, 4},
		{"quick: a burst", 0, ms, 0, 4 * BurstFactor},
		{"quick, a while ago", 0, ms, 150 * ms, 4 * BurstFactor},
		{"quick, stale", 0, ms, 2*iv + 1, 4},
		{"slow: a backlog", 0, int64(DefaultMaxPendingDelay) + 5*ms, 0, 4},
		{"under a larger bound", DefaultMaxPendingDelay + 10*time.Millisecond, int64(DefaultMaxPendingDelay) + 5*ms, 0, 4 * BurstFactor},
		{"hard bound", -1, ms, 0, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := newOverload(OverloadConfig{MaxPending: 4, MaxPendingDelay: tt.maxDelay, MaxQueueDelay: -1})
			o.init(nil, nil)
			now := t0
			if tt.pace != 0 {
				now = paced(o, tt.pace, t0)
			}
			if got := admitted(o, now+tt.after); got != tt.want {
				t.Errorf("admitted %d before the first refusal, want %d", got, tt.want)
			}
		})
	}
}

// TestLeaveDelayMinimum: the published pace is the least time of the
// interval, not the last or the mean: one quick request among slow ones
// says the proxy still moves requests through.
func TestLeaveDelayMinimum(t *testing.T) {
	var l leaveDelay
	t0 := int64(1e18)
	ms := int64(time.Millisecond)
	for i, d := range []int64{40, 3, 90, 40} {
		l.observe(d*ms, t0+int64(i)*10*ms)
	}
	if got := l.standing(t0 + 40*ms); got != 0 {
		t.Fatalf("published before the interval ended: %v", got)
	}
	l.observe(50*ms, t0+int64(delayInterval))
	if got := l.standing(t0 + int64(delayInterval)); got != 3*time.Millisecond {
		t.Errorf("standing pace %v, want the interval's least, 3ms", got)
	}
	if !l.moving(t0+int64(delayInterval), 20*ms) || l.moving(t0+int64(delayInterval), 3*ms) {
		t.Error("moving: want true under 20 ms, false at 3 ms (strictly under)")
	}
}
