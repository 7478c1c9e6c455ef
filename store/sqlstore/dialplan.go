package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/palio-voip/palio/dialplan"
)

// DialplanStore is dialplan.Store over OpenSIPS's dialplan table: every
// column is read (id, dpid, pr, match_op, match_exp, match_flags,
// subst_exp, repl_exp, timerec, disabled, attrs); NULL text reads as "".
type DialplanStore struct{ db *DB }

var _ dialplan.Store = (*DialplanStore)(nil)

// Dialplan returns the dialplan store of db.
func (db *DB) Dialplan() *DialplanStore { return &DialplanStore{db} }

const dialplanCols = "id, dpid, pr, match_op, match_exp, match_flags, subst_exp, repl_exp, timerec, disabled, attrs"

// Rules returns every rule by ascending id.
func (s *DialplanStore) Rules(ctx context.Context) ([]dialplan.Rule, error) {
	rows, err := s.db.r.QueryContext(ctx, "SELECT "+dialplanCols+" FROM dialplan ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: dialplan rules: %w", err)
	}
	defer rows.Close()
	var out []dialplan.Rule
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: dialplan rules: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: dialplan rules: %w", err)
	}
	return out, nil
}

// Rule returns the rule with the given id.
func (s *DialplanStore) Rule(ctx context.Context, id int) (dialplan.Rule, error) {
	row := s.db.r.QueryRowContext(ctx, "SELECT "+dialplanCols+" FROM dialplan WHERE id = ?", id)
	r, err := scanRule(row)
	if errors.Is(err, sql.ErrNoRows) {
		return r, dialplan.ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("sqlstore: dialplan rule %d: %w", id, err)
	}
	return r, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanRule(sc scanner) (dialplan.Rule, error) {
	var r dialplan.Rule
	var op, disabled int
	var subst, repl, timerec, attrs sql.NullString
	err := sc.Scan(&r.ID, &r.DPID, &r.Priority, &op, &r.MatchExp, &r.MatchFlags, &subst, &repl, &timerec, &disabled, &attrs)
	r.MatchOp = dialplan.MatchOp(op)
	r.SubstExp, r.ReplExp, r.TimeRec, r.Attrs = subst.String, repl.String, timerec.String, attrs.String
	r.Disabled = disabled != 0
	return r, err
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// AddRule stores r; an ID of 0 takes the next free id.
func (s *DialplanStore) AddRule(ctx context.Context, r dialplan.Rule) (dialplan.Rule, error) {
	args := []any{r.DPID, r.Priority, int(r.MatchOp), r.MatchExp, r.MatchFlags, nullable(r.SubstExp), nullable(r.ReplExp), nullable(r.TimeRec), boolInt(r.Disabled), nullable(r.Attrs)}
	q := "INSERT INTO dialplan (dpid, pr, match_op, match_exp, match_flags, subst_exp, repl_exp, timerec, disabled, attrs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	if r.ID != 0 {
		q = "INSERT INTO dialplan (" + dialplanCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
		args = append([]any{r.ID}, args...)
	}
	res, err := s.db.w.ExecContext(ctx, q, args...)
	if s.db.dialect.isDuplicate(err) {
		return r, dialplan.ErrExists
	}
	if err != nil {
		return r, fmt.Errorf("sqlstore: add dialplan rule: %w", err)
	}
	if r.ID == 0 {
		id, err := res.LastInsertId()
		if err != nil {
			return r, fmt.Errorf("sqlstore: add dialplan rule: %w", err)
		}
		r.ID = int(id)
	}
	return r, nil
}

// UpdateRule replaces the rule with r.ID.
func (s *DialplanStore) UpdateRule(ctx context.Context, r dialplan.Rule) error {
	res, err := s.db.w.ExecContext(ctx, "UPDATE dialplan SET dpid = ?, pr = ?, match_op = ?, match_exp = ?, match_flags = ?, subst_exp = ?, repl_exp = ?, timerec = ?, disabled = ?, attrs = ? WHERE id = ?",
		r.DPID, r.Priority, int(r.MatchOp), r.MatchExp, r.MatchFlags, nullable(r.SubstExp), nullable(r.ReplExp), nullable(r.TimeRec), boolInt(r.Disabled), nullable(r.Attrs), r.ID)
	if err != nil {
		return fmt.Errorf("sqlstore: update dialplan rule %d: %w", r.ID, err)
	}
	return mustAffect(res, dialplan.ErrNotFound)
}

// DeleteRule removes the rule with the given id.
func (s *DialplanStore) DeleteRule(ctx context.Context, id int) error {
	res, err := s.db.w.ExecContext(ctx, "DELETE FROM dialplan WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("sqlstore: delete dialplan rule %d: %w", id, err)
	}
	return mustAffect(res, dialplan.ErrNotFound)
}

// mustAffect returns notFound when a statement changed no row. (MySQL
// counts a row updated to the values it had as unaffected: Open asks the
// driver for found rows instead.)
func mustAffect(res sql.Result, notFound error) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound
	}
	return nil
}
