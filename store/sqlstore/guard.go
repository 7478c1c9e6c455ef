package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/palio-voip/palio/guard"
)

// GuardStore is guard.Store over Palio's palio_guard_bans (kind, subject,
// reason, created and expires in Unix milliseconds, expires 0 for none)
// and OpenSIPS's fraud_detection (with Palio's total_minutes_warning and
// total_minutes_critical).
type GuardStore struct{ db *DB }

var _ guard.Store = (*GuardStore)(nil)

// Guard returns the guard's store of db.
func (db *DB) Guard() *GuardStore { return &GuardStore{db} }

// Bans returns every stored ban, by kind and subject.
func (s *GuardStore) Bans(ctx context.Context) ([]guard.Ban, error) {
	rows, err := s.db.r.QueryContext(ctx, "SELECT kind, subject, reason, created, expires FROM palio_guard_bans ORDER BY kind, subject")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: guard bans: %w", err)
	}
	defer rows.Close()
	var out []guard.Ban
	for rows.Next() {
		var b guard.Ban
		var kind string
		var created, expires int64
		if err := rows.Scan(&kind, &b.Subject, &b.Reason, &created, &expires); err != nil {
			return nil, fmt.Errorf("sqlstore: guard bans: %w", err)
		}
		b.Kind = guard.BanKind(kind)
		b.Created = time.UnixMilli(created).UTC()
		if expires != 0 {
			b.Until = time.UnixMilli(expires).UTC()
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: guard bans: %w", err)
	}
	return out, nil
}

var banCols = []string{"kind", "subject", "reason", "created", "expires"}

// PutBan stores b (guard.Ban.Validate first), replacing the ban of its
// kind and subject. Times are kept to the millisecond.
func (s *GuardStore) PutBan(ctx context.Context, b guard.Ban) error {
	if err := b.Validate(); err != nil {
		return err
	}
	var expires int64
	if !b.Until.IsZero() {
		expires = b.Until.UnixMilli()
	}
	q := s.db.dialect.upsert("palio_guard_bans", banCols, banCols[:2], banCols[2:])
	if _, err := s.db.w.ExecContext(ctx, q, string(b.Kind), b.Subject, b.Reason, b.Created.UnixMilli(), expires); err != nil {
		return fmt.Errorf("sqlstore: guard ban %s %s: %w", b.Kind, b.Subject, err)
	}
	return nil
}

// DeleteBan removes a ban; guard.ErrNotFound when there is none.
func (s *GuardStore) DeleteBan(ctx context.Context, kind guard.BanKind, subject string) error {
	res, err := s.db.w.ExecContext(ctx, "DELETE FROM palio_guard_bans WHERE kind = ? AND subject = ?", string(kind), subject)
	if err != nil {
		return fmt.Errorf("sqlstore: delete guard ban %s %s: %w", kind, subject, err)
	}
	if err := mustAffect(res, guard.ErrNotFound); err != nil {
		if errors.Is(err, guard.ErrNotFound) {
			return err
		}
		return fmt.Errorf("sqlstore: delete guard ban %s %s: %w", kind, subject, err)
	}
	return nil
}

// ruleCols are fraud_detection's columns in the order Rules and PutRule
// use them (ruleid first).
var ruleCols = []string{
	"ruleid", "profileid", "prefix", "start_hour", "end_hour", "daysoftheweek",
	"cpm_warning", "cpm_critical", "call_duration_warning", "call_duration_critical",
	"total_calls_warning", "total_calls_critical", "concurrent_calls_warning", "concurrent_calls_critical",
	"sequential_calls_warning", "sequential_calls_critical", "total_minutes_warning", "total_minutes_critical",
}

