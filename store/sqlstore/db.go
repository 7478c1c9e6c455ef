package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// DB is a Palio database: a pool for writes, a pool for reads (the same
// one on MySQL; on SQLite a single writer connection and a read-only pool),
// and the dialect that tells the SQL apart.
type DB struct {
	w, r    *sql.DB
	dialect Dialect

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt // prepared on w, by query
	rstmts map[string]*sql.Stmt // prepared on r, by query

	created bool // Open found no schema and created it
}

// ErrNotInitialised is returned by OpenExisting (and the drivers' Open
// with MustExist) for a database without Palio's schema: a new file, an
// empty MySQL database, or a path that names the wrong file.
var ErrNotInitialised = errors.New("the database has no Palio schema (not initialised)")

// Open wraps the writer and reader pools of an opened database and brings
// its schema up to date (the embedded migrations of the dialect, each run
// once, recorded in palio_schema). r may be w.
func Open(ctx context.Context, w, r *sql.DB, d Dialect) (*DB, error) {
	if r == nil {
		r = w
	}
	db := &DB{w: w, r: r, dialect: d}
	if err := db.migrate(ctx); err != nil {
		return nil, err
	}
	return db, nil
}

// OpenExisting is Open for a database that must already hold Palio's
// schema (an operator command on the server's database): without it, it
// creates nothing and returns ErrNotInitialised. Migrations newer than the
// schema are applied as Open applies them.
func OpenExisting(ctx context.Context, w, r *sql.DB, d Dialect) (*DB, error) {
	if r == nil {
		r = w
	}
	q := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'palio_schema'"
	if d == MySQL {
		q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'palio_schema'"
	}
	var n int
	if err := r.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return nil, fmt.Errorf("sqlstore: looking for the schema: %w", err)
	}
	if n == 0 {
		return nil, ErrNotInitialised
	}
	return Open(ctx, w, r, d)
}

// Created reports whether Open found no schema and created it: the
// database is new (a deployment seeds it then, and only then).
func (db *DB) Created() bool { return db.created }

// writeStmt returns query prepared on the writer pool, preparing it the
// first time. Hot writes (a REGISTER's binding) run it inside their
// transactions (Tx.StmtContext reuses the preparation on the writer's
// connection) instead of having the driver parse the SQL again each time:
// on SQLite, parsing was half the cost of a binding's write.
func (db *DB) writeStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	return db.prepared(ctx, db.w, &db.stmts, query)
}

// readStmt is writeStmt for hot reads on the reader pool (the bindings
// of an AOR, read by every REGISTER of a write-through location store):
// database/sql prepares it once on each reader connection. At 200
// REGISTERs/s, parsing that SELECT anew was 17 % of the router's CPU.
func (db *DB) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	return db.prepared(ctx, db.r, &db.rstmts, query)
}

func (db *DB) prepared(ctx context.Context, pool *sql.DB, cache *map[string]*sql.Stmt, query string) (*sql.Stmt, error) {
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	if st, ok := (*cache)[query]; ok {
		return st, nil
	}
	st, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if *cache == nil {
		*cache = map[string]*sql.Stmt{}
	}
	(*cache)[query] = st
	return st, nil
}

// Close closes both pools.
func (db *DB) Close() error {
	db.stmtMu.Lock()
	for _, st := range db.stmts {
		st.Close()
	}
	for _, st := range db.rstmts {
		st.Close()
	}
	db.stmts, db.rstmts = nil, nil
	db.stmtMu.Unlock()
	err := db.w.Close()
	if db.r != db.w {
		err = errors.Join(err, db.r.Close())
	}
	return err
}

// Dialect returns the database's dialect.
func (db *DB) Dialect() Dialect { return db.dialect }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlstore: ping: %w", err)
	}
	return nil
}

//go:embed migrations
var migrations embed.FS

type migration struct {
	version int
	name    string
	stmts   []string
}

