package dialplan

import (
	"testing"
	"time"

	"github.com/palio-voip/palio/internal/race"
)

// monday is 2 March 2026, 09:00 UTC, a Monday.
var monday = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func re(id, pr int, exp, attrs string) Rule {
	return Rule{ID: id, Priority: pr, MatchOp: Regex, MatchExp: exp, Attrs: attrs}
}

func eq(id, pr int, exp, attrs string) Rule {
	return Rule{ID: id, Priority: pr, MatchOp: Equal, MatchExp: exp, Attrs: attrs}
}

func with(r Rule, f func(*Rule)) Rule { f(&r); return r }

const officeHours = "UTC|20260105T080000||PT10H|weekly|||MO,TU,WE,TH,FR"

func TestTranslateSemantics(t *testing.T) {
	tests := []struct {
		name  string
		rules []Rule
		dpid  int
		input string
		now   time.Time
		want  Result // RuleID 0: no translation
	}{
		{
			name:  "lowest priority wins",
			rules: []Rule{re(1, 5, "^0", "low"), re(2, 1, "^05", "high")},
			input: "0577", want: Result{RuleID: 2, Attrs: "high"},
		},
		{
			name:  "tie on priority: lowest id wins",
			rules: []Rule{re(7, 1, "^05", "seven"), re(3, 1, "^0", "three")},
			input: "0577", want: Result{RuleID: 3, Attrs: "three"},
		},
		{
			name:  "regex outranks equality by priority",
			rules: []Rule{eq(1, 2, "5002", "eq"), re(2, 1, "^5", "re")},
			input: "5002", want: Result{RuleID: 2, Attrs: "re"},
		},
		{
			name:  "equality outranks regex by priority",
			rules: []Rule{eq(9, 0, "5002", "eq"), re(2, 1, "^5", "re")},
			input: "5002", want: Result{RuleID: 9, Attrs: "eq"},
		},
		{
			name:  "equality and regex tie: lowest id",
			rules: []Rule{eq(4, 1, "5002", "eq"), re(2, 1, "^5", "re")},
			input: "5002", want: Result{RuleID: 2, Attrs: "re"},
		},
		{
			name:  "equality is whole-string",
			rules: []Rule{eq(1, 1, "500", "eq")},
			input: "5002",
		},
		{
			name:  "regex is an unanchored search",
			rules: []Rule{re(1, 1, "23", "anywhere")},
			input: "0577232111", want: Result{RuleID: 1, Attrs: "anywhere"},
		},
		{
			name: "subst and repl with groups",
			rules: []Rule{with(re(1, 1, "^0577", "national"), func(r *Rule) {
				r.SubstExp, r.ReplExp = `^0(577)(.*)$`, `+39\1\2`
			})},
			input: "0577232111", want: Result{RuleID: 1, Output: "+39577232111", Attrs: "national"},
		},
		{
			name: "output is built from repl only: text outside the match is dropped",
			rules: []Rule{with(re(1, 1, "^05771530", "toip"), func(r *Rule) {
				r.SubstExp, r.ReplExp = `1530(...)$`, `ext-\1-\0`
			})},
			input: "05771530123", want: Result{RuleID: 1, Output: "ext-123-1530123", Attrs: "toip"},
		},
		{
			name: "escaped backslash and dollar",
			rules: []Rule{with(re(1, 1, "^1", ""), func(r *Rule) {
				r.SubstExp, r.ReplExp = `^(1)`, `a\\b\$c\1`
			})},
			input: "1", want: Result{RuleID: 1, Output: `a\b$c1`},
		},
		{
			name: "unmatched optional group is empty",
			rules: []Rule{with(re(1, 1, "2", ""), func(r *Rule) {
				r.SubstExp, r.ReplExp = `^(1)?(2)`, `[\1]\2`
			})},
			input: "2", want: Result{RuleID: 1, Output: "[]2"},
		},
		{
			name:  "repl without subst is copied verbatim",
			rules: []Rule{with(re(1, 1, "^88", "media"), func(r *Rule) { r.ReplExp = `IVR_\1` })},
			input: "88100", want: Result{RuleID: 1, Output: `IVR_\1`, Attrs: "media"},
		},
		{
			name:  "no repl leaves the input",
			rules: []Rule{with(re(1, 1, "^88", "media"), func(r *Rule) { r.SubstExp = `^(88)` })},
			input: "88100", want: Result{RuleID: 1, Attrs: "media"},
		},
		{
			name: "subst_exp that does not match fails the translation",
			rules: []Rule{
				with(re(1, 1, "^0", "x"), func(r *Rule) { r.SubstExp, r.ReplExp = `^9(.*)`, `\1` }),
				re(2, 2, "^0", "would match"),
			},
			input: "0577",
		},
		{
			name:  "case-insensitive equality",
			rules: []Rule{with(eq(1, 1, "alice", "user"), func(r *Rule) { r.MatchFlags = FlagCaseInsensitive })},
			input: "ALIce", want: Result{RuleID: 1, Attrs: "user"},
		},
		{
			name:  "case-sensitive equality",
			rules: []Rule{eq(1, 1, "alice", "user")},
			input: "ALIce",
		},
		{
			name:  "case folding is ASCII only, as strncasecmp",
			rules: []Rule{with(eq(1, 1, "ÄB", "x"), func(r *Rule) { r.MatchFlags = FlagCaseInsensitive })},
			input: "äb",
		},
		{
			name:  "case-insensitive regex",
			rules: []Rule{with(re(1, 1, "^fax_", "fax"), func(r *Rule) { r.MatchFlags = FlagCaseInsensitive })},
			input: "FAX_5500", want: Result{RuleID: 1, Attrs: "fax"},
		},
		{
			name:  "case-sensitive regex",
			rules: []Rule{re(1, 1, "^fax_", "fax")},
			input: "FAX_5500",
		},
		{
			name: "the flag makes subst_exp caseless too",
			rules: []Rule{with(re(1, 1, "^fax_", "fax"), func(r *Rule) {
				r.MatchFlags, r.SubstExp, r.ReplExp = FlagCaseInsensitive, `^fax_(.*)$`, `\1`
			})},
			input: "FAX_5500", want: Result{RuleID: 1, Output: "5500", Attrs: "fax"},
		},
		{
			name:  "disabled rules do not match",
			rules: []Rule{with(re(1, 1, "^5", "off"), func(r *Rule) { r.Disabled = true }), re(2, 9, "^5", "on")},
			input: "5002", want: Result{RuleID: 2, Attrs: "on"},
		},
		{
			name:  "timerec in its window",
			rules: []Rule{with(re(1, 1, "^5", "open"), func(r *Rule) { r.TimeRec = officeHours }), re(2, 2, "^5", "closed")},
			input: "5002", now: monday, want: Result{RuleID: 1, Attrs: "open"},
		},
		{
			name:  "timerec out of its window",
			rules: []Rule{with(re(1, 1, "^5", "open"), func(r *Rule) { r.TimeRec = officeHours }), re(2, 2, "^5", "closed")},
			input: "5002", now: monday.Add(-12 * time.Hour), want: Result{RuleID: 2, Attrs: "closed"},
		},
		{
			name:  "timerec on an equality rule",
			rules: []Rule{with(eq(1, 1, "5002", "open"), func(r *Rule) { r.TimeRec = officeHours }), eq(2, 2, "5002", "closed")},
			input: "5002", now: monday.AddDate(0, 0, 5), want: Result{RuleID: 2, Attrs: "closed"},
		},
		{
			name:  "fnmatch star",
			rules: []Rule{{ID: 1, MatchOp: Fnmatch, MatchExp: "0577*", Attrs: "siena"}},
			input: "0577232111", want: Result{RuleID: 1, Attrs: "siena"},
		},
		{
			name:  "fnmatch is anchored at both ends",
			rules: []Rule{{ID: 1, MatchOp: Fnmatch, MatchExp: "577*"}},
			input: "0577232111",
		},
		{
			name:  "fnmatch negated bracket",
			rules: []Rule{{ID: 1, MatchOp: Fnmatch, MatchExp: "[!0]???", Attrs: "internal"}},
			input: "5002", want: Result{RuleID: 1, Attrs: "internal"},
		},
		{
			name:  "fnmatch negated bracket refuses",
			rules: []Rule{{ID: 1, MatchOp: Fnmatch, MatchExp: "[!0]???"}},
			input: "0577",
		},
		{
			name:  "dpids are separate",
			rules: []Rule{with(re(1, 1, "^5", "other"), func(r *Rule) { r.DPID = 1 })},
			input: "5002",
		},
		{
			name:  "the dpid asked for",
			rules: []Rule{re(1, 1, "^5", "zero"), with(re(2, 1, "^5", "one"), func(r *Rule) { r.DPID = 1 })},
			dpid:  1, input: "5002", want: Result{DPID: 1, RuleID: 2, Attrs: "one"},
		},
		{
			name:  "empty input never matches",
			rules: []Rule{re(1, 1, ".*", "anything")},
			input: "",
		},
		{
			name:  "attrs come back empty when the rule has none",
			rules: []Rule{re(1, 1, "^5", "")},
			input: "5002", want: Result{RuleID: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, rep := Compile(tt.rules)
			if len(rep.Discarded) != 0 {
				t.Fatalf("rules discarded: %+v", rep.Discarded)
			}
			now := tt.now
			if now.IsZero() {
				now = monday
			}
			want := tt.want
			if want.RuleID != 0 {
				want.Input = tt.input
				if want.Output == "" {
					want.Output = tt.input
				}
			}
			got, ok := rs.Translate(tt.dpid, tt.input, now)
			if ok != (want.RuleID != 0) || got != want {
				t.Errorf("Translate(%d, %q) = %+v, %v; want %+v, %v", tt.dpid, tt.input, got, ok, want, want.RuleID != 0)
			}
			lin, _ := newLinear(rs).translate(tt.dpid, tt.input, now)
			if ok && lin != got {
				t.Errorf("linear scan: got %+v, want %+v", lin, got)
			}
			e := rs.Explain(tt.dpid, tt.input, now)
			if e.OK != ok || e.Result != got {
				t.Errorf("Explain: got %+v, %v; want %+v, %v", e.Result, e.OK, got, ok)
			}
		})
	}
}

