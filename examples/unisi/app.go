package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/palio-voip/palio/alias"
	"github.com/palio-voip/palio/cluster"
	"github.com/palio-voip/palio/cluster/trunkcount"
	"github.com/palio-voip/palio/destination"
	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/enum"
	"github.com/palio-voip/palio/features"
	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/mediabox"
	"github.com/palio-voip/palio/mediabridge"
	"github.com/palio-voip/palio/permission"
	"github.com/palio-voip/palio/presence"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/snapshot"
	"github.com/palio-voip/palio/store/mysql"
	"github.com/palio-voip/palio/store/sqlite"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/prometheus/client_golang/prometheus"
)

// app is the UniSI deployment assembled: the store and the components
// built over it, in the order they were built. The server and the
// operator commands share it. It wires; what a component does, and what
// it checks, is the library's.
type app struct {
	cfg Config
	log *slog.Logger
	reg prometheus.Registerer

	db     *sqlstore.DB
	domain string
	// components are what the app reloads and closes, in build order.
	components []component

	// The components the wiring refers to by name.
	loc     *sqlstore.LocationStore
	subs    *sqlstore.SubscriberStore
	plan    *dialplan.Plan
	aliases *alias.Aliases
	acl     *permission.Addresses
	regr    *registrar.Registrar
	enum    *enum.Resolver
	router  *routing.Router
	dest    *destination.Destination
	feats   *features.Features
	// pres is the presence server (set by sipServer); box the media box
	// (set by startMediaBox when the configuration runs one).
	pres *presence.Presence
	box  *mediabox.Box
	// media decides and traces which calls the relay anchors; the server
	// replaces it with the stage over its relay (mediaStage).
	media       *mediabridge.Stage
	mediaPolicy mediabridge.Policy
	// tls is the running server's TLS ([tls] and the gateways' rows,
	// startTLS); nil for the commands.
	tls *sip.TLS
	// guard is the running server's (startGuard); nil for the commands.
	guard atomic.Pointer[guard.Guard]
	// ops are the alerts, the HOMER capture and the health checks (set by
	// startOps in serve; app_ops.go).
	ops *ops
	// calls is the running server's calls list, the whole cluster's when
	// it is one node of several (set by sipServer).
	calls cluster.Calls
	// server is set for the server (newServerApp): the commands' router
	// routes dry and counts with no one.
	server bool
}

// component is one part of the deployment as the app runs it: the tables
// whose change reloads it (the store's change counters, DB.Watch), how to
// reload it, and how to close it. Either function may be nil.
type component struct {
	name   string
	tables []string
	reload func(ctx context.Context) (snapshot.Report, error)
	close  func()
}

// add appends a component.
func (a *app) add(c component) { a.components = append(a.components, c) }

// openDB opens the configured store: MySQL when a DSN is set (its
// driver logging through log unless it is nil), else the SQLite file.
func openDB(ctx context.Context, cfg Config, log *slog.Logger) (*sqlstore.DB, error) {
	if cfg.Store.MySQL != "" {
		return mysql.Open(ctx, cfg.Store.MySQL, mysql.Options{Logger: log})
	}
	return sqlite.Open(ctx, cfg.Store.SQLite)
}

// newApp builds the deployment's components over an opened store (the
// server's openForServe, a command's openExisting); the app owns db from
// then on, and closes it, even when newApp fails. reg may be nil.
func newApp(ctx context.Context, cfg Config, db *sqlstore.DB, log *slog.Logger, reg prometheus.Registerer) (*app, error) {
	return buildApp(ctx, &app{cfg: cfg, log: log, reg: reg, db: db, domain: domainOf(cfg)})
}

// newServerApp is newApp for the server: its router counts trunk
// channels with the cluster's when [cluster] redis is set.
func newServerApp(ctx context.Context, cfg Config, db *sqlstore.DB, log *slog.Logger, reg prometheus.Registerer) (*app, error) {
	return buildApp(ctx, &app{cfg: cfg, log: log, reg: reg, db: db, domain: domainOf(cfg), server: true})
}

