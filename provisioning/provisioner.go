package provisioning

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/registrar"
)

// Config configures a Provisioner. Domain is required; the zero value of
// every other field is its default.
type Config struct {
	// Domain is the SIP domain of the lines ("voip.unisi.it"); a line
	// with a domain of its own keeps it.
	Domain string
	// Realm is the registrar's digest realm, against which a per-device
	// password is checked (it must give the account's HA1); default
	// Domain.
	Realm string
	// Proxy is the "host[:port]" phones register through (their
	// outbound proxy); default Domain.
	Proxy string
	// BaseURL is where phones reach the provisioning files, without the
	// url key ("http://10.0.0.1:8080/prov"): the templates write it in the
	// phones' provisioning settings (SNOM's setting_server, Cisco's
	// Profile_Rule, Yealink's auto_provision.server.url). Empty: the
	// scheme, host and PathPrefix of each HTTP request, and for TFTP
	// "tftp://" and the address asked. Set it for a TFTP bootstrap that
	// sends the phones on to HTTP.
	BaseURL string
	// PathPrefix is the path ServeHTTP is mounted at ("/prov"); it strips
	// it from the requests. Default "/".
	PathPrefix string
	// Key, when set, is the site's secret path key (Wazo's url_key): every
	// file is served under it only (/prov/KEY/snom710.htm), so that
	// device files cannot be found by guessing MACs alone.
	Key string
	// Allow are the networks phones fetch from; requests from elsewhere
	// get 403. Empty: every network.
	Allow []netip.Prefix
	// RequestsPerMinute and Burst limit each source address (each /64
	// for IPv6): beyond, 429 (HTTP) or an error (TFTP). Defaults 60 and
	// 20; RequestsPerMinute below 0 turns the limit off.
	RequestsPerMinute, Burst int
	// BanAfter failures of one source within FailureWindow (unknown or
	// malformed MACs, a wrong url key, a wrong password, a User-Agent's
	// MAC that is not the file's) ban it for BanFor: every request gets
	// 403 and the ban is logged for fail2ban. Defaults 10, 10 minutes,
	// 10 minutes; BanAfter below 0 turns bans off.
	BanAfter      int
	FailureWindow time.Duration
	BanFor        time.Duration
	// ResyncInterval is how often the templates tell phones to check for
	// a new configuration; default 24 hours.
	ResyncInterval time.Duration
	// PickupPrefix is dialled before a BLF key's number to pick up its
	// call (SNOM's "blf sip:5003@domain|**"); default "**".
	PickupPrefix string
	// Templates are the site's templates, overriding the embedded
	// defaults (see LoadTemplates); nil: the defaults.
	Templates fs.FS
	// Firmware, when set, is served read-only under firmware/.
	Firmware fs.FS
}

// withDefaults returns c with its defaults applied.
func (c Config) withDefaults() Config {
	if c.Realm == "" {
		c.Realm = c.Domain
	}
	if c.Proxy == "" {
		c.Proxy = c.Domain
	}
	if c.PathPrefix == "" {
		c.PathPrefix = "/"
	}
	if c.RequestsPerMinute == 0 {
		c.RequestsPerMinute = 60
	}
	if c.Burst <= 0 {
		c.Burst = 20
	}
	if c.BanAfter == 0 {
		c.BanAfter = 10
	}
	if c.FailureWindow <= 0 {
		c.FailureWindow = 10 * time.Minute
	}
	if c.BanFor <= 0 {
		c.BanFor = 10 * time.Minute
	}
	if c.ResyncInterval <= 0 {
		c.ResyncInterval = 24 * time.Hour
	}
	if c.PickupPrefix == "" {
		c.PickupPrefix = "**"
	}
	return c
}