// Rules returns every fraud rule, by ruleid. CHAR columns come back
// without their padding.
func (s *GuardStore) Rules(ctx context.Context) ([]guard.Rule, error) {
	rows, err := s.db.r.QueryContext(ctx, "SELECT "+strings.Join(ruleCols, ", ")+" FROM fraud_detection ORDER BY ruleid")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: fraud rules: %w", err)
	}
	defer rows.Close()
	var out []guard.Rule
	for rows.Next() {
		var r guard.Rule
		if err := rows.Scan(&r.ID, &r.Profile, &r.Prefix, &r.StartHour, &r.EndHour, &r.Days,
			&r.CallsPerMinute.Warning, &r.CallsPerMinute.Critical, &r.CallDuration.Warning, &r.CallDuration.Critical,
			&r.TotalCalls.Warning, &r.TotalCalls.Critical, &r.ConcurrentCalls.Warning, &r.ConcurrentCalls.Critical,
			&r.SequentialCalls.Warning, &r.SequentialCalls.Critical, &r.TotalMinutes.Warning, &r.TotalMinutes.Critical); err != nil {
			return nil, fmt.Errorf("sqlstore: fraud rules: %w", err)
		}
		r.Prefix = strings.TrimRight(r.Prefix, " ")
		r.StartHour, r.EndHour = strings.TrimSpace(r.StartHour), strings.TrimSpace(r.EndHour)
		r.Days = strings.TrimSpace(r.Days)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: fraud rules: %w", err)
	}
	return out, nil
}

func ruleArgs(r guard.Rule) []any {
	start, end, days := r.StartHour, r.EndHour, r.Days
	if start == "" {
		start = "00:00"
	}
	if end == "" {
		end = "23:59"
	}
	if days == "" {
		days = "Mon-Sun"
	}
	return []any{r.Profile, r.Prefix, start, end, days,
		r.CallsPerMinute.Warning, r.CallsPerMinute.Critical, r.CallDuration.Warning, r.CallDuration.Critical,
		r.TotalCalls.Warning, r.TotalCalls.Critical, r.ConcurrentCalls.Warning, r.ConcurrentCalls.Critical,
		r.SequentialCalls.Warning, r.SequentialCalls.Critical, r.TotalMinutes.Warning, r.TotalMinutes.Critical}
}

// PutRule stores r (guard.Rule.Validate first): a new row when r.ID is 0,
// else the row with that ruleid is replaced (guard.ErrNotFound when there
// is none). Empty hours and days are stored as OpenSIPS's defaults
// (00:00, 23:59, Mon-Sun), which mean the same.
func (s *GuardStore) PutRule(ctx context.Context, r guard.Rule) (guard.Rule, error) {
	if err := r.Validate(); err != nil {
		return guard.Rule{}, err
	}
	args := ruleArgs(r)
	cols := ruleCols[1:]
	if r.ID == 0 {
		q := "INSERT INTO fraud_detection (" + strings.Join(cols, ", ") + ") VALUES (" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
		res, err := s.db.w.ExecContext(ctx, q, args...)
		if err != nil {
			return guard.Rule{}, fmt.Errorf("sqlstore: add fraud rule: %w", err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return guard.Rule{}, fmt.Errorf("sqlstore: add fraud rule: %w", err)
		}
		r.ID = int(id)
		return r, nil
	}
	q := "UPDATE fraud_detection SET " + strings.Join(cols, " = ?, ") + " = ? WHERE ruleid = ?"
	res, err := s.db.w.ExecContext(ctx, q, append(args, r.ID)...)
	if err != nil {
		return guard.Rule{}, fmt.Errorf("sqlstore: fraud rule %d: %w", r.ID, err)
	}
	if err := mustAffect(res, guard.ErrNotFound); err != nil {
		if errors.Is(err, guard.ErrNotFound) {
			return guard.Rule{}, err
		}
		return guard.Rule{}, fmt.Errorf("sqlstore: fraud rule %d: %w", r.ID, err)
	}
	return r, nil
}

// DeleteRule removes a rule; guard.ErrNotFound when there is none.
func (s *GuardStore) DeleteRule(ctx context.Context, id int) error {
	res, err := s.db.w.ExecContext(ctx, "DELETE FROM fraud_detection WHERE ruleid = ?", id)
	if err != nil {
		return fmt.Errorf("sqlstore: delete fraud rule %d: %w", id, err)
	}
	if err := mustAffect(res, guard.ErrNotFound); err != nil {
		if errors.Is(err, guard.ErrNotFound) {
			return err
		}
		return fmt.Errorf("sqlstore: delete fraud rule %d: %w", id, err)
	}
	return nil
}
