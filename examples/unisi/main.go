// Command unisi is the University of Siena deployment of the seed talk,
// assembled from Palio's packages: a SIP proxy for phones, PSTN gateways,
// the legacy PBX and the media box.
//
// Usage:
//
//	unisi [-sip ADDR] [-http ADDR] [-db PATH] [-config FILE] [serve]
//
// With no arguments it serves SIP on 127.0.0.1:5060 (UDP and TCP) and
// metrics on http://127.0.0.1:8080/metrics. SIGHUP reloads the route table
// from the configuration file; SIGTERM (or Ctrl-C) drains and exits.
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
	"syscall"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// globals are the flags that come before the subcommand.
type globals struct {
	sip, http, db, config string
	set                   map[string]bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("unisi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var g globals
	fs.StringVar(&g.sip, "sip", "127.0.0.1:5060", "SIP listen address (UDP and TCP)")
	fs.StringVar(&g.http, "http", "127.0.0.1:8080", "admin and metrics HTTP listen address")
	fs.StringVar(&g.db, "db", "unisi.db", "SQLite database path")
	fs.StringVar(&g.config, "config", "", "TOML configuration file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: unisi [-sip ADDR] [-http ADDR] [-db PATH] [-config FILE] [serve]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	g.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { g.set[f.Name] = true })

	cmd, rest := "serve", fs.Args()
	if len(rest) > 0 {
		cmd, rest = rest[0], rest[1:]
	}
	switch cmd {
	case "serve":
		if len(rest) > 0 {
			fmt.Fprintf(stderr, "unisi: serve takes no arguments, got %q\n", rest)
			return 2
		}
		if err := serve(ctx, g, stderr); err != nil {
			fmt.Fprintln(stderr, "unisi:", err)
			return 1
		}
		return 0
	default:
		fmt.Fprintf(stderr, "unisi: unknown subcommand %q\n", cmd)
		fs.Usage()
		return 2
	}
}

// config loads the configuration file and applies the flags given on the
// command line over it.
func (g globals) loadConfig() (Config, error) {
	cfg, err := loadConfig(g.config)
	if err != nil {
		return cfg, err
	}
	if g.set["sip"] || g.config == "" {
		cfg.SIP.Listen = g.sip
	}
	if g.set["http"] || g.config == "" {
		cfg.HTTP.Listen = g.http
	}
	return cfg, nil
}

func serve(ctx context.Context, g globals, stderr io.Writer) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	level, _ := logLevel(cfg.Log.Level)
	var lv slog.LevelVar
	lv.Set(level)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: &lv}))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	listen := []sip.Listen{
		{Network: "udp", Addr: cfg.SIP.Listen, Advertise: cfg.SIP.Advertise},
		{Network: "tcp", Addr: cfg.SIP.Listen, Advertise: cfg.SIP.Advertise},
	}
	if cfg.SIP.TLS != nil {
		listen = append(listen, sip.Listen{Network: "tls", Addr: cfg.SIP.TLS.Listen, CertFile: cfg.SIP.TLS.Cert, KeyFile: cfg.SIP.TLS.Key, Advertise: cfg.SIP.Advertise})
	}
	if cfg.SIP.WS != "" {
		listen = append(listen, sip.Listen{Network: "ws", Addr: cfg.SIP.WS, Advertise: cfg.SIP.Advertise})
	}
	srv, err := sip.NewServer(sip.Config{
		Listen:            listen,
		Domains:           cfg.SIP.Domains,
		DialogMaxDuration: cfg.Timers.DialogMax.Duration,
		UDPBuffer:         cfg.SIP.UDPBuffer,
	}, sip.WithLogger(log), sip.WithRegisterer(reg))
	if err != nil {
		return err
	}
	fwd := sip.NewForwarder(srv, sip.ForwarderConfig{
		TimerC:        cfg.Timers.TimerC.Duration,
		FirstResponse: cfg.Timers.FirstResponse.Duration,
	})
	routes := &routeStage{}
	table, err := compileRoutes(cfg.Routes)
	if err != nil {
		srv.Close()
		return err
	}
	routes.table.Store(table)

	mux := &sip.ServeMux{
		Local:    srv.Local(),
		InDialog: sip.NewDialogRelay(fwd),
		Initial:  sip.Chain(routes.Wrap)(fwd),
	}

	hl, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		srv.Close()
		return fmt.Errorf("http: %w", err)
	}
	hmux := http.NewServeMux()
	hmux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hmux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	hsrv := &http.Server{Handler: hmux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hsrv.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server failed", "error", err)
		}
	}()

	if err := srv.Start(mux); err != nil {
		srv.Close()
		hsrv.Close()
		return err
	}
	log.Info("unisi: ready", "sip", cfg.SIP.Listen, "http", hl.Addr().String(), "routes", len(cfg.Routes))

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sigs)
	for {
		select {
		case <-ctx.Done():
			return shutdown(srv, hsrv, cfg.Timers.Drain.Duration, log)
		case s := <-sigs:
			if s != syscall.SIGHUP {
				log.Info("unisi: draining", "signal", s.String())
				return shutdown(srv, hsrv, cfg.Timers.Drain.Duration, log)
			}
			// SIGHUP: reload what can change at run time. A failed reload
			// keeps what runs and says why.
			nc, err := g.loadConfig()
			if err == nil {
				var t *staticRoutes
				if t, err = compileRoutes(nc.Routes); err == nil {
					routes.table.Store(t)
					if l, lerr := logLevel(nc.Log.Level); lerr == nil {
						lv.Set(l)
					}
					log.Info("unisi: reloaded", "routes", len(nc.Routes))
					continue
				}
			}
			log.Error("unisi: reload failed, keeping the running configuration", "error", err)
		}
	}
}

func shutdown(srv *sip.Server, hsrv *http.Server, drain time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := srv.Shutdown(ctx)
	_ = hsrv.Shutdown(ctx)
	if err != nil {
		log.Warn("unisi: shutdown", "error", err)
	}
	log.Info("unisi: stopped")
	return nil
}
