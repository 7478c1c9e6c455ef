package dialplan

import (
	"context"
	"errors"
)

var (
	// ErrNotFound is returned for a rule id the store does not hold.
	ErrNotFound = errors.New("dialplan: rule not found")
	// ErrExists is returned when adding a rule with an id already taken.
	ErrExists = errors.New("dialplan: rule id already exists")
)

// Store holds dialplan rules: OpenSIPS's dialplan table. The Plan reads
// all of them at each reload, never per call; the other methods serve
// provisioning (the admin API, the CLI's import). Implementations must be
// safe for concurrent use. dialplantest.TestStore checks an
// implementation's behaviour.
type Store interface {
	// Rules returns every rule, disabled ones included, by ascending ID.
	Rules(ctx context.Context) ([]Rule, error)
	// Rule returns the rule with the given id, or ErrNotFound.
	Rule(ctx context.Context, id int) (Rule, error)
	// AddRule stores a new rule and returns it as stored. An ID of 0 asks
	// the store for a fresh one (above every id in use); an ID already
	// taken fails with ErrExists.
	AddRule(ctx context.Context, r Rule) (Rule, error)
	// UpdateRule replaces the rule with r.ID, or fails with ErrNotFound.
	UpdateRule(ctx context.Context, r Rule) error
	// DeleteRule removes the rule with the given id, or fails with
	// ErrNotFound.
	DeleteRule(ctx context.Context, id int) error
}
