package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/palio-voip/palio/cluster"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/prometheus/client_golang/prometheus"
)

// The server commands.
var serverCommands = []command{
	{
		name: "serve", section: "Server", max: 0,
		summary: "run the SIP server (the default command)",
		detail: `Serves SIP on [sip] listen (UDP and TCP; 127.0.0.1:5060 by default), metrics
on http://[http] listen/metrics and /healthz. A database that does not exist
is created and seeded with the UniSI data of the seed talk (demo accounts
5001-5009 with password unisi<number>, the dialplan, gateways with
placeholder addresses); an existing one is used as it is.

Signals: SIGHUP reloads the data and the configuration file (what cannot
change while running is logged as needing a restart); SIGTERM or Ctrl-C
drains calls for [timers] drain and exits.`,
		example: "unisi serve -config /etc/unisi/unisi.toml",
		setup: func(fs *flag.FlagSet) runner {
			return func(ctx context.Context, e *env, _ []string) error { return serve(ctx, e.g, e.errw) }
		},
	},
	{
		name: "init", section: "Server", max: 0,
		summary: "create the database (seeded with the UniSI demo data unless -empty)",
		detail: `Creates the configured database and its tables. Without -empty it is seeded as
the server seeds a new one; with -empty it is left empty, for a site that
imports its own data (see 'unisi help import'). A database that exists
already is left alone.`,
		example: "unisi init -empty -db /var/lib/unisi/unisi.db",
		setup: func(fs *flag.FlagSet) runner {
			empty := fs.Bool("empty", false, "create the tables only: no demo data")
			return func(ctx context.Context, e *env, _ []string) error {
				cfg, err := e.g.loadConfig()
				if err != nil {
					return err
				}
				db, err := openForServe(ctx, cfg, slog.New(slog.NewTextHandler(e.errw, nil)), !*empty)
				if err != nil {
					return err
				}
				created := db.Created()
				db.Close()
				switch {
				case !created:
					fmt.Fprintf(e.out, "unchanged %s (already initialised)\n", storeName(cfg))
				case *empty:
					fmt.Fprintf(e.out, "initialised %s (empty)\n", storeName(cfg))
				default:
					fmt.Fprintf(e.out, "initialised %s (seeded with the UniSI data)\n", storeName(cfg))
				}
				return nil
			}
		},
	},
	{
		name: "backup", args: "FILE", section: "Server", min: 1, max: 1,
		summary: "write a consistent copy of the SQLite database, while the server runs",
		detail: `The copy is one transaction's view of the database, compacted, written to
FILE (which must not exist); calls and registrations go on meanwhile. Restore
by stopping the server and putting the copy in place of the database file.
A MariaDB database is backed up with the server's own tools (mariadb-dump).`,
		example: "unisi backup /var/backups/unisi/unisi-$(date +%F).db",
		setup: func(fs *flag.FlagSet) runner {
			return func(ctx context.Context, e *env, args []string) error {
				_, db, err := e.store(ctx)
				if err != nil {
					return err
				}
				defer db.Close()
				if err := db.Backup(ctx, args[0]); errors.Is(err, sqlstore.ErrBackupUnsupported) {
					return fmt.Errorf("the database is MariaDB/MySQL: back it up with mariadb-dump (unisi backup copies SQLite files)")
				} else if err != nil {
					return err
				}
				fmt.Fprintf(e.out, "backed up to %s\n", args[0])
				return nil
			}
		},
	},
	{
		name: "version", section: "Server", max: 0,
		summary: "print the version of unisi and Palio",
		example: "unisi version",
		setup: func(fs *flag.FlagSet) runner {
			return func(ctx context.Context, e *env, _ []string) error {
				b := readBuild()
				fmt.Fprintf(e.out, "unisi %s\npalio %s\nrevision %s\ngo %s\n", b.version, b.palio, b.revision, b.goVersion)
				return nil
			}
		},
	},
}

// The configuration commands.
var configCommands = []command{
	{
		name: "config check", args: "FILE", section: "Configuration", min: 1, max: 1,
		summary: "check a configuration file: syntax, unknown keys, values",
		example: "unisi config check /etc/unisi/unisi.toml",
		setup: func(fs *flag.FlagSet) runner {
			return func(ctx context.Context, e *env, args []string) error {
				if _, err := loadConfig(args[0]); err != nil {
					return err
				}
				fmt.Fprintf(e.out, "ok %s\n", args[0])
				return nil
			}
		},
	},
	{
		name: "config print", section: "Configuration", max: 0,
		summary: "print the effective configuration: the file and the flags over the defaults",
		detail: `The output is a valid configuration file (secrets are shown as "(set)").
Without -config it shows every default.`,
		example: "unisi config print -config /etc/unisi/unisi.toml",
		setup: func(fs *flag.FlagSet) runner {
			return func(ctx context.Context, e *env, _ []string) error {
				cfg, err := e.g.loadConfig()
				if err != nil {
					return err
				}
				return printConfig(e.out, cfg)
			}
		},
	},
}

