package dialplan

import (
	"context"
	"strconv"
)

// Result is a translation: what was translated, into what, by which rule,
// and the rule's attrs (UniSI's call class). Later stages read it from the
// context with ResultFrom.
type Result struct {
	// DPID is the rule set that translated.
	DPID int
	// RuleID is the id of the winning rule.
	RuleID int
	// Input is the string translated; Output its translation (equal to
	// Input when the rule has no repl_exp).
	Input, Output string
	// Attrs is the winning rule's attrs, possibly empty.
	Attrs string
}

// String says what the translation was: "rule 3: 5002 -> 5002, class voip".
func (r Result) String() string {
	class := r.Attrs
	if class == "" {
		class = "(none)"
	}
	return "rule " + strconv.Itoa(r.RuleID) + ": " + r.Input + " -> " + r.Output + ", class " + class
}

type resultKey struct{}

// NewContext returns a context carrying res.
func NewContext(ctx context.Context, res Result) context.Context {
	return context.WithValue(ctx, resultKey{}, res)
}

// ResultFrom returns the translation the dialplan stage placed in ctx.
func ResultFrom(ctx context.Context) (Result, bool) {
	res, ok := ctx.Value(resultKey{}).(Result)
	return res, ok
}
