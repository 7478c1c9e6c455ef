// Command palio-mediabridge runs Palio's RTP relay (package mediabridge)
// as a standalone daemon driven over rtpengine's ng control protocol
// (package mediabridge/ng), so that Kamailio's or OpenSIPS's rtpengine
// module, or any other ng client, can use it in place of rtpengine.
//
//	palio-mediabridge -ng 127.0.0.1:2223 -bind 10.0.0.5 -advertise 192.0.2.5 \
//		-ports 20000-29999 -metrics 127.0.0.1:9102
//
// It runs until SIGINT or SIGTERM, then stops taking commands, ends every
// session (closing its sockets) and exits 0. With -metrics it serves
// Prometheus metrics on /metrics and Go's profiles on /debug/pprof/.
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
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/palio-voip/palio/mediabridge"
	"github.com/palio-voip/palio/mediabridge/ng"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "palio-mediabridge:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "palio-mediabridge:", err)
		os.Exit(1)
	}
}

// usageError is a bad command line (exit status 2).
type usageError struct{ error }

// run parses args, runs the relay and the ng server until ctx ends, and
// closes them.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("palio-mediabridge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ngAddr := fs.String("ng", "127.0.0.1:2223", "UDP `address` of the ng control protocol")
	bind := fs.String("bind", "127.0.0.1", "`IP` the relay sockets bind to")
	advertise := fs.String("advertise", "", "`IP` written into the SDP (default: -bind)")
	ports := fs.String("ports", "20000-29999", "relay port `range` MIN-MAX (keep it below 32768)")
	workers := fs.Int("workers", 0, "poller goroutines (default GOMAXPROCS)")
	metrics := fs.String("metrics", "", "HTTP `address` for /metrics and /debug/pprof/ (default: none)")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return usageError{fmt.Errorf("-log-level: %w", err)}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
	cfg := mediabridge.Config{Workers: *workers}
	var err error
	if cfg.Bind, err = netip.ParseAddr(*bind); err != nil {
		return usageError{fmt.Errorf("-bind: %w", err)}
	}
	if *advertise != "" {
		if cfg.Advertise, err = netip.ParseAddr(*advertise); err != nil {
			return usageError{fmt.Errorf("-advertise: %w", err)}
		}
	}
	if cfg.PortMin, cfg.PortMax, err = portRange(*ports); err != nil {
		return usageError{fmt.Errorf("-ports: %w", err)}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	relay, err := mediabridge.New(cfg, mediabridge.WithLogger(log), mediabridge.WithRegisterer(reg))
	if err != nil {
		return err
	}
	defer relay.Close()

	conn, err := net.ListenPacket("udp", *ngAddr)
	if err != nil {
		return err
	}
	if *metrics != "" {
		ln, err := net.Listen("tcp", *metrics)
		if err != nil {
			conn.Close()
			return err
		}
		hs := &http.Server{Handler: metricsMux(reg), ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(ln)
		defer hs.Close()
		log.Info("metrics listening", "addr", ln.Addr().String())
	}
	srv := &ng.Server{Engine: &ng.RelayEngine{Relay: relay, Log: log}, Log: log}
	log.Info("ng listening", "addr", conn.LocalAddr().String(), "bind", cfg.Bind, "ports", *ports)
	err = srv.Serve(ctx, conn)
	log.Info("stopping", "sessions", relay.Sessions())
	return err
}

// portRange parses "MIN-MAX".
func portRange(s string) (int, int, error) {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q: want MIN-MAX", s)
	}
	min, err1 := strconv.Atoi(lo)
	max, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%q: want MIN-MAX", s)
	}
	return min, max, nil
}

func metricsMux(reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
