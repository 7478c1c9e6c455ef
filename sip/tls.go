package sip

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TLSConfig says which certificates the TLS and WSS listeners present,
// which peers must present one of their own, and how the proxy checks the
// servers it dials. It mirrors OpenSIPS's tls_mgm domains
// (reference §A.13): server domains chosen by local address and SNI,
// client verification per peer. The toml tags let a program read it
// straight from its configuration file.
type TLSConfig struct {
	// Certificates are the server certificates, tried in order of
	// specificity (see TLSCertificate). At least one is needed to serve
	// TLS or WSS.
	Certificates []TLSCertificate `toml:"certificate"`
	// ClientCAFile, when set, is a PEM bundle of the CAs whose client
	// certificates phones may present. A phone need not present one; one
	// that does and is not signed by these CAs is refused. Without it a
	// phone's certificate is accepted but not verified.
	ClientCAFile string `toml:"client_ca"`
	// Trunks are the peers (gateways, trunks) that must present a
	// verified client certificate when they connect from their addresses.
	Trunks []TLSTrunk `toml:"trunk"`
	// Origins lists the Origin header values a WebSocket upgrade may carry
	// ("https://phone.unisi.it"; a "*." prefix matches any subdomain).
	// Empty allows any origin, and a request without Origin (a non-browser
	// client) is always allowed.
	Origins []string `toml:"origins"`

	// RootCAFile, when set, is a PEM bundle of the CAs that sign the
	// certificates of the servers the proxy dials; empty means the
	// system's roots. Like every other file it is read again by Reload
	// and Watch: the next dial verifies against the new bundle,
	// connections already made are kept.
	RootCAFile string `toml:"root_ca"`
	// CertFile and KeyFile, when set, are the client certificate the
	// proxy presents when it dials over TLS (for gateways that require
	// one).
	CertFile string `toml:"client_cert"`
	KeyFile  string `toml:"client_key"`
	// Gateways refine how the server certificate of a dialled host is
	// checked: its own CA, another expected name, a pinned fingerprint.
	// Entries given later by SetGateways (a gateway table's rows) take
	// precedence over these for the same host.
	Gateways []TLSGateway `toml:"gateway"`
}

// TLSCertificate is one server certificate and where it applies (an
// OpenSIPS tls_mgm server domain).
type TLSCertificate struct {
	// Name names the entry in logs, metrics and status ("unisi.it").
	Name string `toml:"name"`
	// CertFile and KeyFile are the PEM certificate chain and private key.
	CertFile string `toml:"cert"`
	KeyFile  string `toml:"key"`
	// SNI lists the server names the entry answers, as globs
	// ("voip.unisi.it", "*.unisi.it"); "*" matches any name and a
	// ClientHello without SNI, "none" only a ClientHello without SNI.
	// Empty means the DNS names of the certificate itself, plus "none"
	// for the first entry.
	SNI []string `toml:"sni"`
	// Addrs lists the local addresses ("192.0.2.1" or "192.0.2.1:5061")
	// the entry serves; empty means any.
	Addrs []string `toml:"addrs"`
}

// TLSTrunk is a peer that must authenticate with a client certificate
// when it connects from one of its addresses.
type TLSTrunk struct {
	// Name names the trunk in logs and in the Peer of its requests.
	Name string `toml:"name"`
	// Sources are the addresses or prefixes ("192.0.2.10",
	// "192.0.2.0/28") the trunk connects from.
	Sources []string `toml:"sources"`
	// CAFile is the PEM bundle of the CAs that sign the trunk's client
	// certificate; empty means ClientCAFile.
	CAFile string `toml:"ca"`
	// Fingerprints pin the SHA-256 fingerprints of the certificates the
	// trunk may present (hex, colons allowed); when set, a certificate
	// with another fingerprint is refused whatever signed it, and one
	// that matches needs no CA.
	Fingerprints []string `toml:"fingerprints"`
}

// TLSGateway says how the proxy checks the server certificate of one
// gateway it dials over TLS, beyond what every dial checks (a chain to the
// roots, the dates, the host dialled). The entry is keyed by the host of
// the gateway's address: a name, or an IP address. A gateway dialled by
// IP is dialled by Palio itself (not by sipgo), so that its entry applies
// and its ServerName is sent as SNI.
type TLSGateway struct {
	// Host is the host of the gateway's address, a name ("gw.unisi.it")
	// or an IP address ("192.0.2.10").
	Host string `toml:"host"`
	// Name names the entry in logs and errors (a gateway's gwid); empty:
	// the host.
	Name string `toml:"name"`
	// CAFile is the PEM bundle of the CAs that alone may sign the
	// gateway's certificate (a self-signed certificate is its own CA);
	// empty means the roots.
	CAFile string `toml:"ca"`
	// Fingerprint pins the SHA-256 fingerprint of the gateway's
	// certificate, checked on top of the chain.
	Fingerprint string `toml:"fingerprint"`
	// ServerName is the name the certificate must carry, and the SNI,
	// for a gateway dialled by IP address; empty means the address
	// itself (the certificate's IP SANs). A gateway dialled by name is
	// checked against that name, so ServerName may only repeat it.
	ServerName string `toml:"server_name"`
}

