package dialplan

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// prefixRules returns n rules in the style of a large carrier or
// number-portability dialplan: distinct digit prefixes of 4 to 9 digits,
// most of them regexes (^PREFIX.*, ^PREFIX[0-9]{k}$, ^PREFIX[0-9]*$), one
// in ten an equality on a full number, with a few priorities. The inputs
// are numbers that mostly begin with one of the prefixes.
func prefixRules(n int) ([]Rule, []string) {
	r := rand.New(rand.NewPCG(uint64(n), 42))
	seen := map[string]bool{}
	var rules []Rule
	var inputs []string
	digits := func(k int) string {
		var b strings.Builder
		for range k {
			b.WriteByte(byte('0' + r.IntN(10)))
		}
		return b.String()
	}
	for len(rules) < n {
		p := digits(4 + r.IntN(6))
		if seen[p] {
			continue
		}
		seen[p] = true
		rule := Rule{ID: len(rules) + 1, Priority: r.IntN(3), MatchOp: Regex, Attrs: "class" + p[:1]}
		k := 11 - len(p)
		switch r.IntN(10) {
		case 0:
			rule.MatchOp, rule.MatchExp = Equal, p+digits(k)
		case 1, 2, 3:
			rule.MatchExp = "^" + p + ".*"
		case 4, 5, 6:
			rule.MatchExp = fmt.Sprintf("^%s[0-9]{%d}$", p, k)
		default:
			rule.MatchExp = "^" + p + "[0-9]*$"
		}
		rules = append(rules, rule)
		if len(inputs) < 1024 {
			if rule.MatchOp == Equal {
				inputs = append(inputs, rule.MatchExp)
			} else {
				inputs = append(inputs, p+digits(k))
			}
		}
	}
	for i := range inputs {
		if i%4 == 0 {
			inputs[i] = digits(11) // mostly no match
		}
	}
	return rules, inputs
}

var unisiInputs = []string{"5002", "6123", "21456", "80123", "00575123456", "03351234567",
	"00044207946000", "88100", "05771530123", "12345", "4000", "0577153012"}

// BenchmarkTranslate compares the index with the linear scan OpenSIPS
// does, on UniSI's 9 rules and on 10 000 and 100 000 prefix-style rules.
// Budget: 0 allocs/op (no rule rewrites); indexed ≤ 1 µs/op at 100 000.
func BenchmarkTranslate(b *testing.B) {
	sets := []struct {
		name   string
		rules  func() ([]Rule, []string)
		inputs []string
	}{
		{name: "rules=9", rules: func() ([]Rule, []string) { return unisiRules(b), unisiInputs }},
		{name: "rules=10000", rules: func() ([]Rule, []string) { return prefixRules(10_000) }},
		{name: "rules=100000", rules: func() ([]Rule, []string) { return prefixRules(100_000) }},
	}
	for _, set := range sets {
		rules, inputs := set.rules()
		rs, rep := Compile(rules)
		if len(rep.Discarded) != 0 {
			b.Fatalf("%s: %v", set.name, rep)
		}
		lin := newLinear(rs)
		b.Run(set.name+"/indexed", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				rs.Translate(0, inputs[i%len(inputs)], monday)
				i++
			}
		})
		b.Run(set.name+"/linear", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				lin.translate(0, inputs[i%len(inputs)], monday)
				i++
			}
		})
	}
}

// BenchmarkTranslateRewrite: a rule that builds its output from subst_exp
// groups. Budget: 2 allocs/op (the submatch indices and the output).
func BenchmarkTranslateRewrite(b *testing.B) {
	rs, _ := Compile([]Rule{with(re(1, 1, "^0577", "national"), func(r *Rule) {
		r.SubstExp, r.ReplExp = `^0(577)(.*)$`, `+39\1\2`
	})})
	b.ReportAllocs()
	for b.Loop() {
		rs.Translate(0, "0577232111", monday)
	}
}

// BenchmarkCompile: the cost of a reload of 100 000 rules, and its memory.
func BenchmarkCompile(b *testing.B) {
	rules, _ := prefixRules(100_000)
	b.ReportAllocs()
	for b.Loop() {
		Compile(rules)
	}
}

// BenchmarkStage: the stage on UniSI's table, from request to next.
// Budget: 2 allocs/op (the context value and the Result it boxes).
func BenchmarkStage(b *testing.B) {
	p, err := New(Config{}, NewMemStore(unisiRules(b)...), WithClock(func() time.Time { return monday }))
	if err != nil {
		b.Fatal(err)
	}
	h := p.Wrap(sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error { return nil }))
	req := siptest.NewRequest(sip.INVITE, "sip:00575123456@voip.unisi.it")
	w := siptest.NewRecorder()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeSIP(ctx, w, req)
	}
}
