package dialplan

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// gen makes random rule sets and inputs that share literals, so that
// inputs hit rules often, with ties in priority, case flags, timerecs,
// substitutions, disabled rules, bad rules and two dpids.
type gen struct {
	r    *rand.Rand
	lits []string
}

func newGen(seed uint64) *gen {
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x5eed))}
	for range 12 {
		g.lits = append(g.lits, g.word(1+g.r.IntN(5)))
	}
	return g
}

const alphabet = "0123456789012345678901234567890123456789aAbB+*"

func (g *gen) word(n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(alphabet[g.r.IntN(len(alphabet))])
	}
	return b.String()
}

func (g *gen) lit() string { return g.lits[g.r.IntN(len(g.lits))] }

func (g *gen) oneOf(s ...string) string { return s[g.r.IntN(len(s))] }

func quote(s string) string {
	return strings.NewReplacer("+", `\+`, "*", `\*`).Replace(s)
}

func (g *gen) regex() string {
	tail := g.oneOf("", ".*", "[0-9]*$", "(.{3})$", "[0-9]{2,4}", "$", "(a|b)?")
	switch g.r.IntN(9) {
	case 0:
		return "^" + quote(g.lit()) + tail
	case 1:
		return "^" + quote(g.lit()) + "[" + g.oneOf("0-3", "4-9", "0-9", "ab", "13579") + "]" + tail
	case 2:
		return "^(" + quote(g.lit()) + "|" + quote(g.lit()) + ")" + tail
	case 3:
		return "^" + quote(g.lit()) + "?" + quote(g.lit()) + tail
	case 4:
		return quote(g.lit()) + tail // unanchored
	case 5:
		return "^.*" + quote(g.lit())
	case 6:
		return `\A` + quote(g.lit()) + `\d+`
	case 7:
		return "^" + quote(g.lit()) + "|^" + quote(g.lit())
	default:
		return "(?i)^" + quote(g.lit()) + tail
	}
}

func (g *gen) rules(n int) []Rule {
	var rules []Rule
	for i, id := range g.r.Perm(n) {
		r := Rule{ID: id + 1, DPID: g.r.IntN(2), Priority: g.r.IntN(4), Attrs: "r" + itoa(i)}
		switch g.r.IntN(10) {
		case 0, 1, 2:
			r.MatchOp, r.MatchExp = Equal, g.lit()+g.oneOf("", "", g.word(2))
		case 3:
			r.MatchOp, r.MatchExp = Fnmatch, g.oneOf(g.lit()+"*", g.lit()+"?*", "[0-3]"+g.lit()+"*", "*"+g.lit())
		default:
			r.MatchOp, r.MatchExp = Regex, g.regex()
		}
		if g.r.IntN(4) == 0 {
			r.MatchFlags = FlagCaseInsensitive
		}
		switch g.r.IntN(8) {
		case 0:
			r.TimeRec = officeHours
		case 1:
			r.TimeRec = "UTC|20260101T000000|20260102T000000" // long past
		}
		switch g.r.IntN(6) {
		case 0:
			r.SubstExp, r.ReplExp = "^(.)(.*)$", `<\2\1>`
		case 1:
			r.SubstExp, r.ReplExp = "^9", "nine" // fails on most inputs
		case 2:
			r.ReplExp = "fixed"
		}
		if g.r.IntN(15) == 0 {
			r.Disabled = true
		}
		if g.r.IntN(25) == 0 {
			r.MatchExp = `^(?=` + r.MatchExp + `)` // discarded
			r.MatchOp = Regex
		}
		rules = append(rules, r)
	}
	return rules
}

func (g *gen) input() string {
	switch g.r.IntN(4) {
	case 0:
		return g.word(g.r.IntN(8))
	case 1:
		return g.lit() + g.lit()
	default:
		s := g.lit() + g.word(g.r.IntN(6))
		if g.r.IntN(5) == 0 {
			s = strings.ToUpper(s)
		}
		return s
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestIndexAgreesWithLinearScan: on random rule sets and inputs, the
// indexed matcher, the linear scan and Explain give the same result.
func TestIndexAgreesWithLinearScan(t *testing.T) {
	sets := 200
	if testing.Short() {
		sets = 50
	}
	times := []time.Time{monday, monday.AddDate(0, 0, 5)}
	checked, matched := 0, 0
	for seed := range uint64(sets) {
		g := newGen(seed)
		rs, _ := Compile(g.rules(5 + g.r.IntN(60)))
		lin := newLinear(rs)
		for range 60 {
			in := g.input()
			for dpid := range 2 {
				for _, now := range times {
					got, gotOut := rs.translate(dpid, in, now)
					want, wantOut := lin.translate(dpid, in, now)
					if got != want || gotOut != wantOut {
						t.Fatalf("seed %d, dpid %d, input %q, %s: index gave %+v (%d), linear scan %+v (%d)\n%v",
							seed, dpid, in, now, got, gotOut, want, wantOut, rs.Explain(dpid, in, now))
					}
					e := rs.Explain(dpid, in, now)
					if e.OK != (wantOut == outcomeMatch) || (e.OK && e.Result != want) {
						t.Fatalf("seed %d, dpid %d, input %q: Explain gave %+v, %v; want %+v", seed, dpid, in, e.Result, e.OK, want)
					}
					checked++
					if gotOut == outcomeMatch {
						matched++
					}
				}
			}
		}
	}
	if matched < checked/10 {
		t.Errorf("only %d of %d translations matched: the generator does not exercise the rules", matched, checked)
	}
	t.Logf("%d translations compared, %d matched", checked, matched)
}
