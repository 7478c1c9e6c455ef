package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// TestPragmas opens a real file the way Open does and reads back what
// each pool's connections run with: WAL, synchronous NORMAL, and the
// writer's statement journals in memory (temp_store 2) while readers keep
// the default (0, temporary files) for the sorts of large reports.
func TestPragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "palio.db")
	o := Options{BusyTimeoutMS: 5000}
	for _, tc := range []struct {
		name      string
		readOnly  bool
		tempStore int
	}{
		{"writer", false, 2},
		{"reader", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := sql.Open("sqlite", dsn(path, tc.readOnly, o))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ctx := context.Background()
			var journal string
			var sync, temp int
			if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&journal); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRowContext(ctx, "PRAGMA temp_store").Scan(&temp); err != nil {
				t.Fatal(err)
			}
			if journal != "wal" || sync != 1 || temp != tc.tempStore {
				t.Errorf("journal_mode %q synchronous %d temp_store %d, want wal 1 %d", journal, sync, temp, tc.tempStore)
			}
		})
	}
}
