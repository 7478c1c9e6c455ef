package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/palio-voip/palio/provisioning"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/snapshot"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/prometheus/client_golang/prometheus"
)

// ProvisioningConfig is the [provisioning] section: phones configured by
// MAC address (package provisioning) on the HTTP server under /prov/,
// and optionally over HTTPS and TFTP. The devices live in the database
// (`unisi device add`).
type ProvisioningConfig struct {
	// Enabled serves /prov/ on [http] listen.
	Enabled bool `toml:"enabled"`
	// BaseURL is the URL phones reach /prov at ("http://10.0.0.1:8080/prov"),
	// written into their files. Empty: the address each HTTP request came
	// to, and for TFTP "http://" + [http] listen + "/prov".
	BaseURL string `toml:"base_url"`
	// URLKey is the site's secret path key: files only under /prov/KEY/.
	URLKey string `toml:"url_key"`
	// Proxy is the "host[:port]" phones register through. Empty: [sip]
	// advertise, else [sip] listen.
	Proxy string `toml:"proxy"`
	// Allow lists the networks phones fetch from (CIDR); empty: all.
	Allow []string `toml:"allow"`
	// RequestsPerMinute and Burst limit each source address; -1: no limit.
	RequestsPerMinute int `toml:"requests_per_minute"`
	Burst             int `toml:"burst"`
	// BanAfter failures within BanFor ban a source for BanFor; -1: never.
	BanAfter int      `toml:"ban_after"`
	BanFor   Duration `toml:"ban_for"`
	// ResyncInterval is how often phones check for a new configuration.
	ResyncInterval Duration `toml:"resync_interval"`
	// PickupPrefix is dialled before a BLF key's number to pick its call up.
	PickupPrefix string `toml:"pickup_prefix"`
	// Templates is a directory of site templates overriding the defaults.
	Templates string `toml:"templates"`
	// Firmware is a directory served under /prov/firmware/ (and TFTP).
	Firmware string `toml:"firmware"`
	// TFTPListen, when set, serves the files over TFTP on that UDP
	// "host:port" (69 needs privileges).
	TFTPListen string `toml:"tftp_listen"`
	// HTTPS, when set, serves /prov/ over HTTPS too.
	HTTPS *TLSConfig `toml:"https"`
}

func defaultProvisioning() ProvisioningConfig {
	return ProvisioningConfig{
		Enabled: true, RequestsPerMinute: 60, Burst: 20, BanAfter: 10, BanFor: Duration{10 * time.Minute},
		ResyncInterval: Duration{24 * time.Hour}, PickupPrefix: "**",
	}
}

// config is the provisioning.Config of the section, for the deployment
// cfg. It reads the template directory's files only when it exists (a
// missing one is an error).
func (pc ProvisioningConfig) config(cfg Config) (provisioning.Config, error) {
	proxy := pc.Proxy
	if proxy == "" {
		proxy = cfg.SIP.Advertise
	}
	if proxy == "" {
		proxy = routerAddr(cfg.SIP.Listen)
	}
	c := provisioning.Config{
		Domain: domainOf(cfg), Realm: cfg.Registrar.Realm, Proxy: proxy, BaseURL: pc.BaseURL, PathPrefix: "/prov", Key: pc.URLKey,
		RequestsPerMinute: pc.RequestsPerMinute, Burst: pc.Burst, BanAfter: pc.BanAfter, BanFor: pc.BanFor.Duration,
		FailureWindow: pc.BanFor.Duration, ResyncInterval: pc.ResyncInterval.Duration, PickupPrefix: pc.PickupPrefix,
	}
	for _, a := range pc.Allow {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return c, fmt.Errorf("config: provisioning.allow %q: want a network, e.g. 10.0.0.0/8", a)
		}
		c.Allow = append(c.Allow, p)
	}
	for _, d := range []struct {
		key, dir string
		set      func()
	}{
		{"provisioning.templates", pc.Templates, func() { c.Templates = os.DirFS(pc.Templates) }},
		{"provisioning.firmware", pc.Firmware, func() { c.Firmware = os.DirFS(pc.Firmware) }},
	} {
		if d.dir == "" {
			continue
		}
		if st, err := os.Stat(d.dir); err != nil || !st.IsDir() {
			return c, fmt.Errorf("config: %s %q: not a directory", d.key, d.dir)
		}
		d.set()
	}
	if err := c.Check(); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// check validates the section, templates included.
