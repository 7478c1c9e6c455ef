package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/palio-voip/palio/presence"
)

// PresenceStore is presence.Store over OpenSIPS's active_watchers table
// (and Palio's palio_* columns in it): the presence server writes every
// subscription through, so that a restart, or another node on the same
// database, finds them.
type PresenceStore struct{ db *DB }

var _ presence.Store = (*PresenceStore)(nil)

// Presence returns the subscriptions store of db.
func (db *DB) Presence() *PresenceStore { return &PresenceStore{db} }

// watcherCols are active_watchers' columns in the order Put writes them.
var watcherCols = []string{
	"presentity_uri", "watcher_username", "watcher_domain", "to_user", "to_domain", "event", "event_id",
	"to_tag", "from_tag", "callid", "local_cseq", "remote_cseq", "contact", "record_route", "expires",
	"status", "version", "local_contact", "palio_watcher_uri", "palio_to_uri", "palio_received", "palio_transport",
	"sharing_tag",
}

// Subscriptions returns the subscriptions of node: those whose
// sharing_tag is node, or NULL (or empty) for node "".
func (s *PresenceStore) Subscriptions(ctx context.Context, node string) ([]presence.Subscription, error) {
	where, args := "sharing_tag = ?", []any{node}
	if node == "" {
		where, args = "(sharing_tag IS NULL OR sharing_tag = '')", nil
	}
	rows, err := s.db.r.QueryContext(ctx, "SELECT presentity_uri, watcher_username, watcher_domain, event, event_id, to_tag, from_tag, callid, "+
		"local_cseq, remote_cseq, contact, record_route, expires, version, local_contact, palio_watcher_uri, palio_to_uri, "+
		"palio_received, palio_transport FROM active_watchers WHERE "+where+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: active_watchers: %w", err)
	}
	defer rows.Close()
	var out []presence.Subscription
	for rows.Next() {
		var sub presence.Subscription
		var eventID, routes sql.NullString
		var local, remote, expires, version int64
		if err := rows.Scan(&sub.PresentityURI, &sub.WatcherUser, &sub.WatcherDomain, &sub.Event, &eventID,
			&sub.ToTag, &sub.FromTag, &sub.CallID, &local, &remote, &sub.Contact, &routes, &expires, &version,
			&sub.LocalContact, &sub.WatcherURI, &sub.ToURI, &sub.Received, &sub.Transport); err != nil {
			return nil, fmt.Errorf("sqlstore: active_watchers: %w", err)
		}
		sub.EventID = eventID.String
		sub.Node = node
		sub.LocalCSeq, sub.RemoteCSeq, sub.Version = uint32(local), uint32(remote), uint32(version)
		sub.Expires = time.Unix(expires, 0)
		if routes.String != "" {
			sub.RouteSet = splitRoutes(routes.String)
		}
		out = append(out, sub)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: active_watchers: %w", err)
	}
	return out, nil
}

// Put inserts sub or replaces the subscription with its key (callid,
// to_tag, from_tag), its owner (sharing_tag: NULL for node "") included.
// Expires is kept to the second, as OpenSIPS does.
func (s *PresenceStore) Put(ctx context.Context, sub presence.Subscription) error {
	if sub.CallID == "" || sub.ToTag == "" || sub.FromTag == "" {
		return errors.New("sqlstore: active_watchers: a subscription needs its Call-ID and both tags")
	}
	toUser, toDomain := splitAOR(strings.TrimPrefix(strings.TrimPrefix(sub.PresentityURI, "sips:"), "sip:"))
	var eventID, owner any
	if sub.EventID != "" {
		eventID = sub.EventID
	}
	if sub.Node != "" {
		owner = sub.Node
	}
	key := []string{"callid", "to_tag", "from_tag"}
	var update []string
	for _, c := range watcherCols {
		if c != "callid" && c != "to_tag" && c != "from_tag" {
			update = append(update, c)
		}
	}
	q := s.db.dialect.upsert("active_watchers", watcherCols, key, update)
	_, err := s.db.w.ExecContext(ctx, q, sub.PresentityURI, sub.WatcherUser, sub.WatcherDomain, toUser, toDomain,
		sub.Event, eventID, sub.ToTag, sub.FromTag, sub.CallID, int64(sub.LocalCSeq), int64(sub.RemoteCSeq),
		sub.Contact, strings.Join(sub.RouteSet, ","), sub.Expires.Unix(), 2 /* active */, int64(sub.Version),
		sub.LocalContact, sub.WatcherURI, sub.ToURI, sub.Received, sub.Transport, owner)
	if err != nil {
		return fmt.Errorf("sqlstore: active_watchers: %w", err)
	}
	return nil
}

