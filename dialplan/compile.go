package dialplan

import (
	"cmp"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/palio-voip/palio/internal/timerec"
	"github.com/palio-voip/palio/snapshot"
)

// Report says what a load made of the rules it was given.
type Report struct {
	// Loaded is the number of rules in the set.
	Loaded int
	// Disabled is the number of rules skipped because they are disabled.
	Disabled int
	// Discarded lists the rules that cannot work, in the order given.
	Discarded []Discarded
	// Took is how long the reload took (zero from Compile).
	Took time.Duration
}

// Summary is the report in the form every component gives.
func (r Report) Summary() snapshot.Report {
	out := snapshot.Report{Component: "dialplan", Loaded: r.Loaded, Took: r.Took}
	for _, d := range r.Discarded {
		out.Discarded = append(out.Discarded, snapshot.Discard{Table: "dialplan", ID: strconv.Itoa(d.ID), Reason: d.Reason})
	}
	return out
}

// Discarded is a rule left out of a rule set, and why.
type Discarded struct {
	// ID and DPID identify the rule.
	ID, DPID int
	// Reason names the column at fault and what is wrong with it, e.g.
	// `match_exp "^(?=1)": error parsing regexp: invalid or unsupported
	// Perl syntax: ` + "`(?=`" + `.
	Reason string
}

// String returns the summary OpenSIPS logs: "9 rules loaded (1 discarded,
// 2 disabled)".
func (r Report) String() string {
	return strconv.Itoa(r.Loaded) + " rules loaded (" + strconv.Itoa(len(r.Discarded)) +
		" discarded, " + strconv.Itoa(r.Disabled) + " disabled)"
}

// compiled is a rule ready to match.
type compiled struct {
	rule  Rule
	exact string // Equal: the value, lower-cased when fold
	fold  bool   // FlagCaseInsensitive
	// A Regex or Fnmatch rule matches with its shape when it has one, else
	// with re.
	shape *shape
	re    *regexp.Regexp
	// prefixes index a Regex or Fnmatch rule; prefixed is false when the
	// rule must be tried on every input.
	prefixes []string
	prefixed bool
	subst    *regexp.Regexp
	segs     []segment // the parsed repl_exp, with subst
	rec      *timerec.Expr
}

// Compile builds an immutable rule set from rules. A rule that cannot work
// is left out and listed in the report with the reason; disabled rules are
// skipped and counted; the others load. Rules need distinct IDs: a rule
// whose ID was already seen is discarded.
func Compile(rules []Rule) (*RuleSet, Report) {
	var rep Report
	seen := make(map[int]bool, len(rules))
	byDPID := make(map[int][]compiled)
	for _, r := range rules {
		if seen[r.ID] {
			rep.Discarded = append(rep.Discarded, Discarded{ID: r.ID, DPID: r.DPID, Reason: "id: used by an earlier rule"})
			continue
		}
		seen[r.ID] = true
		if r.Disabled {
			rep.Disabled++
			continue
		}
		c, _, reason := compileRule(r)
		if reason != "" {
			rep.Discarded = append(rep.Discarded, Discarded{ID: r.ID, DPID: r.DPID, Reason: reason})
			continue
		}
		byDPID[r.DPID] = append(byDPID[r.DPID], c)
		rep.Loaded++
	}
	rs := &RuleSet{tables: make(map[int]*table, len(byDPID)), report: rep}
	rs.report.Discarded = slices.Clone(rep.Discarded)
	for dpid, cs := range byDPID {
		rs.tables[dpid] = newTable(cs)
	}
	return rs, rep
}

