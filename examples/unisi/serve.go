package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/palio-voip/palio/cluster"
	"github.com/palio-voip/palio/internal/procs"
	"github.com/palio-voip/palio/presence"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/snapshot"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serve runs the server until ctx ends or SIGTERM/SIGINT, reloading on
// SIGHUP.
func serve(ctx context.Context, g globals, stderr io.Writer) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	level, _ := logLevel(cfg.Log.Level)
	var lv slog.LevelVar
	lv.Set(level)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: &lv}))
	// One log format: sipgo's package-level lines (connection reference
	// counts) go through this logger too, not slog.Default's.
	sip.SetLibraryLogger(log)
	defer sip.SetLibraryLogger(nil)
	tuneRuntime(cfg.Runtime)
	if cfg.Runtime.adaptiveProcs() {
		defer procs.Start(ctx, procs.Config{}, log)()
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerBuildInfo(reg)

	db, err := openForServe(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	a, err := newServerApp(ctx, cfg, db, log, reg)
	if err != nil {
		return err
	}
	defer a.close()
	if err := a.startOps(log, reg); err != nil { // alerts, HEP (app_ops.go)
		return err
	}

	srv, mux, stopWatching, err := a.sipServer(ctx, log, reg)
	if err != nil {
		return err
	}
	defer stopWatching()

	hl, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		srv.Close()
		return fmt.Errorf("http: %w", err)
	}
	hmux := http.NewServeMux()
	hmux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ready := a.readiness(srv) // health.go
	hmux.Handle("/readyz", ready)
	// Liveness only: the process serves HTTP. Whether this node should
	// be given calls (the store, the listeners) is /readyz's: a database
	// outage must not make a supervisor restart a router that still
	// routes calls to registered phones.
	hmux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintln(w, "ok")
	})
	// The operations API wants [http] token (or a loopback client).
	apiGuard, err := cfg.HTTP.apiGuard()
	if err != nil {
		srv.Close()
		return err
	}
	if !apiGuard.HasToken() {
		log.Warn("unisi: no [http] token: the operations API (/api/) answers loopback clients only")
	}
	api := http.NewServeMux()
	a.accountingAPI(api, srv)
	a.guardAPI(api)
	a.tlsAPI(api, srv)
	hmux.Handle("/api/", apiGuard.Wrap(api))
	// The management page and API under /admin/ (app_admin.go).
	closeAdmin, err := a.startAdmin(ctx, srv, hmux, log, reg)
	if err != nil {
		srv.Close()
		return err
	}
	// The phones' files under /prov/ (app_provisioning.go).
	if err := a.startProvisioning(ctx, srv, hmux, log, reg); err != nil {
		srv.Close()
		return err
	}
	if cfg.HTTP.Pprof {
		pm := http.NewServeMux()
		pm.HandleFunc("/debug/pprof/", pprof.Index)
		pm.HandleFunc("/debug/pprof/profile", pprof.Profile)
		pm.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		pm.HandleFunc("/debug/pprof/trace", pprof.Trace)
		hmux.Handle("/debug/pprof/", apiGuard.Wrap(pm))
	}
	hsrv := &http.Server{Handler: hmux, ReadHeaderTimeout: 5 * time.Second}
	hsrv.RegisterOnShutdown(closeAdmin)
	go func() {
		if err := hsrv.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server failed", "error", err)
		}
	}()

	if err := srv.Start(mux); err != nil {
		srv.Close()
		hsrv.Close()
		return err
	}
	if a.probing() {
		if err := a.router.StartProbing(srv); err != nil {
			srv.Close()
			hsrv.Close()
			return err
		}
	} else if _, err := a.router.ClearInactive(ctx, true); err != nil {
		// Nothing would bring back a gateway that earlier probing marked
		// inactive: with probing off, every gateway is up unless an
		// operator disabled it.
		log.Warn("unisi: gateways made active again, but not in the store", "error", err)
	}
	// The media box answers the media gateway's calls; it places its own
	// (transfers, queue agents) through this server.
	if err := a.startMediaBox(ctx, routerAddr(srv.Local().Addr("udp")), log, reg); err != nil {
		srv.Close()
		hsrv.Close()
		return err
	}
	defer a.stopMediaBox()
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		a.watch(wctx)
	}()
	defer func() {
		stopWatch()
		<-watched
	}()
	store := "sqlite:" + cfg.Store.SQLite
	if cfg.Store.MySQL != "" {
		store = "mysql"
	}
	log.Info("unisi: ready", "sip", srv.Local().Addr("udp"), "http", hl.Addr().String(), "store", store)
	defer a.serving(ready, log)() // /readyz, systemd's READY=1 and watchdog

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sigs)
	for {
		select {
		case <-ctx.Done():
			a.stopMediaBox()
			return shutdown(srv, hsrv, cfg.Timers.Drain.Duration, log)
		case s := <-sigs:
			if s != syscall.SIGHUP {
				log.Info("unisi: draining", "signal", s.String())
				// The media box's callers are hung up first, while the
				// server still relays their BYEs.
				a.stopMediaBox()
				return shutdown(srv, hsrv, cfg.Timers.Drain.Duration, log)
			}
			// SIGHUP: the data snapshots, then the configuration file:
			// the log level applies at once, other changed keys are
			// named as needing a restart. A failed reload keeps what
			// runs and says why.
			a.reload(ctx)
			nc, err := g.loadConfig()
			if err != nil {
				log.Error("unisi: configuration reload failed, keeping the running one", "error", err)
				continue
			}
			running, applied, restart, err := reloadConfig(cfg, nc, &lv, a.tls)
			if err != nil {
				log.Error("unisi: configuration not applied, keeping the running one", "error", err)
			}
			// What applied is now running; the rest is still the old.
			cfg = running
			if len(applied)+len(restart) == 0 {
				if err == nil {
					log.Info("unisi: configuration unchanged", "file", g.config)
				}
				continue
			}
			if len(applied) > 0 {
				log.Info("unisi: configuration applied", "keys", strings.Join(applied, ","))
			}
			if len(restart) > 0 {
				log.Warn("unisi: configuration changed but needs a restart to apply; running with the old values", "keys", strings.Join(restart, ","))
			}
		}
	}
}

