package enum

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// maxRegexpLen bounds the regexp field Palio will parse. On the wire it is
// one DNS character-string, at most 255 bytes; its presentation form, with
// every byte written \DDD, at most four times that.
const maxRegexpLen = 4 * 255

// rule is a parsed NAPTR regexp field (RFC 3402 §3.2): the substitution
// expression "delim ere delim repl delim flags" that turns the
// Application Unique String (for ENUM the "+" and the digits of the
// number) into a URI.
type rule struct {
	re   *regexp.Regexp
	tmpl string // repl as a template for regexp.Expand: \N became ${N}
}

// parseRegexp parses the Regexp field of a NAPTR record as miekg/dns
// hands it over: in DNS presentation form, where a backslash in the data
// reads \\, a quote \" and an unprintable byte \DDD. The escapes are
// undone first, then the substitution expression is split and compiled.
func parseRegexp(field string) (*rule, error) {
	raw, err := unescape(field)
	if err != nil {
		return nil, errorf("regexp %q: %w", field, err)
	}
	r, err := parseRule(raw)
	if err != nil {
		return nil, errorf("regexp %q: %w", raw, err)
	}
	return r, nil
}

// unescape undoes the DNS presentation escapes of a character-string (RFC
// 1035 §5.1): \DDD is the byte of decimal value DDD, \X is X.
func unescape(s string) (string, error) {
	if len(s) > maxRegexpLen {
		return "", errorf("%d bytes long, more than %d", len(s), maxRegexpLen)
	}
	i := strings.IndexByte(s, '\\')
	if i < 0 {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b = append(b, c)
			continue
		}
		i++
		if i == len(s) {
			return "", errorf("presentation form ends in a lone backslash")
		}
		if i+3 <= len(s) && allDigits(s[i:i+3]) {
			v := int(s[i]-'0')*100 + int(s[i+1]-'0')*10 + int(s[i+2]-'0')
			if v > 255 {
				return "", errorf(`escape \%s is not a byte`, s[i:i+3])
			}
			b = append(b, byte(v))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b), nil
}

// parseRule parses a substitution expression without presentation escapes.
// The first character is the delimiter: anything but a digit, a flag ("i")
// or a backslash. Inside the expression and the replacement a backslash
// escapes the delimiter. The only flag is "i" (case-insensitive). The
// expression is a POSIX extended regular expression, compiled with Go's
// regexp (RE2 syntax, a superset of ERE for the patterns ENUM uses) with
// leftmost-longest matching, as POSIX wants; which text an ambiguous group
// captures follows RE2's rules, which may differ from POSIX's. In the
// replacement \1..\9 are back-references; any other escaped character
// stands for itself.
func parseRule(raw string) (*rule, error) {
	if raw == "" {
		return nil, errorf("empty")
	}
	if len(raw) > maxRegexpLen {
		return nil, errorf("%d bytes long, more than %d", len(raw), maxRegexpLen)
	}
	delim, size := utf8.DecodeRuneInString(raw)
	switch {
	case delim == utf8.RuneError:
		return nil, errorf("delimiter is not valid UTF-8")
	case delim >= '0' && delim <= '9', delim == '\\', delim == 'i':
		return nil, errorf("%q cannot be the delimiter", delim)
	}
	d := raw[:size]
	rest := raw[size:]
	pattern, rest, err := field(rest, d, regexp.QuoteMeta(d))
	if err != nil {
		return nil, errorf("pattern: %w", err)
	}
	repl, flags, err := field(rest, d, d)
	if err != nil {
		return nil, errorf("replacement: %w", err)
	}
	if pattern == "" {
		return nil, errorf("empty pattern")
	}
	switch flags {
	case "":
	case "i":
		pattern = "(?i)" + pattern
	default:
		return nil, errorf("flags %q: only \"i\" is defined", flags)
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, errorf("pattern: %w", err)
	}
	re.Longest()
	tmpl, err := template(repl, re.NumSubexp())
	if err != nil {
		return nil, errorf("replacement: %w", err)
	}
	return &rule{re: re, tmpl: tmpl}, nil
}

// field returns the text of s up to the first delimiter d that no
// backslash escapes, and what follows that delimiter. An escaped delimiter
// becomes esc; other escape pairs are kept as they are.
func field(s, d, esc string) (string, string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case s[i] == '\\':
			if i+1 == len(s) {
				return "", "", errorf("ends in a lone backslash")
			}
			if strings.HasPrefix(s[i+1:], d) {
				b.WriteString(esc)
				i += 1 + len(d)
				continue
			}
			b.WriteString(s[i : i+2])
			i += 2
		case strings.HasPrefix(s[i:], d):
			return b.String(), s[i+len(d):], nil
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return "", "", errorf("no closing delimiter %q", d)
}

// template turns an RFC 3402 replacement into a template for
// regexp.Expand: \N becomes ${N}, \X becomes X, and $ is doubled.
func template(repl string, groups int) (string, error) {
	var b strings.Builder
	b.Grow(len(repl) + 8)
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		switch c {
		case '$':
			b.WriteString("$$")
		case '\\':
			i++ // field guarantees a character after the backslash
			c = repl[i]
			switch {
			case c >= '1' && c <= '9':
				if int(c-'0') > groups {
					return "", errorf(`back-reference \%c but the pattern has %d groups`, c, groups)
				}
				b.WriteString("${")
				b.WriteByte(c)
				b.WriteByte('}')
			case c == '0':
				return "", errorf(`back-reference \0 is not defined (\1..\9 are)`)
			case c == '$':
				b.WriteString("$$")
			default:
				b.WriteByte(c)
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// apply applies the rule to the Application Unique String. Like OpenSIPS
// (and unlike sed), the output is the replacement alone, with the
// back-references filled in: the parts of aus outside the match do not
// carry over. It reports false when the expression does not match.
func (r *rule) apply(aus string) (string, bool) {
	m := r.re.FindStringSubmatchIndex(aus)
	if m == nil {
		return "", false
	}
	return string(r.re.ExpandString(nil, r.tmpl, aus, m)), true
}
