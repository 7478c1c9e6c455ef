package enum

import (
	"strings"
	"testing"
)

func TestParseRegexp(t *testing.T) {
	const aus = "+390577232111"
	tests := []struct {
		name    string
		field   string // in presentation form, as miekg/dns hands it over
		want    string // the result of applying it to aus
		noMatch bool
		wantErr string
	}{
		{name: "catch-all", field: `!^.*$!sip:info@unisi.test!`, want: "sip:info@unisi.test"},
		{name: "escaped back-reference", field: `!^\\+39(.*)$!sip:\\1@gw.unisi.test!`, want: "sip:0577232111@gw.unisi.test"},
		{name: "two groups", field: `!^\\+(39)(0577)(.*)$!sip:\\3@\\2.\\1.test!`, want: "sip:232111@0577.39.test"},
		{name: "nine groups", field: `!^\\+(3)(9)(0)(5)(7)(7)(2)(3)(2)111$!sip:\\9\\8\\7\\6\\5\\4\\3\\2\\1@t!`, want: "sip:232775093@t"},
		{name: "no match", field: `!^\\+44(.*)$!sip:\\1@uk.test!`, noMatch: true},
		{name: "only the replacement is output", field: `!232!sip:x@t!`, want: "sip:x@t"},
		{name: "i flag", field: `!^\\+39(.*)$!sip:\\1@T!i`, want: "sip:0577232111@T"},
		{name: "other delimiter", field: `/^\\+39(.*)$/sip:\\1@t/`, want: "sip:0577232111@t"},
		{name: "escaped delimiter in replacement", field: `!^.*$!sip:a\\!b@t!`, want: "sip:a!b@t"},
		{name: "escaped delimiter in pattern", field: `/^\\+39\\/?(.*)$/sip:\\1@t/`, want: "sip:0577232111@t"},
		{name: "escaped regexp-special delimiter is literal", field: `.^\\+39\\.?([0-9]*)$.sip:\\1@t.`, want: "sip:0577232111@t"},
		{name: "multi-byte delimiter", field: `§^\\+39(.*)$§sip:\\1@t§`, want: "sip:0577232111@t"},
		{name: "dollar in replacement is literal", field: `!^.*$!sip:a$1b@t!`, want: "sip:a$1b@t"},
		{name: "escaped character in replacement", field: `!^.*$!sip:a\\;b@t!`, want: "sip:a;b@t"},
		{name: "quote escape", field: `!^.*$!sip:\"q\"@t!`, want: `sip:"q"@t`},
		{name: "DDD escape of the delimiter", field: `\033^.*$\033sip:ddd@t\033`, want: "sip:ddd@t"},
		{name: "DDD escape of a backslash", field: `!^\092+39(.*)$!sip:\0921@t!`, want: "sip:0577232111@t"},
		{name: "leftmost-longest like POSIX", field: `!(\\+39|\\+390577)!sip:\\1@t!`, want: "sip:+390577@t"},
		{name: "perl class accepted", field: `!^\\+39(\\d+)$!sip:\\1@t!`, want: "sip:0577232111@t"},

		{name: "empty", field: ``, wantErr: "empty"},
		{name: "missing delimiters", field: `!^.*$`, wantErr: "closing delimiter"},
		{name: "missing last delimiter", field: `!^.*$!sip:x@t`, wantErr: "closing delimiter"},
		{name: "unknown flag", field: `!^.*$!sip:x@t!g`, wantErr: "flags"},
		{name: "two flags", field: `!^.*$!sip:x@t!ii`, wantErr: "flags"},
		{name: "digit delimiter", field: `1^.*$1sip:x@t1`, wantErr: "delimiter"},
		{name: "backslash delimiter", field: `\\^.*$\\sip:x@t\\`, wantErr: "delimiter"},
		{name: "i delimiter", field: `i^.*$isip:x@ti`, wantErr: "delimiter"},
		{name: "empty pattern", field: `!!sip:x@t!`, wantErr: "empty pattern"},
		{name: "bad pattern", field: `!^(.*$!sip:x@t!`, wantErr: "missing closing )"},
		{name: "back-reference in pattern", field: `!^(.)\\1$!sip:x@t!`, wantErr: "pattern"},
		{name: "back-reference past the groups", field: `!^(.*)$!sip:\\2@t!`, wantErr: `back-reference \2`},
		{name: "back-reference zero", field: `!^(.*)$!sip:\\0@t!`, wantErr: `\0`},
		{name: "lone backslash at the end", field: `!^.*$!sip:x@t\\`, wantErr: "lone backslash"},
		{name: "lone presentation backslash", field: `!^.*$!sip:x@t!\`, wantErr: "lone backslash"},
		{name: "DDD over 255", field: `!^.*$!sip:\999@t!`, wantErr: "not a byte"},
		{name: "invalid UTF-8 delimiter", field: "\xff^.*$\xffsip:x@t\xff", wantErr: "UTF-8"},
		{name: "too long", field: "!" + strings.Repeat("a", 2000) + "!x!", wantErr: "long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseRegexp(tt.field)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseRegexp(%q): got error %v, want one about %q", tt.field, err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "enum: regexp ") {
					t.Errorf("error %q does not say where it comes from", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseRegexp(%q): %v", tt.field, err)
			}
			got, ok := r.apply(aus)
			if ok == tt.noMatch || got != tt.want {
				t.Errorf("apply(%q): got %q, %v, want %q, %v", aus, got, ok, tt.want, !tt.noMatch)
			}
		})
	}
}

func TestUnescape(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: `plain`, want: `plain`},
		{in: `a\\b`, want: `a\b`},
		{in: `\"q\"`, want: `"q"`},
		{in: `\000\255`, want: "\x00\xff"},
		{in: `\12`, want: `12`}, // not three digits: \1 is "1"
		{in: `\x`, want: `x`},
		{in: `end\`, wantErr: true},
		{in: `\256`, wantErr: true},
	}
	for _, tt := range tests {
		got, err := unescape(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("unescape(%q): got %q, %v, want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestServiceMatches(t *testing.T) {
	tests := []struct {
		service, want string
		ok            bool
	}{
		{"E2U+sip", "sip", true},
		{"e2u+SIP", "sip", true},
		{"sip+E2U", "sip", true},
		{"E2U+voice:tel+sip", "sip", true},
		{"E2U+sip+h323", "sip", true},
		{"E2U+mailto", "sip", false},
		{"E2U+sips", "sip", false},
		{"E2U", "sip", false},
		{"", "sip", false},
		{"sip", "sip", false},
		{"h323+E2U", "h323", false},
		{"E2U+voice:sip", "voice:sip", true},
	}
	for _, tt := range tests {
		if got := serviceMatches(tt.service, tt.want); got != tt.ok {
			t.Errorf("serviceMatches(%q, %q): got %v, want %v", tt.service, tt.want, got, tt.ok)
		}
	}
}
