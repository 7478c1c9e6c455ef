package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/palio-voip/palio/alias"
	"github.com/palio-voip/palio/presence/presencetest"
	"github.com/palio-voip/palio/store/mysql"
	"github.com/palio-voip/palio/store/sqlite"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/palio-voip/palio/store/storetest"

	_ "modernc.org/sqlite"
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

// TestBackup: a SQLite database copied while open holds the same data and
// opens as a Palio database; an existing target is refused; MySQL says
// it is not supported.
func TestBackup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "live.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Aliases().Add(ctx, alias.Alias{AliasUsername: "5500", Username: "FAX_5500"}); err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(dir, "copy.db")
	if err := db.Backup(ctx, copyPath); err != nil {
		t.Fatal(err)
	}
	if err := db.Backup(ctx, copyPath); err == nil {
		t.Error("a backup over an existing file succeeded")
	}
	cp, err := sqlite.Open(ctx, copyPath, sqlite.Options{MustExist: true})
	if err != nil {
		t.Fatalf("the copy does not open: %v", err)
	}
	defer cp.Close()
	got, err := cp.Aliases().Aliases(ctx)
	if err != nil || len(got) != 1 || got[0].Username != "FAX_5500" {
		t.Errorf("the copy holds %v %v, want the alias", got, err)
	}
	t.Run("mysql", func(t *testing.T) {
		my := storetest.MySQL(t)
		if err := my.Backup(ctx, filepath.Join(dir, "my.db")); !errors.Is(err, sqlstore.ErrBackupUnsupported) {
			t.Errorf("MySQL backup: %v, want ErrBackupUnsupported", err)
		}
	})
}

// TestMigrationBelowHighest: a database that has a later migration but
// not an earlier one (0011 landed before 0010) gets the earlier one at
// the next Open.
func TestMigrationBelowHighest(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gap.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"DROP INDEX active_watchers_sharing",
		"ALTER TABLE active_watchers DROP COLUMN sharing_tag",
		"DELETE FROM palio_schema WHERE version = 10",
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	db, err = sqlite.Open(ctx, path, sqlite.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sub := presencetest.Sample("gap")
	sub.Node = "siena-1"
	if err := db.Presence().Put(ctx, sub); err != nil {
		t.Fatalf("migration 0010 was not applied below 0011: %v", err)
	}
	if got, err := db.Presence().Subscriptions(ctx, "siena-1"); err != nil || len(got) != 1 {
		t.Errorf("got %v %v", got, err)
	}
	if db.Created() {
		t.Error("Created() on an existing database")
	}
}
