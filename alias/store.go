package alias

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/palio-voip/palio/sip"
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

// Validate reports why a cannot be stored: an alias or target user that
// is not a SIP user part (sip.CheckUserPart), a domain that is not a host
// name, or an alias that stands for itself (a lookup would loop).
func (a Alias) Validate() error {
	if err := sip.CheckUserPart(a.AliasUsername); err != nil {
		return fmt.Errorf("alias: %w", err)
	}
	if err := sip.CheckUserPart(a.Username); err != nil {
		return fmt.Errorf("alias %s: target: %w", a.AliasUsername, err)
	}
	for _, d := range []string{a.AliasDomain, a.Domain} {
		if strings.ContainsAny(d, " \t@;:<>/,") {
			return fmt.Errorf("alias %s: domain %q is not a host name", a.AliasUsername, d)
		}
	}
	if a.AliasUsername == a.Username && strings.EqualFold(a.AliasDomain, a.Domain) {
		return fmt.Errorf("alias %s@%s stands for itself", a.AliasUsername, a.AliasDomain)
	}
	return nil
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
