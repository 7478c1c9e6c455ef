package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/palio-voip/palio/permission"
)

// AddressStore is permission.AddressStore over OpenSIPS's address table
// (id, grp, ip, mask, port, proto, pattern, context_info).
type AddressStore struct{ db *DB }

var _ permission.AddressStore = (*AddressStore)(nil)

// Addresses returns the address store of db.
func (db *DB) Addresses() *AddressStore { return &AddressStore{db} }

// Addresses returns every row by id.
func (s *AddressStore) Addresses(ctx context.Context) ([]permission.Address, error) {
	rows, err := s.db.r.QueryContext(ctx, "SELECT id, grp, ip, mask, port, proto, pattern, context_info FROM address ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: addresses: %w", err)
	}
	defer rows.Close()
	var out []permission.Address
	for rows.Next() {
		var a permission.Address
		var pattern, info sql.NullString
		if err := rows.Scan(&a.ID, &a.Group, &a.IP, &a.Mask, &a.Port, &a.Proto, &pattern, &info); err != nil {
			return nil, fmt.Errorf("sqlstore: addresses: %w", err)
		}
		a.Pattern, a.ContextInfo = pattern.String, info.String
		out = append(out, a)
	}
	return out, rows.Err()
}

// AddAddress stores a row.
func (s *AddressStore) AddAddress(ctx context.Context, a permission.Address) (permission.Address, error) {
	proto := a.Proto
	if proto == "" {
		proto = "any"
	}
	q := "INSERT INTO address (grp, ip, mask, port, proto, pattern, context_info) VALUES (?, ?, ?, ?, ?, ?, ?)"
	args := []any{a.Group, a.IP, a.Mask, a.Port, proto, nullable(a.Pattern), nullable(a.ContextInfo)}
	if a.ID != 0 {
		q = "INSERT INTO address (id, grp, ip, mask, port, proto, pattern, context_info) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
		args = append([]any{a.ID}, args...)
	}
	res, err := s.db.w.ExecContext(ctx, q, args...)
	if err != nil {
		return a, fmt.Errorf("sqlstore: add address %s: %w", a.IP, err)
	}
	if a.ID == 0 {
		id, err := res.LastInsertId()
		if err != nil {
			return a, fmt.Errorf("sqlstore: add address: %w", err)
		}
		a.ID = int(id)
	}
	a.Proto = proto
	return a, nil
}

// DeleteAddress removes the row with that id.
func (s *AddressStore) DeleteAddress(ctx context.Context, id int) error {
	res, err := s.db.w.ExecContext(ctx, "DELETE FROM address WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("sqlstore: delete address %d: %w", id, err)
	}
	return mustAffect(res, permission.ErrNotFound)
}
