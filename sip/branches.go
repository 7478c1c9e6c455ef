package sip

import (
	"context"
	"slices"
	"sync"
)

// BranchResult is how one branch of a forwarded request ended.
type BranchResult struct {
	// Index is the branch's target's position in the target set the
	// Forwarder was given (WithTargets); 0 when it had none and sent to
	// the Request-URI.
	Index int
	// Code is the branch's final status: the 2xx that went upstream, the
	// response held back, or the Forwarder's own (408 for a timeout, 503
	// for a transport error, 430 when the target's flow is gone, 487 when
	// cancelled).
	Code int
}

// Branches collects the BranchResult of every branch the Forwarder runs
// under a context from WithBranches: the stage that chose the targets
// learns which of them failed, and how (the registrar's lookup drops a
// binding whose flow failed, RFC 5626 §7). It is safe for concurrent use.
type Branches struct {
	mu      sync.Mutex
	results []BranchResult
}

type branchesKey struct{}

// WithBranches returns a context under which the Forwarder records each
// branch's result in the returned Branches. A later WithBranches replaces
// an earlier one; requests forwarded under ctx again (serial failover)
// add their branches to the same Branches.
func WithBranches(ctx context.Context) (context.Context, *Branches) {
	b := &Branches{}
	return context.WithValue(ctx, branchesKey{}, b), b
}

// Results returns the results recorded so far, in the order the branches
// ended.
func (b *Branches) Results() []BranchResult {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.results)
}

// record adds one branch's result; a nil b (no WithBranches) ignores it.
func (b *Branches) record(index, code int) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.results = append(b.results, BranchResult{Index: index, Code: code})
	b.mu.Unlock()
}

// branchesFrom returns the collector WithBranches put in ctx, or nil.
func branchesFrom(ctx context.Context) *Branches {
	b, _ := ctx.Value(branchesKey{}).(*Branches)
	return b
}