func TestExplainVerdicts(t *testing.T) {
	rs, _ := Compile([]Rule{
		with(re(1, 1, "^5", "open"), func(r *Rule) { r.TimeRec = officeHours }),
		re(2, 2, "^6", "six"),
		re(3, 3, "^50", "fifty"),
		re(4, 4, "^5", "five"),
		eq(5, 5, "5002", "exact"),
		re(6, 6, "9", "nine anywhere"),
	})
	e := rs.Explain(0, "5002", monday.Add(-12*time.Hour))
	want := map[int]Verdict{1: OutOfTime, 3: Won, 4: Outranked, 5: Outranked, 6: NoMatch}
	if len(e.Candidates) != len(want) {
		t.Errorf("got %d candidates, want %d (rule 2 requires 6 and is not offered):\n%v", len(e.Candidates), len(want), e)
	}
	for _, c := range e.Candidates {
		if v, ok := want[c.Rule.ID]; !ok || v != c.Verdict {
			t.Errorf("rule %d: got %v, want %v", c.Rule.ID, c.Verdict, v)
		}
	}
	if !e.OK || e.Result.RuleID != 3 {
		t.Errorf("result: got %+v, %v; want rule 3", e.Result, e.OK)
	}

	rs, _ = Compile([]Rule{with(re(1, 1, "^0", ""), func(r *Rule) { r.SubstExp, r.ReplExp = `^9`, `x` })})
	if e := rs.Explain(0, "0577", monday); e.OK || len(e.Candidates) != 1 || e.Candidates[0].Verdict != SubstFailed {
		t.Errorf("subst failure: got %v, want one candidate with verdict %v and no translation", e, SubstFailed)
	}
}

func TestTranslateDoesNotAllocate(t *testing.T) {
	if race.Enabled {
		t.Skip("the race detector makes sync.Pool (regexp's matchers) drop items at random: allocation counts are not the program's")
	}
	rs, _ := Compile(append(unisiRules(t),
		with(eq(100, 1, "ALICE", "user"), func(r *Rule) { r.MatchFlags = FlagCaseInsensitive }),
		with(re(101, 0, "^5", "office"), func(r *Rule) { r.TimeRec = officeHours }),
		with(re(102, 3, "^9", "ivr"), func(r *Rule) { r.ReplExp = "IVR_MAIN" }),
	))
	for _, in := range []string{"5002", "00575123456", "12345", "alice", "9", "05771530123"} {
		if allocs := testing.AllocsPerRun(100, func() { rs.Translate(0, in, monday) }); allocs != 0 {
			t.Errorf("Translate(%q): %v allocations, want 0", in, allocs)
		}
	}
}
