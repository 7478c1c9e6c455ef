package sqlstore

import (
	"context"
	"database/sql"
	"time"
)

// SetReadHook makes Lookup call f after it read the database and before it
// applies the changes not written yet: the stress test widens the window
// in which a write-back round commits.
func SetReadHook(s *LocationStore, f func()) { s.readHook = f }

// SetNow makes the store read the time from f (the cache's expiry).
func SetNow(s *LocationStore, f func() time.Time) { s.now = f }

// Commits returns how many transactions the store's group commit made and
// how many of its batches waited for company (LocationOptions.CommitDelay).
func Commits(s *LocationStore) (commits, waits int64) {
	return s.batch.commits.Load(), s.batch.waits.Load()
}

// SetReloadHook makes Reload call f after it read the table and before it
// swaps the mirror: the test writes in between.
func SetReloadHook(s *LocationStore, f func()) { s.reloadHook = f }

// GroupWrite runs fn in the store's group commit, as Put does.
func GroupWrite(s *LocationStore, ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return s.batch.do(ctx, fn)
}