// tlsLiveKeys are the [tls] keys a running server takes on reload
// (sip.TLS.SetConfig): the certificates and the checks, not the
// listeners (listen, wss), the watch interval or the pipeline's stage
// (require_verified_groups).
var tlsLiveKeys = map[string]bool{
	"tls.certificate": true, "tls.client_ca": true, "tls.trunk": true, "tls.origins": true,
	"tls.root_ca": true, "tls.client_cert": true, "tls.client_key": true, "tls.gateway": true,
}

// reloadConfig applies the changes from cur to next that a running server
// can take, the log level and the [tls] certificates and checks (given
// tc, the running server's TLS), and returns the configuration now
// running (cur with what applied), the changed keys applied and those
// that need a restart. [tls] certificates added where there were none, or
// all removed, need a restart (the listeners come and go with them).
// When the [tls] keys do not load, err says why and they are in neither
// list: the TLS in use is kept.
func reloadConfig(cur, next Config, lv *slog.LevelVar, tc *sip.TLS) (running Config, applied, restart []string, err error) {
	running = cur
	listeners := (len(cur.TLS.Certificates) == 0) == (len(next.TLS.Certificates) == 0)
	var tlsKeys []string
	for _, key := range configDiff(cur, next) {
		switch {
		case key == "log.level":
			l, _ := logLevel(next.Log.Level) // validated by loadConfig
			lv.Set(l)
			applied = append(applied, key)
		case tlsLiveKeys[key] && tc != nil && listeners:
			tlsKeys = append(tlsKeys, key)
		default:
			restart = append(restart, key)
		}
	}
	running.Log = next.Log
	if len(tlsKeys) > 0 {
		if err := tc.SetConfig(next.TLS.library()); err != nil {
			return running, applied, restart, fmt.Errorf("%s: %w", strings.Join(tlsKeys, ","), err)
		}
		running.TLS = running.TLS.withLibrary(next.TLS)
		applied = append(applied, tlsKeys...)
	}
	return running, applied, restart, nil
}

// tuneRuntime applies the [runtime] settings the environment does not
// already set.
func tuneRuntime(rc RuntimeConfig) {
	if os.Getenv("GOGC") == "" {
		gogc := rc.GOGC
		if gogc <= 0 {
			gogc = 100
		}
		debug.SetGCPercent(gogc)
	}
	if os.Getenv("GOMEMLIMIT") == "" && rc.MemoryLimit > 0 {
		debug.SetMemoryLimit(rc.MemoryLimit << 20)
	}
}

