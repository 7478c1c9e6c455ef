package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/miekg/dns"
	"github.com/palio-voip/palio/alias"
	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/enum"
	"github.com/palio-voip/palio/permission"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/store/mysql"
	"github.com/palio-voip/palio/store/sqlite"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/prometheus/client_golang/prometheus"
)

// app is the UniSI deployment assembled: the store, the snapshots loaded
// from it, the registrar and the stages. The server and the operator
// commands share it.
type app struct {
	cfg Config
	log *slog.Logger
	reg prometheus.Registerer

	db      *sqlstore.DB
	loc     *sqlstore.LocationStore
	subs    *sqlstore.SubscriberStore
	plan    *dialplan.Plan
	aliases *alias.Aliases
	acl     *permission.Addresses
	regr    *registrar.Registrar
	enum    *enum.Resolver
	router  *routing.Router
	domain  string
}

// openDB opens the configured store: MySQL when a DSN is set, else the
// SQLite file.
func openDB(ctx context.Context, cfg Config) (*sqlstore.DB, error) {
	if cfg.Store.MySQL != "" {
		return mysql.Open(ctx, cfg.Store.MySQL)
	}
	return sqlite.Open(ctx, cfg.Store.SQLite)
}

// newApp opens the store (seeding a new one), loads the snapshots and
// builds the registrar. reg may be nil.
func newApp(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*app, error) {
	db, err := openDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log, reg: reg, db: db, domain: cfg.Registrar.Realm}
	if len(cfg.SIP.Domains) > 0 {
		a.domain = cfg.SIP.Domains[0]
	}
	if err := a.build(ctx); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

func (a *app) build(ctx context.Context) error {
	if err := seed(ctx, a.db, a.domain, a.cfg.Registrar.Realm, a.log); err != nil {
		return err
	}
	var err error
	if a.plan, err = dialplan.New(dialplan.Config{}, a.db.Dialplan(), dialplan.WithLogger(a.log), dialplan.WithRegisterer(a.reg)); err != nil {
		return err
	}
	if a.aliases, err = alias.New(alias.Config{IgnoreDomain: true, Rewrite: true}, a.db.Aliases(), alias.WithLogger(a.log), alias.WithRegisterer(a.reg)); err != nil {
		return err
	}
	if a.acl, err = permission.NewAddresses(a.db.Addresses(), permission.WithLogger(a.log), permission.WithRegisterer(a.reg)); err != nil {
		return err
	}
	a.loc = a.db.Location(sqlstore.LocationOptions{WriteBack: a.cfg.Registrar.WriteBack.Duration, Logger: a.log})
	a.subs = a.db.Subscribers(0)
	rc := a.cfg.Registrar
	a.regr, err = registrar.New(registrar.Config{
		Realm:          rc.Realm,
		DefaultExpires: rc.DefaultExpires.Duration,
		MinExpires:     rc.MinExpires.Duration,
		MaxExpires:     rc.MaxExpires.Duration,
		MaxContacts:    rc.MaxContacts,
		Algorithms:     rc.Algorithms,
		Secret:         []byte(rc.Secret), // empty: the store's
		TrustedSource:  permission.TrustedSource,
	}, a.loc, a.subs, registrar.WithSecretStore(a.db.Secrets()), registrar.WithLogger(a.log), registrar.WithRegisterer(a.reg))
	if err != nil {
		return err
	}
	if a.cfg.ENUM.Enabled {
		ec := a.cfg.ENUM
		servers := ec.Servers
		if len(servers) == 0 {
			// The library reads no file: the system's servers are ours to find.
			if servers, err = systemDNSServers(); err != nil {
				return fmt.Errorf("enum: no servers configured and %w", err)
			}
		}
		a.enum, err = enum.New(enum.Config{
			Servers: servers, Suffix: ec.Suffix, Timeout: ec.Timeout.Duration,
			Numbering: enum.Numbering{CountryCode: ec.CountryCode, NationalPrefix: "0", InternationalPrefix: "00", KeepNationalPrefix: true},
		}, enum.WithLogger(a.log), enum.WithRegisterer(a.reg))
		if err != nil {
			return err
		}
	}
	if a.router, err = routing.New(a.routingConfig(), a.db.Routing(), routing.WithLogger(a.log), routing.WithRegisterer(a.reg)); err != nil {
		return err
	}
	return nil
}

// prefixChars are the characters UniSI's rule prefixes use besides digits:
// the media box's accounts are FAX_<n> and IVR_<n> after the alias stage,
// and an operator may add rules for other such names.
const prefixChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ_"

// routingConfig is the routing.Config of the configuration file.
//
// Gateway states are reloaded from the store (ReloadState): the operator
// commands (gateway enable|disable) and other nodes change them there,
// and every node follows the store. Probe results are written back to it,
// so all nodes share what one saw.
func (a *app) routingConfig() routing.Config {
	rc := a.cfg.Routing
	cfg := routing.Config{
		DefaultGroup:     rc.DefaultGroup,
		Fallback:         rc.Fallback,
		ExtraPrefixChars: prefixChars,
		FailoverCodes:    rc.FailoverCodes,
		AlarmThreshold:   rc.AlarmThreshold,
		ReloadState:      true,
		Probe: routing.ProbeConfig{
			Timeout:    rc.ProbeTimeout.Duration,
			ReplyCodes: rc.ProbeReplyCodes,
			From:       "sip:prober@" + a.domain,
		},
	}
	if rc.ProbeInterval != nil {
		cfg.Probe.Interval = rc.ProbeInterval.Duration
	}
	return cfg
}

