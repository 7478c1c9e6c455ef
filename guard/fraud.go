package guard

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palio-voip/palio/internal/digits"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/snapshot"
)

// fraudSnap is the fraud rules compiled: per profile, a prefix trie of the
// rules at each prefix.
type fraudSnap struct {
	profiles map[int]*digits.Trie[[]*crule]
}

// crule is a rule with its window parsed.
type crule struct {
	Rule
	win     Window
	minutes int
}

// compileRules builds the snapshot; rules that cannot work are left out
// and reported.
func compileRules(rules []Rule) (*fraudSnap, []snapshot.Discard) {
	s := &fraudSnap{profiles: map[int]*digits.Trie[[]*crule]{}}
	var discards []snapshot.Discard
	byPrefix := map[int]map[string][]*crule{}
	for _, r := range rules {
		if err := r.Validate(); err != nil {
			discards = append(discards, snapshot.Discard{Table: "fraud_detection", ID: strconv.Itoa(r.ID), Reason: err.Error()})
			continue
		}
		w, _ := r.Window()
		if byPrefix[r.Profile] == nil {
			byPrefix[r.Profile] = map[string][]*crule{}
		}
		byPrefix[r.Profile][r.Prefix] = append(byPrefix[r.Profile][r.Prefix], &crule{Rule: r, win: w, minutes: w.Minutes()})
	}
	for p, prefixes := range byPrefix {
		t := &digits.Trie[[]*crule]{}
		for prefix, rs := range prefixes {
			// The narrowest window first, then the lowest ID: the first
			// in force wins.
			slices.SortFunc(rs, func(a, b *crule) int {
				if a.minutes != b.minutes {
					return a.minutes - b.minutes
				}
				return a.ID - b.ID
			})
			t.Set(prefix, rs)
		}
		t.Compact()
		s.profiles[p] = t
	}
	return s, discards
}

// match returns the rule a call to number counts against at weekday day
// (0 Sunday) and minute of the day min: the longest prefix that has a rule
// in force, and at that prefix the narrowest window (then the lowest ID).
func (s *fraudSnap) match(profile int, number string, day, min int) *crule {
	t := s.profiles[profile]
	if t == nil {
		return nil
	}
	var best *crule
	pick := func(rs []*crule) {
		for _, r := range rs {
			if r.win.Contains(day, min) {
				best = r
				return
			}
		}
	}
	c := t.Cursor()
	if rs, ok := c.Value(); ok {
		pick(rs)
	}
	for i := 0; i < len(number); i++ {
		if !c.Next(number[i]) {
			break
		}
		if rs, ok := c.Value(); ok {
			pick(rs)
		}
	}
	return best
}

// fraudChecker keeps the figures of each user and matched prefix.
type fraudChecker struct {
	g     *Guard
	snap  atomic.Pointer[fraudSnap]
	mu    sync.Mutex
	stats map[statKey]*fstats
	// peers are the other nodes' calls in progress counted here
	// (FollowCalls, peercalls.go).
	peers map[peerKey]peerCall
}

type statKey struct{ user, prefix string }

// fstats are one user's figures for one prefix, since the start of the
// day or since the rule in force changed (interval counts those resets).
type fstats struct {
	day        int
	rule       int
	interval   uint64
	total      int
	seconds    int64
	cpm        cpmWindow
	seq        int
	last       string
	concurrent int
	// warned and critical hold a bit per param (its index in Params)
	// already reported in this interval.
	warned, critical uint8
}

// begin counts a call to number starting at now under rule (a new day or
// another rule starts the figures afresh) and returns the figures the
// rule's thresholds are checked against.
func (s *fstats) begin(now time.Time, rule int, number string) map[string]int {
	s.roll(dayOf(now), rule)
	s.dial(number)
	s.total++
	s.concurrent++
	return map[string]int{
		ParamCallsPerMinute:  s.cpm.add(now.Unix()),
		ParamTotalCalls:      s.total,
		ParamConcurrentCalls: s.concurrent,
		ParamSequentialCalls: s.seq,
		ParamTotalMinutes:    int(s.seconds / 60),
	}
}

// roll starts the figures afresh on another day or under another rule.
func (s *fstats) roll(day, rule int) {
	if s.day != day || s.rule != rule {
		s.reset(day, rule)
	}
}

// dial counts a call to number in the calls in a row to one number.
func (s *fstats) dial(number string) {
	if number == s.last {
		s.seq++
	} else {
		s.last, s.seq = number, 1
	}
}

// statsOf returns the figures of key, made when there are none yet. The
// caller holds mu.
func (f *fraudChecker) statsOf(key statKey) *fstats {
	st := f.stats[key]
	if st == nil {
		st = &fstats{}
		f.stats[key] = st
	}
	return st
}

func (s *fstats) reset(day, rule int) {
	s.day, s.rule = day, rule
	s.interval++
	s.total, s.seconds, s.seq, s.last = 0, 0, 0, ""
	s.cpm = cpmWindow{}
	s.warned, s.critical = 0, 0
}

// cpmWindow counts calls over the last 60 seconds in one-second buckets.
type cpmWindow struct {
	at [60]int64
	n  [60]uint16
}

