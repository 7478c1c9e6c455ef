package dialplan

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// globToRegexp translates a shell glob, as fnmatch(3) reads it with no
// flags, into an anchored regular expression: * is any run of characters
// ('/' and a leading '.' included), ? any one character, [...] a bracket
// expression (! or ^ negates; ranges; POSIX classes such as [:digit:]),
// and a backslash quotes the next character. A '[' with no closing ']' is
// an ordinary character.
func globToRegexp(glob string) string {
	var b strings.Builder
	b.WriteString(`(?s)^(?:`)
	for i := 0; i < len(glob); {
		switch c := glob[i]; c {
		case '*':
			b.WriteString(`.*`)
			i++
		case '?':
			b.WriteString(`.`)
			i++
		case '\\':
			if i+1 == len(glob) {
				b.WriteString(`\\`)
				i++
				break
			}
			r, n := utf8.DecodeRuneInString(glob[i+1:])
			writeRuneQuoted(&b, r)
			i += 1 + n
		case '[':
			if class, n, ok := globBracket(glob[i:]); ok {
				b.WriteString(class)
				i += n
				break
			}
			b.WriteString(`\[`)
			i++
		default:
			r, n := utf8.DecodeRuneInString(glob[i:])
			writeRuneQuoted(&b, r)
			i += n
		}
	}
	b.WriteString(`)$`)
	return b.String()
}

// globBracket translates the bracket expression at the start of s and
// returns it as a regexp class, with the number of bytes it used.
func globBracket(s string) (class string, n int, ok bool) {
	var b strings.Builder
	b.WriteByte('[')
	i := 1
	if i < len(s) && (s[i] == '!' || s[i] == '^') {
		b.WriteByte('^')
		i++
	}
	first := true
	for i < len(s) {
		if s[i] == ']' && !first {
			b.WriteByte(']')
			return b.String(), i + 1, true
		}
		first = false
		if strings.HasPrefix(s[i:], "[:") {
			if end := strings.Index(s[i+2:], ":]"); end >= 0 {
				b.WriteString(s[i : i+2+end+2])
				i += 2 + end + 2
				continue
			}
		}
		lo, w := bracketRune(s[i:])
		i += w
		if i+1 < len(s) && s[i] == '-' && s[i+1] != ']' {
			hi, w2 := bracketRune(s[i+1:])
			i += 1 + w2
			fmt.Fprintf(&b, `\x{%x}-\x{%x}`, lo, hi)
			continue
		}
		fmt.Fprintf(&b, `\x{%x}`, lo)
	}
	return "", 0, false
}

// bracketRune reads one, possibly backslash-quoted, character.
func bracketRune(s string) (rune, int) {
	if s[0] == '\\' && len(s) > 1 {
		r, n := utf8.DecodeRuneInString(s[1:])
		return r, 1 + n
	}
	return utf8.DecodeRuneInString(s)
}

func writeRuneQuoted(b *strings.Builder, r rune) {
	var buf [utf8.UTFMax]byte
	b.WriteString(regexp.QuoteMeta(string(buf[:utf8.EncodeRune(buf[:], r)])))
}
