package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/palio-voip/palio/admin"
)

// AdminStore is admin.Store, admin.LoginStore and admin.AccountInfoStore
// over palio_admin_notice, palio_admin_audit, palio_admin_logins (times
// in Unix milliseconds) and palio_account_info.
type AdminStore struct{ db *DB }

var (
	_ admin.Store            = (*AdminStore)(nil)
	_ admin.LoginStore       = (*AdminStore)(nil)
	_ admin.AccountInfoStore = (*AdminStore)(nil)
)

// Admin returns the admin's store of db.
func (db *DB) Admin() *AdminStore { return &AdminStore{db} }

// Notice returns the notice; a zero one when none was set.
func (s *AdminStore) Notice(ctx context.Context) (admin.Notice, error) {
	var n admin.Notice
	var updated int64
	err := s.db.r.QueryRowContext(ctx, "SELECT text, updated, updated_by FROM palio_admin_notice WHERE id = 1").Scan(&n.Text, &updated, &n.By)
	if errors.Is(err, sql.ErrNoRows) {
		return admin.Notice{}, nil
	}
	if err != nil {
		return admin.Notice{}, fmt.Errorf("sqlstore: admin notice: %w", err)
	}
	n.Updated = fromMillis(updated)
	return n, nil
}

var noticeCols = []string{"id", "text", "updated", "updated_by"}

// SetNotice replaces the notice (admin.Notice.Validate first).
func (s *AdminStore) SetNotice(ctx context.Context, n admin.Notice) error {
	if err := n.Validate(); err != nil {
		return err
	}
	q := s.db.dialect.upsert("palio_admin_notice", noticeCols, noticeCols[:1], noticeCols[1:])
	if _, err := s.db.w.ExecContext(ctx, q, 1, n.Text, millis(n.Updated), n.By); err != nil {
		return fmt.Errorf("sqlstore: admin notice: %w", err)
	}
	return nil
}

// AddAudit appends e and returns it with its ID.
func (s *AdminStore) AddAudit(ctx context.Context, e admin.AuditEntry) (admin.AuditEntry, error) {
	res, err := s.db.w.ExecContext(ctx, "INSERT INTO palio_admin_audit (time, who, action, target, detail) VALUES (?, ?, ?, ?, ?)",
		millis(e.Time), e.Who, e.Action, e.Target, e.Detail)
	if err != nil {
		return e, fmt.Errorf("sqlstore: admin audit: %w", err)
	}
	if e.ID, err = res.LastInsertId(); err != nil {
		return e, fmt.Errorf("sqlstore: admin audit: %w", err)
	}
	return e, nil
}

// Audit returns the entries f selects, newest first.
func (s *AdminStore) Audit(ctx context.Context, f admin.AuditFilter) ([]admin.AuditEntry, error) {
	q := "SELECT id, time, who, action, target, detail FROM palio_admin_audit"
	var args []any
	if f.Who != "" {
		q += " WHERE who = ?"
		args = append(args, f.Who)
	}
	q += " ORDER BY id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := s.db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: admin audit: %w", err)
	}
	defer rows.Close()
	var out []admin.AuditEntry
	for rows.Next() {
		var e admin.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Who, &e.Action, &e.Target, &e.Detail); err != nil {
			return nil, fmt.Errorf("sqlstore: admin audit: %w", err)
		}
		e.Time = fromMillis(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: admin audit: %w", err)
	}
	return out, nil
}

var loginCols = []string{"name", "scope", "account", "domain", "hash", "updated"}

func scanLogin(sc interface{ Scan(...any) error }) (admin.Login, error) {
	var l admin.Login
	var scope string
	var updated int64
	if err := sc.Scan(&l.Name, &scope, &l.Account, &l.Domain, &l.Hash, &updated); err != nil {
		return l, err
	}
	l.Scope, l.Updated = admin.Scope(scope), fromMillis(updated)
	return l, nil
}

