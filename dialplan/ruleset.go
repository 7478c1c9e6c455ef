package dialplan

import (
	"slices"
	"time"

	"github.com/palio-voip/palio/internal/digits"
)

// RuleSet is a compiled, immutable set of rules, indexed for translation.
// It is safe for concurrent use; a reload builds a new one.
type RuleSet struct {
	tables map[int]*table
	report Report
}

// table holds the rules of one dpid. rules is in the order they are tried
// (pr, then id); every index list holds positions in rules, ascending, so
// the first hit of a list is its best.
type table struct {
	rules []compiled
	// eq indexes case-sensitive equality rules by value, eqFold the
	// case-insensitive ones by lower-cased value.
	eq, eqFold map[string][]int32
	// prefixes indexes regex rules by the literal prefixes they require;
	// anywhere lists the rules that can match any input.
	prefixes digits.Trie[[]int32]
	anywhere []int32
}

func newTable(cs []compiled) *table {
	sortRules(cs)
	t := &table{rules: cs, eq: map[string][]int32{}, eqFold: map[string][]int32{}}
	for i := range cs {
		c, pos := &cs[i], int32(i)
		switch {
		case c.rule.MatchOp == Equal && c.fold:
			t.eqFold[c.exact] = append(t.eqFold[c.exact], pos)
		case c.rule.MatchOp == Equal:
			t.eq[c.exact] = append(t.eq[c.exact], pos)
		case !c.prefixed:
			t.anywhere = append(t.anywhere, pos)
		default:
			for _, p := range c.prefixes {
				list, _ := t.prefixes.Get(p)
				t.prefixes.Set(p, append(list, pos))
			}
			c.prefixes = nil // the trie has them now
		}
	}
	t.prefixes.Compact()
	return t
}

// Report returns what the load that built the set made of its rules.
func (rs *RuleSet) Report() Report {
	r := rs.report
	r.Discarded = slices.Clone(r.Discarded)
	return r
}

// Len returns the number of rules in the set.
func (rs *RuleSet) Len() int {
	n := 0
	for _, t := range rs.tables {
		n += len(t.rules)
	}
	return n
}

// DPIDs returns the rule sets' ids, ascending.
func (rs *RuleSet) DPIDs() []int {
	ids := make([]int, 0, len(rs.tables))
	for id := range rs.tables {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Rules returns the loaded rules of dpid in the order they are tried.
func (rs *RuleSet) Rules(dpid int) []Rule {
	t := rs.tables[dpid]
	if t == nil {
		return nil
	}
	out := make([]Rule, len(t.rules))
	for i := range t.rules {
		out[i] = t.rules[i].rule
	}
	return out
}

// outcome is how a translation ended.
type outcome uint8

const (
	outcomeNoMatch outcome = iota
	outcomeMatch
	outcomeSubstFailed // a rule won but its subst_exp did not match
)

// Translate translates input with the rules of dpid valid at now, as
// dp_translate does: among the rules that match, the one with the lowest
// priority wins, then the lowest id. It reports false when no rule
// matches, when the input is empty, and when the winning rule's subst_exp
// does not match the input (OpenSIPS fails the translation then too, and
// tries no other rule); the Result is then zero. It does not allocate
// unless the output is built from subst_exp groups.
func (rs *RuleSet) Translate(dpid int, input string, now time.Time) (Result, bool) {
	res, out := rs.translate(dpid, input, now)
	if out != outcomeMatch {
		return Result{}, false
	}
	return res, true
}

func (rs *RuleSet) translate(dpid int, input string, now time.Time) (Result, outcome) {
	if rs == nil || input == "" {
		return Result{}, outcomeNoMatch
	}
	t := rs.tables[dpid]
	if t == nil {
		return Result{}, outcomeNoMatch
	}
	w := t.find(input, now)
	if w < 0 {
		return Result{}, outcomeNoMatch
	}
	return t.rules[w].apply(dpid, input)
}

// find returns the position of the winning rule, or -1. It tries only
// the rules the indexes offer, and in each list stops at the first rule
// that cannot beat the best found so far.
func (t *table) find(input string, now time.Time) int32 {
	best := int32(len(t.rules))
	if list, ok := t.eq[input]; ok {
		best = t.firstTimely(list, now, best)
	}
	if len(t.eqFold) > 0 {
		best = t.firstTimely(t.foldedList(input), now, best)
	}
	c := t.prefixes.Cursor()
	for i := 0; i < len(input); i++ {
		if !c.Next(input[i]) {
			break
		}
		if list, ok := c.Value(); ok {
			best = t.firstMatch(list, input, now, best)
		}
	}
	best = t.firstMatch(t.anywhere, input, now, best)
	if best == int32(len(t.rules)) {
		return -1
	}
	return best
}

// firstTimely returns the first equality rule of list before best whose
// timerec holds, or best.
func (t *table) firstTimely(list []int32, now time.Time, best int32) int32 {
	for _, pos := range list {
		if pos >= best {
			break
		}
		if t.rules[pos].rec.Match(now) {
			return pos
		}
	}
	return best
}

// firstMatch returns the first regex rule of list before best that
// matches input at now, or best.
func (t *table) firstMatch(list []int32, input string, now time.Time, best int32) int32 {
	for _, pos := range list {
		if pos >= best {
			break
		}
		if c := &t.rules[pos]; c.matchExp(input) && c.rec.Match(now) {
			return pos
		}
	}
	return best
}

// foldedList returns the case-insensitive equality rules for input.
func (t *table) foldedList(input string) []int32 {
	var buf [64]byte
	if len(input) > len(buf) {
		return t.eqFold[lowerASCII(input)]
	}
	b := buf[:len(input)]
	for i := 0; i < len(input); i++ {
		c := input[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return t.eqFold[string(b)] // the compiler does not copy b for the lookup
}

// matchExp reports whether a Regex or Fnmatch rule's match_exp matches
// input.
func (c *compiled) matchExp(input string) bool {
	if c.shape != nil {
		return c.shape.match(input)
	}
	return c.re.MatchString(input)
}

// matches reports whether the rule's match_exp accepts input, ignoring
// time; for Explain.
func (c *compiled) matches(input string) bool {
	if c.rule.MatchOp != Equal {
		return c.matchExp(input)
	}
	if c.fold {
		return lowerASCII(input) == c.exact
	}
	return input == c.exact
}

// apply builds the result of the rule for input.
func (c *compiled) apply(dpid int, input string) (Result, outcome) {
	res := Result{DPID: dpid, RuleID: c.rule.ID, Input: input, Output: input, Attrs: c.rule.Attrs}
	switch {
	case c.rule.ReplExp == "":
		// OpenSIPS leaves the output variable untouched.
	case c.subst == nil:
		res.Output = c.rule.ReplExp
	default:
		m := c.subst.FindStringSubmatchIndex(input)
		if m == nil {
			return res, outcomeSubstFailed
		}
		res.Output = expand(c.segs, input, m)
	}
	return res, outcomeMatch
}
