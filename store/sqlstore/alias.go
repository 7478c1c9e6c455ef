package sqlstore

import (
	"context"
	"fmt"

	"github.com/palio-voip/palio/alias"
)

// AliasStore is alias.Store over OpenSIPS's dbaliases table (id,
// alias_username, alias_domain, username, domain).
type AliasStore struct{ db *DB }

var _ alias.Store = (*AliasStore)(nil)

// Aliases returns the alias store of db.
func (db *DB) Aliases() *AliasStore { return &AliasStore{db} }

// Aliases returns every alias by id.
func (s *AliasStore) Aliases(ctx context.Context) ([]alias.Alias, error) {
	rows, err := s.db.r.QueryContext(ctx, "SELECT id, alias_username, alias_domain, username, domain FROM dbaliases ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: aliases: %w", err)
	}
	defer rows.Close()
	var out []alias.Alias
	for rows.Next() {
		var a alias.Alias
		if err := rows.Scan(&a.ID, &a.AliasUsername, &a.AliasDomain, &a.Username, &a.Domain); err != nil {
			return nil, fmt.Errorf("sqlstore: aliases: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Add stores a new alias.
func (s *AliasStore) Add(ctx context.Context, a alias.Alias) (alias.Alias, error) {
	q := "INSERT INTO dbaliases (alias_username, alias_domain, username, domain) VALUES (?, ?, ?, ?)"
	args := []any{a.AliasUsername, a.AliasDomain, a.Username, a.Domain}
	if a.ID != 0 {
		q = "INSERT INTO dbaliases (id, alias_username, alias_domain, username, domain) VALUES (?, ?, ?, ?, ?)"
		args = append([]any{a.ID}, args...)
	}
	res, err := s.db.w.ExecContext(ctx, q, args...)
	if s.db.dialect.isDuplicate(err) {
		return a, alias.ErrExists
	}
	if err != nil {
		return a, fmt.Errorf("sqlstore: add alias %s: %w", a.AliasUsername, err)
	}
	if a.ID == 0 {
		id, err := res.LastInsertId()
		if err != nil {
			return a, fmt.Errorf("sqlstore: add alias: %w", err)
		}
		a.ID = int(id)
	}
	return a, nil
}

// Delete removes the alias aliasUser@aliasDomain.
func (s *AliasStore) Delete(ctx context.Context, aliasUser, aliasDomain string) error {
	res, err := s.db.w.ExecContext(ctx, "DELETE FROM dbaliases WHERE alias_username = ? AND alias_domain = ?", aliasUser, aliasDomain)
	if err != nil {
		return fmt.Errorf("sqlstore: delete alias %s: %w", aliasUser, err)
	}
	return mustAffect(res, alias.ErrNotFound)
}
