package provisioning

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/palio-voip/palio/sip"
)

// Device is a phone (or ATA) known by its MAC address: what it is, whose
// it is, the accounts on its line keys, its busy-lamp keys, and when it
// last fetched its configuration. A row of palio_devices with its lines
// (palio_device_lines), keys (palio_device_keys) and settings
// (palio_device_settings).
type Device struct {
	MAC MAC
	// Model is the model's name ("snom710", "spa112"; see ParseModel).
	Model string
	// Name is what the phone is called ("Michele Pinassi", "ATA di
	// test"); Owner the person or department it belongs to.
	Name, Owner string
	// Lines are the accounts on its line keys, first to last.
	Lines []Line
	// Keys are its busy-lamp field keys (colleagues' numbers), placed
	// after the line keys.
	Keys []Key
	// FirmwareURL, when set, is where the phone fetches its firmware (an
	// http, https or tftp URL); the templates write it where the vendor
	// reads it.
	FirmwareURL string
	// Settings are per-device settings written after the template's own
	// (the phone takes the last value): a SNOM setting name, a Cisco
	// flat-profile element or a Yealink key, with its value.
	Settings map[string]string
	// AuthSecret, when set, is the password the phone must give, with
	// its MAC (12 lower-case hex digits) as the user name, to fetch its
	// configuration over HTTP (digest, or basic over HTTPS). Files with no
	// credentials in them (the model files) need none; TFTP, which cannot
	// authenticate, does not serve such a device's file.
	AuthSecret string

	// LastFetch, LastIP and LastUserAgent describe the device's last
	// successful fetch of its configuration (the store's RecordFetch
	// writes them; PutDevice leaves them alone).
	LastFetch     time.Time
	LastIP        string
	LastUserAgent string
}

// Line is an account on a line key.
type Line struct {
	// User is the account's user part ("5002"); Domain its domain, empty
	// for the provisioner's Config.Domain.
	User, Domain string
	// DisplayName is the caller name the phone sends and shows.
	DisplayName string
	// Password, when set, is this device's SIP password for the account:
	// for sites whose subscriber store keeps only digests (HA1), which a
	// phone cannot use. Empty: the account's plaintext password from the
	// registrar's subscriber store.
	Password string
}

// Key is a busy-lamp field (BLF) key watching a colleague's number.
type Key struct {
	// Number is the colleague's account or extension ("5003").
	Number string
	// Label is what the key shows; empty: the number.
	Label string
}

// Clone returns d with its own slices and map.
func (d Device) Clone() Device {
	d.Lines = slices.Clone(d.Lines)
	d.Keys = slices.Clone(d.Keys)
	if d.Settings != nil {
		d.Settings = maps.Clone(d.Settings)
	}
	return d
}

// Limits of what a device record holds.
const (
	maxText     = 128
	maxUser     = 64
	maxAgent    = 255
	maxLines    = 16
	maxKeys     = 96
	maxSettings = 64
	maxValue    = 1024
)

