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
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/palio-voip/palio/mediabox"
	"github.com/palio-voip/palio/store/mysql"
	"github.com/palio-voip/palio/store/sqlite"
	"github.com/palio-voip/palio/store/sqlstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "palio-mediabox:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "palio-mediabox:", err)
		os.Exit(1)
	}
}

// usageError is a bad command line (exit status 2).
type usageError struct{ error }

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
	metrics := fs.String("metrics", "", "serve Prometheus metrics on this host:port (/metrics)")
	level := fs.String("log", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return usageError{fmt.Errorf("-log %q: want debug, info, warn or error", *level)}
	}
	lo, hi, ok := strings.Cut(*ports, "-")
	pmin, err1 := strconv.Atoi(lo)
	pmax, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil {
		return usageError{fmt.Errorf("-ports %q: want MIN-MAX", *ports)}
	}
	cfg := mediabox.Config{Listen: *listen, Router: *router, Domain: *domain, Spool: *spool,
		RTPPortMin: pmin, RTPPortMax: pmax, MaxCalls: *maxCalls, SMTP: mediabox.SMTPConfig{Addr: *smtp, From: *from}}
	if *prompts != "" {
		cfg.Prompts = os.DirFS(*prompts)
	}
	if err := cfg.Check(); err != nil {
		return usageError{err}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))

	var db *sqlstore.DB
	var err error
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

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	box, err := mediabox.New(cfg, db.MediaBox(), mediabox.WithLogger(log), mediabox.WithRegisterer(reg), mediabox.WithMWI(db.Mailboxes()))
	if err != nil {
		return err
	}
	if err := box.Start(ctx); err != nil {
		return err
	}
	defer box.Close()
	if *metrics != "" {
		l, err := net.Listen("tcp", *metrics)
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go hs.Serve(l)
		defer hs.Close()
	}
	<-ctx.Done()
	log.Info("palio-mediabox: stopping", "calls", box.Calls())
	return nil
}
