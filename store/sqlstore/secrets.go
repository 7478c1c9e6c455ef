package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"

	"github.com/palio-voip/palio/registrar"
)

// SecretStore is registrar.SecretStore over palio_secrets (name, value,
// created): secrets that every node on the database shares, created by
// whichever node needs one first.
type SecretStore struct{ db *DB }

var _ registrar.SecretStore = (*SecretStore)(nil)

// Secrets returns the secret store of db.
func (db *DB) Secrets() *SecretStore { return &SecretStore{db} }

// Secret returns the secret called name, creating it with
// registrar.SecretSize random bytes when there is none. Two nodes creating
// it at once both insert if absent and read back: the row that got in
// first is the one both return.
func (s *SecretStore) Secret(ctx context.Context, name string) ([]byte, error) {
	// The writer pool, to read what was just written whatever the pools.
	v, err := s.read(ctx, name)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: secret %s: %w", name, err)
	}
	fresh := make([]byte, registrar.SecretSize)
	rand.Read(fresh)
	q := s.db.dialect.insertIfAbsent("palio_secrets", []string{"name", "value"})
	if _, err := s.db.w.ExecContext(ctx, q, name, fresh); err != nil {
		return nil, fmt.Errorf("sqlstore: secret %s: %w", name, err)
	}
	v, err = s.read(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: secret %s: reading it back: %w", name, err)
	}
	return v, nil
}

func (s *SecretStore) read(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.db.w.QueryRowContext(ctx, "SELECT value FROM palio_secrets WHERE "+s.db.dialect.exact("name"),
		s.db.dialect.exactArgs(name)...).Scan(&v)
	return v, err
}
