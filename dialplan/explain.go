package dialplan

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Verdict is what became of one candidate rule in an Explanation.
type Verdict int

const (
	// NoMatch: the rule's match_exp does not accept the input.
	NoMatch Verdict = iota
	// OutOfTime: the rule matches, but its timerec does not hold.
	OutOfTime
	// Won: the rule translated the input.
	Won
	// SubstFailed: the rule won, but its subst_exp does not match the
	// input, so the translation failed (as in OpenSIPS).
	SubstFailed
	// Outranked: the rule matches too, but one tried before it won.
	Outranked
)

// String returns a short phrase for the verdict.
func (v Verdict) String() string {
	switch v {
	case NoMatch:
		return "no match"
	case OutOfTime:
		return "outside its timerec"
	case Won:
		return "won"
	case SubstFailed:
		return "won, but subst_exp does not match"
	case Outranked:
		return "matches, outranked"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Candidate is a rule the index offered for an input, with its verdict.
type Candidate struct {
	Rule    Rule
	Verdict Verdict
}

// Explanation tells how an input was translated: every rule the index
// offered, in the order they rank, and the outcome. It is what the CLI's
// translate -explain prints.
type Explanation struct {
	// DPID, Input and At are what was translated, with which rules, when.
	DPID  int
	Input string
	At    time.Time
	// Candidates are the rules the index offered, by (pr, id). Rules it
	// did not offer cannot match the input.
	Candidates []Candidate
	// Rules is the number of rules of the dpid.
	Rules int
	// Result is the translation, valid when OK is true; OK is what
	// Translate reports.
	Result Result
	OK     bool
}

// Explain translates input as Translate does and says why: which rules
// were candidates and what became of each. Its result is always
// Translate's.
func (rs *RuleSet) Explain(dpid int, input string, now time.Time) Explanation {
	e := Explanation{DPID: dpid, Input: input, At: now}
	if rs == nil {
		return e
	}
	t := rs.tables[dpid]
	if t == nil || input == "" {
		return e
	}
	e.Rules = len(t.rules)
	decided := false
	for _, pos := range t.candidates(input) {
		c := &t.rules[pos]
		v := NoMatch
		switch {
		case !c.matches(input):
		case !c.rec.Match(now):
			v = OutOfTime
		case decided:
			v = Outranked
		default:
			decided = true
			res, out := c.apply(dpid, input)
			v = Won
			if out == outcomeMatch {
				e.Result, e.OK = res, true
			} else {
				v = SubstFailed
			}
		}
		e.Candidates = append(e.Candidates, Candidate{Rule: c.rule, Verdict: v})
	}
	return e
}

// candidates returns, ascending, the positions of every rule the indexes
// offer for input.
func (t *table) candidates(input string) []int32 {
	var all []int32
	all = append(all, t.eq[input]...)
	if len(t.eqFold) > 0 {
		all = append(all, t.foldedList(input)...)
	}
	c := t.prefixes.Cursor()
	for i := 0; i < len(input); i++ {
		if !c.Next(input[i]) {
			break
		}
		if list, ok := c.Value(); ok {
			all = append(all, list...)
		}
	}
	all = append(all, t.anywhere...)
	slices.Sort(all)
	return slices.Compact(all)
}

// String formats the explanation for people: a heading, one line per
// candidate (id, pr, op, match_exp, verdict; tab-separated) and the
// outcome.
func (e Explanation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dpid %d, input %q, at %s: %d of %d rules are candidates\n",
		e.DPID, e.Input, e.At.Format(time.RFC3339), len(e.Candidates), e.Rules)
	for _, c := range e.Candidates {
		fmt.Fprintf(&b, "%d\tpr %d\t%s\t%q\t%s\n", c.Rule.ID, c.Rule.Priority, c.Rule.MatchOp, c.Rule.MatchExp, c.Verdict)
	}
	if e.OK {
		fmt.Fprintf(&b, "rule %d: output %q, attrs %q\n", e.Result.RuleID, e.Result.Output, e.Result.Attrs)
	} else {
		b.WriteString("no translation\n")
	}
	return b.String()
}
