package alias

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/palio-voip/palio/snapshot"
	"github.com/prometheus/client_golang/prometheus"
)

// Config says how aliases are matched and used.
type Config struct {
	// IgnoreDomain compares the alias username only (OpenSIPS's "d" flag):
	// for a single-domain site where phones dial 5500@<proxy IP>.
	IgnoreDomain bool
	// DomainPrefix is stripped from the looked-up host before matching
	// (OpenSIPS's domain_prefix, e.g. "sip.").
	DomainPrefix string
	// Rewrite makes the stage replace the Request-URI with the account
	// (alias_db_lookup); false only records the result (alias_db_find).
	Rewrite bool
}

// Option configures an Aliases.
type Option func(*Aliases)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(a *Aliases) { a.log = l } }

// WithRegisterer registers the metrics (palio_alias_*) with r.
func WithRegisterer(r prometheus.Registerer) Option { return func(a *Aliases) { a.reg = r } }

// Aliases is the alias table of a site, loaded from a Store into an
// immutable snapshot; lookups never touch the store.
type Aliases struct {
	cfg     Config
	store   Store
	log     *slog.Logger
	reg     prometheus.Registerer
	metrics *metrics

	snap snapshot.Value[table]
}

// table is one load of the alias table.
type table struct {
	byAlias map[aliasKey]Alias   // alias_username, lower(alias_domain)
	byUser  map[string]Alias     // alias_username alone: lowest id
	reverse map[aliasKey][]Alias // username, lower(domain) → its aliases
	n       int
}

type aliasKey struct{ user, domain string }

// New returns the aliases of store, loaded once.
func New(cfg Config, store Store, opts ...Option) (*Aliases, error) {
	a := &Aliases{cfg: cfg, store: store}
	for _, o := range opts {
		o(a)
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.metrics = newMetrics(a.reg)
	a.snap.Store(build(nil))
	if _, err := a.Reload(context.Background()); err != nil {
		return nil, err
	}
	return a, nil
}

// Reload reads the store into a new snapshot and swaps it in, with the
// rules of package snapshot: readers see the old table or the new one,
// reloads run one at a time, a failed reload keeps the table that runs
// and returns why.
func (a *Aliases) Reload(ctx context.Context) (snapshot.Report, error) {
	start := time.Now()
	var n int
	err := a.snap.Reload(ctx, func(ctx context.Context) (*table, error) {
		rows, err := a.store.Aliases(ctx)
		if err != nil {
			return nil, err
		}
		t := build(rows)
		n = t.n
		return t, nil
	})
	if err != nil {
		a.metrics.reloads.WithLabelValues("error").Inc()
		return snapshot.Report{Component: "alias"}, fmt.Errorf("alias: reload: %w", err)
	}
	a.metrics.entries.Set(float64(n))
	a.metrics.reloads.WithLabelValues("ok").Inc()
	took := time.Since(start)
	a.log.Info("alias: loaded", "aliases", n, "seconds", took.Seconds())
	return snapshot.Report{Component: "alias", Loaded: n, Took: took}, nil
}

func build(rows []Alias) *table {
	s := &table{
		byAlias: make(map[aliasKey]Alias, len(rows)),
		byUser:  make(map[string]Alias, len(rows)),
		reverse: map[aliasKey][]Alias{},
	}
	for _, r := range rows {
		k := aliasKey{r.AliasUsername, strings.ToLower(r.AliasDomain)}
		if prev, ok := s.byAlias[k]; ok && prev.ID < r.ID {
			continue
		}
		s.byAlias[k] = r
		if prev, ok := s.byUser[r.AliasUsername]; !ok || r.ID < prev.ID {
			s.byUser[r.AliasUsername] = r
		}
		rk := aliasKey{r.Username, strings.ToLower(r.Domain)}
		s.reverse[rk] = append(s.reverse[rk], r)
	}
	s.n = len(s.byAlias)
	return s
}

// Lookup returns the account user@domain stands for.
func (a *Aliases) Lookup(user, domain string) (Alias, bool) {
	s := a.snap.Load()
	var r Alias
	var ok bool
	if a.cfg.IgnoreDomain {
		r, ok = s.byUser[user]
	} else {
		domain = strings.TrimPrefix(strings.ToLower(domain), strings.ToLower(a.cfg.DomainPrefix))
		r, ok = s.byAlias[aliasKey{user, domain}]
	}
	return r, ok
}

// Reverse returns the aliases of the account user@domain (OpenSIPS's "r"
// flag), by ID; with IgnoreDomain the domain is not compared.
func (a *Aliases) Reverse(user, domain string) []Alias {
	s := a.snap.Load()
	if !a.cfg.IgnoreDomain {
		return append([]Alias(nil), s.reverse[aliasKey{user, strings.ToLower(domain)}]...)
	}
	var out []Alias
	for k, rs := range s.reverse {
		if k.user == user {
			out = append(out, rs...)
		}
	}
	sortByID(out)
	return out
}

// Len returns the number of aliases in the running snapshot.
func (a *Aliases) Len() int { return a.snap.Load().n }

func sortByID(rs []Alias) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].ID < rs[j-1].ID; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}