// label is how errors and logs name the entry.
func (g TLSGateway) label() string {
	if g.Name != "" {
		return g.Name
	}
	return g.Host
}

// Validate checks the entry without reading its CA file. Each error
// names the entry and the key at fault (host, fingerprint, server_name).
func (g TLSGateway) Validate() error {
	if err := g.check(); err != nil {
		if g.label() == "" {
			return fmt.Errorf("sip: tls gateway: %w", err)
		}
		return fmt.Errorf("sip: tls gateway %s: %w", g.label(), err)
	}
	return nil
}

// check is Validate's cause, without the entry's name.
func (g TLSGateway) check() error {
	host := strings.Trim(g.Host, "[]")
	if host == "" {
		return errors.New("host is required")
	}
	if strings.ContainsAny(host, " \t/") {
		return fmt.Errorf("host %q: want a host name or an IP address", g.Host)
	}
	if g.Fingerprint != "" {
		if _, err := ParseFingerprint(g.Fingerprint); err != nil {
			return fmt.Errorf("fingerprint %q: want the 32 bytes of a SHA-256 in hex, colons allowed", g.Fingerprint)
		}
	}
	if g.ServerName != "" {
		if err := CheckServerName(g.ServerName); err != nil {
			return fmt.Errorf("server_name %q: %w", g.ServerName, err)
		}
		if _, err := netip.ParseAddr(host); err != nil && !strings.EqualFold(strings.TrimSuffix(g.ServerName, "."), strings.TrimSuffix(host, ".")) {
			return fmt.Errorf("server_name %q: the gateway is dialled by name (%s) and checked against that name", g.ServerName, host)
		}
	}
	return nil
}

// CheckServerName reports why name cannot be the DNS name a dialled
// server's certificate is checked against (TLSGateway.ServerName): empty,
// an IP address, or not a DNS name of letters, digits, '-' and '_'
// labels.
func CheckServerName(name string) error {
	n := strings.TrimSuffix(name, ".")
	if n == "" || len(n) > 253 {
		return errors.New("want a DNS name")
	}
	if _, err := netip.ParseAddr(n); err == nil {
		return errors.New("want a DNS name, not an address (leave it empty to check the address)")
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 {
			return errors.New("want a DNS name")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("want a DNS name (%q is not allowed)", c)
			}
		}
	}
	return nil
}

// CheckCAFile reads file as a PEM bundle of CA certificates, as a TLS will
// when it loads the entry naming it, and reports why it cannot be used:
// missing, unreadable, or holding no certificate.
func CheckCAFile(file string) error {
	_, err := readCA(file, map[string]fileStamp{})
	return err
}

// ParseFingerprint reads a SHA-256 certificate fingerprint written in hex,
// with or without colons ("AB:CD:…" as openssl x509 -fingerprint -sha256
// prints it).
func ParseFingerprint(s string) ([sha256.Size]byte, error) {
	var fp [sha256.Size]byte
	h := strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	if strings.HasPrefix(strings.ToLower(h), "sha256/") {
		h = h[len("sha256/"):]
	}
	if len(h) != 2*sha256.Size {
		return fp, fmt.Errorf("sip: fingerprint %q: want %d hex bytes", s, sha256.Size)
	}
	if _, err := hex.Decode(fp[:], []byte(h)); err != nil {
		return fp, fmt.Errorf("sip: fingerprint %q: %w", s, err)
	}
	return fp, nil
}