func shutdown(srv *sip.Server, hsrv *http.Server, drain time.Duration, log *slog.Logger) error {
	_ = sdNotify("STOPPING=1\nSTATUS=draining calls")
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := srv.Shutdown(ctx)
	_ = hsrv.Shutdown(ctx)
	if err != nil {
		log.Warn("unisi: shutdown", "error", err)
	}
	log.Info("unisi: stopped")
	return nil
}

// sipServer builds the SIP server of the deployment and the handler it
// serves (the mux of the registrar, the dialog relay and the pipeline in
// front of the Forwarder), with the router watching its dialog table for
// trunk limits; stop ends that watch.
func (a *app) sipServer(ctx context.Context, log *slog.Logger, reg prometheus.Registerer) (*sip.Server, sip.Handler, func(), error) {
	cfg := a.cfg
	listen := []sip.Listen{
		{Network: "udp", Addr: cfg.SIP.Listen, Advertise: cfg.SIP.Advertise},
		{Network: "tcp", Addr: cfg.SIP.Listen, Advertise: cfg.SIP.Advertise},
	}
	if cfg.SIP.TLS != nil {
		listen = append(listen, sip.Listen{Network: "tls", Addr: cfg.SIP.TLS.Listen, CertFile: cfg.SIP.TLS.Cert, KeyFile: cfg.SIP.TLS.Key, Advertise: cfg.SIP.Advertise})
	}
	if cfg.SIP.WS != "" {
		listen = append(listen, sip.Listen{Network: "ws", Addr: cfg.SIP.WS, Advertise: cfg.SIP.Advertise})
	}
	// The Record-Route signature is keyed with a secret every node on the
	// database shares, so that in-dialog requests of a call one node routed
	// are relayed by another, and after a restart.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	routeSecret, err := a.db.Secrets().Secret(sctx, "record-route")
	cancel()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("record-route secret: %w", err)
	}
	tc, listen, err := a.startTLS(ctx, log, reg, listen) // app_tls.go
	if err != nil {
		return nil, nil, nil, err
	}
	g, err := a.startGuard(log, reg)
	if err != nil {
		return nil, nil, nil, err
	}
	a.alertGuard(g) // bans and fraud to [alerts] (app_ops.go)
	srv, err := sip.NewServer(sip.Config{
		RouteSecret:       routeSecret,
		Listen:            listen,
		Domains:           cfg.SIP.Domains,
		DialogMaxDuration: cfg.Timers.DialogMax.Duration,
		UDPBuffer:         cfg.SIP.UDPBuffer,
		Streams:           cfg.SIP.streams(),
		TLS:               tc,
		// A REGISTER waits on nothing but the local SQLite file when its
		// binding is written back later: serve it on the read loop.
		InlineStateless: cfg.Registrar.WriteBack.Duration > 0 && cfg.Store.MySQL == "",
	}, append(append([]sip.Option{sip.WithLogger(log), sip.WithRegisterer(reg), sip.WithCallLog(cfg.Log.Calls), sip.WithOverload(cfg.SIP.overload())}, a.guardOptions(g)...), a.captureOptions()...)...)
	if err != nil {
		return nil, nil, nil, err
	}
	fwd := sip.NewForwarder(srv, sip.ForwarderConfig{
		TimerC:        cfg.Timers.TimerC.Duration,
		FirstResponse: cfg.Timers.FirstResponse.Duration,
	})
	// One node of several: the phones registering here over TCP, TLS or
	// WebSocket are reached by the other nodes through this one (a Path
	// in their bindings, sip.Flows).
	var flows *sip.Flows
	if fc, ok, err := cfg.Cluster.flows(cfg.SIP.Listen, cfg.SIP.Advertise); err != nil {
		srv.Close()
		return nil, nil, nil, err
	} else if ok {
		if flows, err = sip.NewFlows(fwd, fc); err != nil {
			srv.Close()
			return nil, nil, nil, fmt.Errorf("cluster: %w", err)
		}
	}
	if err := a.mediaStage(srv.Hangup); err != nil {
		srv.Close()
		return nil, nil, nil, fmt.Errorf("media: %w", err)
	}
	popts := []presence.Option{presence.WithLogger(log), presence.WithRegisterer(reg)}
	a.calls = cluster.Calls{Dialogs: srv.Dialogs(), Hanger: srv}
	if cfg.Cluster.NATS != "" {
		// One node of several: its calls' events go to the others over
		// NATS, and theirs light this node's busy lamps and fill its
		// calls list; an operator's hang-up of another node's call is
		// sent to that node, which ends it.
		bus, err := cluster.NewBus(cfg.Cluster.bus(), srv.Dialogs(), cluster.WithLogger(log), cluster.WithRegisterer(reg), cluster.WithHanger(srv))
		if err != nil {
			srv.Close()
			return nil, nil, nil, err
		}
		a.add(component{name: "cluster", close: bus.Close})
		a.calls.Bus = bus
		popts = append(popts, presence.WithDialogSource(bus))
		// A ban or a block one node decides is enforced by all at once.
		a.add(component{name: "guard-share", close: g.Share(bus.GuardPeers())})
		// The fraud figures count every node's calls: a caller spreading
		// calls over the nodes trips the same rules.
		a.add(component{name: "guard-calls", close: g.FollowCalls(bus)})
	}
	if err := a.startPresence(ctx, cfg.Presence, cfg.Cluster.Node, srv, popts); err != nil {
		srv.Close()
		return nil, nil, nil, err
	}
	stop := a.router.Watch(srv.Dialogs())
	// Every call's record: the dialog table's, and the stage's for the
	// calls refused before the Forwarder.
	acct, err := a.startAccounting(srv.Dialogs())
	if err != nil {
		stop()
		srv.Close()
		return nil, nil, nil, fmt.Errorf("accounting: %w", err)
	}
	// The guard refuses banned sources and locked accounts before the
	// registrar, and checks outbound calls for fraud after it.
	before, after := guardStages(g)
	var register sip.Handler = a.regr
	initial := before(acct(a.pipeline(sip.Chain(a.regr.Authenticate, after), fwd)))
	if flows != nil {
		register = flows.Path(register)
		// A call another node routed to a phone of this node's goes to
		// the phone's flow at once: that node authenticated, classified,
		// counted and records it.
		initial = flows.Relay(initial)
	}
	mux := &sip.ServeMux{
		Local:    srv.Local(),
		Register: before(register),
		Presence: a.presenceHandler(before),
		InDialog: sip.NewDialogRelay(fwd),
		Initial:  initial,
	}
	return srv, mux, stop, nil
}

