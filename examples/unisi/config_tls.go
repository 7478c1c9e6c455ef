package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/palio-voip/palio/sip"
)

// TLSSection is the [tls] section: SIP over TLS and WSS, and how the
// server checks the gateways it dials over TLS. Its keys are those of
// sip.TLSConfig, which reads and checks them; the section only adds the
// listeners and the watch interval.
type TLSSection struct {
	// Listen is the TLS listener's "host:port"; empty means the host of
	// [sip] listen on port 5061 once a certificate is configured.
	Listen string `toml:"listen"`
	// WSS, when set, adds a WebSocket-over-TLS listener (browser phones,
	// RFC 7118) on that "host:port", with the same certificates.
	WSS string `toml:"wss"`
	// Watch is how often the certificate and CA files are checked for a
	// change (and reloaded); 0s: only on SIGHUP. Default 1m.
	Watch Duration `toml:"watch"`
	// RequireVerifiedGroups lists trusted address groups ([permission],
	// `unisi address`) whose calls must come over TLS with a verified
	// client certificate (a [[tls.trunk]]'s): a gateway's calls from
	// its address over UDP or TCP, or without its certificate, get 403.
	RequireVerifiedGroups []int `toml:"require_verified_groups"`

	// The keys of sip.TLSConfig.
	Certificates []sip.TLSCertificate `toml:"certificate"`
	ClientCA     string               `toml:"client_ca"`
	Trunks       []sip.TLSTrunk       `toml:"trunk"`
	Origins      []string             `toml:"origins"`
	RootCA       string               `toml:"root_ca"`
	ClientCert   string               `toml:"client_cert"`
	ClientKey    string               `toml:"client_key"`
	Gateways     []sip.TLSGateway     `toml:"gateway"`
}

// DefaultTLSPort is the TLS listener's port when [tls] listen is not set
// (RFC 3261 §19.1.2's default for sips).
const DefaultTLSPort = "5061"

// library returns the section as the library's configuration.
func (s TLSSection) library() sip.TLSConfig {
	return sip.TLSConfig{
		Certificates: s.Certificates,
		ClientCAFile: s.ClientCA,
		Trunks:       s.Trunks,
		Origins:      s.Origins,
		RootCAFile:   s.RootCA,
		CertFile:     s.ClientCert,
		KeyFile:      s.ClientKey,
		Gateways:     s.Gateways,
	}
}

// withLibrary returns s with the keys of sip.TLSConfig taken from from.
func (s TLSSection) withLibrary(from TLSSection) TLSSection {
	s.Certificates, s.ClientCA, s.Trunks, s.Origins = from.Certificates, from.ClientCA, from.Trunks, from.Origins
	s.RootCA, s.ClientCert, s.ClientKey, s.Gateways = from.RootCA, from.ClientCert, from.ClientKey, from.Gateways
	return s
}

// enabled reports whether the section asks for anything: a listener
// (certificates) or checks of dialled gateways.
func (s TLSSection) enabled() bool {
	return len(s.Certificates) > 0 || s.RootCA != "" || s.ClientCert != "" || len(s.Gateways) > 0
}

// listen returns the TLS listener's address given [sip] listen, or ""
// when no certificate is configured.
func (s TLSSection) listen(sipListen string) string {
	if len(s.Certificates) == 0 {
		return ""
	}
	if s.Listen != "" {
		return s.Listen
	}
	host, _, err := net.SplitHostPort(sipListen)
	if err != nil {
		host = ""
	}
	return net.JoinHostPort(host, DefaultTLSPort)
}

// validate checks the section: the library's checks, then the files
// (each loaded as the server will load it).
func (c Config) validateTLS() error {
	s := c.TLS
	if c.SIP.TLS != nil && len(s.Certificates) > 0 {
		return errors.New("config: [sip.tls] and [[tls.certificate]] both set: move the listener to [tls]")
	}
	if len(s.Certificates) == 0 && (s.Listen != "" || s.WSS != "" || len(s.Trunks) > 0 || s.ClientCA != "") {
		return errors.New("config: tls: listen, wss, trunk and client_ca need a [[tls.certificate]]")
	}
	for _, l := range []struct{ key, addr string }{{"tls.listen", s.Listen}, {"tls.wss", s.WSS}} {
		if l.addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(l.addr); err != nil || port == "" {
			return fmt.Errorf("config: %s %q: want host:port, e.g. 0.0.0.0:5061", l.key, l.addr)
		}
	}
	if len(s.RequireVerifiedGroups) > 0 && len(s.Trunks) == 0 {
		return errors.New("config: tls.require_verified_groups needs the [[tls.trunk]] that will present the certificates")
	}
	if s.Watch.Duration < 0 {
		return fmt.Errorf("config: tls.watch %v is negative", s.Watch.Duration)
	}
	if !s.enabled() {
		return nil
	}
	if _, err := sip.NewTLS(s.library(), sip.WithTLSLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// defaultTLS is the [tls] section's defaults.
func defaultTLS() TLSSection { return TLSSection{Watch: Duration{time.Minute}} }