// printConfig writes cfg as TOML, secrets masked.
func printConfig(w io.Writer, cfg Config) error {
	if cfg.Registrar.Secret != "" {
		cfg.Registrar.Secret = "(set)"
	}
	if cfg.Provisioning.URLKey != "" {
		cfg.Provisioning.URLKey = "(set)"
	}
	if cfg.Store.MySQL != "" {
		cfg.Store.MySQL = redactDSN(cfg.Store.MySQL)
	}
	cfg.Cluster.NATS = cluster.Redact(cfg.Cluster.NATS)
	cfg.Cluster.Redis = cluster.Redact(cfg.Cluster.Redis)
	cfg = cfg.redactOps()
	fmt.Fprintln(w, "# The effective configuration of unisi (unisi config print).")
	enc := toml.NewEncoder(w)
	enc.Indent = ""
	return enc.Encode(cfg)
}

// redactDSN masks the password of a MySQL DSN (user:password@tcp(...)/db).
func redactDSN(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	if at < 0 {
		return dsn
	}
	user, _, hasPass := strings.Cut(dsn[:at], ":")
	if !hasPass {
		return dsn
	}
	return user + ":(set)" + dsn[at:]
}

// buildInfo is what `unisi version` and the palio_build_info metric say.
type buildInfo struct {
	version, palio, revision, goVersion string
}

// readBuild reads the binary's build information: the main module's
// version, Palio's (the same module here; a dependency of a program that
// embeds it), the VCS revision when the build stamped one.
func readBuild() buildInfo {
	b := buildInfo{version: "unknown", palio: "unknown", revision: "unknown", goVersion: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.goVersion = strings.TrimPrefix(bi.GoVersion, "go")
	b.version = bi.Main.Version
	const palio = "github.com/palio-voip/palio"
	if bi.Main.Path == palio {
		b.palio = bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == palio {
			b.palio = d.Version
		}
	}
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified && b.revision != "unknown" {
		b.revision += "+modified"
	}
	return b
}

// registerBuildInfo registers palio_build_info: 1, labelled with the
// versions.
func registerBuildInfo(reg prometheus.Registerer) {
	b := readBuild()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "palio_build_info",
		Help:        "Always 1; its labels name the running build: the program's version, Palio's, the VCS revision and the Go version.",
		ConstLabels: prometheus.Labels{"version": b.version, "palio": b.palio, "revision": b.revision, "goversion": b.goVersion},
	})
	g.Set(1)
	reg.MustRegister(g)
}

// openForServe opens the configured database for the server or `init`,
// creating it when missing. A new one is seeded with the UniSI data when
// seedNew (and said so in the log); an existing one is left as it is, but
// for marking the seed's documentation addresses as placeholders in a
// database seeded before they were marked. If seeding a new SQLite file
// fails, the file is removed: a half-seeded database would never be
// seeded again.
func openForServe(ctx context.Context, cfg Config, log *slog.Logger, seedNew bool) (*sqlstore.DB, error) {
	db, err := openDB(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if !db.Created() {
		if err := markPlaceholders(ctx, db, log); err != nil {
			db.Close()
			return nil, err
		}
		return db, nil
	}
	if !seedNew {
		log.Info("unisi: created an empty database", "store", storeName(cfg))
		return db, nil
	}
	if err := seed(ctx, db, domainOf(cfg), cfg.Registrar.Realm, log); err != nil {
		db.Close()
		if cfg.Store.MySQL == "" {
			err = errors.Join(err, removeSQLite(cfg.Store.SQLite))
			return nil, fmt.Errorf("%w (the new database was removed)", err)
		}
		return nil, fmt.Errorf("%w (the database is half seeded: drop its tables before starting again)", err)
	}
	return db, nil
}

// removeSQLite removes a SQLite database and its WAL files.
func removeSQLite(path string) error {
	var errs []error
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func domainOf(cfg Config) string {
	if len(cfg.SIP.Domains) > 0 {
		return cfg.SIP.Domains[0]
	}
	return cfg.Registrar.Realm
}
