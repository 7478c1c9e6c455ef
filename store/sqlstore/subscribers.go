package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/palio-voip/palio/internal/ttlcache"
	"github.com/palio-voip/palio/registrar"
)

// SubscriberStore is registrar.Subscribers over OpenSIPS's subscriber
// table (username, domain, password, ha1, ha1_sha256; ha1_sha512t256 is
// kept but unused), with the outbound call classes in OpenSIPS's grp table
// (one row per class: local, national, mobile, international) and what
// OpenSIPS has no column for (blocked, inbound classes) in
// palio_subscriber.
//
// Accounts found are cached for CacheTTL; the cache is dropped whenever the
// accounts change through this store, and on Invalidate (which the example
// calls when the "subscriber" change counter moves: another node or a tool
// wrote). Unknown users are not cached.
type SubscriberStore struct {
	db    *DB
	ttl   time.Duration
	now   func() time.Time
	cache *ttlcache.Cache[[2]string, registrar.Subscriber]
}

// subscriberCacheSize bounds the accounts cached: a university's phones
// fit, a flood of unknown names does not grow it (they are not cached).
const subscriberCacheSize = 20000

var _ registrar.Subscribers = (*SubscriberStore)(nil)

// Subscribers returns the account store of db; ttl 0 means 30 s, negative
// turns the cache off.
func (db *DB) Subscribers(ttl time.Duration) *SubscriberStore {
	if ttl == 0 {
		ttl = 30 * time.Second
	}
	s := &SubscriberStore{db: db, ttl: ttl, now: time.Now}
	if ttl > 0 {
		s.cache = ttlcache.New[[2]string, registrar.Subscriber](subscriberCacheSize)
	}
	return s
}

// Invalidate drops every cached account.
func (s *SubscriberStore) Invalidate() { s.cache.Clear() }

// Subscriber returns the account username@domain; an empty domain matches
// by username alone (the first domain in order).
func (s *SubscriberStore) Subscriber(ctx context.Context, username, domain string) (registrar.Subscriber, error) {
	key := [2]string{username, domain}
	now := s.now().UnixNano()
	if sub, ok := s.cache.Get(key, now); ok {
		return cloneSub(sub), nil
	}
	q := "SELECT s.username, s.domain, s.password, s.ha1, s.ha1_sha256, COALESCE(p.blocked, 0), COALESCE(p.inbound_classes, '') " +
		"FROM subscriber s LEFT JOIN palio_subscriber p ON p.username = s.username AND p.domain = s.domain WHERE s.username = ?"
	args := []any{username}
	if domain != "" {
		q += " AND s.domain = ?"
		args = append(args, domain)
	}
	q += " ORDER BY s.domain LIMIT 1"
	var sub registrar.Subscriber
	var blocked int
	var inbound string
	st, err := s.db.readStmt(ctx, q)
	if err != nil {
		return sub, fmt.Errorf("sqlstore: subscriber %s: %w", username, err)
	}
	err = st.QueryRowContext(ctx, args...).Scan(&sub.Username, &sub.Domain, &sub.Password, &sub.HA1, &sub.HA1SHA256, &blocked, &inbound)
	if errors.Is(err, sql.ErrNoRows) {
		return sub, registrar.ErrNotFound
	}
	if err != nil {
		return sub, fmt.Errorf("sqlstore: subscriber %s: %w", username, err)
	}
	sub.Blocked = blocked != 0
	sub.InboundClasses = splitList(inbound)
	st, err = s.db.readStmt(ctx, "SELECT grp FROM grp WHERE username = ? AND domain = ? ORDER BY id")
	if err != nil {
		return sub, fmt.Errorf("sqlstore: subscriber %s classes: %w", username, err)
	}
	rows, err := st.QueryContext(ctx, sub.Username, sub.Domain)
	if err != nil {
		return sub, fmt.Errorf("sqlstore: subscriber %s classes: %w", username, err)
	}
	defer rows.Close()
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return sub, fmt.Errorf("sqlstore: subscriber %s classes: %w", username, err)
		}
		sub.Classes = append(sub.Classes, g)
	}
	if err := rows.Err(); err != nil {
		return sub, fmt.Errorf("sqlstore: subscriber %s classes: %w", username, err)
	}
	s.cache.Put(key, cloneSub(sub), now+int64(s.ttl), now)
	return sub, nil
}

func cloneSub(s registrar.Subscriber) registrar.Subscriber {
	s.Classes = slices.Clone(s.Classes)
	s.InboundClasses = slices.Clone(s.InboundClasses)
	return s
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// AddSubscriber inserts sub with its classes, or replaces the account with
// the same username and domain (as the memory store does).
func (s *SubscriberStore) AddSubscriber(ctx context.Context, sub registrar.Subscriber) error {
	defer s.Invalidate()
	tx, err := s.db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: add subscriber: %w", err)
	}
	defer tx.Rollback()
	q := s.db.dialect.upsert("subscriber", []string{"username", "domain", "password", "ha1", "ha1_sha256"},
		[]string{"username", "domain"}, []string{"password", "ha1", "ha1_sha256"})
	if _, err := tx.ExecContext(ctx, q, sub.Username, sub.Domain, sub.Password, sub.HA1, sub.HA1SHA256); err != nil {
		return fmt.Errorf("sqlstore: add subscriber %s: %w", sub.Username, err)
	}
	if err := s.writeExtras(ctx, tx, sub); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: add subscriber %s: %w", sub.Username, err)
	}
	return nil
}