// add counts a call at unix second sec and returns the calls of the last
// 60 seconds.
func (w *cpmWindow) add(sec int64) int {
	i := int(((sec % 60) + 60) % 60)
	if w.at[i] != sec {
		w.at[i], w.n[i] = sec, 0
	}
	if w.n[i] < ^uint16(0) {
		w.n[i]++
	}
	total := 0
	for j := range w.at {
		if sec-w.at[j] < 60 && w.at[j] <= sec {
			total += int(w.n[j])
		}
	}
	return total
}

func newFraudChecker(g *Guard) *fraudChecker {
	f := &fraudChecker{g: g, stats: map[statKey]*fstats{}, peers: map[peerKey]peerCall{}}
	f.snap.Store(&fraudSnap{})
	return f
}

func dayOf(t time.Time) int { return t.Year()*1000 + t.YearDay() }

// alert is a threshold reached, found under the lock and reported after.
type alert struct {
	FraudAlert
	critical bool
}

// pickAlert returns the first critical among params reached by values,
// else the first warning. With once, a level already reported for a param
// in this interval is not reported again (the bits in st mark them), and a
// critical reached hides the warnings.
func pickAlert(r *crule, st *fstats, values map[string]int, params []string, once bool) (alert, bool) {
	critReached := false
	for _, critical := range []bool{true, false} {
		if !critical && critReached {
			break
		}
		mark := &st.warned
		if critical {
			mark = &st.critical
		}
		for _, p := range params {
			t := r.Threshold(p)
			thr := t.Warning
			if critical {
				thr = t.Critical
			}
			v := values[p]
			if thr == 0 || v < thr {
				continue
			}
			critReached = critReached || critical
			bit := uint8(1) << slices.Index(Params, p)
			if once {
				if *mark&bit != 0 {
					continue
				}
				*mark |= bit
			}
			return alert{FraudAlert: FraudAlert{Param: p, Value: v, Threshold: thr, RuleID: r.ID, Profile: r.Profile, Prefix: r.Prefix}, critical: critical}, true
		}
	}
	return alert{}, false
}

// rule returns the rule of snap that a call of caller to number at the
// time at matches, and the caller's profile (FraudConfig.ProfileOf, else
// Profile).
func (f *fraudChecker) rule(ctx context.Context, snap *fraudSnap, caller sip.CallerIdentity, number string, at time.Time) (*crule, int) {
	profile := f.g.cfg.Fraud.Profile
	if f.g.cfg.Fraud.ProfileOf != nil {
		if p, ok := f.g.cfg.Fraud.ProfileOf(ctx, caller); ok {
			profile = p
		}
	}
	return snap.match(profile, number, int(at.Weekday()), at.Hour()*60+at.Minute()), profile
}

// startParams are the figures checked when a call begins.
var startParams = []string{ParamCallsPerMinute, ParamTotalCalls, ParamConcurrentCalls, ParamSequentialCalls, ParamTotalMinutes}

// begin counts a call of user to number and returns the outcome: nil to
// go on, a 403 when the call is refused (the user blocked, now or
// before). end, when not nil, must be called once when the call ends, with
// its talk time (the refused call's too: it was counted).
func (f *fraudChecker) begin(ctx context.Context, call *sip.Call, caller sip.CallerIdentity, number string) (end func(talk time.Duration), err error) {
	g := f.g
	if _, blocked := g.bans.Load().fraud[caller.User]; blocked {
		g.metrics.blockedFraud.Inc()
		call.Trace("fraud", sip.Note("refused: "+caller.User+"'s outbound calls are blocked (guard list; guard clear "+caller.User+")"))
		return nil, sip.Reject(403, "Forbidden: Blocked by Fraud Check")
	}
	now := g.now().In(g.cfg.Fraud.Location)
	r, profile := f.rule(ctx, f.snap.Load(), caller, number, now)
	if r == nil {
		call.Tracef("fraud", "no rule of profile %d for %s", profile, number)
		return nil, nil
	}
	key := statKey{caller.User, r.Prefix}
	f.mu.Lock()
	st := f.statsOf(key)
	values := st.begin(now, r.ID, number)
	interval := st.interval
	a, raised := pickAlert(r, st, values, startParams, true)
	f.mu.Unlock()
	var once sync.Once
	end = func(talk time.Duration) { once.Do(func() { f.ended(key, interval, r, caller, number, talk) }) }
	if !raised {
		call.Trace("fraud", ruleTrace{r.ID, r.Prefix, values[ParamTotalCalls], values[ParamCallsPerMinute], values[ParamConcurrentCalls]})
		return end, nil
	}
	a.User, a.Domain, a.Number = caller.User, caller.Domain, number
	if f.raise(a) {
		call.Trace("fraud", sip.Note("refused: "+a.FraudAlert.String()))
		return end, sip.Reject(403, "Forbidden: Blocked by Fraud Check")
	}
	call.Trace("fraud", sip.Note(a.Kind()+": "+a.FraudAlert.String()))
	return end, nil
}

