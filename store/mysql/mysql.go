// Package mysql opens a MariaDB or MySQL database for Palio: the shared
// store of several Palio nodes, and the DBMS of the seed deployment, whose
// OpenSIPS tables Palio reads as they are.
package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/palio-voip/palio/store/sqlstore"
)

// Open connects to the database named by dsn (the driver's DSN syntax,
// "user:pass@tcp(host:3306)/dbname"), applies Palio's migrations and
// returns it. Palio needs parseTime=true and the utf8mb4 character set: Open
// sets them when the DSN does not say, and refuses a DSN that asks for
// something else. Creating triggers needs the TRIGGER privilege (and, with
// binary logging on, log_bin_trust_function_creators).
//
// With Options.MustExist it opens only a database that already holds
// Palio's schema, creating nothing (sqlstore.ErrNotInitialised otherwise).
func Open(ctx context.Context, dsn string, opts ...Options) (*sqlstore.DB, error) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	cfg, err := checkDSN(dsn)
	if err != nil {
		return nil, err
	}
	if o.Logger != nil {
		cfg.Logger = driverLog{o.Logger}
	}
	conn, err := driver.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(16)
	db.SetConnMaxLifetime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysql: connect %s@%s/%s: %w", cfg.User, cfg.Addr, cfg.DBName, err)
	}
	open := sqlstore.Open
	if o.MustExist {
		open = sqlstore.OpenExisting
	}
	s, err := open(ctx, db, db, sqlstore.MySQL)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("mysql: %w", err)
	}
	return s, nil
}

// Options tunes Open.
type Options struct {
	// MustExist opens only a database holding Palio's schema.
	MustExist bool
	// Logger receives the driver's own lines (by default written to
	// stderr as "[mysql] 2026/01/02 15:04:05 packets.go:58 …", in no
	// program's format): at Warn, but for "closing bad idle connection",
	// at Debug, since database/sql simply takes another connection (the
	// server closed an idle one: its wait_timeout, a restart).
	Logger *slog.Logger
}

// driverLog is the driver's Logger writing to a slog.Logger.
type driverLog struct{ log *slog.Logger }

// Print logs one line of the driver's.
func (d driverLog) Print(v ...any) {
	msg := strings.TrimSpace(fmt.Sprint(v...))
	level := slog.LevelWarn
	if strings.Contains(msg, "closing bad idle connection") {
		level = slog.LevelDebug
	}
	d.log.Log(context.Background(), level, "mysql: driver: "+msg, "component", "mysql")
}

// checkDSN parses dsn and settles the options Palio depends on.
func checkDSN(dsn string) (*driver.Config, error) {
	cfg, err := driver.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("mysql: bad DSN: %w", err)
	}
	if cfg.DBName == "" {
		return nil, fmt.Errorf("mysql: the DSN names no database (want .../dbname)")
	}
	if v, ok := paramIn(dsn, "parseTime"); ok && !strings.EqualFold(v, "true") && v != "1" {
		return nil, fmt.Errorf("mysql: the DSN sets parseTime=%s; Palio needs parseTime=true", v)
	}
	cfg.ParseTime = true
	if v, ok := paramIn(dsn, "charset"); ok && !strings.EqualFold(v, "utf8mb4") {
		return nil, fmt.Errorf("mysql: the DSN sets charset=%s; Palio needs utf8mb4", v)
	}
	if err := driver.Charset("utf8mb4", "utf8mb4_unicode_ci")(cfg); err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	if cfg.Loc == nil {
		cfg.Loc = time.UTC
	}
	// An UPDATE that writes the values a row already has must still count
	// as finding it (stores tell "not found" from "unchanged" by it).
	cfg.ClientFoundRows = true
	return cfg, nil
}

// paramIn returns the value of a DSN parameter as written.
func paramIn(dsn, key string) (string, bool) {
	_, q, ok := strings.Cut(dsn, "?")
	if !ok {
		return "", false
	}
	for _, kv := range strings.Split(q, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if k == key {
			return v, true
		}
	}
	return "", false
}

// WithDatabase returns dsn with its database name replaced by name.
func WithDatabase(dsn, name string) (string, error) {
	cfg, err := driver.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("mysql: bad DSN: %w", err)
	}
	cfg.DBName = name
	return cfg.FormatDSN(), nil
}

// CreateDatabase creates the database name (utf8mb4) on the server dsn
// points at, if it does not exist.
func CreateDatabase(ctx context.Context, dsn, name string) error {
	return onServer(ctx, dsn, "CREATE DATABASE IF NOT EXISTS `"+name+"` CHARACTER SET utf8mb4")
}

// DropDatabase drops the database name on the server dsn points at.
func DropDatabase(ctx context.Context, dsn, name string) error {
	return onServer(ctx, dsn, "DROP DATABASE IF EXISTS `"+name+"`")
}

func onServer(ctx context.Context, dsn, stmt string) error {
	cfg, err := driver.ParseDSN(dsn)
	if err != nil {
		return fmt.Errorf("mysql: bad DSN: %w", err)
	}
	cfg.DBName = ""
	conn, err := driver.NewConnector(cfg)
	if err != nil {
		return fmt.Errorf("mysql: %w", err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("mysql: %w", err)
	}
	return nil
}
