package dialplan

import (
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxPrefixes bounds how many index entries one regex rule may have: a
// class such as [0-9] after a literal still fits (ten prefixes), a larger
// product stops the prefix where it is.
const maxPrefixes = 16

// requiredPrefixes returns literal strings one of which every match of re
// begins the input with, so that the rule need only be tried on inputs
// with one of those prefixes. ok is false when there is no such set, and
// the rule must be tried on every input: the regex is not anchored at the
// start of the input (^ or \A), or can begin with anything.
//
// For ^0577(1530)?.* it returns [0577]; for ^0[3-4]12 [03412 04412]; for
// (?i)^ab1 [AB1 Ab1 aB1 ab1 ...] up to the bound.
func requiredPrefixes(re *syntax.Regexp) (prefixes []string, ok bool) {
	if !anchoredAtStart(re) {
		return nil, false
	}
	set, _ := cover(re)
	if len(set) == 0 || slices.Contains(set, "") {
		return nil, false
	}
	slices.Sort(set)
	set = slices.Compact(set)
	// Drop a prefix that has a shorter one in the set: the rule would be
	// tried twice along one input.
	out := set[:0]
	for _, s := range set {
		if len(out) > 0 && strings.HasPrefix(s, out[len(out)-1]) {
			continue
		}
		out = append(out, s)
	}
	return out, true
}

// anchoredAtStart reports whether every match of re begins at the start
// of the input.
func anchoredAtStart(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpBeginText:
		return true
	case syntax.OpConcat, syntax.OpCapture:
		return len(re.Sub) > 0 && anchoredAtStart(re.Sub[0])
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			if !anchoredAtStart(sub) {
				return false
			}
		}
		return true
	}
	return false
}

// cover returns a set of strings such that every string re matches begins
// with one of them. exact reports that every string re matches is one of
// them, so that what follows re in a concatenation may extend the set.
func cover(re *syntax.Regexp) (set []string, exact bool) {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginText, syntax.OpEndText, syntax.OpBeginLine,
		syntax.OpEndLine, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return []string{""}, true
	case syntax.OpLiteral:
		set = []string{""}
		for _, r := range re.Rune {
			variants := []rune{r}
			if re.Flags&syntax.FoldCase != 0 {
				for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
					variants = append(variants, f)
				}
			}
			next, fits := product(set, runeStrings(variants))
			if !fits || slices.Contains(variants, utf8.RuneError) {
				// U+FFFD also matches an invalid byte, which a byte
				// prefix cannot express.
				return set, false
			}
			set = next
		}
		return set, true
	case syntax.OpCharClass:
		var n int
		for i := 0; i+1 < len(re.Rune); i += 2 {
			n += int(re.Rune[i+1]-re.Rune[i]) + 1
			if n > maxPrefixes {
				return []string{""}, false
			}
		}
		var runes []rune
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if r == utf8.RuneError {
					return []string{""}, false
				}
				runes = append(runes, r)
			}
		}
		return runeStrings(runes), true
	case syntax.OpCapture:
		return cover(re.Sub[0])
	case syntax.OpConcat:
		set, exact = []string{""}, true
		for _, sub := range re.Sub {
			s, e := cover(sub)
			next, fits := product(set, s)
			if !fits {
				return set, false
			}
			set = next
			if !e {
				return set, false
			}
		}
		return set, true
	case syntax.OpAlternate:
		exact = true
		for _, sub := range re.Sub {
			s, e := cover(sub)
			set = append(set, s...)
			exact = exact && e
		}
		if len(set) > maxPrefixes {
			return []string{""}, false
		}
		return set, exact
	case syntax.OpQuest:
		s, e := cover(re.Sub[0])
		return append(s, ""), e
	case syntax.OpPlus:
		s, _ := cover(re.Sub[0])
		return s, false
	case syntax.OpRepeat:
		if re.Min == 0 {
			return []string{""}, false
		}
		s, e := cover(re.Sub[0])
		return s, e && re.Max == 1
	}
	// OpStar, OpAnyChar, OpAnyCharNotNL, OpNoMatch and anything new: no
	// literal is required.
	return []string{""}, false
}

// product returns every a+b, and false if there would be too many.
func product(as, bs []string) ([]string, bool) {
	if len(as)*len(bs) > maxPrefixes {
		return nil, false
	}
	out := make([]string, 0, len(as)*len(bs))
	for _, a := range as {
		for _, b := range bs {
			out = append(out, a+b)
		}
	}
	return out, true
}

func runeStrings(runes []rune) []string {
	out := make([]string, len(runes))
	for i, r := range runes {
		var buf [utf8.UTFMax]byte
		out[i] = string(buf[:utf8.EncodeRune(buf[:], r)])
	}
	return out
}
