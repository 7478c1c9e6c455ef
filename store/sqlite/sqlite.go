// Package sqlite opens Palio's embedded default database: a SQLite file
// through modernc.org/sqlite (pure Go, no cgo).
//
// SQLite allows one writer at a time, and a transaction that starts as a
// reader and then writes fails at once with SQLITE_BUSY (busy_timeout does
// not cover lock upgrades). So Open keeps two pools: a writer with a single
// connection whose transactions begin IMMEDIATE, and a read-only pool for
// concurrent readers. The file runs in WAL mode with synchronous=NORMAL: no
// fsync per commit, readers never block the writer, and a power loss may
// undo the last commits but never corrupts the file (registrations are
// refreshed by the phones anyway).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"runtime"

	"github.com/palio-voip/palio/store/sqlstore"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Options tunes Open.
type Options struct {
	// Readers is the size of the read pool (default: GOMAXPROCS, at least 2).
	Readers int
	// BusyTimeout is how long a statement waits for the write lock held by
	// another process, in milliseconds (default 5000).
	BusyTimeoutMS int
	// MustExist opens only a file that exists and holds Palio's schema:
	// else Open creates nothing and returns an error wrapping
	// sqlstore.ErrNotInitialised (an operator command given a typo'd
	// path must not create an empty database there).
	MustExist bool
}

// dsn builds the file: URI for path with the pragmas every pooled
// connection gets.
func dsn(path string, readOnly bool, o Options) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(o.BusyTimeoutMS))
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_foreign_keys", "1")
	if readOnly {
		q.Set("_query_only", "1")
	} else {
		q.Set("_txlock", "immediate")
		// A statement inside a group transaction (a batch of CDRs)
		// keeps a statement journal, so that it can fail alone; in a
		// temporary file, that is a write system call per page it
		// touches. The writer's statements are small: their journals
		// fit in memory. Readers keep temporary files for the sorts of
		// large reports.
		q.Add("_pragma", "temp_store(memory)")
	}
	u := url.URL{Scheme: "file", Opaque: url.PathEscape(path), RawQuery: q.Encode()}
	return u.String()
}

// Open opens (creating it if needed) the SQLite database at path, applies
// Palio's migrations and returns it.
func Open(ctx context.Context, path string, opts ...Options) (*sqlstore.DB, error) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Readers <= 0 {
		o.Readers = max(2, runtime.GOMAXPROCS(0))
	}
	if o.BusyTimeoutMS <= 0 {
		o.BusyTimeoutMS = 5000
	}
	if o.MustExist {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("sqlite: %s does not exist: %w", path, sqlstore.ErrNotInitialised)
		} else if err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
	}
	w, err := sql.Open("sqlite", dsn(path, false, o))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn(path, true, o))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(o.Readers)
	r.SetMaxIdleConns(o.Readers)
	open := sqlstore.Open
	if o.MustExist {
		open = sqlstore.OpenExisting
	}
	db, err := open(ctx, w, r, sqlstore.SQLite)
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	return db, nil
}