// writeExtras replaces an account's classes and Palio-only fields.
func (s *SubscriberStore) writeExtras(ctx context.Context, tx *sql.Tx, sub registrar.Subscriber) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM grp WHERE username = ? AND domain = ?", sub.Username, sub.Domain); err != nil {
		return fmt.Errorf("sqlstore: subscriber %s classes: %w", sub.Username, err)
	}
	seen := map[string]bool{}
	for _, c := range sub.Classes {
		if seen[c] {
			continue
		}
		seen[c] = true
		if _, err := tx.ExecContext(ctx, "INSERT INTO grp (username, domain, grp, last_modified) VALUES (?, ?, ?, ?)",
			sub.Username, sub.Domain, c, s.now().UTC().Format("2006-01-02 15:04:05")); err != nil {
			return fmt.Errorf("sqlstore: subscriber %s classes: %w", sub.Username, err)
		}
	}
	q := s.db.dialect.upsert("palio_subscriber", []string{"username", "domain", "blocked", "inbound_classes"},
		[]string{"username", "domain"}, []string{"blocked", "inbound_classes"})
	if _, err := tx.ExecContext(ctx, q, sub.Username, sub.Domain, boolInt(sub.Blocked), strings.Join(sub.InboundClasses, ",")); err != nil {
		return fmt.Errorf("sqlstore: subscriber %s: %w", sub.Username, err)
	}
	return nil
}

// UpdateSubscriber replaces an account's credentials, classes and flags.
func (s *SubscriberStore) UpdateSubscriber(ctx context.Context, sub registrar.Subscriber) error {
	defer s.Invalidate()
	tx, err := s.db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: update subscriber: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, "UPDATE subscriber SET password = ?, ha1 = ?, ha1_sha256 = ? WHERE username = ? AND domain = ?",
		sub.Password, sub.HA1, sub.HA1SHA256, sub.Username, sub.Domain)
	if err != nil {
		return fmt.Errorf("sqlstore: update subscriber %s: %w", sub.Username, err)
	}
	if err := mustAffect(res, registrar.ErrNotFound); err != nil {
		return err
	}
	if err := s.writeExtras(ctx, tx, sub); err != nil {
		return err
	}
	return tx.Commit()
}

// DeleteSubscriber removes an account, its classes, Palio fields and
// its owner and note (palio_account_info, the admin page's).
func (s *SubscriberStore) DeleteSubscriber(ctx context.Context, username, domain string) error {
	defer s.Invalidate()
	tx, err := s.db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: delete subscriber: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, "DELETE FROM subscriber WHERE username = ? AND domain = ?", username, domain)
	if err != nil {
		return fmt.Errorf("sqlstore: delete subscriber %s: %w", username, err)
	}
	if err := mustAffect(res, registrar.ErrNotFound); err != nil {
		return err
	}
	for _, q := range []string{"DELETE FROM grp WHERE username = ? AND domain = ?", "DELETE FROM palio_subscriber WHERE username = ? AND domain = ?",
		"DELETE FROM palio_account_info WHERE username = ? AND domain = ?"} {
		if _, err := tx.ExecContext(ctx, q, username, domain); err != nil {
			return fmt.Errorf("sqlstore: delete subscriber %s: %w", username, err)
		}
	}
	return tx.Commit()
}

// SetBlocked blocks or unblocks an account.
func (s *SubscriberStore) SetBlocked(ctx context.Context, username, domain string, blocked bool) error {
	sub, err := s.exact(ctx, username, domain)
	if err != nil {
		return err
	}
	sub.Blocked = blocked
	return s.UpdateSubscriber(ctx, sub)
}

// exact reads an account by username and domain, bypassing the cache.
func (s *SubscriberStore) exact(ctx context.Context, username, domain string) (registrar.Subscriber, error) {
	s.Invalidate()
	sub, err := s.Subscriber(ctx, username, domain)
	if err == nil && sub.Domain != domain {
		return sub, registrar.ErrNotFound
	}
	return sub, err
}

// ListSubscribers returns every account, by username and domain.
func (s *SubscriberStore) ListSubscribers(ctx context.Context) ([]registrar.Subscriber, error) {
	rows, err := s.db.r.QueryContext(ctx, "SELECT s.username, s.domain, s.password, s.ha1, s.ha1_sha256, COALESCE(p.blocked, 0), COALESCE(p.inbound_classes, '') "+
		"FROM subscriber s LEFT JOIN palio_subscriber p ON p.username = s.username AND p.domain = s.domain ORDER BY s.username, s.domain")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list subscribers: %w", err)
	}
	var out []registrar.Subscriber
	for rows.Next() {
		var sub registrar.Subscriber
		var blocked int
		var inbound string
		if err := rows.Scan(&sub.Username, &sub.Domain, &sub.Password, &sub.HA1, &sub.HA1SHA256, &blocked, &inbound); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlstore: list subscribers: %w", err)
		}
		sub.Blocked = blocked != 0
		sub.InboundClasses = splitList(inbound)
		out = append(out, sub)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list subscribers: %w", err)
	}
	classes, err := s.db.r.QueryContext(ctx, "SELECT username, domain, grp FROM grp ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list subscribers: %w", err)
	}
	defer classes.Close()
	idx := map[[2]string]int{}
	for i, sub := range out {
		idx[[2]string{sub.Username, sub.Domain}] = i
	}
	for classes.Next() {
		var u, d, g string
		if err := classes.Scan(&u, &d, &g); err != nil {
			return nil, fmt.Errorf("sqlstore: list subscribers: %w", err)
		}
		if i, ok := idx[[2]string{u, d}]; ok && !slices.Contains(out[i].Classes, g) {
			out[i].Classes = append(out[i].Classes, g)
		}
	}
	return out, classes.Err()
}
