package dialplan

import (
	"fmt"
	"strings"
)

// segment is a piece of a parsed repl_exp: literal text, or group n of
// the subst_exp match (group 0 is the whole match).
type segment struct {
	lit   string
	group int // -1 for literal text
}

// parseRepl parses a repl_exp that goes with a subst_exp of groups
// groups. It accepts \0..\9, \\ and \$; it refuses what OpenSIPS accepts
// but does not build correctly (\n, \r, \t and \u, which write at the wrong
// offset in its C code) and what Palio has no equivalent for (pseudo
// variables such as $rU). The reason is empty when the text is good.
func parseRepl(repl string, groups int) (segs []segment, reason string) {
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			segs = append(segs, segment{lit: lit.String(), group: -1})
			lit.Reset()
		}
	}
	for i := 0; i < len(repl); i++ {
		switch c := repl[i]; c {
		case '$':
			return nil, "repl_exp: pseudo-variables ($...) are not supported; write \\$ for a dollar sign"
		case '\\':
			if i+1 == len(repl) {
				return nil, "repl_exp: ends with a lone backslash"
			}
			i++
			switch e := repl[i]; {
			case e >= '0' && e <= '9':
				n := int(e - '0')
				if n > groups {
					return nil, fmt.Sprintf("repl_exp: \\%d refers beyond the %d group(s) of subst_exp", n, groups)
				}
				flush()
				segs = append(segs, segment{group: n})
			case e == '\\' || e == '$':
				lit.WriteByte(e)
			case e == 'u':
				return nil, "repl_exp: \\u (the whole Request-URI) is not supported"
			default:
				return nil, fmt.Sprintf("repl_exp: \\%c is not supported (only \\0..\\9, \\\\ and \\$)", e)
			}
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return segs, ""
}

// expand builds the output from segs and the submatch indices m of input.
func expand(segs []segment, input string, m []int) string {
	n := 0
	for _, s := range segs {
		if s.group < 0 {
			n += len(s.lit)
		} else if m[2*s.group] >= 0 {
			n += m[2*s.group+1] - m[2*s.group]
		}
	}
	var b strings.Builder
	b.Grow(n)
	for _, s := range segs {
		if s.group < 0 {
			b.WriteString(s.lit)
		} else if m[2*s.group] >= 0 {
			b.WriteString(input[m[2*s.group]:m[2*s.group+1]])
		}
	}
	return b.String()
}