// Kind names the alert's level.
func (a alert) Kind() string {
	if a.critical {
		return "critical"
	}
	return "warning"
}

// ended counts a call's end: one call less at once, its talk time, and
// the thresholds on durations.
func (f *fraudChecker) ended(key statKey, interval uint64, r *crule, caller sip.CallerIdentity, number string, talk time.Duration) {
	secs := int64(talk / time.Second)
	f.mu.Lock()
	st := f.stats[key]
	if st == nil {
		f.mu.Unlock()
		return
	}
	if st.concurrent > 0 {
		st.concurrent--
	}
	if secs <= 0 {
		f.mu.Unlock()
		return
	}
	var alerts []alert
	if st.interval == interval {
		st.seconds += secs
		if a, ok := pickAlert(r, st, map[string]int{ParamTotalMinutes: int(st.seconds / 60)}, []string{ParamTotalMinutes}, true); ok {
			alerts = append(alerts, a)
		}
	}
	// One call's duration: reported for every call that reaches it.
	if a, ok := pickAlert(r, st, map[string]int{ParamCallDuration: int(secs)}, []string{ParamCallDuration}, false); ok {
		alerts = append(alerts, a)
	}
	f.mu.Unlock()
	for _, a := range alerts {
		a.User, a.Domain, a.Number = caller.User, caller.Domain, number
		f.raise(a)
	}
}

// raise logs, counts and publishes an alert; a critical one blocks the
// user when the configuration says so. It reports whether the user is
// blocked now.
func (f *fraudChecker) raise(a alert) bool {
	g := f.g
	now := g.now()
	level := "warning"
	kind := EventFraudWarning
	if a.critical {
		level, kind = "critical", EventFraudCritical
		a.Blocked = g.cfg.Fraud.Block
	}
	g.metrics.fraudEvents.WithLabelValues(level, a.Param).Inc()
	attrs := []any{"user", a.User, "param", a.Param, "value", a.Value, "threshold", a.Threshold,
		"rule", a.RuleID, "profile", a.Profile, "prefix", a.Prefix, "number", a.Number, "blocked", a.Blocked}
	if a.critical {
		g.log.Error("guard: fraud critical", attrs...)
	} else {
		g.log.Warn("guard: fraud warning", attrs...)
	}
	g.publish(Event{Kind: kind, Time: now, Origin: OriginLocal, Fraud: a.FraudAlert})
	if !a.Blocked {
		return false
	}
	if _, already := g.bans.Load().fraud[a.User]; !already {
		g.ban(Ban{Kind: BanFraud, Subject: a.User, Created: now,
			Reason: fmt.Sprintf("%s %d >= %d (rule %d, prefix %q, calling %s)", a.Param, a.Value, a.Threshold, a.RuleID, a.Prefix, a.Number)})
	}
	return true
}

// reset starts a cleared user's figures afresh (the calls in progress
// still count as concurrent).
func (f *fraudChecker) reset(user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, st := range f.stats {
		if k.user == user {
			st.reset(st.day, st.rule)
		}
	}
}

// sweep drops the figures of past days without calls in progress.
func (f *fraudChecker) sweep(now time.Time) {
	day := dayOf(now.In(f.g.cfg.Fraud.Location))
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, st := range f.stats {
		if st.day != day && st.concurrent == 0 {
			delete(f.stats, k)
		}
	}
}

// Stats are one user's figures for one prefix, as the fraud check counts
// them (OpenSIPS's show_fraud_stats).
type Stats struct {
	User, Prefix     string
	Rule             int
	CallsPerMinute   int
	TotalCalls       int
	ConcurrentCalls  int
	SequentialCalls  int
	TotalMinutes     int
	LastNumberCalled string
}

// FraudStats returns the figures of user (every user when empty), by
// user and prefix.
func (g *Guard) FraudStats(user string) []Stats {
	f := g.fraud
	now := g.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Stats
	for k, st := range f.stats {
		if user != "" && k.user != user {
			continue
		}
		cpm := 0
		sec := now.Unix()
		for j := range st.cpm.at {
			if sec-st.cpm.at[j] < 60 && st.cpm.at[j] <= sec {
				cpm += int(st.cpm.n[j])
			}
		}
		out = append(out, Stats{User: k.user, Prefix: k.prefix, Rule: st.rule, CallsPerMinute: cpm, TotalCalls: st.total,
			ConcurrentCalls: st.concurrent, SequentialCalls: st.seq, TotalMinutes: int(st.seconds / 60), LastNumberCalled: st.last})
	}
	slices.SortFunc(out, func(a, b Stats) int {
		if a.User != b.User {
			return cmpString(a.User, b.User)
		}
		return cmpString(a.Prefix, b.Prefix)
	})
	return out
}

// ruleTrace is the trace line of a call counted without alert, formatted
// only when read.
type ruleTrace struct {
	rule             int
	prefix           string
	total, cpm, conc int
}

func (t ruleTrace) String() string {
	return fmt.Sprintf("rule %d (prefix %q): %d calls today, %d this minute, %d at once", t.rule, t.prefix, t.total, t.cpm, t.conc)
}