// loadMigrations returns the dialect's migrations in version order.
func loadMigrations(d Dialect) ([]migration, error) {
	dir := path.Join("migrations", d.String())
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations for %s: %w", d, err)
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("sqlstore: migration %s: want NNNN_name.sql", name)
		}
		b, err := migrations.ReadFile(path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, stmts: splitStatements(string(b))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// splitStatements splits a migration file at lines holding only ";",
// dropping comment-only chunks.
func splitStatements(s string) []string {
	var out []string
	for _, chunk := range strings.Split(s, "\n;\n") {
		var lines []string
		for _, l := range strings.Split(chunk, "\n") {
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
				lines = append(lines, l)
			}
		}
		if len(lines) > 0 {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(strings.Join(lines, "\n")), ";"))
		}
	}
	return out
}

// migrate applies the migrations the database has not seen (those not
// recorded in palio_schema, whatever the highest recorded). On MySQL a
// named lock keeps two nodes starting at once from racing; SQLite has one
// writer.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations(db.dialect)
	if err != nil {
		return err
	}
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	defer conn.Close()
	if db.dialect == MySQL {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('palio_migrate', 30)").Scan(&got); err != nil || got.Int64 != 1 {
			return fmt.Errorf("sqlstore: migrate: cannot take the migration lock: %v", err)
		}
		defer conn.ExecContext(context.Background(), "SELECT RELEASE_LOCK('palio_migrate')")
	}
	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS palio_schema (version INTEGER NOT NULL, applied CHAR(64) NOT NULL DEFAULT '')"); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	// Every migration not recorded runs, in version order, also one
	// numbered below the highest applied: numbers are handed out to work
	// done in parallel (0010 to one branch, 0011 on to another), which may
	// land in either order.
	applied := map[int]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT version FROM palio_schema")
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: reading the schema version: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("sqlstore: migrate: reading the schema version: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlstore: migrate: reading the schema version: %w", err)
	}
	db.created = len(applied) == 0
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if err := db.apply(ctx, conn, m); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) apply(ctx context.Context, conn *sql.Conn, m migration) error {
	exec := func(q string) error {
		_, err := conn.ExecContext(ctx, q)
		return err
	}
	transactional := db.dialect == SQLite // MySQL commits DDL implicitly
	if transactional {
		if err := exec("BEGIN IMMEDIATE"); err != nil {
			return fmt.Errorf("sqlstore: migration %s: %w", m.name, err)
		}
	}
	fail := func(i int, err error) error {
		if transactional {
			_ = exec("ROLLBACK")
		}
		return fmt.Errorf("sqlstore: migration %s, statement %d: %w", m.name, i+1, err)
	}
	for i, q := range m.stmts {
		if err := exec(q); err != nil {
			return fail(i, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "INSERT INTO palio_schema (version, applied) VALUES (?, ?)", m.version, m.name); err != nil {
		return fail(len(m.stmts), err)
	}
	if transactional {
		if err := exec("COMMIT"); err != nil {
			return fmt.Errorf("sqlstore: migration %s: %w", m.name, err)
		}
	}
	return nil
}

// ErrBackupUnsupported is returned by Backup on a database it cannot copy
// (MySQL: use mysqldump or the server's own backups).
var ErrBackupUnsupported = errors.New("sqlstore: backup of this database is not supported here")

// Backup writes a consistent copy of a SQLite database to path, a file
// that must not exist, while the database stays in use (VACUUM INTO on
// the writer connection: the copy is one transaction's view, compacted;
// readers go on, writers, a running server's included, wait the few
// milliseconds a copy takes). The copy opens as any Palio database.
func (db *DB) Backup(ctx context.Context, path string) error {
	if db.dialect != SQLite {
		return ErrBackupUnsupported
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("sqlstore: backup: %s exists", path)
	}
	if _, err := db.w.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return fmt.Errorf("sqlstore: backup to %s: %w", path, err)
	}
	return nil
}

// SchemaVersion returns the highest migration applied.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := db.r.QueryRowContext(ctx, "SELECT MAX(version) FROM palio_schema").Scan(&v)
	return int(v.Int64), err
}

// Versions returns the change counter of every table Palio snapshots
// (palio_changes): a snapshot is stale when its table's number moved.
func (db *DB) Versions(ctx context.Context) (map[string]int64, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT name, version FROM palio_changes")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: versions: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var n string
		var v int64
		if err := rows.Scan(&n, &v); err != nil {
			return nil, fmt.Errorf("sqlstore: versions: %w", err)
		}
		out[n] = v
	}
	return out, rows.Err()
}