func (pc ProvisioningConfig) check(cfg Config) error {
	c, err := pc.config(cfg)
	if err != nil {
		return err
	}
	if _, err := provisioning.LoadTemplates(c.Templates); err != nil {
		return fmt.Errorf("config: provisioning.templates: %w", err)
	}
	for _, l := range []struct{ key, addr string }{{"provisioning.tftp_listen", pc.TFTPListen}} {
		if l.addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(l.addr); err != nil || port == "" {
			return fmt.Errorf("config: %s %q: want host:port, e.g. 0.0.0.0:69", l.key, l.addr)
		}
	}
	if h := pc.HTTPS; h != nil {
		if _, _, err := net.SplitHostPort(h.Listen); err != nil {
			return fmt.Errorf("config: provisioning.https.listen %q: want host:port", h.Listen)
		}
		for _, f := range []struct{ key, path string }{{"provisioning.https.cert", h.Cert}, {"provisioning.https.key", h.Key}} {
			if _, err := os.Stat(f.path); err != nil {
				return fmt.Errorf("config: %s: %w", f.key, err)
			}
		}
	}
	return nil
}

// startProvisioning serves the phones' files on hmux under /prov/ (and
// over HTTPS and TFTP when configured), with resync NOTIFYs sent through
// srv; the requests `unisi device resync` leaves in the store are sent
// when the "devices" counter moves. The app closes the listeners.
func (a *app) startProvisioning(ctx context.Context, srv *sip.Server, hmux *http.ServeMux, log *slog.Logger, reg prometheus.Registerer) error {
	pc := a.cfg.Provisioning
	if !pc.Enabled {
		return nil
	}
	c, err := pc.config(a.cfg)
	if err != nil {
		return err
	}
	if c.BaseURL == "" && pc.TFTPListen != "" {
		c.BaseURL = "http://" + routerAddr(a.cfg.HTTP.Listen) + "/prov"
	}
	devices := a.db.Devices()
	p, err := provisioning.New(c, devices, a.subs, provisioning.WithResync(srv, a.regr),
		provisioning.WithLogger(log), provisioning.WithRegisterer(reg))
	if err != nil {
		return fmt.Errorf("provisioning: %w", err)
	}
	hmux.Handle("/prov/", p)
	a.add(component{name: "provisioning", tables: []string{"devices"}, reload: func(ctx context.Context) (snapshot.Report, error) {
		n, err := p.ResyncPending(ctx, devices)
		return snapshot.Report{Component: "resyncs", Loaded: n}, err
	}})
	if h := pc.HTTPS; h != nil {
		l, err := net.Listen("tcp", h.Listen)
		if err != nil {
			return fmt.Errorf("provisioning https: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/prov/", p)
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := hs.ServeTLS(l, h.Cert, h.Key); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("provisioning: https server failed", "error", err)
			}
		}()
		a.add(component{name: "provisioning-https", close: func() { hs.Close() }})
		log.Info("provisioning: https", "listen", l.Addr().String())
	}
	if pc.TFTPListen != "" {
		conn, err := net.ListenPacket("udp", pc.TFTPListen)
		if err != nil {
			return fmt.Errorf("provisioning tftp: %w", err)
		}
		ts := p.NewTFTPServer(provisioning.TFTPConfig{})
		go func() {
			if err := ts.Serve(conn); err != nil {
				log.Error("provisioning: tftp server failed", "error", err)
			}
		}()
		a.add(component{name: "provisioning-tftp", close: func() { ts.Close() }})
		log.Info("provisioning: tftp", "listen", conn.LocalAddr().String())
	}
	return nil
}

// demoDevices are the seed talk's devices ("Terminali VoIP assegnati"):
// the SNOM 710 on 5009, the SNOM 760 on 5002 and the SPA112 ATA on 5009,
// the MACs of the two the talk blurs made up. The demo accounts keep only
// their digests, so each line carries the demo password as its
// per-device password (see the README).
var demoDevices = []provisioning.Device{
	{Model: "snom710", Name: "Telefono di PROVA", Owner: "Servizio reti, sistemi e sicurezza informatica",
		Lines: []provisioning.Line{{User: "5009", Password: "unisi5009"}}, Keys: []provisioning.Key{{Number: "5002"}, {Number: "5003"}}},
	{Model: "snom760", Name: "Michele Pinassi", Owner: "Servizio reti, sistemi e sicurezza informatica",
		Lines: []provisioning.Line{{User: "5002", DisplayName: "Michele Pinassi", Password: "unisi5002"}}, Keys: []provisioning.Key{{Number: "5003"}, {Number: "5004"}}},
	{Model: "spa112", Name: "ATA di test", Owner: "Servizio reti, sistemi e sicurezza informatica",
		Lines: []provisioning.Line{{User: "5009", Password: "unisi5009"}}},
}

// demoMACs are their MACs, in order.
var demoMACs = []string{"0004137441d7", "000413a1b2c3", "00e16d4a12f3"}

// seedDevices stores the demo devices.
func seedDevices(ctx context.Context, db *sqlstore.DB) error {
	for i, d := range demoDevices {
		m, err := provisioning.ParseMAC(demoMACs[i])
		if err != nil {
			return err
		}
		d.MAC = m
		if err := db.Devices().PutDevice(ctx, d); err != nil {
			return fmt.Errorf("seed: device %s: %w", m, err)
		}
	}
	return nil
}
