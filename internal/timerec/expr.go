// Package timerec implements OpenSIPS's time recurrences: the strings in
// the timerec column of the dialplan table and in drouting's rules, and the
// argument of check_time_rec(). They say when something is valid, in the
// style of RFC 2445 recurrence rules.
//
// # Records
//
// A record is up to twelve fields separated by '|':
//
//	tz|dtstart|dtend|duration|freq|until|interval|byday|bymday|byyday|byweekno|bymonth
//
// Trailing empty fields may be left out. The fields mean:
//
//   - tz: an IANA zone name ("Europe/Rome", "UTC") in which every date is
//     read. It is optional: a first field that does not begin with an upper
//     case letter is dtstart. An empty or absent tz is the process's local
//     zone (time.Local), as OpenSIPS uses the system zone.
//   - dtstart, dtend, until: local date-times written YYYYMMDDThhmmss.
//   - duration: how long each occurrence lasts, RFC 2445 style: P1W, P2D,
//     PT8H30M, P1DT12H; OpenSIPS's form without the P (8H, 90M) is also
//     read. When both duration and dtend are given, duration wins.
//   - freq: daily, weekly, monthly or yearly (any case). Without freq the
//     record is the single interval [dtstart, dtend), and the fields after
//     freq are ignored.
//   - interval: every how many days, weeks, months or years (default 1).
//   - byday: weekdays, MO,TU,WE,TH,FR,SA,SU, each optionally with an
//     ordinal: 1MO is the first Monday, -1SU the last Sunday, of the month
//     (freq monthly) or of the year (freq yearly).
//   - bymday, byyday, byweekno, bymonth: days of the month (1..31, -1 is
//     the last), days of the year (1..366, -366..-1), ISO 8601 weeks
//     (1..53, -53..-1, only with freq yearly) and months (1..12).
//
// A recurring record has occurrences that begin at dtstart's position in
// the smallest unit its rule names: the time of day when freq is daily or a
// byday, bymday or byyday is given; the weekday and time when weekly; the
// day of the month and time when monthly or bymonth is given; the date and
// time when yearly. An occurrence is kept when its start date passes every
// by-list given and the interval, and it lasts duration (or until dtend's
// position, or else to the end of its unit). A time matches when it is at or
// after dtstart, not after until, and inside an occurrence. A duration as
// long as the unit or longer covers every unit the by-lists accept.
//
// # Expressions
//
// Records combine with & (and), / (or) and ! (not), with parentheses for
// grouping. One level may not mix & and / without parentheses. A '/' is
// read as "or" only after the current record has shown a '|', so zone names
// such as Europe/Rome need no quoting. Whitespace separates tokens.
//
//	Europe/Rome|20260105T080000||PT10H|weekly|||MO,TU,WE,TH,FR & !(Europe/Rome|20261224T000000|20261227T000000)
//
// # Differences from OpenSIPS
//
// The syntax is OpenSIPS 3.x's; the evaluation follows RFC 2445 where
// OpenSIPS's C code does not:
//
//   - An occurrence is judged by its start: a night shift 22:00–06:00 on
//     MO..FR covers Friday night into Saturday morning and not the small
//     hours of Monday (OpenSIPS checks the by-lists on the current time).
//   - byday without an ordinal means every such weekday of the month or
//     year; OpenSIPS reads "MO" under freq monthly as the first Monday.
//   - bymday equal to the month's length, negative byyday, byweekno and
//     numbered WE are computed as RFC 2445 says (OpenSIPS misses the last
//     day of a month, is one day off for negative byyday, counts weeks from
//     the first Monday and drops the ordinal of WE). byweekno counts ISO 8601
//     weeks. Yearly occurrences keep dtstart's month and day, not its day
//     of the year. interval reads all its digits (OpenSIPS adds them up).
//   - Malformed fields are errors, where OpenSIPS turns some of them into a
//     rule that silently never matches: an unknown freq, a duration with a
//     stray character or number, a zero duration or interval, a date with
//     out-of-range parts. "P8H" is read as eight hours (OpenSIPS: zero).
//   - An empty dtstart means 19700101T000000, as OpenSIPS's parser assumes;
//     a record with no dtstart, no end and no freq is always valid.
//   - Without dtend or duration, a recurring occurrence lasts to the end of
//     its calendar day, week (Monday to Sunday), month or year.
package timerec

import (
	"errors"
	"fmt"
	"time"
)