// Fingerprint returns the SHA-256 fingerprint of a DER certificate, upper
// case hex with colons (the form ParseFingerprint reads).
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// Validate checks the configuration without reading any file: names,
// globs, addresses and fingerprints.
func (c TLSConfig) Validate() error {
	names := map[string]bool{}
	for i, e := range c.Certificates {
		if e.CertFile == "" || e.KeyFile == "" {
			return fmt.Errorf("sip: tls certificate %d (%s): cert and key are required", i+1, e.Name)
		}
		if e.Name != "" && names[e.Name] {
			return fmt.Errorf("sip: tls certificate %q: name used twice", e.Name)
		}
		names[e.Name] = true
		for _, g := range e.SNI {
			if _, err := path.Match(strings.ToLower(g), ""); err != nil {
				return fmt.Errorf("sip: tls certificate %s: sni %q: %w", e.Name, g, err)
			}
		}
		for _, a := range e.Addrs {
			if _, err := parseLocalMatch(a); err != nil {
				return fmt.Errorf("sip: tls certificate %s: %w", e.Name, err)
			}
		}
	}
	for _, t := range c.Trunks {
		if t.Name == "" {
			return errors.New("sip: tls trunk: name is required")
		}
		if len(t.Sources) == 0 {
			return fmt.Errorf("sip: tls trunk %s: sources are required", t.Name)
		}
		for _, s := range t.Sources {
			if _, err := parsePrefix(s); err != nil {
				return fmt.Errorf("sip: tls trunk %s: %w", t.Name, err)
			}
		}
		for _, f := range t.Fingerprints {
			if _, err := ParseFingerprint(f); err != nil {
				return fmt.Errorf("sip: tls trunk %s: %w", t.Name, err)
			}
		}
		if t.CAFile == "" && c.ClientCAFile == "" && len(t.Fingerprints) == 0 {
			return fmt.Errorf("sip: tls trunk %s: a ca, the client_ca or fingerprints are required", t.Name)
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return errors.New("sip: tls client_cert and client_key go together")
	}
	for _, g := range c.Gateways {
		if err := g.Validate(); err != nil {
			return err
		}
	}
	for _, o := range c.Origins {
		if o == "" || strings.ContainsAny(o, " \t") {
			return fmt.Errorf("sip: tls origin %q: not an origin", o)
		}
	}
	return nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("source %q: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("source %q: %w", s, err)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// localMatch is one entry of TLSCertificate.Addrs: an IP, and a port when
// given.
type localMatch struct {
	ip   netip.Addr
	port uint16
}

func parseLocalMatch(s string) (localMatch, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return localMatch{ap.Addr().Unmap(), ap.Port()}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return localMatch{}, fmt.Errorf("addr %q: want an IP or IP:port", s)
	}
	return localMatch{ip: a.Unmap()}, nil
}

// CertificateStatus describes one loaded server certificate (TLS.Status).
type CertificateStatus struct {
	Name     string
	File     string
	Subject  string
	DNSNames []string
	NotAfter time.Time
	// Fingerprint is the SHA-256 fingerprint of the leaf (see Fingerprint).
	Fingerprint string
	// Loaded is when the files were last read successfully.
	Loaded time.Time
}

// DaysLeft is how many days are left before the certificate expires at
// now (negative once expired).
func (c CertificateStatus) DaysLeft(now time.Time) float64 {
	return c.NotAfter.Sub(now).Hours() / 24
}

// tlsState is one loaded generation of a TLSConfig: swapped whole on
// reload, so that a handshake sees either the old or the new files.
type tlsState struct {
	certs    []*serverCert
	clientCA *x509.CertPool // nil: none configured
	trunks   []*tlsTrunk
	origins  []string

	roots      *x509.CertPool // nil: system
	clientCert *tls.Certificate
	gateways   map[string]*tlsGateway
	files      map[string]fileStamp
}

type serverCert struct {
	name   string
	file   string
	cert   *tls.Certificate
	sni    []string // lower-case globs
	addrs  []localMatch
	status CertificateStatus
}

type tlsTrunk struct {
	name    string
	sources []netip.Prefix
	pool    *x509.CertPool
	pins    [][sha256.Size]byte
}

// tlsGateway is a loaded TLSGateway.
type tlsGateway struct {
	label      string
	pool       *x509.CertPool // nil: the roots
	pin        *[sha256.Size]byte
	serverName string // lower case; "": the host dialled
	// err, when set, is why the entry could not be loaded (a gateway
	// row's CA file): every dial to the host is refused with it.
	err error
}

// GatewayError is what SetGateways says of one entry it could not load:
// the gateway's dials are refused until a reload loads it.
type GatewayError struct {
	// Gateway is the entry as given (its Name is the gateway's gwid for
	// routing's rows).
	Gateway TLSGateway
	// Err says why: an invalid key, a CA file that cannot be read, a host
	// given twice with different checks.
	Err error
}

// Error names the entry and says why.
func (e *GatewayError) Error() string {
	return fmt.Sprintf("sip: tls gateway %s: %v", e.Gateway.label(), e.Err)
}

// Unwrap returns the cause.
func (e *GatewayError) Unwrap() error { return e.Err }

// gatewayKey is the key of a host in tlsState.gateways: a lower-case
// name without its final dot, or an IP address in its canonical form.
func gatewayKey(host string) string {
	h := strings.Trim(host, "[]")
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().WithZone("").String()
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// TLS is a loaded TLSConfig: the certificates of the TLS and WSS
// listeners, the client checks, and the dialling side's verification. It
// reloads its files on Reload (on SIGHUP) or when Watch sees them change;
// connections already established keep the certificate they started
// with, new handshakes get the new one. A failed reload keeps the
// certificates in use and says why. Give it to a Server in Config.TLS.
type TLS struct {
	cfg   TLSConfig
	log   *slog.Logger
	state atomic.Pointer[tlsState]
	mu    sync.Mutex   // one reload at a time
	rows  []TLSGateway // SetGateways' entries, under mu
	now   func() time.Time

	*tlsMetrics
	warnMu sync.Mutex
	warned map[string]time.Time // when each certificate was last warned about
	server *tls.Config
	client *tls.Config
}

// TLSOption configures a TLS.
type TLSOption func(*TLS)

// WithTLSLogger sets the logger; the default is slog.Default().
func WithTLSLogger(l *slog.Logger) TLSOption { return func(t *TLS) { t.log = l } }

// WithTLSRegisterer registers the TLS metrics (palio_sip_tls_*) with r.
func WithTLSRegisterer(r prometheus.Registerer) TLSOption {
	return func(t *TLS) { t.tlsMetrics.register(r) }
}

// ExpiryWarning is how long before a certificate expires the TLS logs a
// warning, at each load and each Check.
const ExpiryWarning = 30 * 24 * time.Hour

// NewTLS validates cfg and loads its files.
func NewTLS(cfg TLSConfig, opts ...TLSOption) (*TLS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &TLS{cfg: cfg, now: time.Now, warned: map[string]time.Time{}}
	t.tlsMetrics = newTLSMetrics()
	for _, o := range opts {
		o(t)
	}
	if t.log == nil {
		t.log = slog.Default()
	}
	st, _, err := loadTLS(cfg, nil)
	if err != nil {
		return nil, err
	}
	t.swap(st)
	t.server = &tls.Config{
		MinVersion:         tls.VersionTLS12,
		CipherSuites:       modernSuites,
		GetConfigForClient: t.configForClient,
	}
	t.client = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: modernSuites,
		// Not insecure: crypto/tls's own check would use one fixed root
		// pool, and Palio verifies against the state loaded at the moment
		// of the handshake (reloaded roots, the gateway's CA, its server
		// name, its pin) in VerifyConnection, which runs whatever this
		// says and fails the handshake when it fails.
		InsecureSkipVerify:   true,
		VerifyConnection:     t.verifyServer,
		GetClientCertificate: t.clientCertificate,
	}
	return t, nil
}

// modernSuites are the TLS 1.2 suites offered: ECDHE with AEAD only (TLS
// 1.3's suites are not configurable and all are modern).
var modernSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

func readPool(file string, files map[string]fileStamp) (*x509.CertPool, error) {
	pool, err := readCA(file, files)
	if err != nil {
		return nil, fmt.Errorf("sip: tls: %w", err)
	}
	return pool, nil
}

// readCA reads a PEM bundle of CA certificates and stamps it in files;
// its errors name the file but not the package.
func readCA(file string, files map[string]fileStamp) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(file); err == nil {
		files[file] = fileStamp{fi.ModTime(), fi.Size()}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

func readStamped(file string, files map[string]fileStamp) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("sip: tls: %w", err)
	}
	if fi, err := os.Stat(file); err == nil {
		files[file] = fileStamp{fi.ModTime(), fi.Size()}
	}
	return b, nil
}

// loadTLS reads every file of cfg and of the gateway entries rows (see
// SetGateways). A file of cfg that cannot be read fails the load; an
// entry of rows that cannot be loaded is returned among rowErrs and
// refuses its host's dials.
func loadTLS(cfg TLSConfig, rows []TLSGateway) (st *tlsState, rowErrs []error, err error) {
	st = &tlsState{files: map[string]fileStamp{}, gateways: map[string]*tlsGateway{}}
	st, err = loadBase(cfg, st)
	if err != nil {
		return nil, nil, err
	}
	for _, g := range cfg.Gateways {
		gw, err := loadGateway(g, st.files)
		if err != nil {
			return nil, nil, &GatewayError{g, err}
		}
		st.gateways[gatewayKey(g.Host)] = gw
	}
	// The rows come after: for a host in both, the row wins.
	seen := map[string]TLSGateway{}
	for _, g := range rows {
		key := gatewayKey(g.Host)
		if prev, ok := seen[key]; ok {
			if prev.CAFile != g.CAFile || !strings.EqualFold(prev.ServerName, g.ServerName) || prev.Fingerprint != g.Fingerprint {
				rowErrs = append(rowErrs, &GatewayError{g, fmt.Errorf("host %s: also the host of %s, with other checks: %s's apply", g.Host, prev.label(), prev.label())})
			}
			continue
		}
		seen[key] = g
		gw, err := loadGateway(g, st.files)
		if err != nil {
			rowErrs = append(rowErrs, &GatewayError{g, err})
			gw = &tlsGateway{label: g.label(), err: err}
		}
		st.gateways[key] = gw
	}
	return st, rowErrs, nil
}

// loadGateway validates g and reads its CA file.
func loadGateway(g TLSGateway, files map[string]fileStamp) (*tlsGateway, error) {
	if err := g.check(); err != nil {
		return nil, err
	}
	gw := &tlsGateway{label: g.label(), serverName: strings.ToLower(strings.TrimSuffix(g.ServerName, "."))}
	if g.CAFile != "" {
		pool, err := readCA(g.CAFile, files)
		if err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		gw.pool = pool
	}
	if g.Fingerprint != "" {
		fp, _ := ParseFingerprint(g.Fingerprint)
		gw.pin = &fp
	}
	return gw, nil
}

// loadBase reads the files of cfg other than its gateways' into st.
func loadBase(cfg TLSConfig, st *tlsState) (*tlsState, error) {
	now := time.Now()
	for i, e := range cfg.Certificates {
		certPEM, err := readStamped(e.CertFile, st.files)
		if err != nil {
			return nil, err
		}
		keyPEM, err := readStamped(e.KeyFile, st.files)
		if err != nil {
			return nil, err
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("sip: tls certificate %s: %w", e.CertFile, err)
		}
		leaf := cert.Leaf
		if leaf == nil {
			if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
				return nil, fmt.Errorf("sip: tls certificate %s: %w", e.CertFile, err)
			}
			cert.Leaf = leaf
		}
		name := e.Name
		if name == "" {
			name = leaf.Subject.CommonName
			if name == "" && len(leaf.DNSNames) > 0 {
				name = leaf.DNSNames[0]
			}
		}
		sc := &serverCert{name: name, file: e.CertFile, cert: &cert}
		sni := e.SNI
		if len(sni) == 0 {
			sni = slices.Clone(leaf.DNSNames)
			if i == 0 {
				sni = append(sni, "none")
			}
		}
		for _, g := range sni {
			sc.sni = append(sc.sni, strings.ToLower(g))
		}
		for _, a := range e.Addrs {
			m, _ := parseLocalMatch(a)
			sc.addrs = append(sc.addrs, m)
		}
		sc.status = CertificateStatus{
			Name: name, File: e.CertFile, Subject: leaf.Subject.String(),
			DNSNames: leaf.DNSNames, NotAfter: leaf.NotAfter,
			Fingerprint: Fingerprint(leaf.Raw), Loaded: now,
		}
		st.certs = append(st.certs, sc)
	}
	var err error
	if cfg.ClientCAFile != "" {
		if st.clientCA, err = readPool(cfg.ClientCAFile, st.files); err != nil {
			return nil, err
		}
	}
	for _, tr := range cfg.Trunks {
		tt := &tlsTrunk{name: tr.Name, pool: st.clientCA}
		for _, s := range tr.Sources {
			p, _ := parsePrefix(s)
			tt.sources = append(tt.sources, p)
		}
		if tr.CAFile != "" {
			if tt.pool, err = readPool(tr.CAFile, st.files); err != nil {
				return nil, err
			}
		}
		for _, f := range tr.Fingerprints {
			fp, _ := ParseFingerprint(f)
			tt.pins = append(tt.pins, fp)
		}
		st.trunks = append(st.trunks, tt)
	}
	st.origins = cfg.Origins
	if cfg.RootCAFile != "" {
		if st.roots, err = readPool(cfg.RootCAFile, st.files); err != nil {
			return nil, err
		}
	}
	if cfg.CertFile != "" {
		certPEM, err := readStamped(cfg.CertFile, st.files)
		if err != nil {
			return nil, err
		}
		keyPEM, err := readStamped(cfg.KeyFile, st.files)
		if err != nil {
			return nil, err
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("sip: tls client certificate %s: %w", cfg.CertFile, err)
		}
		st.clientCert = &cert
	}
	return st, nil
}