// probing reports whether the configuration asks for gateway probing.
func (a *app) probing() bool {
	return a.cfg.Routing.ProbeInterval == nil || a.cfg.Routing.ProbeInterval.Duration > 0
}

func (a *app) close() {
	if a.router != nil {
		a.router.Close()
	}
	if a.regr != nil {
		a.regr.Close()
	}
	if a.loc != nil {
		a.loc.Close()
	}
	if a.db != nil {
		a.db.Close()
	}
}

// reload reloads the snapshots built from the named tables (all of them
// when none is named); a failure keeps what runs and is logged.
func (a *app) reload(ctx context.Context, tables ...string) {
	all := len(tables) == 0
	want := func(t string) bool { return all || slices.Contains(tables, t) }
	var errs []error
	if want("dialplan") {
		if rep, err := a.plan.Reload(ctx); err != nil {
			errs = append(errs, err)
		} else {
			for _, d := range rep.Discarded {
				a.log.Warn("unisi: dialplan rule discarded", "id", d.ID, "reason", d.Reason)
			}
		}
	}
	if want("dbaliases") {
		if _, err := a.aliases.Reload(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if want("address") {
		if _, err := a.acl.Reload(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if want("routing") {
		// The router logs the rows it leaves out.
		if _, err := a.router.Reload(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if want("subscriber") {
		a.subs.Invalidate()
	}
	if err := errors.Join(errs...); err != nil {
		a.log.Error("unisi: reload failed; the running data stays", "error", err)
		return
	}
	a.log.Info("unisi: reloaded", "tables", fmt.Sprint(tables))
}

// watch reloads the snapshots when their tables change in the store (a
// CLI command, another node, an external tool), until ctx ends.
func (a *app) watch(ctx context.Context) {
	if a.cfg.Store.Poll.Duration <= 0 {
		return
	}
	a.db.Watch(ctx, a.cfg.Store.Poll.Duration, a.log, func(tables []string) { a.reload(ctx, tables...) })
}

// callerClasses reads the authenticated caller's outbound classes.
func callerClasses(ctx context.Context) ([]string, bool) {
	id, ok := registrar.IdentityFrom(ctx)
	return id.Subscriber.Classes, ok
}

// calleeClasses reads the inbound classes of a local account.
func (a *app) calleeClasses(ctx context.Context, user, _ string) ([]string, bool, error) {
	sub, err := a.subs.Subscriber(ctx, user, "")
	if errors.Is(err, registrar.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return sub.InboundClasses, true, nil
}

// stage is one named stage of the pipeline.
type stage struct {
	name string
	mw   sip.Middleware
}

// stages returns the pipeline for initial requests, in the order of
// DESIGN.md §1: source check → authentication → ENUM → alias → dialplan →
// call class → the destination of the class. auth is the authentication
// stage (the registrar's, or the dry run's stand-in); next ends the chain
// (the Forwarder, or the dry run's recorder).
func (a *app) stages(auth sip.Middleware, next sip.Handler) []stage {
	out := []stage{
		{"source", a.acl.Source(permission.SourceConfig{Trusted: a.cfg.Permission.Trusted, RejectUntrusted: a.cfg.Permission.RejectUntrusted})},
		{"auth", auth},
	}
	if a.enum != nil {
		out = append(out, stage{"enum", a.enum.Query(enum.QueryConfig{Found: next})})
	}
	return append(out,
		stage{"alias", a.aliases.Wrap},
		stage{"dialplan", a.plan.Wrap},
		stage{"class", permission.Class(permission.ClassConfig{
			Required:      permission.UniSIClasses,
			Caller:        callerClasses,
			Callee:        a.calleeClasses,
			InboundTypes:  []string{"voip"},
			SourceClasses: map[int]string{1: "pstn", 2: "toip", 3: "local", 4: "local"},
		})},
		stage{"destination", a.destination},
	)
}

// pipeline chains the stages in front of next.
func (a *app) pipeline(auth sip.Middleware, next sip.Handler) sip.Handler {
	var mws []sip.Middleware
	for _, s := range a.stages(auth, next) {
		mws = append(mws, s.mw)
	}
	return sip.Chain(mws...)(next)
}

// destination sends each class where UniSI sends it: voip to the phones'
// registrations; legacy, national, mobile, international, toip and media
// to dynamic routing, whose rules pick the MD110s, the PSTN gateways of
// the three sites, the ToIP trunk or the Asterisk media box, with
// failover. A class without routing rules gets the router's 404 No Route.
func (a *app) destination(next sip.Handler) sip.Handler {
	lookup := a.regr.Lookup(next)
	routed := a.router.Wrap(next)
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		if res, _ := dialplan.ResultFrom(ctx); res.Attrs == "voip" {
			return lookup.ServeSIP(ctx, w, r)
		}
		return routed.ServeSIP(ctx, w, r)
	})
}

// timeout bounds the operator commands' database work.
const timeout = 30 * time.Second

// resolvConf is where the system's DNS servers are listed.
const resolvConf = "/etc/resolv.conf"

// systemDNSServers returns the nameservers of /etc/resolv.conf, "ip:port".
func systemDNSServers() ([]string, error) {
	cc, err := dns.ClientConfigFromFile(resolvConf)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s names no nameserver", resolvConf)
	}
	return out, nil
}
