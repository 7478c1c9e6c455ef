// Package storetest opens real databases for tests: a SQLite file in a
// test's temporary directory, and a fresh MariaDB/MySQL database on the
// server named by PALIO_MYSQL_DSN (dropped when the test ends).
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/palio-voip/palio/store/mysql"
	"github.com/palio-voip/palio/store/sqlite"
	"github.com/palio-voip/palio/store/sqlstore"
)

// MySQLEnv is the environment variable naming the MariaDB/MySQL server
// tests may use, as a DSN ("root@tcp(127.0.0.1:3306)/test"); .ci/run sets
// it. Each test gets a database of its own on that server.
const MySQLEnv = "PALIO_MYSQL_DSN"

// SQLite opens a fresh SQLite database in t's temporary directory.
func SQLite(t testing.TB) *sqlstore.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "palio.db"))
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// MySQLDSN creates a fresh database on the server of PALIO_MYSQL_DSN and
// returns a DSN for it; the database is dropped when t ends. Without the
// variable the test is skipped, saying so.
func MySQLDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(MySQLEnv)
	if base == "" {
		t.Skipf("storetest: %s is not set: skipping the MariaDB/MySQL run (set it to e.g. root@tcp(127.0.0.1:3306)/test)", MySQLEnv)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "palio_t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := mysql.CreateDatabase(ctx, base, name); err != nil {
		t.Fatalf("storetest: creating a test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		mysql.DropDatabase(ctx, base, name)
	})
	dsn, err := mysql.WithDatabase(base, name)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	return dsn
}

// MySQL opens a fresh MariaDB/MySQL database (see MySQLDSN).
func MySQL(t testing.TB) *sqlstore.DB {
	t.Helper()
	dsn := MySQLDSN(t)
	db, err := mysql.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Each runs f once per SQL database: SQLite always, MariaDB/MySQL when
// PALIO_MYSQL_DSN is set (a subtest that skips otherwise).
func Each(t *testing.T, f func(t *testing.T, open func(t testing.TB) *sqlstore.DB)) {
	t.Run("sqlite", func(t *testing.T) { f(t, SQLite) })
	t.Run("mysql", func(t *testing.T) {
		MySQLDSN(t) // skips with a clear message when unset
		f(t, MySQL)
	})
}
