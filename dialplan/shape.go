package dialplan

import (
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// shape is a regex reduced to what most dialplan expressions are: anchored
// at the start, a run of literals and single characters of a class with
// fixed counts, then at most one class repeated a variable number of
// times, then perhaps anchored at the end: ^05771530(.{3})$, ^03[0-9]{7,10}$,
// ^88.*, ^2([1-2][4-9]).{2}$. It answers MatchString exactly as the regexp
// would, without the regexp's program in memory or its machine in time.
type shape struct {
	items []shapeItem
	end   bool // $ or \z closes the expression
}

// shapeItem is a literal, or a character class repeated min..max times
// (max -1: unbounded). Only the last item may have max != min.
type shapeItem struct {
	lit      string
	class    []rune // lo, hi pairs as regexp/syntax keeps them; nil for a literal
	min, max int
}

var (
	anyChar      = []rune{0, unicode.MaxRune}
	anyCharNotNL = []rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune}
)

// shapeOf returns the shape of a parsed (not simplified) regex, or nil if
// it has none.
func shapeOf(re *syntax.Regexp) *shape {
	var elems []*syntax.Regexp
	var flatten func(*syntax.Regexp)
	flatten = func(re *syntax.Regexp) {
		switch re.Op {
		case syntax.OpConcat:
			for _, sub := range re.Sub {
				flatten(sub)
			}
		case syntax.OpCapture:
			flatten(re.Sub[0])
		case syntax.OpEmptyMatch:
		default:
			elems = append(elems, re)
		}
	}
	flatten(re)
	if len(elems) == 0 || elems[0].Op != syntax.OpBeginText {
		return nil
	}
	s := &shape{}
	for _, e := range elems[1:] {
		if s.end {
			return nil // something after $
		}
		if e.Op == syntax.OpEndText {
			s.end = true
			continue
		}
		if n := len(s.items); n > 0 && s.items[n-1].class != nil && s.items[n-1].min != s.items[n-1].max {
			return nil // only the last item may vary
		}
		switch e.Op {
		case syntax.OpLiteral:
			lit, ok := literalOf(e)
			if !ok {
				return nil
			}
			if n := len(s.items); n > 0 && s.items[n-1].class == nil {
				s.items[n-1].lit += lit
			} else {
				s.items = append(s.items, shapeItem{lit: lit})
			}
		case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
			class := classOf(e)
			if class == nil {
				return nil
			}
			s.items = append(s.items, shapeItem{class: class, min: 1, max: 1})
		case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
			class := classOf(e.Sub[0])
			if class == nil {
				return nil
			}
			it := shapeItem{class: class}
			switch e.Op {
			case syntax.OpStar:
				it.min, it.max = 0, -1
			case syntax.OpPlus:
				it.min, it.max = 1, -1
			case syntax.OpQuest:
				it.min, it.max = 0, 1
			default:
				it.min, it.max = e.Min, e.Max
			}
			s.items = append(s.items, it)
		default:
			return nil
		}
	}
	return s
}

// literalOf returns the text of a literal that matches only itself: no
// case folding of letters, no U+FFFD (which also matches invalid bytes).
func literalOf(re *syntax.Regexp) (string, bool) {
	var b strings.Builder
	for _, r := range re.Rune {
		if r == utf8.RuneError || (re.Flags&syntax.FoldCase != 0 && unicode.SimpleFold(r) != r) {
			return "", false
		}
		b.WriteRune(r)
	}
	return b.String(), true
}

// classOf returns the ranges a one-character expression accepts, or nil.
func classOf(re *syntax.Regexp) []rune {
	switch re.Op {
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return nil // matches nothing; leave it to the regexp
		}
		return re.Rune
	case syntax.OpAnyChar:
		return anyChar
	case syntax.OpAnyCharNotNL:
		return anyCharNotNL
	case syntax.OpLiteral:
		if len(re.Rune) != 1 {
			return nil
		}
		if _, ok := literalOf(re); !ok {
			return nil
		}
		return []rune{re.Rune[0], re.Rune[0]}
	}
	return nil
}

// match reports whether the regex the shape came from matches in.
func (s *shape) match(in string) bool {
	i := 0
	for k := range s.items {
		it := &s.items[k]
		if it.class == nil {
			if !strings.HasPrefix(in[i:], it.lit) {
				return false
			}
			i += len(it.lit)
			continue
		}
		n := 0
		for ; n < it.min; n++ {
			if i == len(in) {
				return false
			}
			r, w := utf8.DecodeRuneInString(in[i:])
			if !inClass(it.class, r) {
				return false
			}
			i += w
		}
		if k < len(s.items)-1 || !s.end {
			continue
		}
		for ; i < len(in) && (it.max < 0 || n < it.max); n++ {
			r, w := utf8.DecodeRuneInString(in[i:])
			if !inClass(it.class, r) {
				return false
			}
			i += w
		}
	}
	return !s.end || i == len(in)
}

func inClass(class []rune, r rune) bool {
	for j := 0; j+1 < len(class); j += 2 {
		if class[j] <= r && r <= class[j+1] {
			return true
		}
	}
	return false
}