func (t *TLS) swap(st *tlsState) {
	t.state.Store(st)
	t.checkExpiry(st)
}

// Reload reads the files again and, when they all load, swaps them in.
// Established connections are untouched.
// Every CA is read again too (client_ca, the trunks', root_ca, the
// gateways'): the next handshake verifies against the new bundles.
func (t *TLS) Reload() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, rowErrs, err := loadTLS(t.cfg, t.rows)
	if err != nil {
		t.reloads.WithLabelValues("error").Inc()
		t.log.Error("sip: tls reload failed, keeping the certificates in use", "error", err)
		return err
	}
	t.swap(st)
	t.reloads.WithLabelValues("ok").Inc()
	for _, e := range rowErrs {
		t.log.Error("sip: tls gateway not loaded, its dials are refused", "error", e)
	}
	t.log.Info("sip: tls certificates reloaded", "certificates", len(st.certs))
	return nil
}

// SetConfig replaces the configuration (a reloaded file's TLS section):
// cfg is validated and every file it names read, and only when all of it
// loads is it swapped in whole, for the next handshakes and dials: new or
// changed certificates and their SNI and address bindings, the client
// CA, trunks and their pins, origins, the root CA, the client
// certificate, the configuration's gateway entries (SetGateways' entries
// are kept, and still win for their hosts). Established connections keep
// what they started with. A cfg that fails changes nothing and its error
// is returned (an invalid entry, a file that does not load), counted as
// a failed reload. The listeners are the Server's: a TLS with no
// certificate has none, and one given certificates here serves no new
// listener (that takes a restart).
func (t *TLS) SetConfig(cfg TLSConfig) error {
	if err := cfg.Validate(); err != nil {
		t.reloads.WithLabelValues("error").Inc()
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	st, rowErrs, err := loadTLS(cfg, t.rows)
	if err != nil {
		t.reloads.WithLabelValues("error").Inc()
		t.log.Error("sip: tls configuration not applied, keeping the one in use", "error", err)
		return err
	}
	t.cfg = cfg
	t.swap(st)
	t.reloads.WithLabelValues("ok").Inc()
	for _, e := range rowErrs {
		t.log.Error("sip: tls gateway not loaded, its dials are refused", "error", e)
	}
	t.log.Info("sip: tls configuration applied", "certificates", len(st.certs), "trunks", len(st.trunks), "gateways", len(cfg.Gateways))
	return nil
}

// SetGateways replaces the gateway entries that come from outside the
// configuration, a gateway table's rows (routing's): each keyed by its
// Host, taking precedence over TLSConfig.Gateways for the same host, its
// CA file read now and again at every Reload. It returns nil, or an error
// joining a *GatewayError for each entry that could not be loaded (an
// invalid entry, a CA file missing or holding no certificate, a host
// given twice with different checks); the others are in use, and the
// dials to a host whose entry failed are refused until a reload loads
// it. When the configuration's own files cannot be read, nothing
// changes but the entries are kept for the next Reload, and that error
// is returned.
func (t *TLS) SetGateways(gws []TLSGateway) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rows = slices.Clone(gws)
	st, rowErrs, err := loadTLS(t.cfg, t.rows)
	if err != nil {
		return err
	}
	t.swap(st)
	return errors.Join(rowErrs...)
}

