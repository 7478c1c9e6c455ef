package presence

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/palio-voip/palio/snapshot"
)

// WatchRule lets a watcher watch an account's lamps (Allow) or stops it.
// An account without rules may be watched by any user of its domain; one
// with an allow rule only by the watchers its allow rules name; a deny
// rule stops its watcher either way.
type WatchRule struct {
	// User and Domain name the account watched; Watcher the watching
	// account, "user@domain".
	User, Domain, Watcher string
	Allow                 bool
}

// CheckWatchRule reports why r cannot be stored.
func CheckWatchRule(r WatchRule) error {
	if r.User == "" || strings.ContainsAny(r.User, " \t@;:<>") {
		return fmt.Errorf("presence: watch rule: %q is not a user", r.User)
	}
	u, d, ok := strings.Cut(r.Watcher, "@")
	if !ok || u == "" || d == "" || strings.ContainsAny(r.Watcher, " \t;:<>") {
		return fmt.Errorf("presence: watch rule: watcher %q: want user@domain", r.Watcher)
	}
	if strings.EqualFold(u+"@"+d, r.User+"@"+r.Domain) {
		return fmt.Errorf("presence: watch rule: %s is the account itself", r.Watcher)
	}
	return nil
}

// RuleStore is where watch rules live (palio_watch_rules, or memory).
type RuleStore interface {
	// WatchRules returns every rule.
	WatchRules(ctx context.Context) ([]WatchRule, error)
	// PutWatchRule stores r, replacing the rule of its account and
	// watcher.
	PutWatchRule(ctx context.Context, r WatchRule) error
	// DeleteWatchRule removes the rule of user@domain and watcher, or
	// returns ErrNotFound.
	DeleteWatchRule(ctx context.Context, user, domain, watcher string) error
}

// rules are the compiled watch rules: AOR → watcher → allow.
type rules map[string]map[string]bool

// allows reports whether watcher may watch aor by the rules (the domain
// check is the caller's).
func (rs rules) allows(aor, watcher string) bool {
	r := rs[aor]
	if allow, ok := r[watcher]; ok {
		return allow
	}
	for _, allow := range r {
		if allow {
			return false // an allow list, and watcher is not on it
		}
	}
	return true
}

// ReloadRules reads the watch rules of rs; the next SUBSCRIBEs obey them
// (subscriptions already running are left alone).
func (p *Presence) ReloadRules(ctx context.Context, rs RuleStore) (snapshot.Report, error) {
	start := time.Now()
	list, err := rs.WatchRules(ctx)
	if err != nil {
		return snapshot.Report{Component: "watch rules"}, fmt.Errorf("presence: watch rules: %w", err)
	}
	compiled := rules{}
	for _, r := range list {
		aor := aorKey(r.User, r.Domain)
		if compiled[aor] == nil {
			compiled[aor] = map[string]bool{}
		}
		compiled[aor][normAOR(r.Watcher)] = r.Allow
	}
	p.mu.Lock()
	p.rules = compiled
	p.mu.Unlock()
	return snapshot.Report{Component: "watch rules", Loaded: len(list), Took: time.Since(start)}, nil
}

// MemRules is a RuleStore in memory.
type MemRules struct {
	mu    sync.Mutex
	rules []WatchRule
}

var _ RuleStore = (*MemRules)(nil)

// NewMemRules returns an empty MemRules.
func NewMemRules() *MemRules { return &MemRules{} }

// WatchRules returns every rule.
func (s *MemRules) WatchRules(ctx context.Context) ([]WatchRule, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]WatchRule(nil), s.rules...), nil
}

// PutWatchRule stores r.
func (s *MemRules) PutWatchRule(ctx context.Context, r WatchRule) error {
	if err := CheckWatchRule(r); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.rules {
		if x.User == r.User && strings.EqualFold(x.Domain, r.Domain) && strings.EqualFold(x.Watcher, r.Watcher) {
			s.rules[i] = r
			return nil
		}
	}
	s.rules = append(s.rules, r)
	return nil
}

// DeleteWatchRule removes a rule.
func (s *MemRules) DeleteWatchRule(ctx context.Context, user, domain, watcher string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.rules {
		if x.User == user && strings.EqualFold(x.Domain, domain) && strings.EqualFold(x.Watcher, watcher) {
			s.rules = append(s.rules[:i], s.rules[i+1:]...)
			return nil
		}
	}
	return ErrNotFound
}
