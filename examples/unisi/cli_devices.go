package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/palio-voip/palio/provisioning"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/store/sqlstore"
)

// The device commands: phones provisioned by MAC address (package
// provisioning, the palio_devices tables), and the DHCP side.
var deviceCommands = []command{
	{
		name: "device add", args: "MAC MODEL [-lines LIST] [-name NAME] [-blf LIST]", section: "Accounts and phones", min: 2, max: 2,
		summary: "assign a phone (by MAC address) its accounts and busy-lamp keys",
		detail: `MAC is written 0004137441d7, 00:04:13:74:41:d7 or 0004.1374.41d7; MODEL is
snom710…snom760, snomd712…snomd785, spa112…spa525g, t19p…t57w or generic
(case, spaces and the vendor's name do not matter: "SNOM 760", "Cisco SPA112").
The phone fetches its file from the server's /prov/ (snom710-MAC.htm,
spaMAC.xml, MAC.cfg): its lines' accounts with their passwords, the BLF keys
after the line keys. Each line's account must exist.

Passwords: this database keeps only the digests of the accounts' passwords
(user add), which a phone cannot use. Give each line its account's password
with -password USER=PW: it is checked against the account and stored with the
device, in clear, as the phone needs it. An account whose store keeps a
plaintext password (an OpenSIPS database with calculate_ha1) needs none.

An existing device is replaced with -replace (its last fetch is kept). Adding
a MAC listed by 'device unknown' assigns it.`,
		example: `unisi device add 00:04:13:74:41:d7 snom710 -lines 5002,5009 -name "Michele Pinassi" -blf 5003,5004 -password 5002=unisi5002 -password 5009=unisi5009`,
		setup:   deviceAddSetup,
	},
	{
		name: "device list", section: "Accounts and phones", max: 0,
		summary: "list the phones: MAC, model, name, lines, last fetch",
		example: "unisi device list",
		setup:   deviceSetup("list"),
	},
	{
		name: "device show", args: "MAC", section: "Accounts and phones", min: 1, max: 1,
		summary: "show a phone's record and the file names it fetches (no password shown)",
		example: "unisi device show 0004137441d7",
		setup:   deviceSetup("show"),
	},
	{
		name: "device del", args: "MAC", section: "Accounts and phones", min: 1, max: 1,
		summary: "delete a phone: its next fetch gets 404 and it is listed as unknown",
		example: "unisi device del 0004137441d7",
		setup:   deviceSetup("del"),
	},
	{
		name: "device resync", args: "MAC", section: "Accounts and phones", min: 1, max: 1,
		summary: "make a registered phone fetch its configuration now (a NOTIFY)",
		detail: `Leaves the request in the database; the running server sends the phone's
registered contact the vendor's NOTIFY (Event: check-sync for SNOM and
Yealink, resync for Cisco) within [store] poll, and logs the phone's answer.`,
		example: "unisi device resync 0004137441d7",
		setup:   deviceSetup("resync"),
	},
	{
		name: "device unknown", section: "Accounts and phones", max: 0,
		summary: "list the MACs that asked for a file without being known",
		example: "unisi device unknown",
		setup:   deviceSetup("unknown"),
	},
	{
		name: "provisioning dhcp-snippet", section: "Configuration", max: 0,
		summary: "print the DHCP server lines that send phones to /prov/ (dnsmasq, isc, kea)",
		detail: `Palio runs no DHCP server. Option 66 carries the provisioning URL (the
TFTP server instead for Cisco SPAs when [provisioning] tftp_listen is set);
SNOM phones get option 43 with sub-options 66 and 67. The URL is [provisioning]
base_url (or http://[http] listen/prov) with the url key. Check the vendor
classes against your phones' DHCP requests.`,
		example: "unisi provisioning dhcp-snippet -server isc",
		setup:   dhcpSetup,
	},
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// parseDeviceMAC reads a MAC argument as a usage error when malformed.
func parseDeviceMAC(s string) (provisioning.MAC, error) {
	m, err := provisioning.ParseMAC(s)
	if err != nil {
		return m, usagef("%q is not a MAC address (write it 0004137441d7, 00:04:13:74:41:d7 or 0004.1374.41d7)", s)
	}
	return m, nil
}

func deviceAddSetup(fs *flag.FlagSet) runner {
	lines := fs.String("lines", "", "the accounts on the line keys, in order (5002,5009)")
	name := fs.String("name", "", "the phone's name (\"Michele Pinassi\")")
	owner := fs.String("owner", "", "the person or department it belongs to")
	blf := fs.String("blf", "", "busy-lamp keys: colleagues' numbers (5003,5004)")
	display := fs.String("display", "", "the first line's display name (default: the name)")
	firmware := fs.String("firmware", "", "the firmware URL the phone upgrades from")
	secret := fs.String("secret", "", "an HTTP password the phone must give (user: its MAC) to fetch its file")
	replace := fs.Bool("replace", false, "replace the device if it exists")
	var passwords, settings stringList
	fs.Var(&passwords, "password", "USER=PW: a line's SIP password, checked against the account (repeatable)")
	fs.Var(&settings, "set", "NAME=VALUE: a setting written after the template's (repeatable)")
	return func(ctx context.Context, e *env, args []string) error {
		mac, err := parseDeviceMAC(args[0])
		if err != nil {
			return err
		}
		model, err := provisioning.ParseModel(args[1])
		if err != nil {
			return usagef("%s", strings.TrimPrefix(err.Error(), "provisioning: "))
		}
		pw := map[string]string{}
		for _, p := range passwords {
			u, v, ok := strings.Cut(p, "=")
			if !ok || u == "" || v == "" {
				return usagef("-password %q: want USER=PASSWORD", p)
			}
			pw[u] = v
		}
		d := provisioning.Device{MAC: mac, Model: model.Name, Name: *name, Owner: *owner, FirmwareURL: *firmware, AuthSecret: *secret}
		for _, s := range settings {
			k, v, ok := strings.Cut(s, "=")
			if !ok {
				return usagef("-set %q: want NAME=VALUE", s)
			}
			if d.Settings == nil {
				d.Settings = map[string]string{}
			}
			d.Settings[k] = v
		}
		for _, k := range splitCSV(*blf) {
			d.Keys = append(d.Keys, provisioning.Key{Number: k})
		}
		cfg, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		if n := len(splitCSV(*lines)); n > model.MaxLines {
			return usagef("%d lines: a %s has %d", n, model.Display, model.MaxLines)
		}
		subs := db.Subscribers(-1)
		for i, u := range splitCSV(*lines) {
			user, dom, err := featureAccount(ctx, db, cfg, u, "")
			if err != nil {
				return err
			}
			l := provisioning.Line{User: user, Password: pw[user]}
			if dom != domainOf(cfg) {
				l.Domain = dom
			}
			if i == 0 {
				l.DisplayName = *display
				if l.DisplayName == "" {
					l.DisplayName = *name
				}
			}
			sub, err := subs.Subscriber(ctx, user, dom)
			if err != nil {
				return err
			}
			switch {
			case l.Password != "":
				if ha1, _ := registrar.HA1(user, cfg.Registrar.Realm, l.Password, registrar.MD5); sub.HA1 != "" && !strings.EqualFold(ha1, sub.HA1) {
					return fmt.Errorf("-password %s: not the account's password (the phone would not register)", user)
				}
				delete(pw, user)
			case sub.Password == "":
				e.warnf("account %s keeps only its password's digests: the phone cannot be given it and is refused its file until the device has -password %s=PW", user, user)
			}
			d.Lines = append(d.Lines, l)
		}
		for u := range pw {
			return usagef("-password %s: %s is none of the device's lines", u, u)
		}
		if err := d.Validate(); err != nil {
			return usagef("%s", strings.TrimPrefix(err.Error(), "provisioning: "))
		}
		st := db.Devices()
		if _, err := st.Device(ctx, mac); err == nil && !*replace {
			return fmt.Errorf("device %s already exists ('device add -replace' replaces it)", mac)
		} else if err != nil && !errors.Is(err, provisioning.ErrNotFound) {
			return err
		}
		if err := st.PutDevice(ctx, d); err != nil {
			return err
		}
		fmt.Fprintf(e.out, "added %s %s lines=%s blf=%s\n", mac, model.Display, lineList(d), keyList(d))
		return nil
	}
}

func lineList(d provisioning.Device) string {
	var out []string
	for _, l := range d.Lines {
		out = append(out, l.User)
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ",")
}

func keyList(d provisioning.Device) string {
	var out []string
	for _, k := range d.Keys {
		out = append(out, k.Number)
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ",")
}

func modelDisplay(name string) string {
	if m, err := provisioning.ParseModel(name); err == nil {
		return m.Display
	}
	return name
}

// when writes a fetch time as the seed's device page does, or "never".
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("15:04:05 02/01/2006")
}

