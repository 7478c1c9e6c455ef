// Package snapshot is how Palio's components keep data read from a store:
// compiled once into an immutable value that the hot path reads without
// locks, and swapped whole on reload. It also gives their reloads one
// report, so that a program reloading several components (on SIGHUP, when
// a table changes, from the admin page) treats them alike.
//
// The rules every Value follows: readers see the old snapshot or the new
// one, never a mix; one reload runs at a time, and a reload asked for while
// another runs waits for it and then loads afresh, so that it sees every
// change made before it was asked for; a failed reload keeps the snapshot
// that runs and says why.
package snapshot

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Value holds the current snapshot of type T. The zero Value holds nil
// until the first Store or Reload.
type Value[T any] struct {
	cur  atomic.Pointer[T]
	once sync.Once
	sem  chan struct{} // one reload at a time
}

// Load returns the current snapshot.
func (v *Value[T]) Load() *T { return v.cur.Load() }

// Store makes t the current snapshot.
func (v *Value[T]) Store(t *T) { v.cur.Store(t) }

// Reload runs load and, if it succeeds, makes what it built the current
// snapshot. Reloads run one at a time; one that cannot start before ctx
// ends returns ctx's cause. A failed load leaves the current snapshot in
// place and returns the error.
func (v *Value[T]) Reload(ctx context.Context, load func(context.Context) (*T, error)) error {
	v.once.Do(func() { v.sem = make(chan struct{}, 1) })
	select {
	case v.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for the running reload: %w", context.Cause(ctx))
	}
	defer func() { <-v.sem }()
	t, err := load(ctx)
	if err != nil {
		return err
	}
	v.cur.Store(t)
	return nil
}

// Report says what a component's reload loaded.
type Report struct {
	// Component names what was reloaded ("dialplan", "routing").
	Component string
	// Loaded counts the rows in the new snapshot.
	Loaded int
	// Discarded lists the rows left out because they cannot work.
	Discarded []Discard
	// Took is how long the reload took.
	Took time.Duration
}

// Discard is a row a reload left out, and why.
type Discard struct {
	// Table and ID identify the row ("dialplan", "42").
	Table, ID string
	// Reason says what is wrong with it.
	Reason string
}

// String returns "dialplan: 9 loaded, 1 discarded".
func (r Report) String() string {
	var b strings.Builder
	b.WriteString(r.Component)
	b.WriteString(": ")
	b.WriteString(strconv.Itoa(r.Loaded))
	b.WriteString(" loaded, ")
	b.WriteString(strconv.Itoa(len(r.Discarded)))
	b.WriteString(" discarded")
	return b.String()
}

// String returns "dialplan 42: reason".
func (d Discard) String() string {
	return d.Table + " " + d.ID + ": " + d.Reason
}