// Login returns the login called name, or admin.ErrNotFound.
func (s *AdminStore) Login(ctx context.Context, name string) (admin.Login, error) {
	l, err := scanLogin(s.db.r.QueryRowContext(ctx, "SELECT name, scope, account, domain, hash, updated FROM palio_admin_logins WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return admin.Login{}, admin.ErrNotFound
	}
	if err != nil {
		return admin.Login{}, fmt.Errorf("sqlstore: admin login %s: %w", name, err)
	}
	return l, nil
}

// PutLogin stores l (admin.Login.Validate first), replacing a login of
// its name.
func (s *AdminStore) PutLogin(ctx context.Context, l admin.Login) error {
	if err := l.Validate(); err != nil {
		return err
	}
	q := s.db.dialect.upsert("palio_admin_logins", loginCols, loginCols[:1], loginCols[1:])
	if _, err := s.db.w.ExecContext(ctx, q, l.Name, string(l.Scope), l.Account, l.Domain, l.Hash, millis(l.Updated)); err != nil {
		return fmt.Errorf("sqlstore: admin login %s: %w", l.Name, err)
	}
	return nil
}

// DeleteLogin removes a login, or returns admin.ErrNotFound.
func (s *AdminStore) DeleteLogin(ctx context.Context, name string) error {
	res, err := s.db.w.ExecContext(ctx, "DELETE FROM palio_admin_logins WHERE name = ?", name)
	if err != nil {
		return fmt.Errorf("sqlstore: delete admin login %s: %w", name, err)
	}
	if err := mustAffect(res, admin.ErrNotFound); err != nil {
		if errors.Is(err, admin.ErrNotFound) {
			return err
		}
		return fmt.Errorf("sqlstore: delete admin login %s: %w", name, err)
	}
	return nil
}

// Logins returns every login, by name.
func (s *AdminStore) Logins(ctx context.Context) ([]admin.Login, error) {
	rows, err := s.db.r.QueryContext(ctx, "SELECT name, scope, account, domain, hash, updated FROM palio_admin_logins ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: admin logins: %w", err)
	}
	defer rows.Close()
	var out []admin.Login
	for rows.Next() {
		l, err := scanLogin(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: admin logins: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// AccountInfo returns the owner and note of username@domain (the domain
// in any case); a zero one when it has none.
func (s *AdminStore) AccountInfo(ctx context.Context, username, domain string) (admin.AccountInfo, error) {
	i := admin.AccountInfo{Username: username, Domain: domain}
	err := s.db.r.QueryRowContext(ctx, "SELECT owner, note FROM palio_account_info WHERE username = ? AND domain = ?", username, domain).Scan(&i.Owner, &i.Note)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return i, fmt.Errorf("sqlstore: account info %s@%s: %w", username, domain, err)
	}
	return i, nil
}

// AccountInfos returns every account's owner and note, by username and
// domain.
func (s *AdminStore) AccountInfos(ctx context.Context) ([]admin.AccountInfo, error) {
	rows, err := s.db.r.QueryContext(ctx, "SELECT username, domain, owner, note FROM palio_account_info ORDER BY username, domain")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: account infos: %w", err)
	}
	defer rows.Close()
	var out []admin.AccountInfo
	for rows.Next() {
		var i admin.AccountInfo
		if err := rows.Scan(&i.Username, &i.Domain, &i.Owner, &i.Note); err != nil {
			return nil, fmt.Errorf("sqlstore: account infos: %w", err)
		}
		out = append(out, i)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: account infos: %w", err)
	}
	return out, nil
}

var accountInfoCols = []string{"username", "domain", "owner", "note"}

// PutAccountInfo stores i (admin.AccountInfo.Validate first), replacing
// the account's row; an info without owner and note deletes it.
func (s *AdminStore) PutAccountInfo(ctx context.Context, i admin.AccountInfo) error {
	if err := i.Validate(); err != nil {
		return err
	}
	if i.IsZero() {
		return s.DeleteAccountInfo(ctx, i.Username, i.Domain)
	}
	q := s.db.dialect.upsert("palio_account_info", accountInfoCols, accountInfoCols[:2], accountInfoCols[2:])
	if _, err := s.db.w.ExecContext(ctx, q, i.Username, i.Domain, i.Owner, i.Note); err != nil {
		return fmt.Errorf("sqlstore: account info %s@%s: %w", i.Username, i.Domain, err)
	}
	return nil
}

// DeleteAccountInfo deletes the row of username@domain, if any.
func (s *AdminStore) DeleteAccountInfo(ctx context.Context, username, domain string) error {
	if _, err := s.db.w.ExecContext(ctx, "DELETE FROM palio_account_info WHERE username = ? AND domain = ?", username, domain); err != nil {
		return fmt.Errorf("sqlstore: delete account info %s@%s: %w", username, domain, err)
	}
	return nil
}