// changed reports whether a file of the loaded state has another
// modification time or size now.
func (st *tlsState) changed() bool {
	for f, s := range st.files {
		fi, err := os.Stat(f)
		if err != nil {
			continue // a file being replaced: look again next time
		}
		if !fi.ModTime().Equal(s.mod) || fi.Size() != s.size {
			return true
		}
	}
	return false
}

// Watch checks the files every interval until ctx ends, reloads when one
// changed, and checks the expiry dates (Check) once a day.
func (t *TLS) Watch(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	last := t.now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if t.state.Load().changed() {
			_ = t.Reload()
		}
		if now := t.now(); now.Sub(last) >= 24*time.Hour {
			last = now
			t.Check()
		}
	}
}

// Check updates the expiry gauge and logs a warning for each certificate
// that expires within ExpiryWarning (at most once a day each).
func (t *TLS) Check() { t.checkExpiry(t.state.Load()) }

func (t *TLS) checkExpiry(st *tlsState) {
	now := t.now()
	t.warnMu.Lock()
	defer t.warnMu.Unlock()
	t.expiry.Reset() // a certificate removed by a reload leaves no series
	for _, c := range st.certs {
		left := c.status.DaysLeft(now)
		t.expiry.WithLabelValues(c.name).Set(left)
		if c.status.NotAfter.Sub(now) > ExpiryWarning {
			continue
		}
		if w, ok := t.warned[c.name]; ok && now.Sub(w) < 24*time.Hour {
			continue
		}
		t.warned[c.name] = now
		if left < 0 {
			t.log.Error("sip: tls certificate expired", "certificate", c.name, "file", c.file, "not_after", c.status.NotAfter)
		} else {
			t.log.Warn("sip: tls certificate expires soon", "certificate", c.name, "file", c.file, "not_after", c.status.NotAfter, "days", int(left))
		}
	}
}

