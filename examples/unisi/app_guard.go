package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/palio-voip/palio/accounting"
	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/prometheus/client_golang/prometheus"
)

// GuardConfig is [guard]: the router's defence (package guard): the flood
// check before parsing (OpenSIPS's pike), bans of password guessers, and
// the fraud check of outbound calls, whose rules are in the database
// (`unisi guard rule`).
type GuardConfig struct {
	// Refuse answers the requests of blocked and banned sources 503
	// instead of dropping them unanswered.
	Refuse bool             `toml:"refuse"`
	Flood  GuardFloodConfig `toml:"flood"`
	Auth   GuardAuthConfig  `toml:"auth"`
	Fraud  GuardFraudConfig `toml:"fraud"`
}

// GuardFloodConfig is [guard.flood], pike's parameters.
type GuardFloodConfig struct {
	Enabled bool `toml:"enabled"`
	// Unit is the sampling time unit, Density the packets one source may
	// send in a unit, RemoveLatency how long a quiet source is remembered.
	Unit          Duration `toml:"unit"`
	Density       int      `toml:"density"`
	RemoveLatency Duration `toml:"remove_latency"`
}

// GuardAuthConfig is [guard.auth]: N failures within a window ban a
// source (ip_) or lock an account (user_) for a while; 0 failures turns
// one off.
type GuardAuthConfig struct {
	Enabled      bool     `toml:"enabled"`
	IPFailures   int      `toml:"ip_failures"`
	IPWindow     Duration `toml:"ip_window"`
	IPBan        Duration `toml:"ip_ban"`
	UserFailures int      `toml:"user_failures"`
	UserWindow   Duration `toml:"user_window"`
	UserBan      Duration `toml:"user_ban"`
}

// GuardFraudConfig is [guard.fraud].
type GuardFraudConfig struct {
	Enabled bool `toml:"enabled"`
	// Profile is the fraud rules' profile every caller's calls count
	// against.
	Profile int `toml:"profile"`
	// Block blocks a caller's outbound calls at a critical threshold, until
	// `unisi guard clear USER`.
	Block bool `toml:"block"`
	// TimeZone is the zone of the rules' hours and of the day the daily
	// figures count.
	TimeZone string `toml:"timezone"`
}

// defaultGuardConfig is [guard] with no file.
func defaultGuardConfig() GuardConfig {
	return GuardConfig{
		Flood: GuardFloodConfig{Enabled: true, Unit: Duration{2 * time.Second}, Density: 100, RemoveLatency: Duration{2 * time.Minute}},
		Auth: GuardAuthConfig{Enabled: true,
			IPFailures: 10, IPWindow: Duration{time.Minute}, IPBan: Duration{time.Hour},
			UserFailures: 20, UserWindow: Duration{10 * time.Minute}, UserBan: Duration{10 * time.Minute}},
		Fraud: GuardFraudConfig{Enabled: true, Profile: 1, Block: true, TimeZone: "Europe/Rome"},
	}
}

// config returns the guard's configuration; exempt says which sources are
// trusted.
func (gc GuardConfig) config(exempt func(netip.AddrPort) bool) (guard.Config, error) {
	cfg := guard.Config{Refuse: gc.Refuse, Exempt: exempt}
	f := gc.Flood
	if f.Unit.Duration < time.Millisecond || f.Density < 1 || f.RemoveLatency.Duration < 0 {
		return cfg, fmt.Errorf("config: guard.flood: unit %v, density %d, remove_latency %v: want unit >= 1ms, density >= 1, remove_latency >= 0",
			f.Unit.Duration, f.Density, f.RemoveLatency.Duration)
	}
	cfg.Flood = guard.FloodConfig{Off: !f.Enabled, SamplingUnit: f.Unit.Duration, Density: f.Density, RemoveLatency: f.RemoveLatency.Duration}
	a := gc.Auth
	limit := func(key string, n int, window, ban Duration) (guard.Limit, error) {
		if !a.Enabled || n == 0 {
			return guard.Limit{Failures: -1}, nil
		}
		if n < 0 || window.Duration <= 0 || ban.Duration <= 0 {
			return guard.Limit{}, fmt.Errorf("config: guard.auth.%s: failures %d, window %v, ban %v: want failures >= 0 and positive durations", key, n, window.Duration, ban.Duration)
		}
		return guard.Limit{Failures: n, Window: window.Duration, Ban: ban.Duration}, nil
	}
	var err error
	if cfg.Auth.PerIP, err = limit("ip", a.IPFailures, a.IPWindow, a.IPBan); err != nil {
		return cfg, err
	}
	if cfg.Auth.PerUser, err = limit("user", a.UserFailures, a.UserWindow, a.UserBan); err != nil {
		return cfg, err
	}
	loc, err := time.LoadLocation(gc.Fraud.TimeZone)
	if err != nil {
		return cfg, fmt.Errorf("config: guard.fraud.timezone %q: %w", gc.Fraud.TimeZone, err)
	}
	if gc.Fraud.Profile < 0 {
		return cfg, fmt.Errorf("config: guard.fraud.profile %d is negative", gc.Fraud.Profile)
	}
	cfg.Fraud = guard.FraudConfig{Off: !gc.Fraud.Enabled, Profile: gc.Fraud.Profile, Block: gc.Fraud.Block, Location: loc}
	return cfg, nil
}

