package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/palio-voip/palio/cluster"
	"github.com/palio-voip/palio/cluster/trunkcount"
	"github.com/palio-voip/palio/features"
	"github.com/palio-voip/palio/internal/httpauth"
	"github.com/palio-voip/palio/mediabox"
	"github.com/palio-voip/palio/mediabridge"
	"github.com/palio-voip/palio/sip"
)

// Config is the example server's configuration file (TOML). Unknown keys
// are errors. Data (rules, gateways, aliases, accounts) lives in the
// store; the file holds listeners, the store, timers, logging and the
// deployment's fixed choices.
type Config struct {
	SIP        SIPConfig        `toml:"sip"`
	HTTP       HTTPConfig       `toml:"http"`
	Store      StoreConfig      `toml:"store"`
	Timers     TimersConfig     `toml:"timers"`
	Log        LogConfig        `toml:"log"`
	Registrar  RegistrarConfig  `toml:"registrar"`
	Permission PermissionConfig `toml:"permission"`
	ENUM       ENUMConfig       `toml:"enum"`
	Routing    RoutingConfig    `toml:"routing"`
	Media      MediaConfig      `toml:"media"`
	Features   FeaturesConfig   `toml:"features"`
	Presence   PresenceConfig   `toml:"presence"`
	MediaBox   MediaBoxConfig   `toml:"mediabox"`
	Cluster    ClusterConfig    `toml:"cluster"`
	Guard      GuardConfig      `toml:"guard"`
	Runtime    RuntimeConfig    `toml:"runtime"`
	Accounting AccountingConfig `toml:"accounting"`
	// Provisioning is in app_provisioning.go.
	Provisioning ProvisioningConfig `toml:"provisioning"`
	Alerts       AlertsConfig       `toml:"alerts"` // config_ops.go
	HEP          HEPCaptureConfig   `toml:"hep"`    // config_ops.go
	TLS          TLSSection         `toml:"tls"`    // config_tls.go
	Admin        AdminConfig        `toml:"admin"`  // app_admin.go
}

// ClusterConfig makes this server one node of several sharing a MariaDB
// database ([store] mysql): the other nodes' calls, carried by NATS, light
// this node's busy lamps, and each node keeps its own presence
// subscriptions. Off unless nats is set.
type ClusterConfig struct {
	// Node names this node, unique among the nodes (cluster.CheckNode).
	// It owns the presence subscriptions the node accepts
	// (active_watchers.sharing_tag): set it on every node that shares a
	// database, with or without nats. Required with nats.
	Node string `toml:"node"`
	// NATS is the NATS server carrying the dialog events
	// ("nats://127.0.0.1:4222"; several, comma-separated). Empty: off.
	NATS string `toml:"nats"`
	// Name names the cluster: its events go to the NATS subject
	// palio.<name>.dialog, its trunk counts under the Redis keys
	// palio:{<name>}:… (default "unisi").
	Name string `toml:"name"`
	// Redis is the Redis server holding the trunk channel counts of every
	// node ("redis://127.0.0.1:6379/0"), so that channel limits and the
	// trunk alarms are the cluster's (cluster/trunkcount). Empty: each
	// node counts its own calls. Requires node.
	Redis string `toml:"redis"`
	// RedisTimeout bounds Redis's answer to a call's reservation (default
	// 50ms): beyond it the call goes on this node's own counts.
	RedisTimeout Duration `toml:"redis_timeout"`
	// Advertise is this node's SIP address as the other nodes reach it:
	// "host:port" (over TCP) or a SIP URI naming the transport
	// ("sip:10.0.0.1:5060;transport=udp"). Empty: sip.advertise, else
	// sip.listen. With node set, a phone registering here is recorded
	// with a Path through this address (sip.Flows), and a call for it
	// entering another node comes through this node to the phone's
	// connection.
	Advertise string `toml:"advertise"`
	// Paths says which registrations get a Path through this node:
	// "stream" (default: phones on TCP, TLS and WebSocket, whose
	// connection only this node holds), "all" (UDP phones too, for NATs
	// that only let in the address a phone sent to) or "off". Only with
	// node set.
	Paths string `toml:"paths"`
}