// Status lists the server certificates in use.
func (t *TLS) Status() []CertificateStatus {
	st := t.state.Load()
	out := make([]CertificateStatus, 0, len(st.certs))
	for _, c := range st.certs {
		out = append(out, c.status)
	}
	return out
}

// ServerConfig returns the tls.Config of the listeners: it picks the
// certificate and the client check per handshake, from the state loaded
// at that moment.
func (t *TLS) ServerConfig() *tls.Config { return t.server }

// ClientConfig returns the tls.Config sipgo dials host names with: it
// verifies the server in VerifyConnection, by the gateway entry of the
// name (TLSConfig.Gateways, SetGateways) or by the roots and the name,
// against the files loaded at that moment. It refuses a server dialled by
// IP address, which it cannot check: a Server with Config.TLS dials those
// itself, each with a config of its own.
func (t *TLS) ClientConfig() *tls.Config { return t.client }

// configForClient builds the config of one handshake: the certificate
// chosen by local address and SNI, and the client check of the source.
func (t *TLS) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	st := t.state.Load()
	var local, remote netip.AddrPort
	if hello.Conn != nil {
		local = addrPortOf(hello.Conn.LocalAddr())
		remote = addrPortOf(hello.Conn.RemoteAddr())
	}
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if _, err := netip.ParseAddr(name); err == nil {
		// RFC 6066 §3 forbids an address as a server name, but some
		// clients (socat, phones) send one: it means no name.
		name = ""
	}
	cert := st.pick(name, local)
	if cert == nil {
		t.handshakeFailures.WithLabelValues("server").Inc()
		return nil, fmt.Errorf("sip: tls: no certificate for server name %q on %s", hello.ServerName, local)
	}
	conf := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: modernSuites,
		Certificates: []tls.Certificate{*cert.cert},
	}
	if tr := st.trunk(remote.Addr()); tr != nil {
		conf.ClientAuth = tls.RequireAnyClientCert
		conf.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if err := tr.verify(raw); err != nil {
				t.handshakeFailures.WithLabelValues("server").Inc()
				return err
			}
			return nil
		}
	} else if st.clientCA != nil {
		conf.ClientAuth = tls.VerifyClientCertIfGiven
		conf.ClientCAs = st.clientCA
	} else {
		conf.ClientAuth = tls.RequestClientCert
	}
	return conf, nil
}

// pick returns the most specific certificate for name (empty: no SNI) on
// local: an exact name beats a glob, a longer glob a shorter one, an entry
// bound to the local address one for any address; the first listed wins a
// tie. OpenSIPS refuses a name nothing matches; so do we.
func (st *tlsState) pick(name string, local netip.AddrPort) *serverCert {
	var best *serverCert
	bestScore := -1
	for _, c := range st.certs {
		addrScore, ok := c.matchAddr(local)
		if !ok {
			continue
		}
		nameScore := -1
		for _, g := range c.sni {
			if s := sniScore(g, name); s > nameScore {
				nameScore = s
			}
		}
		if nameScore < 0 {
			continue
		}
		if score := nameScore*4 + addrScore; score > bestScore {
			best, bestScore = c, score
		}
	}
	return best
}