// Check reports what is wrong with c: no domain, a base URL that is not
// an http, https or tftp URL, a url key that is not a plain path
// segment, a pickup prefix that is not dial characters.
func (c Config) Check() error {
	if c.Domain == "" || strings.ContainsAny(c.Domain, " \t@;:<>/\"'&") {
		return fmt.Errorf("provisioning: domain %q: want a host name", c.Domain)
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "tftp") || u.Host == "" || u.User != nil || u.RawQuery != "" {
			return fmt.Errorf("provisioning: base URL %q: want http://host[:port][/path], https or tftp", c.BaseURL)
		}
	}
	if c.Key != "" {
		if len(c.Key) < 8 || len(c.Key) > 64 || strings.IndexFunc(c.Key, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}) >= 0 {
			return errors.New("provisioning: url key: want 8 to 64 letters, digits, - or _")
		}
	}
	if strings.Trim(c.PickupPrefix, "0123456789*#") != "" {
		return fmt.Errorf("provisioning: pickup prefix %q: want digits, * or #", c.PickupPrefix)
	}
	if c.Proxy != "" && strings.ContainsAny(c.Proxy, " \t@;<>/\"'&") {
		return fmt.Errorf("provisioning: proxy %q: want host[:port]", c.Proxy)
	}
	for _, p := range c.Allow {
		if !p.IsValid() {
			return errors.New("provisioning: allow: an invalid network")
		}
	}
	return nil
}

// Provisioner serves phones their configuration files by MAC address,
// over HTTP(S) (ServeHTTP) and TFTP (NewTFTPServer), rendered from the
// device store, the registrar's accounts and the templates; it sends
// resync NOTIFYs (Resync) when given a SIP server (WithResync).
type Provisioner struct {
	cfg      Config
	store    Store
	accounts registrar.Subscribers
	tmpl     *Templates
	log      *slog.Logger
	reg      prometheus.Registerer
	metrics  *metrics
	sources  *sources
	digest   *digester
	now      func() time.Time
	sender   Sender
	locator  Locator
}

// Option configures a Provisioner.
type Option func(*Provisioner)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(p *Provisioner) { p.log = l } }

// WithRegisterer registers the metrics with r (default: none).
func WithRegisterer(r prometheus.Registerer) Option { return func(p *Provisioner) { p.reg = r } }

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(p *Provisioner) { p.now = now } }

// New returns a Provisioner serving the devices of store with the
// passwords of accounts (the registrar's subscriber store; nil: lines
// need per-device passwords). It loads and checks the templates.
func New(cfg Config, store Store, accounts registrar.Subscribers, opts ...Option) (*Provisioner, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	tmpl, err := LoadTemplates(cfg.Templates)
	if err != nil {
		return nil, err
	}
	p := &Provisioner{cfg: cfg, store: store, accounts: accounts, tmpl: tmpl, log: slog.Default(), now: time.Now, digest: newDigester()}
	for _, o := range opts {
		o(p)
	}
	banAfter := cfg.BanAfter
	if banAfter < 0 {
		banAfter = 0
	}
	p.sources = newSources(cfg.RequestsPerMinute, cfg.Burst, banAfter, cfg.BanFor, cfg.FailureWindow)
	p.metrics = newMetrics(p.reg, func() float64 { return float64(p.sources.bannedCount(p.now())) })
	return p, nil
}

// Templates returns the templates in use.
func (p *Provisioner) Templates() *Templates { return p.tmpl }

// fetch is one request, over HTTP or TFTP, as the provisioner sees it.
type fetch struct {
	proto string // "http", "https" or "tftp"
	file  string // below the root, key included, no leading slash
	src   netip.Addr
	ua    string
	base  string // the base URL of this request when Config.BaseURL is empty
	// auth checks the request's credentials for a device (HTTP only).
	auth func(mac MAC, secret string) authResult
}

// outcome is what a fetch gets.
type outcome struct {
	status   int    // an HTTP status
	body     []byte // the file, for 200
	firmware string // a firmware file to serve from Config.Firmware
	ctype    string
	reason   string // why it was refused
	served   string // what a 200 served: device, model or firmware
}

