package dialplan_test

import (
	"context"
	"fmt"
	"time"

	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// The University of Siena's classification: the stage gives each call its
// class, and answers 420 Invalid Destination to numbers that fit none.
func Example() {
	store := dialplan.NewMemStore(
		dialplan.Rule{ID: 2, Priority: 1, MatchOp: dialplan.Regex, MatchExp: `^5.{3}$`, Attrs: "voip"},
		dialplan.Rule{ID: 3, Priority: 2, MatchOp: dialplan.Regex, MatchExp: `^0(([0-2][4-9])[1-9]|80)[0-9].*`, Attrs: "national"},
		dialplan.Rule{ID: 15, Priority: 1, MatchOp: dialplan.Regex, MatchExp: `^03[0-9]{7,10}$`, Attrs: "mobile"},
		dialplan.Rule{ID: 16, Priority: 2, MatchOp: dialplan.Regex, MatchExp: `^000([1-9])[0-9].*`, Attrs: "international"},
	)
	plan, err := dialplan.New(dialplan.Config{}, store)
	if err != nil {
		fmt.Println(err)
		return
	}
	// The next stage reads the class from the context.
	route := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		res, _ := dialplan.ResultFrom(ctx)
		fmt.Printf("%s: %s (rule %d)\n", res.Input, res.Attrs, res.RuleID)
		return w.WriteResponse(sip.NewResponse(r, 200, ""))
	})
	pipeline := sip.Chain(plan.Wrap)(route)

	for _, number := range []string{"5002", "00575123456", "03351234567", "00044207946000", "4000"} {
		req := siptest.NewRequest(sip.INVITE, "sip:"+number+"@voip.unisi.it")
		if _, err := siptest.Serve(context.Background(), pipeline, req); err != nil {
			fmt.Printf("%s: %v\n", number, err)
		}
	}
	// Output:
	// 5002: voip (rule 2)
	// 00575123456: national (rule 3)
	// 03351234567: mobile (rule 15)
	// 00044207946000: international (rule 16)
	// 4000: sip: 420 Invalid Destination
}

// Rewriting: the output is built from repl_exp, with \1, \2 taken from the
// groups of subst_exp.
func ExampleRuleSet_Translate() {
	rules, report := dialplan.Compile([]dialplan.Rule{
		{ID: 1, MatchOp: dialplan.Regex, MatchExp: `^0577`, SubstExp: `^0(577)(.*)$`, ReplExp: `+39\1\2`, Attrs: "siena"},
		{ID: 2, MatchOp: dialplan.Equal, MatchExp: "9", ReplExp: "IVR_MAIN", Attrs: "media"},
		{ID: 3, MatchOp: dialplan.Regex, MatchExp: `^(1)\1`}, // a backreference: RE2 refuses it
	})
	fmt.Println(report)
	fmt.Println(report.Discarded[0].Reason)
	for _, in := range []string{"0577232111", "9", "12"} {
		res, ok := rules.Translate(0, in, time.Now())
		fmt.Printf("%s -> %q %q %v\n", in, res.Output, res.Attrs, ok)
	}
	// Output:
	// 2 rules loaded (1 discarded, 0 disabled)
	// match_exp "^(1)\\1": error parsing regexp: invalid escape sequence: `\1` (Go's RE2 has no backreferences)
	// 0577232111 -> "+39577232111" "siena" true
	// 9 -> "IVR_MAIN" "media" true
	// 12 -> "" "" false
}

// Explain shows which rules the index offered and what became of each:
// here the office-hours rule is outside its time window on a Saturday.
func ExampleRuleSet_Explain() {
	rules, _ := dialplan.Compile([]dialplan.Rule{
		{ID: 1, Priority: 1, MatchOp: dialplan.Regex, MatchExp: `^5.{3}$`, Attrs: "office",
			TimeRec: "Europe/Rome|20260105T080000||PT10H|weekly|||MO,TU,WE,TH,FR"},
		{ID: 2, Priority: 2, MatchOp: dialplan.Regex, MatchExp: `^5`, Attrs: "voicemail"},
		{ID: 3, Priority: 3, MatchOp: dialplan.Equal, MatchExp: "5002", Attrs: "exact"},
		{ID: 4, Priority: 1, MatchOp: dialplan.Regex, MatchExp: `^6.{3}$`, Attrs: "voip"},
	})
	saturday := time.Date(2026, 3, 7, 10, 0, 0, 0, time.UTC)
	fmt.Print(rules.Explain(0, "5002", saturday))
	// Output:
	// dpid 0, input "5002", at 2026-03-07T10:00:00Z: 3 of 4 rules are candidates
	// 1	pr 1	regex	"^5.{3}$"	outside its timerec
	// 2	pr 2	regex	"^5"	won
	// 3	pr 3	equal	"5002"	matches, outranked
	// rule 2: output "5002", attrs "voicemail"
}
