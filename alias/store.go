package alias

import (
	"context"
	"errors"
)

// Alias is one row of OpenSIPS's dbaliases table: alias_username@alias_domain
// stands for username@domain.
type Alias struct {
	ID            int
	AliasUsername string
	AliasDomain   string
	Username      string
	Domain        string
}

// ErrNotFound is returned by a Store for an alias it does not have.
var ErrNotFound = errors.New("alias: not found")

// ErrExists is returned by Store.Add for an alias (alias_username,
// alias_domain) that is already there.
var ErrExists = errors.New("alias: already exists")

// Store is where aliases live (the dbaliases table, or memory).
type Store interface {
	// Aliases returns every alias.
	Aliases(ctx context.Context) ([]Alias, error)
	// Add stores a new alias and returns it with its ID.
	Add(ctx context.Context, a Alias) (Alias, error)
	// Delete removes the alias aliasUser@aliasDomain.
	Delete(ctx context.Context, aliasUser, aliasDomain string) error
}
