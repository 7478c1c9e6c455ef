package sqlstore

import (
	"context"
	"database/sql"
)

// Exec runs q on the writer pool: tests write rows as another program
// (OpenSIPS) would.
func (db *DB) Exec(ctx context.Context, q string, args ...any) error {
	_, err := db.w.ExecContext(ctx, q, args...)
	return err
}

// QueryRow runs q on the writer pool.
func (db *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return db.w.QueryRowContext(ctx, q, args...)
}