// matchAddr reports whether c serves local, and how specifically (2: IP
// and port, 1: IP, 0: any).
func (c *serverCert) matchAddr(local netip.AddrPort) (int, bool) {
	if len(c.addrs) == 0 {
		return 0, true
	}
	ip := local.Addr().Unmap()
	best, ok := 0, false
	for _, m := range c.addrs {
		if m.ip != ip {
			continue
		}
		switch {
		case m.port == 0:
			best, ok = max(best, 1), true
		case m.port == local.Port():
			best, ok = 2, true
		}
	}
	return best, ok
}

// sniScore rates how glob g matches name: -1 no match, 0 "*", 1 "none"
// (no SNI), then 2 plus the glob's literal length, and the most for the
// exact name.
func sniScore(g, name string) int {
	switch {
	case g == "*":
		return 0
	case g == "none":
		if name == "" {
			return 1
		}
		return -1
	case name == "":
		return -1
	case g == name:
		return 1 << 20
	}
	if ok, _ := path.Match(g, name); ok {
		return 2 + len(strings.NewReplacer("*", "", "?", "").Replace(g))
	}
	return -1
}

func (st *tlsState) trunk(src netip.Addr) *tlsTrunk {
	src = src.Unmap()
	for _, tr := range st.trunks {
		for _, p := range tr.sources {
			if p.Contains(src) {
				return tr
			}
		}
	}
	return nil
}

// verify checks the chain raw a trunk presented: a pinned fingerprint, or
// a chain to the trunk's CA valid for client authentication.
func (tr *tlsTrunk) verify(raw [][]byte) error {
	if len(raw) == 0 {
		return fmt.Errorf("sip: tls trunk %s: no client certificate", tr.name)
	}
	if len(tr.pins) > 0 {
		sum := sha256.Sum256(raw[0])
		for _, p := range tr.pins {
			if p == sum {
				leaf, err := x509.ParseCertificate(raw[0])
				if err != nil {
					return err
				}
				if now := time.Now(); now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
					return fmt.Errorf("sip: tls trunk %s: certificate outside its validity", tr.name)
				}
				return nil
			}
		}
		return fmt.Errorf("sip: tls trunk %s: certificate fingerprint not pinned", tr.name)
	}
	if tr.pool == nil {
		return fmt.Errorf("sip: tls trunk %s: no CA to verify with", tr.name)
	}
	_, err := verifyChain(raw, tr.pool, "", x509.ExtKeyUsageClientAuth)
	if err != nil {
		return fmt.Errorf("sip: tls trunk %s: %w", tr.name, err)
	}
	return nil
}

func verifyChain(raw [][]byte, roots *x509.CertPool, name string, usage x509.ExtKeyUsage) ([][]*x509.Certificate, error) {
	certs := make([]*x509.Certificate, 0, len(raw))
	for _, b := range raw {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	return certs[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, DNSName: name,
		KeyUsages: []x509.ExtKeyUsage{usage},
	})
}

// verifyServer checks the certificate of a server sipgo dialled (by host
// name: Palio dials IP addresses itself, see dialConfig): the gateway
// entry of the name, if any, else the roots and the name.
func (t *TLS) verifyServer(cs tls.ConnectionState) error {
	if cs.ServerName == "" {
		// sipgo names the ClientHello after the host it dials, and
		// crypto/tls leaves an IP address out of it: the address is not
		// known here, so the certificate cannot be checked against it.
		return t.refused("", errors.New("a server dialled by IP address outside Palio's dialer cannot be checked"))
	}
	return t.verifyDialled(cs.ServerName, cs.PeerCertificates)
}

// dialConfig is the tls.Config of one connection Palio dials itself to
// ip (tlsdial.go): the gateway entry of the address names the server
// (SNI and the certificate's expected name); without one, the
// certificate must carry the address.
func (t *TLS) dialConfig(ip string) *tls.Config {
	sni := ""
	if gw := t.state.Load().gateways[gatewayKey(ip)]; gw != nil {
		sni = gw.serverName
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: modernSuites,
		ServerName:   sni,
		// Verified by VerifyConnection against the state of the moment
		// (see NewTLS).
		InsecureSkipVerify:   true,
		VerifyConnection:     func(cs tls.ConnectionState) error { return t.verifyDialled(ip, cs.PeerCertificates) },
		GetClientCertificate: t.clientCertificate,
	}
}

// verifyDialled checks the chain a dialled server presented for host (a
// name, or an IP address): against the gateway entry of host when there
// is one (its CA alone, its server name, its pin on top), else against
// the roots (root_ca, or the system's) and host itself. The dates are
// checked either way.
func (t *TLS) verifyDialled(host string, certs []*x509.Certificate) error {
	key := gatewayKey(host)
	st := t.state.Load()
	gw := st.gateways[key]
	roots, name := st.roots, key // nil roots: the system's
	if gw != nil {
		if gw.err != nil {
			return t.refused(gw.label, gw.err)
		}
		if gw.pool != nil {
			roots = gw.pool
		}
		if gw.serverName != "" {
			name = gw.serverName
		}
	}
	if len(certs) == 0 {
		return t.refused(host, errors.New("no certificate"))
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, DNSName: name,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return t.refused(host, err)
	}
	if gw != nil && gw.pin != nil && sha256.Sum256(certs[0].Raw) != *gw.pin {
		return t.refused(host, errors.New("certificate fingerprint not pinned"))
	}
	return nil
}

