package dialplan

import (
	"reflect"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/palio-voip/palio/sip"
)

func TestCompileDiscards(t *testing.T) {
	good := re(100, 1, "^5", "voip")
	tests := []struct {
		name   string
		rule   Rule
		reason string
	}{
		{"unknown match_op", Rule{ID: 1, MatchOp: 3, MatchExp: "1"},
			"match_op 3: want 0 (equality), 1 (regex) or 2 (fnmatch)"},
		{"lookahead", re(2, 1, "^(?=1)", ""),
			"match_exp \"^(?=1)\": error parsing regexp: invalid or unsupported Perl syntax: `(?=` (Go's RE2 has no lookaround)"},
		{"lookbehind", re(3, 1, "(?<=0)577", ""),
			"match_exp \"(?<=0)577\": error parsing regexp: invalid named capture: `(?<=0)577` (Go's RE2 has no lookaround)"},
		{"backreference", re(4, 1, `^(1)\1`, ""),
			"match_exp \"^(1)\\\\1\": error parsing regexp: invalid escape sequence: `\\1` (Go's RE2 has no backreferences)"},
		{"possessive quantifier", re(5, 1, `^0++`, ""),
			"match_exp \"^0++\": error parsing regexp: invalid nested repetition operator: `++` (Go's RE2 has no possessive quantifiers)"},
		{"bad regex under the case flag is reported as written", with(re(6, 1, "^(5", ""), func(r *Rule) { r.MatchFlags = FlagCaseInsensitive }),
			"match_exp \"^(5\": error parsing regexp: missing closing ): `^(5`"},
		{"bad subst_exp", with(good, func(r *Rule) { r.ID, r.SubstExp = 7, "(" }),
			"subst_exp \"(\": error parsing regexp: missing closing ): `(`"},
		{"backreference beyond the groups", with(good, func(r *Rule) { r.ID, r.SubstExp, r.ReplExp = 8, "^(5)", `\2` }),
			`repl_exp: \2 refers beyond the 1 group(s) of subst_exp`},
		{"pseudo-variable", with(good, func(r *Rule) { r.ID, r.SubstExp, r.ReplExp = 9, "^(5)", `$rU` }),
			`repl_exp: pseudo-variables ($...) are not supported; write \$ for a dollar sign`},
		{"whole R-URI", with(good, func(r *Rule) { r.ID, r.SubstExp, r.ReplExp = 10, "^(5)", `\u` }),
			`repl_exp: \u (the whole Request-URI) is not supported`},
		{"newline escape", with(good, func(r *Rule) { r.ID, r.SubstExp, r.ReplExp = 11, "^(5)", `\n` }),
			`repl_exp: \n is not supported (only \0..\9, \\ and \$)`},
		{"lone backslash", with(good, func(r *Rule) { r.ID, r.SubstExp, r.ReplExp = 12, "^(5)", `x\` }),
			`repl_exp: ends with a lone backslash`},
		{"bad timerec", with(good, func(r *Rule) { r.ID, r.TimeRec = 13, "UTC|2026" }),
			`timerec: record "UTC|2026": dtstart: "2026": want YYYYMMDDThhmmss`},
		{"empty equality", Rule{ID: 14, MatchOp: Equal},
			"match_exp: empty, and an equality rule needs a value"},
		{"fnmatch with an inverted range", Rule{ID: 15, MatchOp: Fnmatch, MatchExp: "[9-0]*"},
			"match_exp \"[9-0]*\": error parsing regexp: invalid character class range: `\\x{39}-\\x{30}`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, rep := Compile([]Rule{good, tt.rule})
			want := Report{Loaded: 1, Discarded: []Discarded{{ID: tt.rule.ID, DPID: tt.rule.DPID, Reason: tt.reason}}}
			if !reflect.DeepEqual(rep, want) {
				t.Errorf("report: got %#v, want %#v", rep, want)
			}
			if _, ok := rs.Translate(0, "5002", monday); !ok {
				t.Errorf("the good rule did not load alongside the discarded one")
			}
			err := tt.rule.Validate()
			if err == nil || err.Error() != "dialplan: rule "+strconv.Itoa(tt.rule.ID)+": "+tt.reason {
				t.Errorf("Validate() = %v, want %q", err, "dialplan: rule "+strconv.Itoa(tt.rule.ID)+": "+tt.reason)
			}
			// Every reason starts with the column at fault, and Validate
			// names it.
			wantField := tt.reason[:strings.IndexAny(tt.reason, " :")]
			if field, ok := sip.FieldOf(err); !ok || field != wantField {
				t.Errorf("Validate() names field %q (%v), want %q", field, ok, wantField)
			}
		})
	}
	if err := good.Validate(); err != nil {
		t.Errorf("Validate() of a good rule = %v, want nil", err)
	}
}

// TestValidateStorable: Validate also refuses what would load but should
// not be stored, naming the column.
func TestValidateStorable(t *testing.T) {
	good := Rule{ID: 1, MatchOp: Equal, MatchExp: "5002"}
	for _, tc := range []struct {
		rule  Rule
		field string
	}{
		{Rule{ID: -1, MatchOp: Equal, MatchExp: "5002"}, "id"},
		{Rule{ID: 1, DPID: -2, MatchOp: Equal, MatchExp: "5002"}, "dpid"},
		{Rule{ID: 1, MatchOp: Equal, MatchExp: "5002", MatchFlags: 2}, "match_flags"},
	} {
		err := tc.rule.Validate()
		if field, _ := sip.FieldOf(err); field != tc.field {
			t.Errorf("%+v: Validate() = %v naming %q, want the field %q", tc.rule, err, field, tc.field)
		}
	}
	if err := good.Validate(); err != nil {
		t.Errorf("Validate(%+v) = %v", good, err)
	}
}

func TestCompileReport(t *testing.T) {
	rules := append(unisiRules(t),
		re(2, 1, "^9", "dup"), // id 2 is UniSI's voip rule
		with(re(50, 1, "^9", "off"), func(r *Rule) { r.Disabled = true }),
		re(51, 1, "^(?!9)", "bad"),
	)
	rs, rep := Compile(rules)
	if got, want := rep.String(), "9 rules loaded (2 discarded, 1 disabled)"; got != want {
		t.Errorf("Report.String() = %q, want %q", got, want)
	}
	if rep.Discarded[0].ID != 2 || rep.Discarded[0].Reason != "id: used by an earlier rule" {
		t.Errorf("duplicate id: got %+v, want id 2 discarded as used by an earlier rule", rep.Discarded[0])
	}
	if rs.Len() != 9 || rs.Report().Loaded != 9 {
		t.Errorf("Len() = %d, Report().Loaded = %d; want 9, 9", rs.Len(), rs.Report().Loaded)
	}
	got := rs.Rules(0)
	if len(got) != 9 || got[0].ID != 2 || got[len(got)-1].ID != 16 {
		t.Errorf("Rules(0): got %d rules from id %d to %d, want 9 from 2 (pr 1, lowest id) to 16 (pr 2, highest id)", len(got), got[0].ID, got[len(got)-1].ID)
	}
	if ids := rs.DPIDs(); len(ids) != 1 || ids[0] != 0 {
		t.Errorf("DPIDs() = %v, want [0]", ids)
	}
}

func TestRequiredPrefixes(t *testing.T) {
	tests := []struct {
		expr string
		want []string // nil: tried on every input
	}{
		{`^0577`, []string{"0577"}},
		{`^05771530(.{3})$`, []string{"05771530"}},
		{`^0[3-4]12`, []string{"0312", "0412"}},
		{`^0(([0-2][4-9])[1-9]|80)[0-9].*`, []string{"00", "01", "02", "080"}},
		{`^000([1-9])[0-9].*`, []string{"0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009"}},
		{`^(123|456)`, []string{"123", "456"}},
		{`^1?2`, []string{"12", "2"}},
		{`^(00|\+)39`, []string{"+39", "0039"}},
		{`^\d+`, []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}},
		{`^[0-9]{2}`, []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}},
		{`^(05|055)`, []string{"05"}},
		{`^a|^b`, []string{"a", "b"}},
		{`\A1`, []string{"1"}},
		{`(?i)^ab`, []string{"AB", "Ab", "aB", "ab"}},
		{`(?i)^k`, []string{"K", "k", "\u212a"}},
		{`^88.*`, []string{"88"}},
		{`0577`, nil},
		{`^a|b`, nil},
		{`(?m)^1`, nil},
		{`^.*`, nil},
		{`^$`, nil},
		{`^x*1`, nil},
		{`^\x{FFFD}1`, nil},
		{`^[a-z]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			tree, err := syntax.Parse(tt.expr, syntax.Perl)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := requiredPrefixes(tree.Simplify())
			if ok != (tt.want != nil) || !slices.Equal(got, tt.want) {
				t.Errorf("requiredPrefixes(%q) = %q, %v; want %q", tt.expr, got, ok, tt.want)
			}
			// Soundness: a string the regex matches starts with a prefix.
			re := regexp.MustCompile(tt.expr)
			for _, p := range tt.want {
				for _, s := range []string{p, p + "0", p + "1234567"} {
					if re.MatchString(s) && !hasAnyPrefix(s, got) {
						t.Errorf("%q matches %q but has none of the prefixes %q", tt.expr, s, got)
					}
				}
			}
		})
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func TestGlob(t *testing.T) {
	tests := []struct {
		glob, input string
		want        bool
	}{
		{"0577*", "0577232111", true},
		{"0577*", "057", false},
		{"*", "", true},
		{"*", "a/b.c", true},
		{"?", "5", true},
		{"?", "55", false},
		{"5???", "5002", true},
		{"[0-4]*", "3", true},
		{"[0-4]*", "5", false},
		{"[!0-4]*", "5", true},
		{"[^0-4]*", "3", false},
		{"[]]", "]", true},
		{"[!]]", "a", true},
		{"[[:digit:]]*", "7abc", true},
		{"[[:digit:]]*", "abc", false},
		{`\*72`, "*72", true},
		{`\*72`, "172", false},
		{"[a", "[a", true},
		{"a.b", "axb", false},
		{"+39*", "+390577", true},
		{`[\]]`, "]", true},
		{`x\`, `x\`, true},
	}
	for _, tt := range tests {
		t.Run(tt.glob+" "+tt.input, func(t *testing.T) {
			re, err := regexp.Compile(globToRegexp(tt.glob))
			if err != nil {
				t.Fatalf("globToRegexp(%q) = %q: %v", tt.glob, globToRegexp(tt.glob), err)
			}
			if got := re.MatchString(tt.input); got != tt.want {
				t.Errorf("glob %q (regexp %q) on %q: got %v, want %v", tt.glob, re, tt.input, got, tt.want)
			}
		})
	}
}