func buildApp(ctx context.Context, a *app) (*app, error) {
	if err := a.build(ctx); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

func (a *app) build(ctx context.Context) error {
	var err error
	if a.plan, err = dialplan.New(dialplan.Config{}, a.db.Dialplan(), dialplan.WithLogger(a.log), dialplan.WithRegisterer(a.reg)); err != nil {
		return err
	}
	a.add(component{name: "dialplan", tables: []string{"dialplan"}, reload: func(ctx context.Context) (snapshot.Report, error) {
		rep, err := a.plan.Reload(ctx)
		return rep.Summary(), err
	}})
	if a.aliases, err = alias.New(alias.Config{IgnoreDomain: true, Rewrite: true}, a.db.Aliases(), alias.WithLogger(a.log), alias.WithRegisterer(a.reg)); err != nil {
		return err
	}
	a.add(component{name: "alias", tables: []string{"dbaliases"}, reload: a.aliases.Reload})
	if a.acl, err = permission.NewAddresses(a.db.Addresses(), permission.WithLogger(a.log), permission.WithRegisterer(a.reg)); err != nil {
		return err
	}
	a.add(component{name: "permission", tables: []string{"address"}, reload: a.acl.Reload})
	// The server keeps the location table in memory when it is the only
	// one writing it: on its SQLite file. Nodes sharing a MySQL database
	// (with a [cluster] or without) do not announce their REGISTERs, so
	// their bindings are read from the database, through a short cache.
	mirror := a.server && a.db.Dialect() == sqlstore.SQLite
	a.loc = a.db.Location(sqlstore.LocationOptions{WriteBack: a.cfg.Registrar.WriteBack.Duration, Mirror: mirror, Logger: a.log})
	locc := component{name: "location", close: a.loc.Close}
	if mirror {
		locc.tables, locc.reload = []string{"location"}, a.loc.Reload
	}
	a.add(locc)
	if mirror {
		if _, err := a.loc.Reload(ctx); err != nil {
			return err
		}
	}
	a.subs = a.db.Subscribers(0)
	a.add(component{name: "accounts", tables: []string{"subscriber"}, reload: func(context.Context) (snapshot.Report, error) {
		a.subs.Invalidate()
		return snapshot.Report{Component: "accounts", Loaded: -1}, nil // a cache cleared: nothing counted
	}})
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
		// A phone that is off is "unavailable" (480); a number nobody
		// has "does not exist" (404).
		NotRegistered: 480,
		UnknownUser:   404,
	}, a.loc, a.subs, registrar.WithSecretStore(a.db.Secrets()), registrar.WithLogger(a.log), registrar.WithRegisterer(a.reg),
		registrar.WithAuthFailures(a.authFailed))
	if err != nil {
		return err
	}
	a.add(component{name: "registrar", close: func() { a.regr.Close() }})
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
	ropts := []routing.Option{routing.WithLogger(a.log), routing.WithRegisterer(a.reg)}
	if a.server && a.cfg.Cluster.Redis != "" {
		// One node of several: trunk channel limits and alarms are the
		// cluster's, counted in Redis.
		counter, err := trunkcount.New(a.cfg.Cluster.counter(), trunkcount.WithLogger(a.log), trunkcount.WithRegisterer(a.reg))
		if err != nil {
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := counter.Ping(pctx); err != nil {
			a.log.Warn("cluster: Redis unreachable at start; counting this node's calls until it answers", "error", err)
		}
		cancel()
		a.add(component{name: "trunkcount", close: func() { counter.Close() }})
		ropts = append(ropts, routing.WithChannelCounter(counter))
	}
	if a.router, err = routing.New(a.routingConfig(), a.db.Routing(), ropts...); err != nil {
		return err
	}
	a.add(component{name: "routing", tables: []string{"routing"}, close: a.router.Close, reload: func(ctx context.Context) (snapshot.Report, error) {
		rep, err := a.router.Reload(ctx) // the router logs the rows it leaves out
		return rep.Summary(), err
	}})
	fc, err := a.cfg.Features.config()
	if err != nil {
		return err
	}
	fc.Domain = a.domain
	fc.Account = a.account
	var services []sip.Middleware
	if a.cfg.Features.Enabled {
		if a.feats, err = features.New(fc, a.db.Features(), features.WithLogger(a.log), features.WithRegisterer(a.reg)); err != nil {
			return err
		}
		a.add(component{name: "features", tables: []string{"features"}, reload: a.feats.Reload})
		services = append(services, a.feats.Wrap)
	}
	if a.mediaPolicy, err = mediabridge.ParsePolicy(a.cfg.Media.Policy); err != nil {
		return err
	}
	a.media = mediabridge.NewStage(nil, mediabridge.StageConfig{Policy: a.mediaPolicy})
	a.dest, err = destination.New(destination.Config{
		Plan:      a.plan,
		Class:     permission.Class(a.classes()),
		Registrar: a.regr,
		ENUM:      a.enum,
		// UniSI dials an outside-line 0 before a number: ENUM looks up
		// the number without it.
		ENUMQuery: enum.QueryConfig{Number: withoutOutsideLine},
		Router:    a.router,
		Stages:    services,
	})
	return err
}