// Validate reports why d cannot be stored: no MAC, an unknown model, more
// lines than the model has, a line whose user is no SIP user part, a key
// that is no number, a setting whose name a template could not write, a
// firmware URL that is not http, https or tftp, control characters or
// overlong text anywhere. The error is a *sip.FieldError naming the field
// at fault as the admin API does: mac, model, name, owner, lines, keys,
// firmware_url, settings or auth_secret.
func (d Device) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &sip.FieldError{Field: field, Err: fmt.Errorf(format, args...)}
	}
	if d.MAC.IsZero() {
		return bad("mac", "provisioning: device without a MAC address")
	}
	m, err := ParseModel(d.Model)
	if err != nil {
		return bad("model", "provisioning: device %s: %w", d.MAC, err)
	}
	if d.Model != m.Name {
		return bad("model", "provisioning: device %s: model %q is written %q", d.MAC, d.Model, m.Name)
	}
	for _, f := range []struct{ name, v string }{{"name", d.Name}, {"owner", d.Owner}} {
		if err := checkText(f.v, maxText); err != nil {
			return bad(f.name, "provisioning: device %s %s: %w", d.MAC, f.name, err)
		}
	}
	if len(d.Lines) > m.MaxLines {
		return bad("lines", "provisioning: device %s: %d lines, a %s has %d", d.MAC, len(d.Lines), m.Display, m.MaxLines)
	}
	for i, l := range d.Lines {
		if err := sip.CheckUserPart(l.User); err != nil || len(l.User) > maxUser {
			return bad("lines", "provisioning: device %s line %d: user %q: want a SIP user part of at most %d bytes (%v)", d.MAC, i+1, l.User, maxUser, err)
		}
		if l.Domain != "" && (strings.ContainsAny(l.Domain, " \t@;:<>/\"'&") || len(l.Domain) > maxText) {
			return bad("lines", "provisioning: device %s line %d: domain %q is not a host name", d.MAC, i+1, l.Domain)
		}
		if err := checkText(l.DisplayName, maxText); err != nil {
			return bad("lines", "provisioning: device %s line %d display name: %w", d.MAC, i+1, err)
		}
		if err := checkText(l.Password, maxText); err != nil {
			return bad("lines", "provisioning: device %s line %d password: %w", d.MAC, i+1, err)
		}
	}
	if len(d.Keys) > maxKeys {
		return bad("keys", "provisioning: device %s: %d keys, at most %d", d.MAC, len(d.Keys), maxKeys)
	}
	for i, k := range d.Keys {
		if err := sip.CheckUserPart(k.Number); err != nil || len(k.Number) > maxUser || strings.ContainsAny(k.Number, "|\"'<>&") {
			return bad("keys", "provisioning: device %s key %d: %q is not a number", d.MAC, i+1, k.Number)
		}
		if err := checkText(k.Label, maxText); err != nil {
			return bad("keys", "provisioning: device %s key %d label: %w", d.MAC, i+1, err)
		}
	}
	if d.FirmwareURL != "" {
		u, err := url.Parse(d.FirmwareURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "tftp") || u.Host == "" || checkText(d.FirmwareURL, maxValue) != nil {
			return bad("firmware_url", "provisioning: device %s: firmware URL %q: want an http, https or tftp URL", d.MAC, d.FirmwareURL)
		}
	}
	if len(d.Settings) > maxSettings {
		return bad("settings", "provisioning: device %s: %d settings, at most %d", d.MAC, len(d.Settings), maxSettings)
	}
	for k, v := range d.Settings {
		if !settingName(k) {
			return bad("settings", "provisioning: device %s: setting name %q: want letters, digits, _ . - (a letter or _ first)", d.MAC, k)
		}
		if err := checkText(v, maxValue); err != nil {
			return bad("settings", "provisioning: device %s setting %s: %w", d.MAC, k, err)
		}
	}
	if d.AuthSecret != "" {
		if len(d.AuthSecret) < 8 || checkText(d.AuthSecret, maxText) != nil || strings.ContainsAny(d.AuthSecret, " :@/") {
			return bad("auth_secret", "provisioning: device %s: auth secret: want 8 to %d printable characters without spaces, ':', '@' or '/'", d.MAC, maxText)
		}
	}
	return nil
}

// checkText refuses control characters, invalid UTF-8 and text longer
// than max bytes.
func checkText(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("longer than %d bytes", max)
	}
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == 0xfffd }) {
		return nil
	}
	return fmt.Errorf("%q has control characters", s)
}

// settingName reports whether k can name a setting in every family's
// file: an XML element name that is also a Yealink key.
func settingName(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return !strings.HasPrefix(strings.ToLower(k), "xml")
}

// Fetch is one request for a device's file: the MAC it named (or the
// User-Agent gave), when, from where and by what, and the model the file
// name named (for an unknown device: what it says it is).
type Fetch struct {
	MAC       MAC
	Time      time.Time
	IP        string
	UserAgent string
	Model     string
}

// UnknownDevice is a MAC that asked for its configuration without being
// known: what an operator assigns ("device add"); the admin page lists
// them. A row of palio_unknown_devices.
type UnknownDevice struct {
	MAC MAC
	// Model is the model the file name named, if any ("snom760").
	Model string
	// IP and UserAgent are those of the last request.
	IP, UserAgent string
	// FirstSeen and LastSeen bound the requests; Count counts them.
	FirstSeen, LastSeen time.Time
	Count               int
}