// refused counts and logs a dialled server's certificate refused, and
// returns the error that fails the handshake.
func (t *TLS) refused(host string, err error) error {
	t.handshakeFailures.WithLabelValues("client").Inc()
	t.log.Warn("sip: tls server certificate refused", "host", host, "error", err)
	if host == "" {
		return fmt.Errorf("sip: tls: %w", err)
	}
	return fmt.Errorf("sip: tls %s: %w", host, err)
}

func (t *TLS) clientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	if c := t.state.Load().clientCert; c != nil {
		return c, nil
	}
	return &tls.Certificate{}, nil
}

// originAllowed reports whether a WebSocket upgrade with this Origin
// header (empty: none) may proceed.
func (t *TLS) originAllowed(origin string) bool {
	if t == nil {
		return true
	}
	return OriginAllowed(t.state.Load().origins, origin)
}

// OriginAllowed reports whether origin (an Origin header's value, empty
// when there is none) is in allowed: an exact match (case-insensitive), or
// a "scheme://*.domain" entry matching any subdomain. An empty list
// allows all, and so does an absent header (a SIP phone, not a browser).
func OriginAllowed(allowed []string, origin string) bool {
	if len(allowed) == 0 || origin == "" {
		return true
	}
	origin = strings.ToLower(strings.TrimSpace(origin))
	for _, a := range allowed {
		a = strings.ToLower(a)
		if a == "*" || a == origin {
			return true
		}
		if i := strings.Index(a, "://*."); i >= 0 {
			scheme, domain := a[:i+3], a[i+4:]
			if strings.HasPrefix(origin, scheme) && strings.HasSuffix(origin, domain) && len(origin) > len(scheme)+len(domain) {
				return true
			}
		}
	}
	return false
}

// Peer is what the transport knows of the sender of a request: how it
// came and, over TLS and WSS, the certificate its peer presented.
type Peer struct {
	// Transport is "UDP", "TCP", "TLS", "WS" or "WSS".
	Transport string
	// Secure reports a TLS or WSS connection.
	Secure bool
	// Verified reports a client certificate checked against a CA or a
	// pin: a trunk's (see Trunk), or a phone's signed by the client CA.
	Verified bool
	// Trunk names the TLSTrunk the peer authenticated as; empty for
	// phones.
	Trunk string
	// Subject, DNSNames and Fingerprint describe the client certificate,
	// when the peer presented one.
	Subject     string
	DNSNames    []string
	Fingerprint string
	// ServerName is the SNI the peer asked for.
	ServerName string
}

// peerOf describes a completed server handshake from src.
func (t *TLS) peerOf(cs tls.ConnectionState, src netip.Addr, network string) *Peer {
	p := &Peer{Transport: strings.ToUpper(network), Secure: true, ServerName: cs.ServerName}
	if len(cs.PeerCertificates) == 0 {
		return p
	}
	leaf := cs.PeerCertificates[0]
	p.Subject = leaf.Subject.String()
	p.DNSNames = leaf.DNSNames
	p.Fingerprint = Fingerprint(leaf.Raw)
	if t == nil {
		return p
	}
	if tr := t.state.Load().trunk(src); tr != nil {
		// The handshake succeeded only if verify passed.
		p.Trunk, p.Verified = tr.name, true
	} else if len(cs.VerifiedChains) > 0 {
		p.Verified = true
	}
	return p
}

type peerKey struct{}

// WithPeer returns a context carrying p; the Server puts the Peer of every
// request in its context.
func WithPeer(ctx context.Context, p *Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// PeerFrom returns the Peer placed in ctx by the Server (or WithPeer), or
// nil.
func PeerFrom(ctx context.Context) *Peer {
	p, _ := ctx.Value(peerKey{}).(*Peer)
	return p
}

// RequirePeer returns a stage that passes a request on only when its peer
// came over TLS or WSS (secure) and, with verified, presented a verified
// client certificate (a trunk's, or one signed by the client CA); others
// get 403. Put it where a class of calls needs it (before the PSTN
// gateways' routing, say), or use RequirePeerWhen.
func RequirePeer(verified bool) Middleware { return RequirePeerWhen(nil, verified) }

// RequirePeerWhen is RequirePeer for the requests when reports true (all
// when it is nil): the calls of a source group, a class, a trunk.
func RequirePeerWhen(when func(ctx context.Context, r *Request) bool, verified bool) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
			if when != nil && !when(ctx, r) {
				return next.ServeSIP(ctx, w, r)
			}
			p := PeerFrom(ctx)
			switch {
			case p == nil || !p.Secure:
				return Reject(403, "TLS Required")
			case verified && !p.Verified:
				return Reject(403, "Certificate Required")
			}
			return next.ServeSIP(ctx, w, r)
		})
	}
}