// serve answers f: the checks every protocol shares, then the file.
func (p *Provisioner) serve(ctx context.Context, f fetch) outcome {
	now := p.now()
	o := p.answer(ctx, f, now)
	result := "refused"
	switch {
	case o.status == 200:
		result = o.served
	case o.status == 404 && o.reason == "":
		result = "notfound"
	case o.status >= 500:
		result = "error"
	case o.status == 401 && o.reason == "":
		result = "challenged"
	}
	p.metrics.fetches.WithLabelValues(f.proto, result).Inc()
	if o.reason != "" {
		p.metrics.refused.WithLabelValues(o.reason).Inc()
	}
	return o
}

func (p *Provisioner) answer(ctx context.Context, f fetch, now time.Time) outcome {
	src := f.src.Unmap()
	if !p.allowed(src) {
		p.log.Info("provisioning: refused", "src", src, "proto", f.proto, "reason", "network")
		return outcome{status: 403, reason: "network"}
	}
	switch p.sources.admit(src, now) {
	case banned:
		p.log.Debug("provisioning: refused", "src", src, "proto", f.proto, "reason", "banned")
		return outcome{status: 403, reason: "banned"}
	case limited:
		p.log.Debug("provisioning: refused", "src", src, "proto", f.proto, "reason", "rate")
		return outcome{status: 429, reason: "rate"}
	}
	file := f.file
	if p.cfg.Key != "" {
		key, rest, _ := strings.Cut(file, "/")
		if subtle.ConstantTimeCompare([]byte(key), []byte(p.cfg.Key)) != 1 {
			return p.failure(src, f, 404, "wrong-key", "", now)
		}
		file = rest
	}
	req := route(file)
	switch req.kind {
	case fileNone:
		p.log.Debug("provisioning: no such file", "src", src, "proto", f.proto, "file", file)
		return outcome{status: 404}
	case fileMalformed:
		return p.failure(src, f, 404, "malformed-mac", file, now)
	case fileFirmware:
		if p.cfg.Firmware == nil {
			return outcome{status: 404}
		}
		if st, err := fs.Stat(p.cfg.Firmware, req.name); err != nil || !st.Mode().IsRegular() {
			p.log.Debug("provisioning: no such firmware file", "src", src, "proto", f.proto, "file", file)
			return outcome{status: 404}
		}
		p.log.Debug("provisioning: firmware", "src", src, "proto", f.proto, "file", file)
		return outcome{status: 200, firmware: req.name, ctype: "application/octet-stream", served: "firmware"}
	}
	uaMAC, hasUA := MACFromUserAgent(f.ua)
	if req.kind == fileDevice && hasUA && uaMAC != req.mac {
		return p.failure(src, f, 403, "mac-mismatch", req.mac.String(), now)
	}
	if req.kind == fileModel {
		if hasUA {
			// The User-Agent names the device: its own file at once, when
			// it is one of this model's family.
			if d, err := p.store.Device(ctx, uaMAC); err == nil && familyOf(d.Model) == req.family {
				return p.device(ctx, f, src, d, req, now)
			}
		}
		data := p.baseData(f, Device{}, req.model)
		body, err := p.tmpl.render(data, true)
		if err != nil {
			p.log.Error("provisioning: rendering a model file failed", "file", file, "error", err)
			return outcome{status: 500}
		}
		p.log.Debug("provisioning: model file", "src", src, "proto", f.proto, "file", file)
		return outcome{status: 200, body: body, ctype: contentType(req.family), served: "model"}
	}
	d, err := p.store.Device(ctx, req.mac)
	if errors.Is(err, ErrNotFound) {
		p.metrics.unknown.Inc()
		model := ""
		if req.model.Name != "" {
			model = req.model.Name
		}
		if err := p.store.RecordFetch(ctx, Fetch{MAC: req.mac, Time: now, IP: src.String(), UserAgent: cleanText(f.ua), Model: model}); err != nil {
			p.log.Warn("provisioning: recording an unknown device failed", "mac", req.mac, "error", err)
		}
		return p.failure(src, f, 404, "unknown-mac", req.mac.String(), now)
	}
	if err != nil {
		p.log.Warn("provisioning: device store", "mac", req.mac, "error", err)
		return outcome{status: 503}
	}
	if req.family != "" && familyOf(d.Model) != req.family {
		return p.failure(src, f, 404, "wrong-model", req.mac.String(), now)
	}
	return p.device(ctx, f, src, d, req, now)
}