// account is a local account's identity, for the call services: a
// forward is its outbound call, checked against its classes.
func (a *app) account(ctx context.Context, user, domain string) (registrar.Identity, error) {
	sub, err := a.subs.Subscriber(ctx, user, "")
	if err != nil {
		return registrar.Identity{}, err
	}
	return registrar.Identity{Username: sub.Username, Domain: a.domain, Realm: a.cfg.Registrar.Realm, Subscriber: sub}, nil
}

// mediaStage opens the RTP relay the server anchors calls on and makes
// the pipeline's media stage use it; hangup ends a call whose media timed
// out. The app closes the relay.
func (a *app) mediaStage(hangup func(ctx context.Context, callID, fromTag, reason string) error) error {
	rc, err := a.cfg.Media.relay()
	if err != nil {
		return err
	}
	relay, err := mediabridge.New(rc, mediabridge.WithLogger(a.log), mediabridge.WithRegisterer(a.reg))
	if err != nil {
		return err
	}
	a.add(component{name: "media", close: func() { relay.Close() }})
	a.media = mediabridge.NewStage(relay, mediabridge.StageConfig{Policy: a.mediaPolicy, Hangup: hangup})
	return nil
}

// unisiClasses is UniSI's call-class configuration without its lookups:
// the class each call type needs, and the inbound class of each trusted
// group (1 the PSTN gateways, 2 the ToIP trunk, 3 the media box and 4 the
// MD110s, both on campus). The account commands check classes with it.
func unisiClasses() permission.ClassConfig {
	return permission.ClassConfig{
		Required:      permission.UniSIClasses,
		InboundTypes:  []string{"voip"},
		SourceClasses: map[int]string{1: "pstn", 2: "toip", 3: "local", 4: "local"},
	}
}

// classes is unisiClasses with the caller's and callee's classes read
// from the call's identity and the accounts.
func (a *app) classes() permission.ClassConfig {
	c := unisiClasses()
	c.Caller, c.Callee = callerClasses, a.calleeClasses
	return c
}

// withoutOutsideLine is the number a request calls, without UniSI's
// outside-line 0.
func withoutOutsideLine(r *sip.Request) string {
	return strings.TrimPrefix(r.Recipient.User, "0")
}

// prefixChars are the characters UniSI's rule prefixes use besides digits:
// the media box's accounts are FAX_<n> and IVR_<n> after the alias stage,
// and an operator may add rules for other such names.
const prefixChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ_"

// routingConfig is the routing.Config of the configuration file.
//
// Gateway states follow one model. The operator's decision (gateway
// enable|disable, on any node or with the CLI) is the store's, and every
// node takes it at its next reload (the store's change poll). Probe
// results are each node's own, from where it stands in the network. A
// node alone on its store (no [cluster] node) also writes them there
// (ReloadState), so that `gateway list` and the dry run show what it saw;
// nodes of a cluster do not (routing.Config.LocalProbeState): one node's
// failed probe would otherwise become every node's state, and nodes that
// see a gateway differently would overwrite each other's, flapping.
func (a *app) routingConfig() routing.Config {
	rc := a.cfg.Routing
	cfg := routing.Config{
		DefaultGroup:     rc.DefaultGroup,
		Fallback:         rc.Fallback,
		ExtraPrefixChars: prefixChars,
		FailoverCodes:    rc.FailoverCodes,
		AlarmThreshold:   rc.AlarmThreshold,
		ReloadState:      a.cfg.Cluster.Node == "",
		LocalProbeState:  a.cfg.Cluster.Node != "",
		Node:             a.cfg.Cluster.Node,
		Probe: routing.ProbeConfig{
			Timeout:    rc.ProbeTimeout.Duration,
			ReplyCodes: rc.ProbeReplyCodes,
			From:       "sip:prober@" + a.domain,
		},
	}
	if rc.ProbeInterval != nil {
		cfg.Probe.Interval = rc.ProbeInterval.Duration
	}
	cfg.CounterTimeout = a.cfg.Cluster.RedisTimeout.Duration
	return cfg
}

