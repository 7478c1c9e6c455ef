package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/palio-voip/palio/features"
)

// FeatureStore is features.Store over Palio's palio_features (one row per
// account with a service on; timers in whole seconds, the secretary's
// allow list comma-separated) and OpenSIPS's userblacklist (id, username,
// domain, prefix, whitelist) and globalblacklist (id, prefix, whitelist,
// description). The two lists number their rows apart, as in OpenSIPS: a
// row is named by its id and its list.
type FeatureStore struct{ db *DB }

var _ features.Store = (*FeatureStore)(nil)

// Features returns the call-services store of db.
func (db *DB) Features() *FeatureStore { return &FeatureStore{db} }

// featureCols are palio_features' columns in the order Settings and
// PutSettings use them.
var featureCols = []string{
	"username", "domain", "forward_always", "forward_busy", "forward_noanswer", "noanswer_after",
	"forward_unreachable", "dnd", "dnd_action", "anonymous_block", "secretary", "secretary_allow",
	"ring_boss_after", "boss_when_secretary_fails",
}

// Settings returns every account's settings, by user and domain.
func (s *FeatureStore) Settings(ctx context.Context) ([]features.Settings, error) {
	rows, err := s.db.r.QueryContext(ctx, "SELECT "+strings.Join(featureCols, ", ")+" FROM palio_features ORDER BY username, domain")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: features: %w", err)
	}
	defer rows.Close()
	var out []features.Settings
	for rows.Next() {
		var st features.Settings
		var noAnswer, ringBoss int64
		var dnd, anon, bossFails bool
		var action, allow string
		if err := rows.Scan(&st.User, &st.Domain, &st.ForwardAlways, &st.ForwardBusy, &st.ForwardNoAnswer, &noAnswer,
			&st.ForwardUnreachable, &dnd, &action, &anon, &st.Secretary, &allow, &ringBoss, &bossFails); err != nil {
			return nil, fmt.Errorf("sqlstore: features: %w", err)
		}
		st.NoAnswerAfter = time.Duration(noAnswer) * time.Second
		st.RingBossAfter = time.Duration(ringBoss) * time.Second
		st.DND, st.AnonymousBlock, st.BossWhenSecretaryFails = dnd, anon, bossFails
		st.DNDAction = features.DNDAction(action)
		for u := range strings.SplitSeq(allow, ",") {
			if u = strings.TrimSpace(u); u != "" {
				st.SecretaryAllow = append(st.SecretaryAllow, u)
			}
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: features: %w", err)
	}
	return out, nil
}

// PutSettings stores st (features.Settings.Validate first), replacing the
// account's row; settings that turn nothing on (Empty) delete it. The
// timers are kept in whole seconds (Validate refuses a fraction).
func (s *FeatureStore) PutSettings(ctx context.Context, st features.Settings) error {
	if err := st.Validate(); err != nil {
		return err
	}
	if st.Empty() {
		if _, err := s.db.w.ExecContext(ctx, "DELETE FROM palio_features WHERE username = ? AND domain = ?", st.User, st.Domain); err != nil {
			return fmt.Errorf("sqlstore: features %s: %w", st.User, err)
		}
		return nil
	}
	q := s.db.dialect.upsert("palio_features", featureCols, featureCols[:2], featureCols[2:])
	_, err := s.db.w.ExecContext(ctx, q, st.User, st.Domain, st.ForwardAlways, st.ForwardBusy, st.ForwardNoAnswer,
		int64(st.NoAnswerAfter/time.Second), st.ForwardUnreachable, st.DND, string(st.DNDAction), st.AnonymousBlock,
		st.Secretary, strings.Join(st.SecretaryAllow, ","), int64(st.RingBossAfter/time.Second), st.BossWhenSecretaryFails)
	if err != nil {
		return fmt.Errorf("sqlstore: features %s: %w", st.User, err)
	}
	return nil
}

