package siptest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/palio-voip/palio/sip"
)

// ProxyConfig says what a test proxy runs.
type ProxyConfig struct {
	// Networks are the listeners, each on 127.0.0.1 and a free port;
	// default udp and tcp.
	Networks []string
	// Server is the rest of the server's configuration (Listen is set
	// from Networks).
	Server sip.Config
	// Forwarder sets the Forwarder's timers.
	Forwarder sip.ForwarderConfig
	// Register handles REGISTER (a registrar), Presence SUBSCRIBE and
	// PUBLISH; nil: 405.
	Register, Presence sip.Handler
	// Stages run in front of the Forwarder for initial requests.
	Stages []sip.Middleware
	// Options are passed to sip.NewServer after the test logger.
	Options []sip.Option
}

// Proxy is a Palio proxy on loopback for a test, as httptest.Server is an
// HTTP server: real sockets, the real server, Forwarder, DialogRelay and
// dialog table, and the stages the test gives. It is closed when the test
// ends.
type Proxy struct {
	Server    *sip.Server
	Forwarder *sip.Forwarder
}

// NewProxy starts a proxy serving cfg.
func NewProxy(t testing.TB, cfg ProxyConfig) *Proxy {
	t.Helper()
	nets := cfg.Networks
	if len(nets) == 0 {
		nets = []string{"udp", "tcp"}
	}
	sc := cfg.Server
	sc.Listen = nil
	for _, n := range nets {
		sc.Listen = append(sc.Listen, sip.Listen{Network: n, Addr: "127.0.0.1:0"})
	}
	srv, err := sip.NewServer(sc, append([]sip.Option{sip.WithLogger(Logger())}, cfg.Options...)...)
	if err != nil {
		t.Fatalf("siptest: %v", err)
	}
	p := StartProxy(t, srv, cfg)
	return p
}

// StartProxy serves srv (built by the test, on addresses of its choosing)
// as NewProxy does.
func StartProxy(t testing.TB, srv *sip.Server, cfg ProxyConfig) *Proxy {
	t.Helper()
	fwd := sip.NewForwarder(srv, cfg.Forwarder)
	mux := &sip.ServeMux{
		Local:    srv.Local(),
		Register: cfg.Register,
		Presence: cfg.Presence,
		InDialog: sip.NewDialogRelay(fwd),
		Initial:  sip.Chain(cfg.Stages...)(fwd),
	}
	if err := srv.Start(mux); err != nil {
		srv.Close()
		t.Fatalf("siptest: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return &Proxy{Server: srv, Forwarder: fwd}
}

// Addr returns the proxy's "127.0.0.1:port" for network ("udp", "tcp").
func (p *Proxy) Addr(network string) string { return p.Server.Local().Addr(network) }

// Logger is the logger of test servers: silent, or Debug to stderr when
// PALIO_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("PALIO_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// LeakCheck fails t if goroutines started during the test outlive it.
// Call it first, so that its cleanup runs after every other one.
func LeakCheck(t testing.TB) {
	cur := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, cur) })
}

// Context returns a context that ends after d or with the test.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
