package dialplan

import (
	"testing"
	"time"
)

// FuzzCompileTranslate compiles rules from arbitrary expressions and
// translates arbitrary input: nothing may panic, Validate must agree with
// Compile on which rules are discarded, and the index, the linear scan
// and Explain must agree.
func FuzzCompileTranslate(f *testing.F) {
	type seed struct {
		op1, op2    uint8
		exp1, exp2  string
		flags       uint8
		subst, repl string
		timerec     string
		input       string
	}
	for _, s := range []seed{
		{1, 1, `^5.{3}$`, `^6.{3}$`, 0, "", "", "", "5002"},
		{1, 1, `^0(([0-2][4-9])[1-9]|80)[0-9].*`, `^000([1-9])[0-9].*`, 0, "", "", "", "00575123456"},
		{1, 0, `^05771530(.{3})$`, "05771530123", 0, `^0577(1530)(.{3})$`, `+39577\1\2`, "", "05771530123"},
		{1, 2, `(?i)^fax_`, "FAX_*", 1, `^fax_(.*)$`, `\1`, "", "Fax_5500"},
		{2, 1, "[!0]???", `23`, 0, "", "IVR_MAIN", "", "0577232111"},
		{1, 1, `^(00|\+)39`, `^1?2`, 1, `^(.)(.*)$`, `<\2\1>`, officeHours, "+390577"},
		{0, 1, "alice", `^a|^b`, 1, "", "", "UTC|20260101T000000|20260102T000000", "ALICE"},
		{1, 1, `^(?=1)`, `^(1)\1`, 0, "(", `\9`, "bad", "1"},
		{1, 1, `^\x{FFFD}`, `(?m)^1`, 0, "", "", "", "\xff1"},
		{3, 1, "", `^$`, 0, "", "$rU", "", ""},
	} {
		f.Add(s.op1, s.exp1, s.op2, s.exp2, s.flags, s.subst, s.repl, s.timerec, s.input)
	}
	f.Fuzz(func(t *testing.T, op1 uint8, exp1 string, op2 uint8, exp2 string, flags uint8, subst, repl, timerec, input string) {
		rules := []Rule{
			{ID: 1, Priority: 1, MatchOp: MatchOp(op1 % 4), MatchExp: exp1, MatchFlags: int(flags & 1), Attrs: "one"},
			{ID: 2, Priority: 1, MatchOp: MatchOp(op2 % 3), MatchExp: exp2, MatchFlags: int(flags>>1) & 1, Attrs: "two"},
			{ID: 3, Priority: int(flags>>2) & 1, MatchOp: MatchOp(op1 % 3), MatchExp: exp1, MatchFlags: int(flags>>3) & 1,
				SubstExp: subst, ReplExp: repl, TimeRec: timerec, Attrs: "three"},
			{ID: 4, Priority: 2, MatchOp: Regex, MatchExp: exp2, SubstExp: exp2, ReplExp: repl, Attrs: "four"},
		}
		rs, rep := Compile(rules)
		discarded := map[int]bool{}
		for _, d := range rep.Discarded {
			discarded[d.ID] = true
		}
		for _, r := range rules {
			if err := r.Validate(); (err != nil) != discarded[r.ID] {
				t.Fatalf("rule %+v: Validate() = %v, but discarded by Compile = %v", r, err, discarded[r.ID])
			}
		}
		lin := newLinear(rs)
		for _, now := range []time.Time{monday, monday.AddDate(0, 0, 5)} {
			got, gotOut := rs.translate(0, input, now)
			want, wantOut := lin.translate(0, input, now)
			if got != want || gotOut != wantOut {
				t.Fatalf("input %q at %s: index gave %+v (%d), linear scan %+v (%d)\nrules %+v\n%v",
					input, now, got, gotOut, want, wantOut, rules, rs.Explain(0, input, now))
			}
			e := rs.Explain(0, input, now)
			if e.OK != (wantOut == outcomeMatch) || (e.OK && e.Result != want) {
				t.Fatalf("input %q: Explain gave %+v, %v; want %+v", input, e.Result, e.OK, want)
			}
		}
	})
}
