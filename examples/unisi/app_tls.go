package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/palio-voip/palio/permission"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/snapshot"
	"github.com/prometheus/client_golang/prometheus"
)

// startTLS loads the [tls] section, reloads it on SIGHUP (a component
// without tables) and, with a watch interval, whenever its files change,
// and hands the router's gateway TLS settings to it (routing.UseTLS). It
// is built even when the section asks for nothing: the server's dials
// over TLS are checked by it, against the gateways' rows. The listeners
// it adds to listen are TLS on [tls] listen (5061 by default) and WSS on
// [tls] wss.
func (a *app) startTLS(ctx context.Context, log *slog.Logger, reg prometheus.Registerer, listen []sip.Listen) (*sip.TLS, []sip.Listen, error) {
	cfg := a.cfg
	tc, err := sip.NewTLS(cfg.TLS.library(), sip.WithTLSLogger(log), sip.WithTLSRegisterer(reg))
	if err != nil {
		return nil, listen, err
	}
	// The router reports a gateway whose CA file cannot be read among the
	// reload's problems, and logs them.
	if _, err := a.router.UseTLS(ctx, tc); err != nil {
		return nil, listen, err
	}
	// The advertised host of [sip], on the TLS listener's own port.
	adv := cfg.SIP.Advertise
	if h, _, err := net.SplitHostPort(adv); err == nil {
		adv = h
	}
	if addr := cfg.TLS.listen(cfg.SIP.Listen); addr != "" {
		listen = append(listen, sip.Listen{Network: "tls", Addr: addr, Advertise: adv})
	}
	if cfg.TLS.WSS != "" {
		listen = append(listen, sip.Listen{Network: "wss", Addr: cfg.TLS.WSS, Advertise: adv})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if w := cfg.TLS.Watch.Duration; w > 0 {
			tc.Watch(ctx, w)
		}
	}()
	a.add(component{name: "tls", close: func() { cancel(); <-done }, reload: func(context.Context) (snapshot.Report, error) {
		start := time.Now()
		err := tc.Reload()
		return snapshot.Report{Component: "tls", Loaded: len(tc.Status()), Took: time.Since(start)}, err
	}})
	a.tls = tc
	return tc, listen, nil
}

// requireTLS is the stage of [tls] require_verified_groups: the calls
// from those trusted address groups must come over TLS with a verified
// client certificate. Without the key it passes every call on.
func (a *app) requireTLS() sip.Middleware {
	groups := a.cfg.TLS.RequireVerifiedGroups
	if len(groups) == 0 {
		return func(next sip.Handler) sip.Handler { return next }
	}
	return sip.RequirePeerWhen(func(ctx context.Context, _ *sip.Request) bool {
		src, ok := permission.SourceFrom(ctx)
		return ok && src.Trusted && slices.Contains(groups, src.Group)
	}, true)
}

// TLSStatus is what GET /api/tls answers and `unisi tls status` prints.
type TLSStatus struct {
	Certificates []TLSCertificateStatus `json:"certificates"`
	// Connections are the accepted connections open, by transport.
	Connections map[string]int `json:"connections"`
}

// TLSCertificateStatus is one loaded certificate.
type TLSCertificateStatus struct {
	Name        string    `json:"name"`
	File        string    `json:"file"`
	Subject     string    `json:"subject"`
	DNSNames    []string  `json:"dns_names"`
	NotAfter    time.Time `json:"not_after"`
	DaysLeft    int       `json:"days_left"`
	Fingerprint string    `json:"fingerprint"`
	Loaded      time.Time `json:"loaded"`
}

func tlsStatus(tc *sip.TLS, srv *sip.Server, now time.Time) TLSStatus {
	st := TLSStatus{Certificates: []TLSCertificateStatus{}, Connections: map[string]int{}}
	if tc != nil {
		for _, c := range tc.Status() {
			st.Certificates = append(st.Certificates, TLSCertificateStatus{
				Name: c.Name, File: c.File, Subject: c.Subject, DNSNames: c.DNSNames,
				NotAfter: c.NotAfter, DaysLeft: int(c.DaysLeft(now)), Fingerprint: c.Fingerprint, Loaded: c.Loaded,
			})
		}
	}
	if srv != nil {
		st.Connections = srv.Connections()
	}
	return st
}

// tlsAPI serves GET /api/tls: the certificates in use and the
// connections open.
func (a *app) tlsAPI(mux *http.ServeMux, srv *sip.Server) {
	mux.HandleFunc("GET /api/tls", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, tlsStatus(a.tls, srv, time.Now()))
	})
}
