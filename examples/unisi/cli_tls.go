package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/palio-voip/palio/sip"
)

// The TLS commands.
var tlsCommands = []command{
	{
		name: "tls status", section: "Server", max: 0,
		summary: "the TLS certificates in use, their expiry, and the connections open",
		detail: `Asks the running server, at its HTTP address ([http] listen, -http), for the
certificates of its [tls] section as loaded (name, file, names, expiry date,
days left, SHA-256 fingerprint) and the TCP, TLS, WS and WSS connections
open. When no server answers, the certificates are read from the files the
configuration names, and the connections are not shown. A certificate with
less than 30 days left is marked; the server logs a warning for it daily,
and exports palio_sip_tls_certificate_expiry_days.`,
		example: "unisi -config /etc/unisi/unisi.toml tls status",
		setup: func(fs *flag.FlagSet) runner {
			asJSON := jsonFlag(fs)
			return func(ctx context.Context, e *env, _ []string) error {
				cfg, err := e.g.loadConfig()
				if err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				defer cancel()
				var st TLSStatus
				running := true
				if err := callAPI(ctx, cfg, http.MethodGet, "/api/tls", &st); err != nil {
					running = false
					if !cfg.TLS.enabled() {
						return fmt.Errorf("no [tls] section in the configuration, and %w", err)
					}
					tc, lerr := sip.NewTLS(cfg.TLS.library(), sip.WithTLSLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
					if lerr != nil {
						return lerr
					}
					e.warnf("%v; showing the certificate files", err)
					st = tlsStatus(tc, nil, time.Now())
				}
				t := newTable("name", "file", "names", "not_after", "days_left", "fingerprint")
				for _, c := range st.Certificates {
					days := fmt.Sprint(c.DaysLeft)
					if time.Duration(c.DaysLeft)*24*time.Hour < sip.ExpiryWarning {
						days += " (renew)"
					}
					t.row(c.Name, c.File, strings.Join(c.DNSNames, ","), c.NotAfter.UTC().Format(time.DateOnly), days, c.Fingerprint)
				}
				if err := t.write(e.out, *asJSON); err != nil {
					return err
				}
				if running && !*asJSON {
					var parts []string
					for _, n := range []string{"tcp", "tls", "ws", "wss"} {
						parts = append(parts, fmt.Sprintf("%s=%d", n, st.Connections[n]))
					}
					fmt.Fprintf(e.out, "connections\t%s\n", strings.Join(parts, " "))
				}
				return nil
			}
		},
	},
}
