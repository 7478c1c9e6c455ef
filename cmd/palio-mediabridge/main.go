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
	"flag"
	"io"
	"net"
	"net/netip"
	"os"

	"github.com/palio-voip/palio/internal/daemon"
	"github.com/palio-voip/palio/internal/procs"
	"github.com/palio-voip/palio/mediabridge"
	"github.com/palio-voip/palio/mediabridge/ng"
)

func main() { daemon.Main("palio-mediabridge", run) }

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
	adaptive := fs.Bool("adaptive-procs", true, "one Go processor while the relay uses little CPU, all of them under load (off when GOMAXPROCS is set)")
	metrics := fs.String("metrics", "", "HTTP `address` for /metrics and /debug/pprof/ (default: none)")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn, error")
	if err := daemon.Parse(fs, args); err != nil {
		return err
	}
	log, err := daemon.Logger(stderr, "log-level", *level)
	if err != nil {
		return err
	}
	cfg := mediabridge.Config{Workers: *workers}
	if cfg.Bind, err = netip.ParseAddr(*bind); err != nil {
		return daemon.Usagef("-bind: %w", err)
	}
	if *advertise != "" {
		if cfg.Advertise, err = netip.ParseAddr(*advertise); err != nil {
			return daemon.Usagef("-advertise: %w", err)
		}
	}
	if cfg.PortMin, cfg.PortMax, err = daemon.PortRange("ports", *ports); err != nil {
		return err
	}

	reg := daemon.Registry()
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
		addr, stop, err := daemon.ServeMetrics(*metrics, reg)
		if err != nil {
			conn.Close()
			return err
		}
		defer stop()
		log.Info("metrics listening", "addr", addr)
	}
	if *adaptive && os.Getenv("GOMAXPROCS") == "" {
		defer procs.Start(ctx, procs.Config{}, log)()
	}
	srv := &ng.Server{Engine: &ng.RelayEngine{Relay: relay, Log: log}, Log: log}
	log.Info("ng listening", "addr", conn.LocalAddr().String(), "bind", cfg.Bind, "ports", *ports)
	err = srv.Serve(ctx, conn)
	log.Info("stopping", "sessions", relay.Sessions())
	return err
}