// startGuard builds the guard of the server over the store's bans and
// rules (reloaded when their change counter moves), trusting the
// permission table's trusted groups. The app closes it.
func (a *app) startGuard(log *slog.Logger, reg prometheus.Registerer) (*guard.Guard, error) {
	g, err := a.newGuard(guard.WithLogger(log), guard.WithRegisterer(reg), guard.WithHistory(a.cdrHistory))
	if err != nil {
		return nil, err
	}
	a.add(component{name: "guard", tables: []string{"guard"}, reload: g.Reload, close: func() { g.Close() }})
	a.guard.Store(g)
	return g, nil
}

// newGuard builds a guard over the store's bans and rules as [guard]
// configures it, trusting the permission table's trusted groups: the
// server's (startGuard), or the one a command's dry run checks with
// (dryGuard). The caller closes it.
func (a *app) newGuard(opts ...guard.Option) (*guard.Guard, error) {
	trusted := a.cfg.Permission.Trusted
	exempt := func(src netip.AddrPort) bool {
		m, ok := a.acl.SourceGroup(src.Addr(), int(src.Port()))
		return ok && (len(trusted) == 0 || slices.Contains(trusted, m.Group))
	}
	cfg, err := a.cfg.Guard.config(exempt)
	if err != nil {
		return nil, err
	}
	return guard.New(cfg, a.db.Guard(), opts...)
}

// dryGuard is the guard a dry run checks with: the running server's, or,
// for a command, one read from the store now (its bans and blocks, and
// the day's fraud figures rebuilt from the call records), which done
// closes.
func (a *app) dryGuard() (g *guard.Guard, done func(), err error) {
	if g := a.guard.Load(); g != nil {
		return g, func() {}, nil
	}
	// Its logs would be a server's: a command's reload says nothing.
	g, err = a.newGuard(guard.WithLogger(slog.New(slog.DiscardHandler)), guard.WithHistory(a.cdrHistory))
	if err != nil {
		return nil, nil, fmt.Errorf("guard: %w", err)
	}
	return g, func() { g.Close() }, nil
}

// cdrHistory is the guard's History (guard.WithHistory): the call
// records (acc) of authenticated callers begun in [from, to), so that a
// restarted server's fraud figures go on from the day's calls. The
// records of calls in the accounting spool (a database outage) are not
// there yet.
func (a *app) cdrHistory(ctx context.Context, from, to time.Time, fn func(guard.PastCall) error) error {
	return a.db.Accounting().CDRs(ctx, accounting.Filter{From: from, To: to}, func(c accounting.CDR) error {
		if c.Caller == "" {
			return nil // a gateway's, the media box's: not counted
		}
		user, domain, _ := strings.Cut(c.Caller, "@")
		return fn(guard.PastCall{Caller: user, Domain: domain, Number: c.Dialled, Start: c.Created,
			Talk: time.Duration(c.MSDuration) * time.Millisecond})
	})
}