// device serves d's own file.
func (p *Provisioner) device(ctx context.Context, f fetch, src netip.Addr, d Device, req request, now time.Time) outcome {
	if d.AuthSecret != "" {
		if f.auth == nil {
			p.log.Info("provisioning: refused", "src", src, "proto", f.proto, "reason", "no-auth-over-tftp", "mac", d.MAC)
			return outcome{status: 403, reason: "no-auth-over-tftp"}
		}
		switch f.auth(d.MAC, d.AuthSecret) {
		case authMissing:
			return outcome{status: 401}
		case authWrong:
			return p.failure(src, f, 401, "wrong-password", d.MAC.String(), now)
		}
	}
	m, err := ParseModel(d.Model)
	if err != nil {
		p.log.Error("provisioning: device with an unknown model", "mac", d.MAC, "error", err)
		return outcome{status: 500}
	}
	data := p.baseData(f, d, m)
	if err := p.lines(ctx, d, &data); err != nil {
		var st statusError
		if errors.As(err, &st) {
			return outcome{status: st.status}
		}
		return outcome{status: 500}
	}
	body, err := p.tmpl.render(data, false)
	if err != nil {
		p.log.Error("provisioning: rendering a device file failed", "mac", d.MAC, "error", err)
		return outcome{status: 500}
	}
	if err := p.store.RecordFetch(ctx, Fetch{MAC: d.MAC, Time: now, IP: src.String(), UserAgent: cleanText(f.ua), Model: d.Model}); err != nil {
		p.log.Warn("provisioning: recording a fetch failed", "mac", d.MAC, "error", err)
	}
	p.log.Info("provisioning: served", "src", src, "proto", f.proto, "mac", d.MAC, "model", d.Model, "lines", len(data.Lines))
	return outcome{status: 200, body: body, ctype: contentType(m.Family), served: "device"}
}

// failure refuses f for reason, counting it against src; enough of them
// ban src, which is logged in a line fail2ban can match:
//
//	level=WARN msg="provisioning: source banned" src=203.0.113.9 failures=10 reason=unknown-mac for=10m0s
func (p *Provisioner) failure(src netip.Addr, f fetch, status int, reason, what string, now time.Time) outcome {
	n, bannedNow := p.sources.fail(src, now)
	args := []any{"src", src, "proto", f.proto, "reason", reason, "failures", n}
	if what != "" {
		args = append(args, "file", what)
	}
	p.log.Info("provisioning: refused", args...)
	if bannedNow {
		p.metrics.bans.Inc()
		p.log.Warn("provisioning: source banned", "src", src, "failures", n, "reason", reason, "for", p.cfg.BanFor)
	}
	return outcome{status: status, reason: reason}
}