// probing reports whether the configuration asks for gateway probing.
func (a *app) probing() bool {
	return a.cfg.Routing.ProbeInterval == nil || a.cfg.Routing.ProbeInterval.Duration > 0
}

// close closes the components, the last built first, and the store.
func (a *app) close() {
	for i := len(a.components) - 1; i >= 0; i-- {
		if c := a.components[i]; c.close != nil {
			c.close()
		}
	}
	if a.db != nil {
		a.db.Close()
	}
}

// reload reloads the components built from the named tables (all of them
// when none is named); one that fails keeps what runs, and says why.
func (a *app) reload(ctx context.Context, tables ...string) []snapshot.Report {
	var reps []snapshot.Report
	var errs []error
	for _, c := range a.components {
		if c.reload == nil || (len(tables) > 0 && !slices.ContainsFunc(c.tables, func(t string) bool { return slices.Contains(tables, t) })) {
			continue
		}
		rep, err := c.reload(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
			continue
		}
		reps = append(reps, rep)
	}
	if err := errors.Join(errs...); err != nil {
		a.log.Error("unisi: reload failed; the running data stays", "error", err)
	}
	if len(reps) > 0 {
		var parts []string
		for _, r := range reps {
			if r.Loaded < 0 {
				parts = append(parts, r.Component)
				continue
			}
			parts = append(parts, fmt.Sprintf("%s:%d", r.Component, r.Loaded))
		}
		why := "changed tables " + strings.Join(tables, ",")
		if len(tables) == 0 {
			why = "all"
		}
		a.log.Info("unisi: reloaded", "components", strings.Join(parts, " "), "reason", why)
	}
	return reps
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

// pipeline is the UniSI pipeline for initial requests, in front of next
// (the Forwarder, or the dry run's recorder), in the order of the seed
// talk's OpenSIPS script: the source check, authentication (auth: the registrar's, or the dry
// run's stand-in), alias, then the destination sub-pipeline: dialplan,
// call class, ENUM when enabled, and the destination of the class (the
// phones' registrations for voip; dynamic routing, whose rules pick the
// MD110s, the PSTN gateways of the three sites, the ToIP trunk or the
// media box, for the rest); last, the media stage decides whether the
// relay anchors the call's RTP.
func (a *app) pipeline(auth sip.Middleware, next sip.Handler) sip.Handler {
	return sip.Chain(
		a.acl.Source(permission.SourceConfig{Trusted: a.cfg.Permission.Trusted, RejectUntrusted: a.cfg.Permission.RejectUntrusted}),
		a.requireTLS(), // [tls] require_verified_groups (app_tls.go)
		auth,
		a.aliases.Wrap,
		a.dest.Wrap,
		a.media.Wrap,
	)(next)
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

// startMediaBox runs the media box the configuration asks for, its calls
// placed through the router at routerAddr; its message counts go to the
// voicemail lamps (the presence server, at once) and to palio_mwi (for
// the other nodes).
func (a *app) startMediaBox(ctx context.Context, routerAddr string, log *slog.Logger, reg prometheus.Registerer) error {
	mc := a.cfg.MediaBox
	if !mc.Enabled {
		return nil
	}
	cfg, err := mc.config(routerAddr, a.domain, a.cfg.Store)
	if err != nil {
		return err
	}
	sinks := []mediabox.MWI{a.db.Mailboxes()}
	if a.pres != nil {
		sinks = append(sinks, a.pres)
	}
	box, err := mediabox.New(cfg, a.db.MediaBox(), mediabox.WithLogger(log), mediabox.WithRegisterer(reg), mediabox.WithMWI(sinks...))
	if err != nil {
		return fmt.Errorf("mediabox: %w", err)
	}
	if err := box.Start(ctx); err != nil {
		return err
	}
	a.box = box
	return nil
}

// stopMediaBox hangs up the media box's calls and stops it.
func (a *app) stopMediaBox() {
	if a.box != nil {
		a.box.Close()
		a.box = nil
	}
}