// flows returns the sip.FlowConfig of the section, or false when this
// node records no Path (not clustered, or paths = "off"). listen and
// advertise are the [sip] addresses.
func (cc ClusterConfig) flows(listen, advertise string) (sip.FlowConfig, bool, error) {
	if cc.Node == "" || cc.Paths == "off" {
		return sip.FlowConfig{}, false, nil
	}
	fc := sip.FlowConfig{Datagram: cc.Paths == "all"}
	addr := cc.Advertise
	if strings.HasPrefix(addr, "sip:") || strings.HasPrefix(addr, "sips:") {
		u, err := sip.ParseURI(addr)
		if err != nil || u.Host == "" {
			return fc, false, fmt.Errorf("config: cluster.advertise %q: want host:port or a SIP URI", addr)
		}
		fc.URI = u
		return fc, true, nil
	}
	if addr == "" {
		addr = listen
		if advertise != "" {
			if _, _, err := net.SplitHostPort(advertise); err == nil {
				addr = advertise
			} else if _, port, err := net.SplitHostPort(listen); err == nil {
				addr = net.JoinHostPort(advertise, port)
			}
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return fc, false, fmt.Errorf("config: cluster.advertise %q: want host:port or a SIP URI", addr)
	}
	u, err := sip.ParseURI("sip:" + net.JoinHostPort(host, port) + ";transport=tcp")
	if err != nil {
		return fc, false, fmt.Errorf("config: cluster.advertise %q: %w", addr, err)
	}
	fc.URI = u
	return fc, true, nil
}

// counter returns the trunkcount.Config of the section.
func (cc ClusterConfig) counter() trunkcount.Config {
	return trunkcount.Config{URL: cc.Redis, Cluster: cc.Name, Node: cc.Node}
}

// bus returns the cluster.Config of the section.
func (cc ClusterConfig) bus() cluster.Config {
	return cluster.Config{URL: cc.NATS, Cluster: cc.Name, Node: cc.Node}
}

// RuntimeConfig tunes the Go runtime for a busy proxy.
type RuntimeConfig struct {
	// GOGC is the garbage collector's target (the GOGC environment
	// variable, which wins when set). The proxy's live heap is small
	// (about 20 MB at 3000 calls/s) and its allocation rate high, so the
	// default of 400 trades some 100 MB of memory for a sixth less CPU
	// per call than Go's 100. Below 0: 100.
	GOGC int `toml:"gogc"`
	// MemoryLimit, in MiB, is a soft limit on the process's memory (the
	// GOMEMLIMIT environment variable wins when set): near it the
	// collector runs more often, whatever GOGC says, so that a flood
	// cannot grow the heap without bound. Default 512 (the proxy uses
	// about 120 MB at 3000 calls/s); 0 or less: none.
	MemoryLimit int64 `toml:"memory_limit_mib"`
	// AdaptiveProcs runs on one Go processor while the router uses
	// little CPU and on all of them under load (internal/procs): at
	// light load one processor spends less CPU per call. On one
	// processor under load the garbage collector's cycles run on all of
	// them, so that they do not hold up messages. Default on; a
	// GOMAXPROCS environment variable turns it off.
	AdaptiveProcs bool `toml:"adaptive_procs"`
}

// adaptiveProcs reports whether GOMAXPROCS follows the load.
func (rc RuntimeConfig) adaptiveProcs() bool {
	return rc.AdaptiveProcs && os.Getenv("GOMAXPROCS") == ""
}

// SIPConfig sets the SIP listeners.
type SIPConfig struct {
	// Listen is the "host:port" served over UDP and TCP.
	Listen string `toml:"listen"`
	// Advertise is the "host[:port]" written in Via and Record-Route when
	// Listen is a wildcard or behind NAT.
	Advertise string `toml:"advertise"`
	// TLS, when set, adds a TLS listener.
	TLS *TLSConfig `toml:"tls"`
	// WS, when set, adds a WebSocket listener on that "host:port".
	WS string `toml:"ws"`
	// Domains are the names this proxy answers for ("voip.unisi.it").
	Domains []string `toml:"domains"`
	// UDPBuffer sets the UDP socket buffers in bytes (0: kernel default).
	UDPBuffer int `toml:"udp_buffer"`
	// MaxPending bounds the initial requests received and not yet
	// answered (sip.OverloadConfig): beyond it new calls get 503 with
	// Retry-After at once, calls in progress go on. 0: the library's
	// default (sip.DefaultMaxPending); -1: no bound.
	MaxPending int `toml:"max_pending"`
	// MaxPendingDelay lets a burst past max_pending, up to four times it,
	// while the pending requests keep leaving the router within it (the
	// quickest of each 100 ms; sip.OverloadConfig.MaxPendingDelay; default
	// 50ms; negative: max_pending is a hard bound).
	MaxPendingDelay Duration `toml:"max_pending_delay"`
	// MaxQueueDelay refuses new requests the same way while datagrams wait
	// longer than this in the UDP socket before they are read (default
	// 500ms; 100ms refuses sooner; negative: not measured; Linux only).
	MaxQueueDelay Duration `toml:"max_queue_delay"`
	// RetryAfter is the Retry-After of those 503s (default 5s).
	RetryAfter Duration `toml:"retry_after"`

	// Limits of TCP, TLS and WebSocket connections (sip.StreamLimits);
	// 0 turns one off.

	// IdleTimeout closes a connection without traffic for that long
	// (default 120s). One that registered a contact stays as long as its
	// registration plus 32s; RFC 5626 keepalives count as traffic.
	IdleTimeout Duration `toml:"idle_timeout"`
	// MessageTimeout is how long a message, a TLS handshake or a write may
	// take once started (default 10s): it cuts off slowloris senders.
	MessageTimeout Duration `toml:"message_timeout"`
	// MaxConnections caps accepted connections in all (default 2048; each
	// costs 64 KiB of read buffer).
	MaxConnections int `toml:"max_connections"`
	// MaxConnectionsPerIP caps accepted connections per source address, per
	// /64 for IPv6 (default 64; raise it for many TCP phones behind one NAT).
	MaxConnectionsPerIP int `toml:"max_connections_per_ip"`
}

// overload is the SIP server's overload protection.
func (c SIPConfig) overload() sip.OverloadConfig {
	return sip.OverloadConfig{MaxPending: c.MaxPending, MaxPendingDelay: c.MaxPendingDelay.Duration,
		MaxQueueDelay: c.MaxQueueDelay.Duration, RetryAfter: c.RetryAfter.Duration}
}

// streams is the SIP server's StreamLimits: 0 in the file means off.
func (c SIPConfig) streams() sip.StreamLimits {
	dur := func(d Duration) time.Duration {
		if d.Duration == 0 {
			return -1
		}
		return d.Duration
	}
	num := func(n int) int {
		if n == 0 {
			return -1
		}
		return n
	}
	return sip.StreamLimits{
		IdleTimeout:    dur(c.IdleTimeout),
		MessageTimeout: dur(c.MessageTimeout),
		MaxConns:       num(c.MaxConnections),
		MaxConnsPerIP:  num(c.MaxConnectionsPerIP),
	}
}

// TLSConfig is a TLS listener.
type TLSConfig struct {
	Listen string `toml:"listen"`
	Cert   string `toml:"cert"`
	Key    string `toml:"key"`
}

// HTTPConfig sets the admin/metrics HTTP listener.
type HTTPConfig struct {
	Listen string `toml:"listen"`
	// Pprof serves Go's profiler under /debug/pprof/ (off by default).
	Pprof bool `toml:"pprof"`
	// Token is the bearer token the operations API (/api/…, and
	// /debug/pprof/) wants ("Authorization: Bearer TOKEN"), at least 16
	// bytes; TokenFile names a file holding it instead (one line). With
	// neither, the API answers loopback clients only. The health checks
	// and /metrics are open.
	Token     string `toml:"token"`
	TokenFile string `toml:"token_file"`
}

// token returns the API's bearer token: Token, or TokenFile's first line;
// empty with neither.
func (c HTTPConfig) token() (string, error) {
	switch {
	case c.Token != "" && c.TokenFile != "":
		return "", errors.New("config: http.token and http.token_file: set one")
	case c.TokenFile != "":
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return "", fmt.Errorf("config: http.token_file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		tok := strings.TrimSpace(line)
		if tok == "" {
			return "", fmt.Errorf("config: http.token_file %s: empty", c.TokenFile)
		}
		return tok, nil
	}
	return c.Token, nil
}

// apiGuard is the operations API's access check ([http] token).
func (c HTTPConfig) apiGuard() (*httpauth.Guard, error) {
	tok, err := c.token()
	if err != nil {
		return nil, err
	}
	g, err := httpauth.New(tok, "unisi")
	if err != nil {
		return nil, fmt.Errorf("config: http.token: %w", err)
	}
	return g, nil
}

// StoreConfig says where the data lives.
type StoreConfig struct {
	// SQLite is the database file (default unisi.db; the -db flag sets it).
	SQLite string `toml:"sqlite"`
	// MySQL, when set, is the DSN of a MariaDB/MySQL database shared by
	// several nodes ("user:pw@tcp(db:3306)/palio"); it replaces SQLite.
	MySQL string `toml:"mysql"`
	// Poll is how often the change counters are read to reload what
	// another node or a CLI command changed (0 turns it off).
	Poll Duration `toml:"poll"`
}

// TimersConfig sets the proxy's timers.
type TimersConfig struct {
	TimerC        Duration `toml:"timer_c"`
	FirstResponse Duration `toml:"first_response"`
	DialogMax     Duration `toml:"dialog_max"`
	Drain         Duration `toml:"drain"`
}

// LogConfig sets logging.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `toml:"level"`
	// Calls logs one Info line per call when it ends (sip.LogCall:
	// Call-ID, from, to, class, gateway, status, duration); default true.
	Calls bool `toml:"calls"`
}

// RegistrarConfig tunes REGISTER and authentication.
type RegistrarConfig struct {
	// Realm is the digest realm (default "voip.unisi.it").
	Realm          string   `toml:"realm"`
	DefaultExpires Duration `toml:"default_expires"`
	MinExpires     Duration `toml:"min_expires"`
	MaxExpires     Duration `toml:"max_expires"`
	MaxContacts    int      `toml:"max_contacts"`
	// Algorithms are MD5 and/or SHA-256 (default MD5).
	Algorithms []string `toml:"algorithms"`
	// Secret signs nonces (at least 16 bytes). Empty, the default, means
	// the one kept in the store (palio_secrets), generated on the first
	// start and shared by every node on the database: nonces then
	// survive restarts and are good on every node. Set it only to
	// override that one, and then the same on every node.
	Secret string `toml:"secret"`
	// WriteBack, when set, keeps bindings in memory and writes them to
	// the store every WriteBack (OpenSIPS's usrloc db_mode 2) instead of
	// answering each REGISTER once its binding is written (db_mode 1, the
	// default): a crash then loses up to that much of the latest
	// REGISTERs, and other nodes see a binding that much later. On the
	// SQLite store it also has REGISTERs over UDP served on the socket's
	// read loop (sip.Config.InlineStateless), as nothing they do waits.
	// Either way, on the SQLite store the server keeps the whole
	// location table in memory and reads it from there (the mirror of
	// sqlstore.LocationOptions); `unisi location add|del` and `unisi
	// import location` bump its change counter, and the server reloads
	// it at the next [store] poll (or SIGHUP), as the other tables.
	WriteBack Duration `toml:"write_back"`
}

// PermissionConfig says which address groups are trusted.
type PermissionConfig struct {
	// Trusted are the address groups whose requests skip authentication
	// (default 1 = PSTN gateways, 2 = ToIP trunk, 3 = media box, 4 = MD110s).
	Trusted []int `toml:"trusted"`
	// RejectUntrusted answers requests from other sources with 403 instead
	// of challenging them.
	RejectUntrusted bool `toml:"reject_untrusted"`
}

// ENUMConfig turns ENUM routing on.
type ENUMConfig struct {
	Enabled     bool     `toml:"enabled"`
	Servers     []string `toml:"servers"`
	Suffix      string   `toml:"suffix"`
	CountryCode string   `toml:"country_code"`
	Timeout     Duration `toml:"timeout"`
}

// RoutingConfig tunes dynamic routing (the gateways, carriers and rules
// themselves are in the store's dr_ tables).
type RoutingConfig struct {
	// DefaultGroup is the routing group of callers without a dr_groups
	// row (default 0).
	DefaultGroup int `toml:"default_group"`
	// Fallback tries the next rule when a rule's destinations are
	// exhausted (drouting's F flag).
	Fallback bool `toml:"fallback"`
	// FailoverCodes are the gateway answers that move a call to the next
	// destination (default 408, 500, 502, 503, 504).
	FailoverCodes []int `toml:"failover_codes"`
	// ProbeInterval is the time between OPTIONS rounds to the gateways
	// (default 30s; "0s" turns probing off) and ProbeTimeout bounds one
	// probe (default 5s).
	ProbeInterval *Duration `toml:"probe_interval"`
	ProbeTimeout  Duration  `toml:"probe_timeout"`
	// ProbeReplyCodes are answers to OPTIONS that count as up besides 200.
	ProbeReplyCodes []int `toml:"probe_reply_codes"`
	// AlarmThreshold is the share of a trunk's channels at which the
	// capacity alarm fires (default 0.8).
	AlarmThreshold float64 `toml:"alarm_threshold"`
}

// PresenceConfig tunes the presence server (busy lamps: SUBSCRIBE to
// the dialog event package).
type PresenceConfig struct {
	// Enabled serves SUBSCRIBE and PUBLISH (busy lamps, message-waiting
	// lamps); off, they are routed as other requests are, and calls are
	// not followed.
	Enabled bool `toml:"enabled"`
	// OnlyMostInteresting sends one dialog per NOTIFY, the most
	// interesting (confirmed, early, trying), for phones that cannot show
	// several.
	OnlyMostInteresting bool `toml:"only_most_interesting"`
	// MinExpires and MaxExpires bound the subscriptions' durations.
	MinExpires Duration `toml:"min_expires"`
	MaxExpires Duration `toml:"max_expires"`
}

// MediaBoxConfig runs the built-in media box (IVR menus, voicemail,
// queues) in the server's process. Its data (menus, mailboxes, queues)
// is in the store: `unisi ivr`, `unisi voicemail`, `unisi queue`.
type MediaBoxConfig struct {
	// Enabled runs the box (default true). Off, the media gateway's
	// address (127.0.0.1:5080 in the seed) can be a real Asterisk
	// answering the same IVR_, VM_, QUEUE_, VOICEMAIL and FAX_ names.
	Enabled bool `toml:"enabled"`
	// Listen is the UDP address the box answers on: the media gateway's
	// address in dr_gateways and its trusted address (group 3) must name
	// it (default 127.0.0.1:5080, as the seed does).
	Listen string `toml:"listen"`
	// Spool is the folder of the voicemail messages (default "voicemail";
	// a relative path is taken beside the SQLite database file, as
	// [accounting] spool is).
	Spool string `toml:"spool"`
	// Prompts is a folder of site prompts (NAME.wav, 8000 Hz mono 16-bit)
	// added to and replacing the built-in ones.
	Prompts string `toml:"prompts"`
	// MaxCalls bounds the box's calls; MaxMessage a message's length.
	MaxCalls   int      `toml:"max_calls"`
	MaxMessage Duration `toml:"max_message"`
	// PortMin and PortMax bound the box's RTP ports (default
	// 30000-32767: above the relay's, below the kernel's ephemeral range).
	PortMin int `toml:"port_min"`
	PortMax int `toml:"port_max"`
	// SMTP is the mail server ("host:port") voicemail notifications go
	// through, from MailFrom; empty: none are sent.
	SMTP     string `toml:"smtp"`
	MailFrom string `toml:"mail_from"`
}

// spool is the voicemail folder: Spool, a relative one beside the SQLite
// database file.
func (mc MediaBoxConfig) spool(sc StoreConfig) string {
	if mc.Spool == "" || filepath.IsAbs(mc.Spool) {
		return mc.Spool
	}
	return filepath.Join(filepath.Dir(sc.SQLite), mc.Spool)
}

// config returns the box's configuration for a router on routerAddr.
func (mc MediaBoxConfig) config(routerAddr, domain string, sc StoreConfig) (mediabox.Config, error) {
	cfg := mediabox.Config{
		Listen: mc.Listen, Router: routerAddr, Domain: domain, Spool: mc.spool(sc),
		RTPPortMin: mc.PortMin, RTPPortMax: mc.PortMax, MaxCalls: mc.MaxCalls, MaxMessage: mc.MaxMessage.Duration,
		SMTP: mediabox.SMTPConfig{Addr: mc.SMTP, From: mc.MailFrom},
	}
	if mc.Prompts != "" {
		if st, err := os.Stat(mc.Prompts); err != nil || !st.IsDir() {
			return cfg, fmt.Errorf("config: mediabox.prompts %q: not a folder", mc.Prompts)
		}
		cfg.Prompts = os.DirFS(mc.Prompts)
	}
	if err := cfg.Check(); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// FeaturesConfig tunes the call services (the settings themselves are
// per account, in the store: `unisi feature set`).
type FeaturesConfig struct {
	// Enabled runs the call services on every call; off, the accounts'
	// forwards, lists, do not disturb and secretaries are not read (the
	// commands still edit them).
	Enabled bool `toml:"enabled"`
	// NoAnswerAfter is the no-answer timer of accounts that set none.
	NoAnswerAfter Duration `toml:"no_answer_after"`
	// MaxForwards bounds a chain of forwards.
	MaxForwards int `toml:"max_forwards"`
	// History is how a forwarded call carries where it was diverted
	// from: "diversion", "history-info", "both" or "none".
	History string `toml:"history"`
	// UserBlacklists and GlobalBlacklist say which calls the lists
	// apply to: "incoming", "outgoing" or "both".
	UserBlacklists  string `toml:"user_blacklists"`
	GlobalBlacklist string `toml:"global_blacklist"`
}

// config returns the services' configuration (Account and Domain are
// the app's to set).
func (fc FeaturesConfig) config() (features.Config, error) {
	cfg := features.Config{NoAnswerAfter: fc.NoAnswerAfter.Duration, MaxForwards: fc.MaxForwards}
	var err error
	if cfg.Diversion, err = features.ParseDiversionMode(fc.History); err != nil {
		return cfg, fmt.Errorf("config: features.history: %w", err)
	}
	if cfg.UserLists, err = features.ParseDirection(fc.UserBlacklists); err != nil {
		return cfg, fmt.Errorf("config: features.user_blacklists: %w", err)
	}
	if cfg.GlobalList, err = features.ParseDirection(fc.GlobalBlacklist); err != nil {
		return cfg, fmt.Errorf("config: features.global_blacklist: %w", err)
	}
	if d := cfg.NoAnswerAfter; d < time.Second || d > features.MaxNoAnswerAfter {
		return cfg, fmt.Errorf("config: features.no_answer_after %v: want 1s to %v", d, features.MaxNoAnswerAfter)
	}
	if cfg.MaxForwards < 1 || cfg.MaxForwards > 10 {
		return cfg, fmt.Errorf("config: features.max_forwards %d: want 1 to 10", cfg.MaxForwards)
	}
	return cfg, nil
}

// MediaConfig configures the built-in RTP relay (mediabridge).
type MediaConfig struct {
	// Policy names the calls whose media the relay anchors:
	// "nat+gateways" (default), "nat", "gateways", "always", "never".
	Policy string `toml:"policy"`
	// Bind is the address the relay's sockets bind to; Advertise the
	// address written in SDP when it differs (1:1 NAT; required when
	// Bind is 0.0.0.0).
	Bind      string `toml:"bind"`
	Advertise string `toml:"advertise"`
	// PortMin and PortMax bound the relay's UDP ports (default
	// 20000-29999, below the kernel's ephemeral range).
	PortMin int `toml:"port_min"`
	PortMax int `toml:"port_max"`
	// NoMediaTimeout and HoldTimeout hang up a call whose media stopped
	// (default 60s; a held call 1h).
	NoMediaTimeout Duration `toml:"no_media_timeout"`
	HoldTimeout    Duration `toml:"hold_timeout"`
	// StrictSource relays a side's packets only from the IP address its
	// SDP gave.
	StrictSource bool `toml:"strict_source"`
}

// relay returns the relay's configuration.
func (mc MediaConfig) relay() (mediabridge.Config, error) {
	bind, err := netip.ParseAddr(mc.Bind)
	if err != nil {
		return mediabridge.Config{}, fmt.Errorf("config: media.bind %q: want an IP address", mc.Bind)
	}
	cfg := mediabridge.Config{Bind: bind, PortMin: mc.PortMin, PortMax: mc.PortMax,
		NoMediaTimeout: mc.NoMediaTimeout.Duration, HoldTimeout: mc.HoldTimeout.Duration, StrictSource: mc.StrictSource}
	if mc.Advertise != "" {
		if cfg.Advertise, err = netip.ParseAddr(mc.Advertise); err != nil {
			return cfg, fmt.Errorf("config: media.advertise %q: want an IP address", mc.Advertise)
		}
	}
	if err := cfg.Check(); err != nil {
		return cfg, fmt.Errorf("config: media: %w", err)
	}
	return cfg, nil
}

// Duration is a time.Duration written as "180s" in TOML.
type Duration struct{ time.Duration }

// MarshalText writes the duration as Go does ("3m0s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// defaultConfig is the configuration with no file: every key's default,
// as unisi.toml documents them and `unisi config print` shows them.
func defaultConfig() Config {
	return Config{
		SIP: SIPConfig{
			Listen:              "127.0.0.1:5060",
			Domains:             []string{"voip.unisi.it"},
			IdleTimeout:         Duration{sip.DefaultIdleTimeout},
			MessageTimeout:      Duration{sip.DefaultMessageTimeout},
			MaxConnections:      sip.DefaultMaxConns,
			MaxConnectionsPerIP: sip.DefaultMaxConnsPerIP,
			MaxPending:          sip.DefaultMaxPending,
			MaxPendingDelay:     Duration{sip.DefaultMaxPendingDelay},
			MaxQueueDelay:       Duration{sip.DefaultMaxQueueDelay},
			RetryAfter:          Duration{5 * time.Second},
		},
		HTTP:  HTTPConfig{Listen: "127.0.0.1:8080"},
		Store: StoreConfig{SQLite: "unisi.db", Poll: Duration{2 * time.Second}},
		Timers: TimersConfig{
			TimerC:        Duration{180 * time.Second},
			FirstResponse: Duration{32 * time.Second},
			DialogMax:     Duration{12 * time.Hour},
			Drain:         Duration{10 * time.Second},
		},
		Log: LogConfig{Level: "info", Calls: true},
		Registrar: RegistrarConfig{
			Realm:          "voip.unisi.it",
			DefaultExpires: Duration{3600 * time.Second},
			MinExpires:     Duration{60 * time.Second},
			Algorithms:     []string{"MD5"},
		},
		Permission: PermissionConfig{Trusted: []int{1, 2, 3, 4}},
		ENUM:       ENUMConfig{Suffix: "e164.arpa.", CountryCode: "39", Timeout: Duration{time.Second}},
		Routing: RoutingConfig{
			FailoverCodes:  sip.DefaultFailover.Codes(),
			ProbeInterval:  &Duration{30 * time.Second},
			ProbeTimeout:   Duration{5 * time.Second},
			AlarmThreshold: 0.8,
		},
		Presence: PresenceConfig{Enabled: true, MinExpires: Duration{60 * time.Second}, MaxExpires: Duration{7200 * time.Second}},
		Cluster:  ClusterConfig{Name: "unisi", RedisTimeout: Duration{50 * time.Millisecond}, Paths: "stream"},
		Features: FeaturesConfig{
			Enabled:         true,
			NoAnswerAfter:   Duration{20 * time.Second},
			MaxForwards:     3,
			History:         "diversion",
			UserBlacklists:  "incoming",
			GlobalBlacklist: "outgoing",
		},
		Accounting: defaultAccounting(),
		Media: MediaConfig{
			Policy:         "nat+gateways",
			Bind:           "127.0.0.1",
			PortMin:        mediabridge.DefaultPortMin,
			PortMax:        mediabridge.DefaultPortMax,
			NoMediaTimeout: Duration{mediabridge.DefaultNoMediaTimeout},
			HoldTimeout:    Duration{mediabridge.DefaultHoldTimeout},
		},
		MediaBox: MediaBoxConfig{
			Enabled:    true,
			Listen:     "127.0.0.1:5080",
			Spool:      "voicemail",
			MaxCalls:   200,
			MaxMessage: Duration{2 * time.Minute},
			PortMin:    30000,
			PortMax:    32767,
		},
		Guard:        defaultGuardConfig(),
		Runtime:      RuntimeConfig{GOGC: 400, MemoryLimit: 512, AdaptiveProcs: true},
		Provisioning: defaultProvisioning(),
		Admin:        defaultAdmin(),
		Alerts:       defaultAlerts(),
		HEP:          defaultHEP(),
		TLS:          defaultTLS(),
	}
}

// loadConfig reads path over the defaults; unknown keys are errors.
func loadConfig(path string) (Config, error) {
	cfg := defaultConfig()
	if path == "" {
		return cfg, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&cfg)
	if err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return cfg, fmt.Errorf("config %s: unknown keys: %s", path, strings.Join(keys, ", "))
	}
	return cfg, cfg.validate()
}

func (c Config) validate() error {
	if c.SIP.Listen == "" {
		return errors.New("config: sip.listen is empty")
	}
	if _, err := logLevel(c.Log.Level); err != nil {
		return err
	}
	if _, err := c.Features.config(); err != nil {
		return err
	}
	if _, err := c.Guard.config(nil); err != nil {
		return err
	}
	if p := c.Presence; p.MinExpires.Duration < time.Second || p.MaxExpires.Duration < p.MinExpires.Duration {
		return fmt.Errorf("config: presence: min_expires %v and max_expires %v: want 1s <= min <= max", p.MinExpires.Duration, p.MaxExpires.Duration)
	}
	if cc := c.Cluster; cc.Redis != "" {
		if err := cc.counter().Check(); err != nil {
			return fmt.Errorf("config: cluster (node, redis, name): %w", err)
		}
	}
	switch cc := c.Cluster; {
	case cc.NATS != "":
		if err := cc.bus().Check(); err != nil {
			return fmt.Errorf("config: cluster (node, nats, name): %w", err)
		}
	case cc.Node != "":
		if err := cluster.CheckNode(cc.Node); err != nil {
			return fmt.Errorf("config: cluster.node: %w", err)
		}
	}
	switch c.Cluster.Paths {
	case "", "stream", "all", "off":
	default:
		return fmt.Errorf("config: cluster.paths %q: want stream, all or off", c.Cluster.Paths)
	}
	if c.Cluster.Advertise != "" {
		if _, _, err := c.Cluster.flows(c.SIP.Listen, c.SIP.Advertise); err != nil {
			return err
		}
	}
	if _, err := mediabridge.ParsePolicy(c.Media.Policy); err != nil {
		return fmt.Errorf("config: media.policy: %w", err)
	}
	if _, err := c.Media.relay(); err != nil {
		return err
	}
	rc := c.Routing
	if rc.AlarmThreshold > 1 {
		return fmt.Errorf("config: routing.alarm_threshold %v: want a share of the channels, at most 1", rc.AlarmThreshold)
	}
	for _, codes := range [][]int{rc.FailoverCodes, rc.ProbeReplyCodes} {
		for _, code := range codes {
			if code < 100 || code > 699 {
				return fmt.Errorf("config: routing: status code %d: want 100..699", code)
			}
		}
	}
	sc := c.SIP
	if sc.IdleTimeout.Duration < 0 || sc.MessageTimeout.Duration < 0 || sc.MaxConnections < 0 || sc.MaxConnectionsPerIP < 0 {
		return errors.New("config: sip: idle_timeout, message_timeout, max_connections and max_connections_per_ip must not be negative (0 turns them off)")
	}
	if err := sc.overload().Check(); err != nil {
		return fmt.Errorf("config: sip (max_pending, retry_after): %w", err)
	}
	if c.Registrar.WriteBack.Duration < 0 {
		return fmt.Errorf("config: registrar.write_back %v is negative", c.Registrar.WriteBack.Duration)
	}
	if rc.ProbeInterval != nil && rc.ProbeInterval.Duration < 0 {
		return fmt.Errorf("config: routing.probe_interval %v is negative", rc.ProbeInterval.Duration)
	}
	for _, l := range []struct{ key, addr string }{{"sip.listen", c.SIP.Listen}, {"http.listen", c.HTTP.Listen}, {"sip.ws", c.SIP.WS}} {
		if l.addr == "" && l.key != "http.listen" {
			continue
		}
		if _, port, err := net.SplitHostPort(l.addr); err != nil || port == "" {
			return fmt.Errorf("config: %s %q: want host:port, e.g. 127.0.0.1:5060 or :5060", l.key, l.addr)
		}
	}
	if t := c.SIP.TLS; t != nil {
		if _, _, err := net.SplitHostPort(t.Listen); err != nil {
			return fmt.Errorf("config: sip.tls.listen %q: want host:port", t.Listen)
		}
		// In order: the certificate's problem is named first, every time.
		for _, f := range []struct{ key, path string }{{"sip.tls.cert", t.Cert}, {"sip.tls.key", t.Key}} {
			if _, err := os.Stat(f.path); err != nil {
				return fmt.Errorf("config: %s: %w", f.key, err)
			}
		}
	}
	if err := c.validateTLS(); err != nil {
		return err
	}
	if c.MediaBox.Enabled {
		// The router's address the box calls back: a wildcard listener is
		// reached on loopback.
		if _, err := c.MediaBox.config(routerAddr(c.SIP.Listen), "voip.unisi.it", c.Store); err != nil {
			return err
		}
	}
	if c.Store.Poll.Duration < 0 {
		return fmt.Errorf("config: store.poll %v is negative", c.Store.Poll.Duration)
	}
	for _, a := range c.Registrar.Algorithms {
		if !strings.EqualFold(a, "MD5") && !strings.EqualFold(a, "SHA-256") {
			return fmt.Errorf("config: registrar.algorithms: %q: want MD5 or SHA-256", a)
		}
	}
	if _, err := c.Accounting.recorder(c.Store); err != nil {
		return err
	}
	if s := c.Registrar.Secret; s != "" && len(s) < 16 {
		return errors.New("config: registrar.secret: at least 16 bytes (or leave it empty to use the store's)")
	}
	if c.Provisioning.Enabled {
		if err := c.Provisioning.check(c); err != nil {
			return err
		}
	}
	if _, err := c.HTTP.apiGuard(); err != nil {
		return err
	}
	if err := c.Admin.check(); err != nil {
		return err
	}
	return c.validateOps()
}

// configDiff returns the keys ("sip.listen", "log.level") whose values
// differ between a and b, in the order of the file.
func configDiff(a, b Config) []string {
	var out []string
	var walk func(prefix string, x, y reflect.Value)
	walk = func(prefix string, x, y reflect.Value) {
		t := x.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "" || name == "-" {
				continue
			}
			key := prefix + name
			fx, fy := x.Field(i), y.Field(i)
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(Duration{}) {
				walk(key+".", fx, fy)
				continue
			}
			if !reflect.DeepEqual(fx.Interface(), fy.Interface()) {
				out = append(out, key)
			}
		}
	}
	walk("", reflect.ValueOf(a), reflect.ValueOf(b))
	return out
}

func logLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("config: log.level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// routerAddr is how a process on this host reaches a SIP listener: a
// wildcard host (":5060", "0.0.0.0:5060", "[::]:5060") on loopback.
func routerAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
