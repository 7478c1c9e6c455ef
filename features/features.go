package features

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/snapshot"
	"github.com/prometheus/client_golang/prometheus"
)

// Direction says which calls a blacklist applies to.
type Direction int

// The directions.
const (
	// Incoming checks the caller's number against the callee's list
	// (or the global one) on calls to a local account.
	Incoming Direction = 1 << iota
	// Outgoing checks the dialled number against the caller's list (or
	// the global one) on calls an account makes.
	Outgoing
	// Both is Incoming and Outgoing.
	Both = Incoming | Outgoing
)

// DiversionMode says how a forwarded call carries where it was
// diverted from.
type DiversionMode int

// The modes.
const (
	// Diversion adds a Diversion header (RFC 5806) per hop: what most
	// PBXs and phones show. The default.
	Diversion DiversionMode = iota
	// HistoryInfo adds History-Info entries (RFC 7044).
	HistoryInfo
	// DiversionAndHistoryInfo adds both.
	DiversionAndHistoryInfo
	// NoDiversion adds neither.
	NoDiversion
)

// ParseDirection reads a Direction from a configuration: "incoming",
// "outgoing" or "both".
func ParseDirection(s string) (Direction, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "incoming":
		return Incoming, nil
	case "outgoing":
		return Outgoing, nil
	case "both":
		return Both, nil
	}
	return 0, fmt.Errorf("features: blacklist direction %q: want incoming, outgoing or both", s)
}

// ParseDiversionMode reads a DiversionMode from a configuration:
// "diversion", "history-info", "both" or "none".
func ParseDiversionMode(s string) (DiversionMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "diversion":
		return Diversion, nil
	case "history-info":
		return HistoryInfo, nil
	case "both":
		return DiversionAndHistoryInfo, nil
	case "none":
		return NoDiversion, nil
	}
	return 0, fmt.Errorf("features: history %q: want diversion, history-info, both or none", s)
}

// Config configures the call services.
type Config struct {
	// Account returns the identity of a local account (its classes
	// decide where its forwards may go: a forward is that account's
	// outbound call). Required; the registrar's subscriber store.
	Account func(ctx context.Context, user, domain string) (registrar.Identity, error)
	// Domain is the domain of local accounts (their settings' Domain).
	Domain string
	// LocalClasses are the dialplan classes of calls to local accounts
	// (default "voip"), as in destination.Config.
	LocalClasses []string
	// NoAnswerAfter is the no-answer timer of accounts that set none
	// (default 20 s).
	NoAnswerAfter time.Duration
	// MaxForwards bounds a chain of forwards (a forward of a forward...):
	// past it a forward is not followed and the account reached rings
	// (default 3).
	MaxForwards int
	// UserLists and GlobalList say which calls the per-user and the
	// global blacklist apply to (defaults Incoming and Outgoing).
	UserLists, GlobalList Direction
	// Diversion says how forwarded calls carry their history.
	Diversion DiversionMode
	// Voicemail returns the number of an account's voicemail box on the
	// media box (default "VM_" + user).
	Voicemail func(user string) string
}

func (c *Config) setDefaults() error {
	if c.Account == nil {
		return errors.New("features: config: Account: required")
	}
	if c.LocalClasses == nil {
		c.LocalClasses = []string{"voip"}
	}
	if c.NoAnswerAfter == 0 {
		c.NoAnswerAfter = 20 * time.Second
	}
	if c.NoAnswerAfter < time.Second || c.NoAnswerAfter > MaxNoAnswerAfter {
		return fmt.Errorf("features: config: NoAnswerAfter %v: want 1s to %v", c.NoAnswerAfter, MaxNoAnswerAfter)
	}
	if c.MaxForwards == 0 {
		c.MaxForwards = 3
	}
	if c.UserLists == 0 {
		c.UserLists = Incoming
	}
	if c.GlobalList == 0 {
		c.GlobalList = Outgoing
	}
	if c.Voicemail == nil {
		c.Voicemail = func(user string) string { return "VM_" + user }
	}
	return nil
}

// Option configures Features.
type Option func(*Features)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(f *Features) { f.log = l } }

// WithRegisterer registers the metrics (palio_features_*) with r.
func WithRegisterer(r prometheus.Registerer) Option { return func(f *Features) { f.reg = r } }

// Features are a site's call services, loaded from a Store into an
// immutable snapshot: a call never reads the store.
type Features struct {
	cfg     Config
	store   Store
	log     *slog.Logger
	reg     prometheus.Registerer
	metrics *metrics

	snap snapshot.Value[table]
}

// table is one load of the settings and lists.
type table struct {
	settings map[string]*Settings  // by user
	user     map[string]prefixList // by user: the user's blacklist
	global   prefixList            // the global blacklist
	n        int                   // rows loaded
}

// prefixList is a blacklist by prefix.
type prefixList map[string]ListEntry

// match returns the row of the longest prefix of number in l.
func (l prefixList) match(number string) (ListEntry, bool) {
	for n := len(number); n > 0 && len(l) > 0; n-- {
		if e, ok := l[number[:n]]; ok {
			return e, true
		}
	}
	return ListEntry{}, false
}

// New returns the services of store, loaded once.
func New(cfg Config, store Store, opts ...Option) (*Features, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	f := &Features{cfg: cfg, store: store}
	for _, o := range opts {
		o(f)
	}
	if f.log == nil {
		f.log = slog.Default()
	}
	f.metrics = newMetrics(f.reg)
	f.snap.Store(build(nil, nil))
	if _, err := f.Reload(context.Background()); err != nil {
		return nil, err
	}
	return f, nil
}

// Reload reads the store into a new snapshot and swaps it in (package
// snapshot's rules: a failed reload keeps what runs and says why).
func (f *Features) Reload(ctx context.Context) (snapshot.Report, error) {
	start := time.Now()
	var n int
	err := f.snap.Reload(ctx, func(ctx context.Context) (*table, error) {
		st, err := f.store.Settings(ctx)
		if err != nil {
			return nil, err
		}
		ls, err := f.store.ListEntries(ctx)
		if err != nil {
			return nil, err
		}
		t := build(st, ls)
		n = t.n
		return t, nil
	})
	if err != nil {
		f.metrics.reloads.WithLabelValues("error").Inc()
		return snapshot.Report{Component: "features"}, fmt.Errorf("features: reload: %w", err)
	}
	f.metrics.reloads.WithLabelValues("ok").Inc()
	took := time.Since(start)
	f.log.Info("features: loaded", "rows", n, "seconds", took.Seconds())
	return snapshot.Report{Component: "features", Loaded: n, Took: took}, nil
}

func build(settings []Settings, entries []ListEntry) *table {
	t := &table{settings: make(map[string]*Settings, len(settings)), user: map[string]prefixList{}, global: prefixList{}}
	for i := range settings {
		s := settings[i]
		t.settings[s.User] = &s
	}
	for _, e := range entries {
		if e.Global() {
			t.global[e.Prefix] = e
			continue
		}
		l := t.user[e.User]
		if l == nil {
			l = prefixList{}
			t.user[e.User] = l
		}
		l[e.Prefix] = e
	}
	t.n = len(settings) + len(entries)
	return t
}

// Settings returns the settings of the local account user, and false
// when it has none.
func (f *Features) Settings(user string) (Settings, bool) {
	s, ok := f.snap.Load().settings[strings.TrimSpace(user)]
	if !ok {
		return Settings{}, false
	}
	return *s, true
}