func deviceSetup(verb string) func(fs *flag.FlagSet) runner {
	return func(fs *flag.FlagSet) runner {
		var asJSON *bool
		if verb == "list" || verb == "unknown" {
			asJSON = jsonFlag(fs)
		}
		return func(ctx context.Context, e *env, args []string) error {
			var mac provisioning.MAC
			if len(args) > 0 {
				m, err := parseDeviceMAC(args[0])
				if err != nil {
					return err
				}
				mac = m
			}
			cfg, db, err := e.store(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			st := db.Devices()
			notFound := func(err error) error {
				if errors.Is(err, provisioning.ErrNotFound) {
					return fmt.Errorf("no device %s ('unisi device list' shows them)", mac)
				}
				return err
			}
			switch verb {
			case "list":
				list, err := st.Devices(ctx)
				if err != nil {
					return err
				}
				t := newTable("mac", "model", "name", "lines", "blf", "last_fetch", "ip")
				for _, d := range list {
					t.row(d.MAC.String(), modelDisplay(d.Model), d.Name, lineList(d), keyList(d), when(d.LastFetch), d.LastIP)
				}
				return t.write(e.out, *asJSON)
			case "unknown":
				list, err := st.UnknownDevices(ctx)
				if err != nil {
					return err
				}
				t := newTable("mac", "model", "ip", "user_agent", "first_seen", "last_seen", "fetches")
				for _, u := range list {
					t.row(u.MAC.String(), u.Model, u.IP, u.UserAgent, when(u.FirstSeen), when(u.LastSeen), u.Count)
				}
				return t.write(e.out, *asJSON)
			case "show":
				d, err := st.Device(ctx, mac)
				if err != nil {
					return notFound(err)
				}
				return showDevice(ctx, e, cfg, db, d)
			case "del":
				if err := st.DeleteDevice(ctx, mac); err != nil {
					return notFound(err)
				}
				fmt.Fprintf(e.out, "deleted %s\n", mac)
			case "resync":
				d, err := st.Device(ctx, mac)
				if err != nil {
					return notFound(err)
				}
				if err := st.RequestResync(ctx, mac); err != nil {
					return notFound(err)
				}
				m, _ := provisioning.ParseModel(d.Model)
				fmt.Fprintf(e.out, "resync of %s requested: the running server sends its registered phone a NOTIFY (Event: %s) within %v\n",
					mac, provisioning.ResyncEvent(m.Family), cfg.Store.Poll.Duration)
			}
			return nil
		}
	}
}

// showDevice prints a device, one field a line; passwords are not shown,
// only where each line's comes from.
func showDevice(ctx context.Context, e *env, cfg Config, db *sqlstore.DB, d provisioning.Device) error {
	m, _ := provisioning.ParseModel(d.Model)
	w := e.out
	fmt.Fprintf(w, "mac\t%s\n", d.MAC)
	fmt.Fprintf(w, "model\t%s (%s)\n", m.Display, m.Name)
	fmt.Fprintf(w, "name\t%s\n", orDash(d.Name))
	fmt.Fprintf(w, "owner\t%s\n", orDash(d.Owner))
	subs := db.Subscribers(-1)
	for i, l := range d.Lines {
		dom := l.Domain
		if dom == "" {
			dom = domainOf(cfg)
		}
		src := "per-device password"
		if l.Password == "" {
			src = "the account's password"
			sub, err := subs.Subscriber(ctx, l.User, dom)
			switch {
			case errors.Is(err, registrar.ErrNotFound):
				src = "no such account: left out"
			case err != nil:
				return err
			case sub.Password == "":
				src = "NO PASSWORD: the account keeps only digests (device add -replace -password " + l.User + "=PW)"
			}
		}
		name := ""
		if l.DisplayName != "" {
			name = " \"" + l.DisplayName + "\""
		}
		fmt.Fprintf(w, "line %d\t%s@%s%s (%s)\n", i+1, l.User, dom, name, src)
	}
	for i, k := range d.Keys {
		label := ""
		if k.Label != "" {
			label = " \"" + k.Label + "\""
		}
		fmt.Fprintf(w, "blf %d\t%s%s\n", i+1, k.Number, label)
	}
	if d.FirmwareURL != "" {
		fmt.Fprintf(w, "firmware\t%s\n", d.FirmwareURL)
	}
	for _, k := range slices.Sorted(maps.Keys(d.Settings)) {
		fmt.Fprintf(w, "set\t%s=%s\n", k, d.Settings[k])
	}
	auth := "none (the url key, if set, protects it)"
	if d.AuthSecret != "" {
		auth = "HTTP digest (or basic over HTTPS), user " + d.MAC.String()
	}
	fmt.Fprintf(w, "auth\t%s\n", auth)
	fmt.Fprintf(w, "files\t%s\n", strings.Join(deviceFiles(d.MAC, m), " "))
	fmt.Fprintf(w, "last fetch\t%s", when(d.LastFetch))
	if d.LastIP != "" {
		fmt.Fprintf(w, " from %s", d.LastIP)
	}
	if d.LastUserAgent != "" {
		fmt.Fprintf(w, " (%s)", d.LastUserAgent)
	}
	fmt.Fprintln(w)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// deviceFiles are the names a device of model m fetches its file by.
func deviceFiles(mac provisioning.MAC, m provisioning.Model) []string {
	switch m.Family {
	case provisioning.SNOM:
		return []string{m.Name + ".htm", m.Name + "-" + mac.Upper() + ".htm"}
	case provisioning.Cisco:
		return []string{m.Name + ".cfg", "spa" + mac.String() + ".xml"}
	case provisioning.Yealink:
		return []string{"y000000000000.cfg", mac.String() + ".cfg"}
	}
	return []string{mac.String() + ".cfg"}
}

func dhcpSetup(fs *flag.FlagSet) runner {
	server := fs.String("server", "dnsmasq", "the DHCP server: dnsmasq, isc (ISC dhcpd) or kea")
	url := fs.String("url", "", "the provisioning URL phones get (default: [provisioning] base_url, else http://[http] listen/prov, with the url key)")
	tftpAddr := fs.String("tftp", "", "the TFTP server's IP address for Cisco SPAs (default: [provisioning] tftp_listen's, when set)")
	return func(ctx context.Context, e *env, _ []string) error {
		cfg, err := e.g.loadConfig()
		if err != nil {
			return err
		}
		pc := cfg.Provisioning
		d := provisioning.DHCP{URL: *url, TFTP: *tftpAddr}
		if d.URL == "" {
			d.URL = pc.BaseURL
			if d.URL == "" {
				d.URL = "http://" + routerAddr(cfg.HTTP.Listen) + "/prov"
			}
			if pc.URLKey != "" {
				d.URL = strings.TrimSuffix(d.URL, "/") + "/" + pc.URLKey
			}
		}
		if d.TFTP == "" && pc.TFTPListen != "" {
			host, _, _ := net.SplitHostPort(routerAddr(pc.TFTPListen))
			d.TFTP = host
		}
		out, err := provisioning.DHCPSnippet(*server, d)
		if err != nil {
			return usagef("%s", strings.TrimPrefix(err.Error(), "provisioning: "))
		}
		fmt.Fprint(e.out, out)
		return nil
	}
}