// Delete removes the subscription of k.
func (s *PresenceStore) Delete(ctx context.Context, k presence.Key) error {
	res, err := s.db.w.ExecContext(ctx, "DELETE FROM active_watchers WHERE callid = ? AND to_tag = ? AND from_tag = ?", k.CallID, k.ToTag, k.FromTag)
	if err != nil {
		return fmt.Errorf("sqlstore: active_watchers: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return presence.ErrNotFound
	}
	return nil
}

// splitRoutes splits a comma-separated route set; a comma inside <> is
// part of its URI.
func splitRoutes(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '<':
			depth++
		case '>':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	if r := strings.TrimSpace(s[start:]); r != "" {
		out = append(out, r)
	}
	return out
}

// MailboxStore is presence.MailboxStore over palio_mwi: the voicemail
// boxes' counts, one row per mailbox, behind the "mwi" change counter.
type MailboxStore struct{ db *DB }

var _ presence.MailboxStore = (*MailboxStore)(nil)

// Mailboxes returns the mailbox store of db.
func (db *DB) Mailboxes() *MailboxStore { return &MailboxStore{db} }

// Mailboxes returns every mailbox's counts.
func (s *MailboxStore) Mailboxes(ctx context.Context) ([]presence.Mailbox, error) {
	rows, err := s.db.r.QueryContext(ctx, "SELECT username, domain, new_messages, old_messages FROM palio_mwi ORDER BY username, domain")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: palio_mwi: %w", err)
	}
	defer rows.Close()
	var out []presence.Mailbox
	for rows.Next() {
		var m presence.Mailbox
		if err := rows.Scan(&m.User, &m.Domain, &m.New, &m.Old); err != nil {
			return nil, fmt.Errorf("sqlstore: palio_mwi: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: palio_mwi: %w", err)
	}
	return out, nil
}

// PutMailbox stores m's counts (presence.CheckMailbox first).
func (s *MailboxStore) PutMailbox(ctx context.Context, m presence.Mailbox) error {
	if err := presence.CheckMailbox(m); err != nil {
		return err
	}
	cols := []string{"username", "domain", "new_messages", "old_messages"}
	q := s.db.dialect.upsert("palio_mwi", cols, cols[:2], cols[2:])
	if _, err := s.db.w.ExecContext(ctx, q, m.User, m.Domain, m.New, m.Old); err != nil {
		return fmt.Errorf("sqlstore: palio_mwi: %w", err)
	}
	return nil
}

// RuleStore is presence.RuleStore over palio_watch_rules, behind the
// "watchrules" change counter.
type RuleStore struct{ db *DB }

var _ presence.RuleStore = (*RuleStore)(nil)

// WatchRules returns the watch-rule store of db.
func (db *DB) WatchRules() *RuleStore { return &RuleStore{db} }

// WatchRules returns every rule, by account and watcher.
func (s *RuleStore) WatchRules(ctx context.Context) ([]presence.WatchRule, error) {
	rows, err := s.db.r.QueryContext(ctx, "SELECT username, domain, watcher, allow FROM palio_watch_rules ORDER BY username, domain, watcher")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: palio_watch_rules: %w", err)
	}
	defer rows.Close()
	var out []presence.WatchRule
	for rows.Next() {
		var r presence.WatchRule
		if err := rows.Scan(&r.User, &r.Domain, &r.Watcher, &r.Allow); err != nil {
			return nil, fmt.Errorf("sqlstore: palio_watch_rules: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: palio_watch_rules: %w", err)
	}
	return out, nil
}

// PutWatchRule stores r (presence.CheckWatchRule first).
func (s *RuleStore) PutWatchRule(ctx context.Context, r presence.WatchRule) error {
	if err := presence.CheckWatchRule(r); err != nil {
		return err
	}
	cols := []string{"username", "domain", "watcher", "allow"}
	q := s.db.dialect.upsert("palio_watch_rules", cols, cols[:3], cols[3:])
	if _, err := s.db.w.ExecContext(ctx, q, r.User, r.Domain, strings.ToLower(r.Watcher), r.Allow); err != nil {
		return fmt.Errorf("sqlstore: palio_watch_rules: %w", err)
	}
	return nil
}

// DeleteWatchRule removes the rule of user@domain and watcher.
func (s *RuleStore) DeleteWatchRule(ctx context.Context, user, domain, watcher string) error {
	res, err := s.db.w.ExecContext(ctx, "DELETE FROM palio_watch_rules WHERE username = ? AND domain = ? AND watcher = ?", user, domain, strings.ToLower(watcher))
	if err != nil {
		return fmt.Errorf("sqlstore: palio_watch_rules: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return presence.ErrNotFound
	}
	return nil
}