// ListEntries returns every blacklist row: the global list's by id, then
// the users' by id.
func (s *FeatureStore) ListEntries(ctx context.Context) ([]features.ListEntry, error) {
	var out []features.ListEntry
	rows, err := s.db.r.QueryContext(ctx, "SELECT id, prefix, whitelist, description FROM globalblacklist ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: blacklists: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e features.ListEntry
		var desc sql.NullString
		if err := rows.Scan(&e.ID, &e.Prefix, &e.Whitelist, &desc); err != nil {
			return nil, fmt.Errorf("sqlstore: blacklists: %w", err)
		}
		e.Description = desc.String
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: blacklists: %w", err)
	}
	rows.Close()
	rows, err = s.db.r.QueryContext(ctx, "SELECT id, username, domain, prefix, whitelist FROM userblacklist ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: blacklists: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e features.ListEntry
		if err := rows.Scan(&e.ID, &e.User, &e.Domain, &e.Prefix, &e.Whitelist); err != nil {
			return nil, fmt.Errorf("sqlstore: blacklists: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: blacklists: %w", err)
	}
	return out, nil
}

// AddListEntry stores e (features.ListEntry.Validate first) in
// globalblacklist (e.User empty) or userblacklist, and returns it with
// its id. A prefix already in that list is features.ErrExists: Palio's
// tables have a unique key for it, and a table OpenSIPS created without
// one is checked in the same transaction. userblacklist has no
// description column: a user row's Description is not stored, and the
// row returned has none.
func (s *FeatureStore) AddListEntry(ctx context.Context, e features.ListEntry) (features.ListEntry, error) {
	if err := e.Validate(); err != nil {
		return features.ListEntry{}, err
	}
	if !e.Global() {
		e.Description = ""
	}
	tx, err := s.db.w.BeginTx(ctx, nil)
	if err != nil {
		return features.ListEntry{}, fmt.Errorf("sqlstore: add blacklist entry %s: %w", e.Prefix, err)
	}
	defer tx.Rollback()
	var n int
	check, args := "SELECT COUNT(*) FROM globalblacklist WHERE prefix = ?", []any{e.Prefix}
	if !e.Global() {
		check, args = "SELECT COUNT(*) FROM userblacklist WHERE username = ? AND LOWER(domain) = LOWER(?) AND prefix = ?", []any{e.User, e.Domain, e.Prefix}
	}
	if err := tx.QueryRowContext(ctx, check, args...).Scan(&n); err != nil {
		return features.ListEntry{}, fmt.Errorf("sqlstore: add blacklist entry %s: %w", e.Prefix, err)
	}
	if n > 0 {
		return features.ListEntry{}, features.ErrExists
	}
	var res sql.Result
	if e.Global() {
		var desc any
		if e.Description != "" {
			desc = e.Description
		}
		res, err = tx.ExecContext(ctx, "INSERT INTO globalblacklist (prefix, whitelist, description) VALUES (?, ?, ?)", e.Prefix, e.Whitelist, desc)
	} else {
		res, err = tx.ExecContext(ctx, "INSERT INTO userblacklist (username, domain, prefix, whitelist) VALUES (?, ?, ?, ?)", e.User, e.Domain, e.Prefix, e.Whitelist)
	}
	if s.db.dialect.isDuplicate(err) {
		return features.ListEntry{}, features.ErrExists
	}
	if err != nil {
		return features.ListEntry{}, fmt.Errorf("sqlstore: add blacklist entry %s: %w", e.Prefix, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return features.ListEntry{}, fmt.Errorf("sqlstore: add blacklist entry %s: %w", e.Prefix, err)
	}
	if err := tx.Commit(); err != nil {
		if s.db.dialect.isDuplicate(err) {
			return features.ListEntry{}, features.ErrExists
		}
		return features.ListEntry{}, fmt.Errorf("sqlstore: add blacklist entry %s: %w", e.Prefix, err)
	}
	e.ID = int(id)
	return e, nil
}

// DeleteListEntry removes the row with id from globalblacklist (global)
// or userblacklist; features.ErrNotFound when that table has none.
func (s *FeatureStore) DeleteListEntry(ctx context.Context, id int, global bool) error {
	table := "userblacklist"
	if global {
		table = "globalblacklist"
	}
	res, err := s.db.w.ExecContext(ctx, "DELETE FROM "+table+" WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("sqlstore: delete blacklist entry %d: %w", id, err)
	}
	if err := mustAffect(res, features.ErrNotFound); err != nil {
		if errors.Is(err, features.ErrNotFound) {
			return err
		}
		return fmt.Errorf("sqlstore: delete blacklist entry %d: %w", id, err)
	}
	return nil
}

// UpdateListEntry replaces the prefix, whitelist flag and (global rows)
// description of row e.ID in globalblacklist (e.User empty) or in e's
// account's rows of userblacklist, in one transaction:
// features.ErrNotFound without that row, features.ErrExists when another
// row of the list has the prefix. The tables' update triggers tell the
// nodes.
func (s *FeatureStore) UpdateListEntry(ctx context.Context, e features.ListEntry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	tx, err := s.db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: update blacklist entry %d: %w", e.ID, err)
	}
	defer tx.Rollback()
	table, where, args := "globalblacklist", "", []any{}
	if !e.Global() {
		table, where, args = "userblacklist", " AND username = ? AND LOWER(domain) = LOWER(?)", []any{e.User, e.Domain}
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE id = ?"+where, append([]any{e.ID}, args...)...).Scan(&n); err != nil {
		return fmt.Errorf("sqlstore: update blacklist entry %d: %w", e.ID, err)
	}
	if n == 0 {
		return features.ErrNotFound
	}
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE id <> ? AND prefix = ?"+where, append([]any{e.ID, e.Prefix}, args...)...).Scan(&n); err != nil {
		return fmt.Errorf("sqlstore: update blacklist entry %d: %w", e.ID, err)
	}
	if n > 0 {
		return features.ErrExists
	}
	if e.Global() {
		var desc any
		if e.Description != "" {
			desc = e.Description
		}
		_, err = tx.ExecContext(ctx, "UPDATE globalblacklist SET prefix = ?, whitelist = ?, description = ? WHERE id = ?", e.Prefix, e.Whitelist, desc, e.ID)
	} else {
		_, err = tx.ExecContext(ctx, "UPDATE userblacklist SET prefix = ?, whitelist = ? WHERE id = ?", e.Prefix, e.Whitelist, e.ID)
	}
	if s.db.dialect.isDuplicate(err) {
		return features.ErrExists
	}
	if err != nil {
		return fmt.Errorf("sqlstore: update blacklist entry %d: %w", e.ID, err)
	}
	if err := tx.Commit(); err != nil {
		if s.db.dialect.isDuplicate(err) {
			return features.ErrExists
		}
		return fmt.Errorf("sqlstore: update blacklist entry %d: %w", e.ID, err)
	}
	return nil
}

// checkUserListEntry is TSV import's check of a userblacklist row: the
// features package's (ListEntry.Validate), and a user (a row without one
// would be no one's).
func checkUserListEntry(row map[string]string) error {
	if row["username"] == "" {
		return errors.New("username: empty (global rows go in globalblacklist)")
	}
	return features.ListEntry{User: row["username"], Domain: row["domain"], Prefix: row["prefix"]}.Validate()
}

// checkGlobalListEntry is TSV import's check of a globalblacklist row.
func checkGlobalListEntry(row map[string]string) error {
	return features.ListEntry{Prefix: row["prefix"]}.Validate()
}
