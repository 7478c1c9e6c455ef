package sqlstore_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/palio-voip/palio/store/mysql"
	"github.com/palio-voip/palio/store/sqlite"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/palio-voip/palio/store/storetest"
)

func TestMigrations(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		db := open(t)
		ctx := context.Background()
		v, err := db.SchemaVersion(ctx)
		if err != nil || v < 1 {
			t.Fatalf("schema version: got %d %v, want ≥ 1", v, err)
		}
		vers, err := db.Versions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := vers["dialplan"]; !ok {
			t.Fatalf("palio_changes has no dialplan row: %v", vers)
		}
	})
}

// TestOpenExisting: an operator's open of a database that is not there
// creates nothing; Created tells a new database from an existing one.
func TestOpenExisting(t *testing.T) {
	ctx := context.Background()
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "typo.db")
		if _, err := sqlite.Open(ctx, path, sqlite.Options{MustExist: true}); !errors.Is(err, sqlstore.ErrNotInitialised) {
			t.Fatalf("MustExist on a missing file: %v, want ErrNotInitialised", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("MustExist created %s: %v", path, err)
		}
		empty := filepath.Join(t.TempDir(), "empty.db")
		if err := os.WriteFile(empty, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := sqlite.Open(ctx, empty, sqlite.Options{MustExist: true}); !errors.Is(err, sqlstore.ErrNotInitialised) {
			t.Fatalf("MustExist on an empty file: %v, want ErrNotInitialised", err)
		}
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if !db.Created() {
			t.Error("a new file: Created() = false")
		}
		db.Close()
		db, err = sqlite.Open(ctx, path, sqlite.Options{MustExist: true})
		if err != nil {
			t.Fatalf("MustExist on an initialised file: %v", err)
		}
		if db.Created() {
			t.Error("an existing file: Created() = true")
		}
		db.Close()
	})
	t.Run("mysql", func(t *testing.T) {
		dsn := storetest.MySQLDSN(t)
		if _, err := mysql.Open(ctx, dsn, mysql.Options{MustExist: true}); !errors.Is(err, sqlstore.ErrNotInitialised) {
			t.Fatalf("MustExist on an empty database: %v, want ErrNotInitialised", err)
		}
		db, err := mysql.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		if !db.Created() {
			t.Error("an empty database: Created() = false")
		}
		db.Close()
		db, err = mysql.Open(ctx, dsn, mysql.Options{MustExist: true})
		if err != nil {
			t.Fatalf("MustExist on an initialised database: %v", err)
		}
		if db.Created() {
			t.Error("an existing database: Created() = true")
		}
		db.Close()
	})
}