// Expr is a parsed time recurrence expression. It is immutable and safe
// for concurrent use. A nil *Expr matches every time.
type Expr struct {
	src  string
	root node
}

type opKind uint8

const (
	opLeaf opKind = iota
	opAnd
	opOr
)

// node is one operand of an expression: a record, or an and/or of nodes,
// possibly negated.
type node struct {
	op   opKind
	not  bool
	rec  *rec
	kids []node
}

// maxDepth bounds parenthesis nesting.
const maxDepth = 32

// Parse parses a time recurrence expression. An empty (or all-blank) string
// parses to an expression that always matches.
func Parse(s string) (*Expr, error) {
	p := parser{s: s}
	p.skipSpace()
	if p.i == len(s) {
		return &Expr{src: s, root: node{rec: &rec{always: true}}}, nil
	}
	n, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if p.i < len(s) {
		return nil, p.errorf("unexpected %q", s[p.i])
	}
	return &Expr{src: s, root: n}, nil
}

// String returns the expression as it was parsed.
func (e *Expr) String() string {
	if e == nil {
		return ""
	}
	return e.src
}

// Match reports whether t falls within the recurrence. It does not
// allocate.
func (e *Expr) Match(t time.Time) bool {
	if e == nil {
		return true
	}
	return e.root.match(t)
}

func (n *node) match(t time.Time) bool {
	var v bool
	switch n.op {
	case opLeaf:
		v = n.rec.match(t)
	case opAnd:
		v = true
		for i := range n.kids {
			if !n.kids[i].match(t) {
				v = false
				break
			}
		}
	case opOr:
		for i := range n.kids {
			if n.kids[i].match(t) {
				v = true
				break
			}
		}
	}
	return v != n.not
}

// parser reads an expression by recursive descent:
//
//	expr    = operand { ("&" | "/") operand }   one operator kind a level
//	operand = { "!" } ( "(" expr ")" | record )
type parser struct {
	s string
	i int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("timerec: at offset %d: %s", p.i, fmt.Sprintf(format, args...))
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *parser) skipSpace() {
	for p.i < len(p.s) && isSpace(p.s[p.i]) {
		p.i++
	}
}

func (p *parser) expr(depth int) (node, error) {
	var kids []node
	var op byte
	for {
		n, err := p.operand(depth)
		if err != nil {
			return node{}, err
		}
		kids = append(kids, n)
		p.skipSpace()
		if p.i == len(p.s) || p.s[p.i] == ')' {
			break
		}
		c := p.s[p.i]
		if c != '&' && c != '/' {
			return node{}, p.errorf("want & or / between records, got %q", c)
		}
		if op != 0 && c != op {
			return node{}, p.errorf("& and / cannot be mixed without parentheses")
		}
		op = c
		p.i++
	}
	if len(kids) == 1 {
		return kids[0], nil
	}
	n := node{op: opAnd, kids: kids}
	if op == '/' {
		n.op = opOr
	}
	return n, nil
}

func (p *parser) operand(depth int) (node, error) {
	p.skipSpace()
	not := false
	for p.i < len(p.s) && p.s[p.i] == '!' {
		not = !not
		p.i++
		p.skipSpace()
	}
	if p.i == len(p.s) {
		return node{}, p.errorf("missing operand")
	}
	switch c := p.s[p.i]; c {
	case '(':
		if depth >= maxDepth {
			return node{}, p.errorf("parentheses nested deeper than %d", maxDepth)
		}
		p.i++
		n, err := p.expr(depth + 1)
		if err != nil {
			return node{}, err
		}
		if p.i == len(p.s) || p.s[p.i] != ')' {
			return node{}, p.errorf("missing )")
		}
		p.i++
		n.not = n.not != not
		return n, nil
	case ')', '&', '/':
		return node{}, p.errorf("unexpected %q where a record was expected", c)
	}
	start, bar := p.i, false
	for ; p.i < len(p.s); p.i++ {
		c := p.s[p.i]
		if isSpace(c) || c == '&' || c == '(' || c == ')' || c == '!' || (c == '/' && bar) {
			break
		}
		if c == '|' {
			bar = true
		}
	}
	r, err := parseRec(p.s[start:p.i])
	if err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			return node{}, fmt.Errorf("timerec: record %q: %s", p.s[start:p.i], fe.msg)
		}
		return node{}, err
	}
	return node{rec: r, not: not}, nil
}