// authFailed hands the registrar's authentication failures to the guard
// of a running server (the operator commands have none).
func (a *app) authFailed(f registrar.AuthFailure) {
	if g := a.guard.Load(); g != nil {
		g.AuthFailed(f.Source, f.User, f.Reason)
	}
}

// guardOptions are the SIP server's options the guard needs: its gate in
// front of the parser, when it has anything to refuse there.
func (a *app) guardOptions(g *guard.Guard) []sip.Option {
	gc := a.cfg.Guard
	if g == nil || !gc.Flood.Enabled && !gc.Auth.Enabled {
		return nil
	}
	return []sip.Option{sip.WithSourceGate(g)}
}

// guardStages are the guard's stages: before, in front of the registrar
// and of the pipeline (locked accounts, banned sources); after, behind
// authentication (the fraud check of outbound calls).
func guardStages(g *guard.Guard) (before, after sip.Middleware) {
	if g == nil {
		none := func(next sip.Handler) sip.Handler { return next }
		return none, none
	}
	return g.Bans, g.Wrap
}

// unisiFraudRules are the fraud rules of a new database, profile 1, for
// numbers as UniSI dials them (the outside line 0 first): every outside
// call; international calls (000…), tighter at night; premium-rate
// numbers (0899…, 0892…). Thresholds are warning/critical pairs; a
// critical blocks the caller's outbound calls ([guard.fraud] block).
var unisiFraudRules = []guard.Rule{
	{Profile: 1, Prefix: "0",
		CallsPerMinute: guard.Threshold{Warning: 5, Critical: 15}, ConcurrentCalls: guard.Threshold{Warning: 3, Critical: 6},
		TotalCalls: guard.Threshold{Warning: 100, Critical: 300}, TotalMinutes: guard.Threshold{Warning: 240, Critical: 600}},
	{Profile: 1, Prefix: "000",
		CallsPerMinute: guard.Threshold{Warning: 3, Critical: 6}, ConcurrentCalls: guard.Threshold{Warning: 2, Critical: 3},
		TotalCalls: guard.Threshold{Warning: 20, Critical: 50}, SequentialCalls: guard.Threshold{Warning: 5, Critical: 10},
		TotalMinutes: guard.Threshold{Warning: 60, Critical: 180}, CallDuration: guard.Threshold{Warning: 3600}},
	{Profile: 1, Prefix: "000", StartHour: "20:00", EndHour: "06:59",
		ConcurrentCalls: guard.Threshold{Warning: 1, Critical: 2}, TotalCalls: guard.Threshold{Warning: 3, Critical: 10},
		TotalMinutes: guard.Threshold{Warning: 10, Critical: 30}},
	{Profile: 1, Prefix: "0899", TotalCalls: guard.Threshold{Warning: 1, Critical: 3}},
	{Profile: 1, Prefix: "0892", TotalCalls: guard.Threshold{Warning: 1, Critical: 3}},
}

// seedGuard stores the fraud rules of a new database.
func seedGuard(ctx context.Context, db *sqlstore.DB) error {
	st := db.Guard()
	for _, r := range unisiFraudRules {
		if _, err := st.PutRule(ctx, r); err != nil {
			return fmt.Errorf("seed: fraud rule %q: %w", r.Prefix, err)
		}
	}
	return nil
}

// FloodBlock is a source the running server blocks for flooding: what
// `guard list` shows beside the stored bans.
type FloodBlock struct {
	Subject string    `json:"subject"`
	Reason  string    `json:"reason"`
	Since   time.Time `json:"since"`
	// EndsWithin is how long after the flood's end the block ends (two
	// sampling units, as pike's).
	EndsWithin string `json:"ends_within"`
}

// guardAPI serves the running guard's state that lives in memory only:
//
//	GET /api/guard/flood   the flood blocks in force ([]FloodBlock)
func (a *app) guardAPI(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/guard/flood", func(w http.ResponseWriter, r *http.Request) {
		out := []FloodBlock{}
		if g := a.guard.Load(); g != nil {
			within := (2 * g.FloodUnit()).String()
			for _, b := range g.FloodBlocks() {
				out = append(out, FloodBlock{Subject: b.Subject, Reason: b.Reason, Since: b.Created.UTC(), EndsWithin: within})
			}
		}
		writeJSON(w, http.StatusOK, out)
	})
}
