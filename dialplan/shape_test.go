package dialplan

import (
	"regexp"
	"regexp/syntax"
	"testing"
)

func TestShape(t *testing.T) {
	inputs := []string{"", "5", "5002", "50021", "5\n02", "05771530123", "0577153012", "057715301234",
		"03351234567", "0335123", "88", "88100", "21456", "2145", "21356", "0001", "00012", "\xff12", "5é02", "5\xff02"}
	tests := []struct {
		expr  string
		shape bool
	}{
		{`^5.{3}$`, true},
		{`^6.{3}$`, true},
		{`^05771530(.{3})$`, true},
		{`^03[0-9]{7,10}$`, true},
		{`^88.*`, true},
		{`^80.*`, true},
		{`^2([1-2][4-9]).{2}$`, true},
		{`^000([1-9])[0-9].*`, true},
		{`^5.*$`, true},
		{`^5\d+`, true},
		{`^5[0-9]?$`, true},
		{`^5.{2,}$`, true},
		{`(?s)^5.{3}$`, true},
		{`\A5002\z`, true},
		{`^5002`, true},
		{`(?i)^5[a-c]`, true},
		{`^`, true},
		{`^.*5`, false},                     // a variable item before another
		{`^0(([0-2][4-9])[1-9]|80)`, false}, // alternation
		{`5002`, false},                     // unanchored
		{`(?i)^fax`, false},                 // folded letters
		{`(?m)^5`, false},
		{`^5$x`, false},
		{`^5\b`, false},
		{`^\x{FFFD}1`, false},
		{`^[^\x00-\x{10FFFF}]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			tree, err := syntax.Parse(tt.expr, syntax.Perl)
			if err != nil {
				t.Fatal(err)
			}
			s := shapeOf(tree)
			if (s != nil) != tt.shape {
				t.Fatalf("shapeOf(%q) = %+v, want a shape: %v", tt.expr, s, tt.shape)
			}
			if s == nil {
				return
			}
			re := regexp.MustCompile(tt.expr)
			for _, in := range inputs {
				if got, want := s.match(in), re.MatchString(in); got != want {
					t.Errorf("%q on %q: shape says %v, regexp %v", tt.expr, in, got, want)
				}
			}
		})
	}
}
