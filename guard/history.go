package guard

import (
	"context"
	"slices"
	"time"

	"github.com/palio-voip/palio/sip"
)

// PastCall is an outbound call a guard counted before it started (one of
// the day's call records), from which it rebuilds its fraud figures
// (WithHistory).
type PastCall struct {
	// Caller is the account that placed it (its user part; the digest
	// username, as Begin's caller), Domain its domain.
	Caller, Domain string
	// Number is the number as dialled (the Request-URI user as it
	// arrived: what Wrap matches the rules against).
	Number string
	// Start is when the INVITE arrived; Talk its talk time (zero for a
	// call not answered).
	Start time.Time
	Talk  time.Duration
}

// History reads the outbound calls of authenticated callers begun in
// [from, to), calling fn with each (an error from fn stops it and is
// returned): the call records of package accounting, say, which the
// program adapts (the guard does not read them itself).
type History func(ctx context.Context, from, to time.Time, fn func(PastCall) error) error

// WithHistory makes New rebuild the day's fraud figures from h: the
// calls each caller placed since midnight (FraudConfig.Location) count
// towards the rule they match as they did when placed — calls and
// minutes per day, calls in a row, calls of the last minute — and the
// thresholds they reached are taken as reported, so a restart neither
// starts an account's day afresh nor repeats its alerts. Calls in
// progress at the restart are not concurrent any more (their dialogs
// went with the process). A History that fails is logged and the day
// starts from zero.
func WithHistory(h History) Option { return func(g *Guard) { g.history = h } }

// rebuild counts the day's past calls (rebuild runs in New, before the
// guard is used).
func (f *fraudChecker) rebuild(ctx context.Context, h History) (int, error) {
	g := f.g
	now := g.now().In(g.cfg.Fraud.Location)
	y, m, d := now.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, g.cfg.Fraud.Location)
	// The whole day: a store that keeps whole seconds has the calls of
	// this second after "now".
	var calls []PastCall
	err := h(ctx, midnight, midnight.AddDate(0, 0, 1), func(c PastCall) error {
		if c.Caller != "" {
			calls = append(calls, c)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	slices.SortStableFunc(calls, func(a, b PastCall) int { return a.Start.Compare(b.Start) })
	snap := f.snap.Load()
	f.mu.Lock()
	defer f.mu.Unlock()
	type counted struct {
		st *fstats
		r  *crule
	}
	touched := map[statKey]counted{}
	for _, c := range calls {
		at := c.Start.In(g.cfg.Fraud.Location)
		r, _ := f.rule(ctx, snap, sip.CallerIdentity{User: c.Caller, Domain: c.Domain}, c.Number, at)
		if r == nil {
			continue
		}
		key := statKey{c.Caller, r.Prefix}
		st := f.statsOf(key)
		st.roll(dayOf(at), r.ID)
		st.dial(c.Number)
		st.total++
		st.cpm.add(at.Unix())
		st.seconds += int64(c.Talk / time.Second)
		touched[key] = counted{st, r}
	}
	// What the figures reached was reported when it was reached.
	for _, c := range touched {
		st := c.st
		values := map[string]int{
			ParamTotalCalls:      st.total,
			ParamSequentialCalls: st.seq,
			ParamTotalMinutes:    int(st.seconds / 60),
		}
		params := []string{ParamTotalCalls, ParamSequentialCalls, ParamTotalMinutes}
		for {
			if _, more := pickAlert(c.r, st, values, params, true); !more {
				break
			}
		}
	}
	return len(calls), nil
}
