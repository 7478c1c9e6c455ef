package enum

import (
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// The defaults of Config.
const (
	DefaultSuffix    = "e164.arpa."
	DefaultService   = "E2U+sip"
	DefaultTimeout   = time.Second
	DefaultMaxDepth  = 5
	DefaultCacheSize = 10000
	DefaultMaxTTL    = time.Hour
)

// Config configures a Resolver. Servers is required; the rest has defaults:
// e164.arpa., SIP NAPTRs, a one-second budget per lookup, and no national
// numbering plan.
type Config struct {
	// Servers are the DNS servers to ask, "ip:port" (a bare IP means port
	// 53), tried in order; at least one. The package reads no file: a
	// program that wants the system's servers reads /etc/resolv.conf
	// itself (miekg/dns's ClientConfigFromFile does).
	Servers []string
	// Suffix is the ENUM tree the numbers live under (RFC 6116 §2.4).
	// Default "e164.arpa."; a private tree such as "e164.unisi.it." works
	// the same way.
	Suffix string
	// Service is the ENUMservice wanted, in the form of a NAPTR Service
	// field: default "E2U+sip" (RFC 3764). A record matches when one of
	// its enumservices equals the one configured, ignoring case; for "sip"
	// the obsolete form "sip+E2U" (RFC 2916) matches too.
	Service string
	// Timeout is the whole budget of one lookup: every server, the TCP
	// retry of a truncated answer, the non-terminal records followed and,
	// for the strict caller check, the address lookups. Each server's turn
	// gets an equal share of what is left. A call is never held longer
	// than this by ENUM. Default 1 s.
	Timeout time.Duration
	// MaxDepth is how many non-terminal NAPTR records (RFC 3403 §4.1, empty
	// flags) one lookup follows in a chain. Default 5; negative: none are
	// followed.
	MaxDepth int
	// CacheSize bounds the number of numbers (and, for the strict caller
	// check, host names) cached. Default 10000; negative disables the
	// cache.
	CacheSize int
	// MaxTTL caps how long an answer, positive or negative, is cached
	// whatever its TTL says. Default 1 h.
	MaxTTL time.Duration
	// Numbering is the national numbering plan Normalize applies to the
	// numbers the stages take from requests.
	Numbering Numbering
}

func (c *Config) setDefaults() error {
	if c.Suffix == "" {
		c.Suffix = DefaultSuffix
	}
	c.Suffix = strings.ToLower(dns.Fqdn(strings.TrimPrefix(c.Suffix, ".")))
	if _, ok := dns.IsDomainName(c.Suffix); !ok {
		return errorf("config: suffix %q is not a domain name", c.Suffix)
	}
	if c.Service == "" {
		c.Service = DefaultService
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxDepth == 0 {
		c.MaxDepth = DefaultMaxDepth
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.MaxTTL <= 0 {
		c.MaxTTL = DefaultMaxTTL
	}
	if err := c.Numbering.validate(); err != nil {
		return errorf("config: %w", err)
	}
	if len(c.Servers) == 0 {
		return errorf("config: no DNS servers")
	}
	servers := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		addr, err := serverAddr(s)
		if err != nil {
			return errorf("config: %w", err)
		}
		servers[i] = addr
	}
	c.Servers = servers
	return nil
}

// serverAddr checks a DNS server address and adds port 53 when it has none.
func serverAddr(s string) (string, error) {
	if ip := net.ParseIP(strings.Trim(s, "[]")); ip != nil {
		return net.JoinHostPort(ip.String(), "53"), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", errorf("server %q: %w", s, err)
	}
	if net.ParseIP(host) == nil {
		return "", errorf("server %q: want an IP address and port", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return "", errorf("server %q: bad port", s)
	}
	return s, nil
}

// Option configures a Resolver beyond its Config.
type Option func(*options)

type options struct {
	logger *slog.Logger
	reg    prometheus.Registerer
	now    func() time.Time
}

// WithLogger sets the logger; the default discards. The resolver logs
// lookups at Debug and DNS failures (timeouts, SERVFAIL) at Warn.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithRegisterer registers the palio_enum_* metrics with reg.
func WithRegisterer(reg prometheus.Registerer) Option { return func(o *options) { o.reg = reg } }

// WithClock sets the clock the cache measures TTLs by (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }
