package accounting

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"
)

// Totals count calls and add up their talk time and cost.
type Totals struct {
	// Calls counts the calls, Answered those answered.
	Calls    int `json:"calls"`
	Answered int `json:"answered"`
	// In, Out, Internal and Transit count the calls by direction.
	In       int `json:"in"`
	Out      int `json:"out"`
	Internal int `json:"internal"`
	Transit  int `json:"transit"`
	// Seconds is the talk time (the sum of acc's duration).
	Seconds int64 `json:"seconds"`
	// Cost is what the calls cost.
	Cost Money `json:"cost"`
}

// Minutes returns the talk time in minutes.
func (t Totals) Minutes() float64 { return float64(t.Seconds) / 60 }

// add counts c; its cost only with withCost (a call counted for its
// callee as well as its caller costs its caller).
func (t *Totals) add(c CDR, withCost bool) {
	t.Calls++
	if c.Answered() {
		t.Answered++
	}
	switch c.Direction {
	case In:
		t.In++
	case Out:
		t.Out++
	case Internal:
		t.Internal++
	case Transit:
		t.Transit++
	}
	t.Seconds += int64(c.Duration)
	if withCost {
		t.Cost += c.Cost
	}
}

// Line is the totals of one group of calls: a day, a class, a gateway,
// an account, a department, a destination.
type Line struct {
	// Key names the group ("2026-12-04", "national", "gw-siena-1",
	// "5002@voip.unisi.it", "Economia", "00577232111"); empty for the
	// calls without one (no class, no department).
	Key string `json:"key"`
	Totals
}

// Report is what the calls of a period add up to: the daily report of
// the seed ("incoming and outgoing calls and their length"), the cost
// detail per user and per department, and the check on calls to or from
// blocked accounts. Build it with BuildReport, or a ReportBuilder.
type Report struct {
	// From and To bound the period: calls created in [From, To).
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// User, when set, is the one account the report is about.
	User string `json:"user,omitempty"`
	// Total is the period's totals.
	Total Totals `json:"total"`
	// Days, Classes, Gateways, Users and Departments are the totals per
	// day (local time), call class, gateway, account and department,
	// by key. A call between two accounts counts for both (its cost for
	// the caller only).
	Days        []Line `json:"days"`
	Classes     []Line `json:"classes"`
	Gateways    []Line `json:"gateways"`
	Users       []Line `json:"users"`
	Departments []Line `json:"departments"`
	// Destinations are the numbers called most outside the organisation
	// (Out and Transit calls), most calls first.
	Destinations []Line `json:"top_destinations"`
	// Blocked lists the calls to or from blocked accounts (by the
	// caller's and callee's accounts, the From user, the number dialled):
	// refused ones (a blocked phone trying to call) and any that went
	// through.
	Blocked []CDR `json:"blocked"`
}

// ReportOptions say what a report covers.
type ReportOptions struct {
	// From and To bound the period (calls created in [From, To)).
	From, To time.Time
	// User keeps the calls of one account (Filter.User).
	User string
	// Top is the number of destinations listed (default 10).
	Top int
	// Departments are the accounts' departments.
	Departments []Department
	// Blocked reports whether an account, by its user part, is blocked
	// (registrar.Subscriber.Blocked); nil: no check.
	Blocked func(user string) bool
	// Location is where days begin and end (default time.Local).
	Location *time.Location
}

// ReportBuilder adds up calls into a Report.
type ReportBuilder struct {
	opts                                         ReportOptions
	dept                                         map[string]string // by lower-case AOR
	byU                                          map[string]string // by user part, when the domain does not match
	total                                        Totals
	days, classes, gateways, users, depts, dests map[string]*Totals
	blocked                                      []CDR
}

// NewReportBuilder returns an empty builder.
func NewReportBuilder(opts ReportOptions) *ReportBuilder {
	if opts.Top <= 0 {
		opts.Top = 10
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	b := &ReportBuilder{opts: opts, dept: map[string]string{}, byU: map[string]string{},
		days: map[string]*Totals{}, classes: map[string]*Totals{}, gateways: map[string]*Totals{},
		users: map[string]*Totals{}, depts: map[string]*Totals{}, dests: map[string]*Totals{}}
	for _, d := range opts.Departments {
		b.dept[strings.ToLower(d.AOR())] = d.Department
		b.byU[d.User] = d.Department
	}
	return b
}

// department returns the department of the account aor.
func (b *ReportBuilder) department(aor string) string {
	if d, ok := b.dept[strings.ToLower(aor)]; ok {
		return d
	}
	return b.byU[userOf(aor)]
}

func tally(m map[string]*Totals, key string, c CDR, withCost bool) {
	t := m[key]
	if t == nil {
		t = &Totals{}
		m[key] = t
	}
	t.add(c, withCost)
}

// Add counts a call.
func (b *ReportBuilder) Add(c CDR) {
	b.total.add(c, true)
	tally(b.days, c.Created.In(b.opts.Location).Format(time.DateOnly), c, true)
	tally(b.classes, c.Class, c, true)
	if c.Gateway != "" {
		tally(b.gateways, c.Gateway, c, true)
	}
	seen := map[string]bool{}
	for _, u := range c.Users() {
		payer := u == c.Caller
		tally(b.users, u, c, payer)
		d := b.department(u)
		if !seen[d] {
			seen[d] = true
			tally(b.depts, d, c, payer)
		}
	}
	if c.Direction == Out || c.Direction == Transit {
		tally(b.dests, c.Number, c, true)
	}
	if b.opts.Blocked != nil {
		for _, u := range []string{userOf(c.Caller), userOf(c.Callee), userOf(c.From), c.Dialled, c.Number} {
			if u != "" && b.opts.Blocked(u) {
				b.blocked = append(b.blocked, c)
				break
			}
		}
	}
}

// lines returns m's totals by key.
func lines(m map[string]*Totals) []Line {
	out := make([]Line, 0, len(m))
	for k, t := range m {
		out = append(out, Line{Key: k, Totals: *t})
	}
	slices.SortFunc(out, func(a, b Line) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Report returns the report of the calls added.
func (b *ReportBuilder) Report() Report {
	rep := Report{
		From: b.opts.From, To: b.opts.To, User: b.opts.User,
		Total: b.total, Days: lines(b.days), Classes: lines(b.classes), Gateways: lines(b.gateways),
		Users: lines(b.users), Departments: lines(b.depts), Blocked: slices.Clone(b.blocked),
	}
	dests := lines(b.dests)
	slices.SortStableFunc(dests, func(x, y Line) int {
		if c := cmp.Compare(y.Calls, x.Calls); c != 0 {
			return c
		}
		return cmp.Compare(y.Seconds, x.Seconds)
	})
	if len(dests) > b.opts.Top {
		dests = dests[:b.opts.Top]
	}
	rep.Destinations = dests
	if rep.Blocked == nil {
		rep.Blocked = []CDR{}
	}
	return rep
}

// BuildReport reads the calls opts selects from st and adds them up.
func BuildReport(ctx context.Context, st Store, opts ReportOptions) (Report, error) {
	b := NewReportBuilder(opts)
	err := st.CDRs(ctx, Filter{From: opts.From, To: opts.To, User: opts.User}, func(c CDR) error {
		b.Add(c)
		return nil
	})
	if err != nil {
		return Report{}, err
	}
	return b.Report(), nil
}

// Day returns the bounds of the day of t in loc: midnight to midnight.
func Day(t time.Time, loc *time.Location) (from, to time.Time) {
	if loc == nil {
		loc = time.Local
	}
	t = t.In(loc)
	from = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	return from, from.AddDate(0, 0, 1)
}