// compileRule compiles one rule, or says why it cannot work and which
// field (the column's name) is at fault.
func compileRule(r Rule) (c compiled, field, reason string) {
	c = compiled{rule: r, fold: r.MatchFlags&FlagCaseInsensitive != 0}
	switch r.MatchOp {
	case Equal:
		if r.MatchExp == "" {
			return c, "match_exp", "match_exp: empty, and an equality rule needs a value"
		}
		c.exact = r.MatchExp
		if c.fold {
			c.exact = lowerASCII(r.MatchExp)
		}
	case Regex, Fnmatch:
		expr := r.MatchExp
		if r.MatchOp == Fnmatch {
			expr = globToRegexp(r.MatchExp)
		}
		var tree *syntax.Regexp
		var err error
		if c.shape, c.re, tree, err = compileMatch(expr, c.fold); err != nil {
			return c, "match_exp", fmt.Sprintf("match_exp %q: %v%s", r.MatchExp, err, re2Hint(expr))
		}
		c.prefixes, c.prefixed = requiredPrefixes(tree)
	default:
		return c, "match_op", fmt.Sprintf("match_op %d: want 0 (equality), 1 (regex) or 2 (fnmatch)", int(r.MatchOp))
	}
	if r.SubstExp != "" {
		re, err := compileRegexp(r.SubstExp, c.fold)
		if err != nil {
			return c, "subst_exp", fmt.Sprintf("subst_exp %q: %v%s", r.SubstExp, err, re2Hint(r.SubstExp))
		}
		c.subst = re
		if r.ReplExp != "" {
			if c.segs, reason = parseRepl(r.ReplExp, re.NumSubexp()); reason != "" {
				return c, "repl_exp", reason
			}
		}
	}
	if strings.TrimSpace(r.TimeRec) != "" {
		rec, err := timerec.Parse(r.TimeRec)
		if err != nil {
			return c, "timerec", err.Error()
		}
		c.rec = rec
	}
	return c, "", ""
}

// compileMatch compiles a match_exp as Go's regexp would (Perl flags),
// case-insensitive when fold. An expression with a shape gets it instead of
// a regexp, after the same checks regexp.Compile makes. The parse tree comes
// back simplified, for indexing.
func compileMatch(expr string, fold bool) (*shape, *regexp.Regexp, *syntax.Regexp, error) {
	full := expr
	if fold {
		full = "(?i)" + expr
	}
	tree, err := syntax.Parse(full, syntax.Perl)
	if err != nil {
		return nil, nil, nil, plainError(expr, fold, err)
	}
	simple := tree.Simplify()
	if s := shapeOf(tree); s != nil {
		if _, err := syntax.Compile(simple); err != nil {
			return nil, nil, nil, err
		}
		return s, nil, simple, nil
	}
	re, err := regexp.Compile(full)
	if err != nil {
		return nil, nil, nil, plainError(expr, fold, err)
	}
	return nil, re, simple, nil
}

// compileRegexp compiles a subst_exp, case-insensitive when fold.
func compileRegexp(expr string, fold bool) (*regexp.Regexp, error) {
	if !fold {
		return regexp.Compile(expr)
	}
	re, err := regexp.Compile("(?i)" + expr)
	if err != nil {
		return nil, plainError(expr, fold, err)
	}
	return re, nil
}

// plainError reports a compile error against the expression as written,
// without the (?i) the case flag adds, when it fails on its own too.
func plainError(expr string, fold bool, err error) error {
	if fold {
		if _, plain := regexp.Compile(expr); plain != nil {
			return plain
		}
	}
	return err
}

// re2Hint explains the usual reason a PCRE expression written for OpenSIPS
// does not compile in Go.
func re2Hint(expr string) string {
	switch {
	case strings.Contains(expr, "(?=") || strings.Contains(expr, "(?!") ||
		strings.Contains(expr, "(?<=") || strings.Contains(expr, "(?<!"):
		return " (Go's RE2 has no lookaround)"
	case strings.Contains(expr, "(?>"):
		return " (Go's RE2 has no atomic groups)"
	case strings.Contains(expr, "++") || strings.Contains(expr, "*+") || strings.Contains(expr, "?+"):
		return " (Go's RE2 has no possessive quantifiers)"
	}
	for i := 0; i+1 < len(expr); i++ {
		if expr[i] == '\\' {
			if c := expr[i+1]; c >= '1' && c <= '9' {
				return " (Go's RE2 has no backreferences)"
			}
			i++
		}
	}
	return ""
}

// lowerASCII lower-cases ASCII letters only, as strncasecmp does in the C
// locale.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// sortRules orders compiled rules as they are tried: lowest priority
// first, then lowest id.
func sortRules(cs []compiled) {
	slices.SortFunc(cs, func(a, b compiled) int {
		return cmp.Or(cmp.Compare(a.rule.Priority, b.rule.Priority), cmp.Compare(a.rule.ID, b.rule.ID))
	})
}