func (p *Provisioner) allowed(a netip.Addr) bool {
	if len(p.cfg.Allow) == 0 {
		return true
	}
	for _, n := range p.cfg.Allow {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// familyOf returns the family of a stored model name.
func familyOf(model string) Family {
	m, err := ParseModel(model)
	if err != nil {
		return ""
	}
	return m.Family
}

func contentType(f Family) string {
	if f == SNOM || f == Cisco {
		return "application/xml; charset=utf-8"
	}
	return "text/plain; charset=utf-8"
}

// baseData is the template data of d (or of model m's file) without the
// lines.
func (p *Provisioner) baseData(f fetch, d Device, m Model) TemplateData {
	host, port, err := net.SplitHostPort(p.cfg.Proxy)
	if err != nil {
		host, port = p.cfg.Proxy, "5060"
	}
	data := TemplateData{
		MAC: d.MAC, Model: m, Name: d.Name, Owner: d.Owner,
		Domain: p.cfg.Domain, Proxy: p.cfg.Proxy, ProxyHost: host, ProxyPort: port,
		FirmwareURL: d.FirmwareURL, PickupPrefix: p.cfg.PickupPrefix,
		ResyncSeconds: int(p.cfg.ResyncInterval / time.Second), ResyncMinutes: int(p.cfg.ResyncInterval / time.Minute),
	}
	if data.ResyncMinutes < 1 {
		data.ResyncMinutes = 1
	}
	base := p.cfg.BaseURL
	if base == "" {
		base = f.base
	}
	base = strings.TrimSuffix(base, "/")
	if p.cfg.Key != "" {
		base += "/" + p.cfg.Key
	}
	if d.AuthSecret != "" {
		data.AuthUser, data.AuthPassword = d.MAC.String(), d.AuthSecret
		if u, err := url.Parse(base); err == nil && u.Scheme != "tftp" {
			u.User = url.UserPassword(data.AuthUser, data.AuthPassword)
			base = u.String()
		}
	}
	data.URL = base
	for i, k := range d.Keys {
		label := k.Label
		if label == "" {
			label = k.Number
		}
		data.Keys = append(data.Keys, KeyData{Index: i + 1, Position: len(d.Lines) + i + 1, Number: k.Number, Label: label, URI: "sip:" + k.Number + "@" + p.cfg.Domain})
	}
	names := make([]string, 0, len(d.Settings))
	for k := range d.Settings {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		data.Settings = append(data.Settings, Setting{k, d.Settings[k]})
	}
	return data
}

// statusError makes a fetch fail with an HTTP status.
type statusError struct {
	status int
	err    error
}

func (e statusError) Error() string { return e.err.Error() }

// ErrNoPassword is returned (wrapped) for a line whose account has no
// plaintext password in the subscriber store (only its HA1 digests,
// which a phone cannot use) and no per-device password.
var ErrNoPassword = errors.New("provisioning: no password a phone can use")

// lines resolves d's lines into data with their credentials: a line's
// per-device password, else its account's plaintext password. A line
// whose account is gone is left out (its removal reaches the phone); a
// line with no usable password fails the whole file (500), so that the
// phone keeps the configuration it has, and an operator must act.
func (p *Provisioner) lines(ctx context.Context, d Device, data *TemplateData) error {
	for i, l := range d.Lines {
		dom := l.Domain
		if dom == "" {
			dom = p.cfg.Domain
		}
		ld := LineData{Index: len(data.Lines) + 1, User: l.User, Domain: dom, DisplayName: l.DisplayName, AuthUser: l.User, Password: l.Password}
		var sub registrar.Subscriber
		found := false
		if p.accounts != nil {
			s, err := p.accounts.Subscriber(ctx, l.User, dom)
			switch {
			case errors.Is(err, registrar.ErrNotFound):
				p.log.Warn("provisioning: line left out: no such account", "mac", d.MAC, "line", i+1, "user", l.User)
				continue
			case err != nil:
				p.log.Warn("provisioning: subscriber store", "mac", d.MAC, "user", l.User, "error", err)
				return statusError{503, err}
			}
			sub, found = s, true
		}
		switch {
		case ld.Password != "":
			if found && sub.HA1 != "" {
				if ha1, _ := registrar.HA1(l.User, p.cfg.Realm, ld.Password, registrar.MD5); !strings.EqualFold(ha1, sub.HA1) {
					p.log.Warn("provisioning: the device's password for a line is not its account's: the phone will not register", "mac", d.MAC, "line", i+1, "user", l.User)
				}
			}
		case found && sub.Password != "":
			ld.Password = sub.Password
		default:
			err := fmt.Errorf("%w: device %s line %d (%s): the subscriber store keeps only its digests; give the device a per-device password", ErrNoPassword, d.MAC, i+1, l.User)
			p.log.Error("provisioning: file not served", "mac", d.MAC, "error", err)
			return statusError{500, err}
		}
		ld.Label = ld.DisplayName
		if ld.Label == "" {
			ld.Label = ld.User
		}
		data.Lines = append(data.Lines, ld)
	}
	// Keys sit after the lines actually written.
	for i := range data.Keys {
		data.Keys[i].Position = len(data.Lines) + i + 1
	}
	return nil
}

// cleanText drops control characters and cuts s to what a device record
// keeps.
func cleanText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return -1
		}
		return r
	}, s)
	return truncate(s, maxAgent)
}
