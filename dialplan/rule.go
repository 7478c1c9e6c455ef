package dialplan

import (
	"fmt"
	"strconv"

	"github.com/palio-voip/palio/sip"
)

// MatchOp says how a rule's MatchExp is compared with the input: the
// match_op column.
type MatchOp int

const (
	// Equal: the input must equal MatchExp (OpenSIPS match_op 0).
	Equal MatchOp = 0
	// Regex: MatchExp is a regular expression searched for anywhere in the
	// input, unless it anchors itself with ^ (OpenSIPS match_op 1). Go's
	// RE2 syntax: no lookaround, no backreferences.
	Regex MatchOp = 1
	// Fnmatch: MatchExp is a shell glob (*, ?, [...]) matched against the
	// whole input. Kamailio's match_op 2; OpenSIPS has no such operator.
	Fnmatch MatchOp = 2
)

// String returns "equal", "regex", "fnmatch" or the number.
func (op MatchOp) String() string {
	switch op {
	case Equal:
		return "equal"
	case Regex:
		return "regex"
	case Fnmatch:
		return "fnmatch"
	}
	return strconv.Itoa(int(op))
}

// FlagCaseInsensitive is bit 1 of match_flags: compare letters ignoring
// case, in MatchExp and SubstExp alike.
const FlagCaseInsensitive = 1

// Rule is one row of OpenSIPS's dialplan table; each field is one column,
// so that a SQL store maps it 1:1.
type Rule struct {
	// ID is the rule's key (id). Among rules of equal Priority, the lowest
	// ID wins.
	ID int
	// DPID is the rule set the rule belongs to (dpid).
	DPID int
	// Priority orders the rules of a DPID (pr): the lowest value wins.
	Priority int
	// MatchOp is how MatchExp is compared with the input (match_op).
	MatchOp MatchOp
	// MatchExp is the value or pattern the input must match (match_exp).
	MatchExp string
	// MatchFlags holds FlagCaseInsensitive or 0 (match_flags).
	MatchFlags int
	// SubstExp, when set, is a regular expression that must match the
	// input; its groups feed ReplExp (subst_exp).
	SubstExp string
	// ReplExp is the output (repl_exp). With SubstExp, \0..\9 stand for
	// its groups, \\ for a backslash and \$ for a dollar sign; without, it
	// is copied as it is. Empty leaves the input unchanged.
	ReplExp string
	// TimeRec limits when the rule applies: an OpenSIPS time recurrence
	// (timerec), empty for always.
	TimeRec string
	// Disabled rules are not loaded (disabled).
	Disabled bool
	// Attrs is returned with every match (attrs): UniSI puts the call
	// class there.
	Attrs string
}

// Validate reports why the rule should not be stored, or nil: why it
// would be discarded at load time, a negative id or dpid, or match flags
// other than 0 and FlagCaseInsensitive. The error is a *sip.FieldError
// naming the column at fault: id, dpid, match_op, match_exp, match_flags,
// subst_exp, repl_exp or timerec. Use it to check a rule before storing
// it.
func (r Rule) Validate() error {
	bad := func(field, reason string) error {
		return &sip.FieldError{Field: field, Err: fmt.Errorf("dialplan: rule %d: %s", r.ID, reason)}
	}
	switch {
	case r.ID < 0:
		return bad("id", "id: want a number from 1, or 0 for a new one")
	case r.DPID < 0:
		return bad("dpid", "dpid: want a number from 0")
	case r.MatchFlags != 0 && r.MatchFlags != FlagCaseInsensitive:
		return bad("match_flags", "match_flags: want 0, or 1 (case-insensitive)")
	}
	if _, field, reason := compileRule(r); reason != "" {
		return bad(field, reason)
	}
	return nil
}
