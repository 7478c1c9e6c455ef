package permission

import "testing"

func TestGlob(t *testing.T) {
	tests := []struct {
		p, s string
		want bool
	}{
		{"sip:*@voip.unisi.it", "sip:5002@voip.unisi.it", true},
		{"sip:*@voip.unisi.it", "sip:5002@evil.example", false},
		{"sip:05??*", "sip:0577232111", true},
		{"sip:05??*", "sip:05", false},
		{"sip:0[5-6]7*", "sip:0577", true},
		{"sip:0[!5]7*", "sip:0577", false},
		{"sip:0[^5]7*", "sip:0677", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYYd", false},
		{"*", "", true},
		{"", "", true},
		{"", "x", false},
		{"*", ".hidden", false}, // FNM_PERIOD
		{".*", ".hidden", true},
		{"?hidden", ".hidden", false},
		{"a/*", "a/b/c", true}, // no FNM_PATHNAME
		{`a\*b`, "a*b", true},
		{`a\*b`, "aXb", false},
		{"[", "[", true}, // unclosed set is literal
		{"a[", "a[", true},
		{"[]]", "]", true},
		{"[a-]", "-", true},
		{"x**y", "xy", true},
	}
	for _, tt := range tests {
		if got := globMatch(tt.p, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q): got %v, want %v", tt.p, tt.s, got, tt.want)
		}
	}
}

// FuzzGlob checks the matcher never panics and agrees with itself on a
// literal pattern (no special characters): then it is plain equality.
func FuzzGlob(f *testing.F) {
	for _, s := range []string{"sip:*@voip.unisi.it", "[!a-z]?", `\`, "[", "a*b*c", "[]-]"} {
		f.Add(s, "sip:5002@voip.unisi.it")
	}
	f.Fuzz(func(t *testing.T, p, s string) {
		got := globMatch(p, s)
		literal := true
		for i := 0; i < len(p); i++ {
			switch p[i] {
			case '*', '?', '[', '\\':
				literal = false
			}
		}
		if literal && got != (p == s) {
			t.Fatalf("literal pattern %q vs %q: got %v", p, s, got)
		}
		if !literal && globMatch("*", s) == (len(s) > 0 && s[0] == '.') {
			t.Fatalf("'*' against %q", s)
		}
	})
}
