package permission

// globMatch reports whether s matches the shell pattern p as fnmatch(3)
// does with FNM_PERIOD and without FNM_PATHNAME, which is how OpenSIPS's
// permissions module compares an address row's pattern: '*' matches any
// run of characters ('/' included), '?' one character, '[...]' a set
// ('!' or '^' negates, ranges with '-', ']' first is literal), '\' quotes
// the next character; a leading '.' in s is matched only by a literal '.'.
// A malformed set matches itself literally... as fnmatch does, '[' without
// a closing ']' is an ordinary character.
func globMatch(p, s string) bool {
	return glob(p, s, true)
}

func glob(p, s string, atStart bool) bool {
	// Iterative with one backtrack point for the last '*' seen.
	var starP, starS = -1, -1
	pi, si := 0, 0
	for si < len(s) {
		if pi < len(p) {
			switch c := p[pi]; c {
			case '*':
				if si == 0 && atStart && s[0] == '.' {
					return false
				}
				starP, starS = pi, si
				pi++
				continue
			case '?':
				if !(si == 0 && atStart && s[0] == '.') {
					pi++
					si++
					continue
				}
			case '[':
				if !(si == 0 && atStart && s[0] == '.') {
					if n, ok, valid := matchSet(p[pi:], s[si]); valid {
						if ok {
							pi += n
							si++
							continue
						}
					} else if s[si] == '[' {
						pi++
						si++
						continue
					}
				}
			case '\\':
				if pi+1 < len(p) {
					if p[pi+1] == s[si] {
						pi += 2
						si++
						continue
					}
				} else if s[si] == '\\' {
					pi++
					si++
					continue
				}
			default:
				if c == s[si] {
					pi++
					si++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last '*' swallow one more character.
		starS++
		si = starS
		pi = starP + 1
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// matchSet matches c against the bracket expression at the start of p. It
// returns the expression's length, whether c matched, and whether the
// expression was well formed.
func matchSet(p string, c byte) (n int, ok bool, valid bool) {
	i := 1
	negate := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		negate = true
		i++
	}
	matched := false
	first := true
	for i < len(p) {
		if p[i] == ']' && !first {
			if negate {
				matched = !matched
			}
			return i + 1, matched, true
		}
		first = false
		lo := p[i]
		if lo == '\\' && i+1 < len(p) {
			i++
			lo = p[i]
		}
		i++
		hi := lo
		if i+1 < len(p) && p[i] == '-' && p[i+1] != ']' {
			hi = p[i+1]
			if hi == '\\' && i+2 < len(p) {
				hi = p[i+2]
				i++
			}
			i += 2
		}
		if lo <= c && c <= hi {
			matched = true
		}
	}
	return 0, false, false
}