// startPresence starts the busy lamps and message-waiting lamps
// ([presence]), unless they are off: SUBSCRIBE and PUBLISH are then
// routed as other requests are, and the dialog table has no presence
// subscriber.
func (a *app) startPresence(ctx context.Context, pc PresenceConfig, node string, srv *sip.Server, popts []presence.Option) error {
	if !pc.Enabled {
		return nil
	}
	pres, err := presence.New(presence.Config{
		OnlyMostInteresting: pc.OnlyMostInteresting,
		MinExpires:          pc.MinExpires.Duration,
		MaxExpires:          pc.MaxExpires.Duration,
		// Nodes sharing the database each keep their own subscriptions.
		Node: node,
	}, a.db.Presence(), srv, popts...)
	if err != nil {
		return fmt.Errorf("presence: %w", err)
	}
	// The voicemail lamps' counts and who may watch whom: read now, and
	// again when palio_mwi or palio_watch_rules change (`unisi mwi`,
	// `unisi watch`, the voicemail server).
	load := func(ctx context.Context) (snapshot.Report, error) {
		rep, err := pres.ReloadMailboxes(ctx, a.db.Mailboxes())
		if err != nil {
			return rep, err
		}
		rules, err := pres.ReloadRules(ctx, a.db.WatchRules())
		rep.Loaded += rules.Loaded
		return rep, err
	}
	if _, err := load(ctx); err != nil {
		pres.Close()
		return err
	}
	a.add(component{name: "presence", tables: []string{"mwi", "watchrules"}, reload: load, close: pres.Close})
	a.pres = pres
	return nil
}

// presenceHandler is what answers SUBSCRIBE and PUBLISH: the presence
// server behind the edge stages and authentication, or nil when presence
// is off (the mux then routes them as other requests).
func (a *app) presenceHandler(before sip.Middleware) sip.Handler {
	if a.pres == nil {
		return nil
	}
	// Watchers authenticate as phones do; the presence server reads who
	// they are.
	return before(a.regr.Authenticate(a.pres))
}
