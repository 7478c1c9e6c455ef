package dialplan

import (
	"bufio"
	"cmp"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// linear is the reference matcher: what OpenSIPS does, every rule of the
// dpid tried in (pr, id) order until one matches, each regex with Go's
// regexp compiled afresh from the rule's text. The property test, the fuzz
// targets and the benchmarks hold the index (and the shapes) to it.
type linear struct {
	tables map[int][]linearRule
}

type linearRule struct {
	*compiled
	re *regexp.Regexp
}

func newLinear(rs *RuleSet) *linear {
	l := &linear{tables: map[int][]linearRule{}}
	for dpid, t := range rs.tables {
		var lr []linearRule
		for i := range t.rules {
			c := &t.rules[i]
			r := linearRule{compiled: c}
			if c.rule.MatchOp != Equal {
				expr := c.rule.MatchExp
				if c.rule.MatchOp == Fnmatch {
					expr = globToRegexp(expr)
				}
				if c.fold {
					expr = "(?i)" + expr
				}
				r.re = regexp.MustCompile(expr)
			}
			lr = append(lr, r)
		}
		slices.SortFunc(lr, func(a, b linearRule) int {
			return cmp.Or(cmp.Compare(a.rule.Priority, b.rule.Priority), cmp.Compare(a.rule.ID, b.rule.ID))
		})
		l.tables[dpid] = lr
	}
	return l
}

func (l *linear) translate(dpid int, input string, now time.Time) (Result, outcome) {
	if input == "" {
		return Result{}, outcomeNoMatch
	}
	for _, c := range l.tables[dpid] {
		var ok bool
		switch c.rule.MatchOp {
		case Equal:
			if c.fold {
				ok = len(input) == len(c.rule.MatchExp) && asciiEqualFold(input, c.rule.MatchExp)
			} else {
				ok = input == c.rule.MatchExp
			}
		default:
			ok = c.re.MatchString(input)
		}
		if ok && c.rec.Match(now) {
			return c.apply(dpid, input)
		}
	}
	return Result{}, outcomeNoMatch
}

func asciiEqualFold(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// loadTSV reads rules in OpenSIPS column order from a TSV file with a
// header line (the timerec column may be absent).
func loadTSV(t testing.TB, path string) []Rule {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var cols []string
	var rules []Rule
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if cols == nil {
			cols = fields
			continue
		}
		var r Rule
		for i, col := range cols {
			v := ""
			if i < len(fields) {
				v = fields[i]
			}
			n := func() int {
				x, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("%s: column %s: %v", path, col, err)
				}
				return x
			}
			switch col {
			case "id":
				r.ID = n()
			case "dpid":
				r.DPID = n()
			case "pr":
				r.Priority = n()
			case "match_op":
				r.MatchOp = MatchOp(n())
			case "match_exp":
				r.MatchExp = v
			case "match_flags":
				r.MatchFlags = n()
			case "subst_exp":
				r.SubstExp = v
			case "repl_exp":
				r.ReplExp = v
			case "timerec":
				r.TimeRec = v
			case "disabled":
				r.Disabled = n() != 0
			case "attrs":
				r.Attrs = v
			default:
				t.Fatalf("%s: unknown column %q", path, col)
			}
		}
		rules = append(rules, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rules
}

func unisiRules(t testing.TB) []Rule { return loadTSV(t, "testdata/unisi-dialplan.tsv") }
