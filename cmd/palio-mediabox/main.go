// Command palio-mediabox runs Palio's media box (package mediabox) as a
// process of its own beside a router — Palio's or another (OpenSIPS,
// Kamailio) — that routes the media names (IVR_, VM_, VOICEMAIL,
// QUEUE_, AGENTIN_/AGENTOUT_, FAX_) to it. Its menus, mailboxes and
// queues are in the same database the example's `unisi ivr`, `queue` and
// `voicemail` commands edit (SQLite by default, MariaDB with -mysql), and
// the mailboxes' counts go to palio_mwi, which Palio's presence server
// reloads for the phones' lamps.
//
//	palio-mediabox -listen 127.0.0.1:5080 -router 127.0.0.1:5060 -db unisi.db \
//		-spool voicemail -ports 30000-32767 -metrics 127.0.0.1:9103
//
// It runs until SIGINT or SIGTERM, then hangs up its calls and exits 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/palio-voip/palio/internal/daemon"
	"github.com/palio-voip/palio/mediabox"
	"github.com/palio-voip/palio/store/mysql"
	"github.com/palio-voip/palio/store/sqlite"
	"github.com/palio-voip/palio/store/sqlstore"
)

func main() { daemon.Main("palio-mediabox", run) }

// run parses args, runs the box until ctx ends, and closes it.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("palio-mediabox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:5080", "the UDP address the box answers on (the router's media gateway)")
	router := fs.String("router", "127.0.0.1:5060", "the router's SIP address: transfers and queue agents are called through it")
	domain := fs.String("domain", "voip.unisi.it", "the accounts' SIP domain")
	dbPath := fs.String("db", "unisi.db", "the SQLite database with the menus, mailboxes and queues")
	dsn := fs.String("mysql", "", "a MariaDB/MySQL DSN instead of -db")
	spool := fs.String("spool", "voicemail", "the folder of the voicemail messages")
	prompts := fs.String("prompts", "", "a folder of site prompts (NAME.wav, 8000 Hz mono 16-bit) over the built-in ones")
	ports := fs.String("ports", "30000-32767", "the RTP port range, MIN-MAX")
	maxCalls := fs.Int("max-calls", 200, "calls served at once (more get 503)")
	smtp := fs.String("smtp", "", "mail server host:port for voicemail notifications (empty: none)")
	from := fs.String("mail-from", "", "the notifications' sender")
	metrics := fs.String("metrics", "", "serve Prometheus metrics on this host:port (/metrics, /debug/pprof/)")
	level := fs.String("log", "info", "log level: debug, info, warn, error")
	if err := daemon.Parse(fs, args); err != nil {
		return err
	}
	log, err := daemon.Logger(stderr, "log", *level)
	if err != nil {
		return err
	}
	pmin, pmax, err := daemon.PortRange("ports", *ports)
	if err != nil {
		return err
	}
	cfg := mediabox.Config{Listen: *listen, Router: *router, Domain: *domain, Spool: *spool,
		RTPPortMin: pmin, RTPPortMax: pmax, MaxCalls: *maxCalls, SMTP: mediabox.SMTPConfig{Addr: *smtp, From: *from}}
	if *prompts != "" {
		cfg.Prompts = os.DirFS(*prompts)
	}
	if err := cfg.Check(); err != nil {
		return daemon.UsageError{Err: err}
	}

	var db *sqlstore.DB
	if *dsn != "" {
		db, err = mysql.Open(ctx, *dsn, mysql.Options{Logger: log})
	} else {
		if _, serr := os.Stat(*dbPath); serr != nil {
			return fmt.Errorf("-db %s: %w (create it with unisi init)", *dbPath, serr)
		}
		db, err = sqlite.Open(ctx, *dbPath)
	}
	if err != nil {
		return err
	}
	defer db.Close()

	reg := daemon.Registry()
	box, err := mediabox.New(cfg, db.MediaBox(), mediabox.WithLogger(log), mediabox.WithRegisterer(reg), mediabox.WithMWI(db.Mailboxes()))
	if err != nil {
		return err
	}
	if err := box.Start(ctx); err != nil {
		return err
	}
	defer box.Close()
	if *metrics != "" {
		addr, stop, err := daemon.ServeMetrics(*metrics, reg)
		if err != nil {
			return err
		}
		defer stop()
		log.Info("palio-mediabox: metrics listening", "addr", addr)
	}
	<-ctx.Done()
	log.Info("palio-mediabox: stopping", "calls", box.Calls())
	return nil
}
