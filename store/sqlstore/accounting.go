package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/palio-voip/palio/accounting"
)

// AccountingStore is accounting.Store over OpenSIPS's acc and
// missed_calls (3.6 columns plus Palio's palio_* ones) and Palio's
// palio_rates, and accounting.DepartmentStore over palio_departments.
// Times are DATETIME in Location (time.Local, as OpenSIPS writes them),
// whole seconds. Values longer than their columns are cut to fit
// (OpenSIPS's callid is CHAR(64), sip_reason CHAR(32)), so that no record
// can fail a batch on MySQL's strict mode.
type AccountingStore struct {
	db *DB
	// Location is the zone of the DATETIME columns.
	Location *time.Location
}

var (
	_ accounting.Store           = (*AccountingStore)(nil)
	_ accounting.DepartmentStore = (*AccountingStore)(nil)
)

// Accounting returns the call-record store of db.
func (db *DB) Accounting() *AccountingStore { return &AccountingStore{db: db, Location: time.Local} }

// accCol is a column of acc and missed_calls: its name, its width (0:
// a number or a time), and whether missed_calls has it.
type accCol struct {
	name   string
	width  int
	missed bool
}

// accCols are the columns the store writes, in the order of accValues.
var accCols = []accCol{
	{"method", 16, true}, {"from_tag", 64, true}, {"to_tag", 64, true}, {"callid", 64, true},
	{"sip_code", 3, true}, {"sip_reason", 32, true}, {"time", 0, true}, {"duration", 0, false},
	{"ms_duration", 0, false}, {"setuptime", 0, true}, {"created", 0, true},
	{"palio_id", 32, true}, {"palio_caller", 128, true}, {"palio_from", 128, true}, {"palio_callee", 128, true},
	{"palio_dialled", 64, true}, {"palio_number", 64, true}, {"palio_class", 32, true},
	{"palio_gateway", 64, true}, {"palio_carrier", 64, true}, {"palio_direction", 8, true},
	{"palio_hangup", 8, true}, {"palio_cause", 16, true}, {"palio_cost", 0, true}, {"palio_rate", 0, true},
}

// accChunk bounds the rows of one INSERT (25 columns each: far below
// either engine's limit on placeholders).
const accChunk = 100

// clip cuts s to n bytes, on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// datetime formats t as a DATETIME of the store's zone.
func (s *AccountingStore) datetime(t time.Time) string {
	return t.In(s.Location).Format(time.DateTime)
}

// accValues returns the values of c's columns of the table (missed:
// missed_calls).
func (s *AccountingStore) accValues(c accounting.CDR, missed bool) []any {
	var id any
	if c.ID != "" {
		id = clip(c.ID, 32)
	}
	var created any
	if !c.Created.IsZero() {
		created = s.datetime(c.Created)
	}
	all := []any{
		c.Method, c.FromTag, c.ToTag, c.CallID, strconv.Itoa(c.Code), c.Reason, s.datetime(c.Time), c.Duration,
		c.MSDuration, c.SetupTime, created,
		id, c.Caller, c.From, c.Callee, c.Dialled, c.Number, c.Class,
		c.Gateway, c.Carrier, string(c.Direction), c.Hangup, c.Cause, int64(c.Cost), c.Rate,
	}
	out := all[:0:0]
	for i, col := range accCols {
		if missed && !col.missed {
			continue
		}
		v := all[i]
		if str, ok := v.(string); ok && col.width > 0 {
			v = clip(str, col.width)
		}
		out = append(out, v)
	}
	return out
}

// accInsert returns the INSERT of n rows into table that skips a row
// whose palio_id is stored already.
func (s *AccountingStore) accInsert(table string, n int) string {
	var cols []string
	for _, c := range accCols {
		if table == "missed_calls" && !c.missed {
			continue
		}
		cols = append(cols, c.name)
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	q := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
	if s.db.dialect == MySQL {
		return q + " ON DUPLICATE KEY UPDATE palio_id = palio_id"
	}
	return q + " ON CONFLICT DO NOTHING"
}

// WriteCDRs stores a batch in one transaction: every record in acc, the
// unanswered ones in missed_calls too.
func (s *AccountingStore) WriteCDRs(ctx context.Context, cdrs []accounting.CDR) error {
	if len(cdrs) == 0 {
		return nil
	}
	tx, err := s.db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: acc: %w", err)
	}
	defer tx.Rollback()
	var missed []accounting.CDR
	for _, c := range cdrs {
		if !c.Answered() {
			missed = append(missed, c)
		}
	}
	for _, t := range []struct {
		table string
		rows  []accounting.CDR
	}{{"acc", cdrs}, {"missed_calls", missed}} {
		for rows := t.rows; len(rows) > 0; {
			n := min(len(rows), accChunk)
			args := make([]any, 0, n*len(accCols))
			for _, c := range rows[:n] {
				args = append(args, s.accValues(c, t.table == "missed_calls")...)
			}
			if _, err := tx.ExecContext(ctx, s.accInsert(t.table, n), args...); err != nil {
				return fmt.Errorf("sqlstore: %s: %w", t.table, err)
			}
			rows = rows[n:]
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: acc: %w", err)
	}
	return nil
}

// likeUser returns the LIKE pattern of the AORs of user ("5002@%"),
// escaped with '!'.
func likeUser(user string) string {
	r := strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")
	return r.Replace(user) + "@%"
}

// CDRs calls fn with the records f selects, by creation time then by
// row id.
func (s *AccountingStore) CDRs(ctx context.Context, f accounting.Filter, fn func(accounting.CDR) error) error {
	table := "acc"
	if f.Missed {
		table = "missed_calls"
	}
	var cols []string
	for _, c := range accCols {
		if f.Missed && !c.missed {
			continue
		}
		cols = append(cols, c.name)
	}
	q := "SELECT " + strings.Join(cols, ", ") + " FROM " + table
	var where []string
	var args []any
	if !f.From.IsZero() {
		where = append(where, "created >= ?")
		args = append(args, s.datetime(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "created < ?")
		args = append(args, s.datetime(f.To))
	}
	if u := f.User; u != "" {
		if strings.Contains(u, "@") {
			u = strings.ToLower(u)
			where = append(where, "(LOWER(palio_caller) = ? OR LOWER(palio_callee) = ? OR (palio_caller = '' AND LOWER(palio_from) = ?))")
			args = append(args, u, u, u)
		} else {
			p := likeUser(u)
			where = append(where, "(palio_caller LIKE ? ESCAPE '!' OR palio_callee LIKE ? ESCAPE '!' OR (palio_caller = '' AND palio_from LIKE ? ESCAPE '!'))")
			args = append(args, p, p, p)
		}
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created, id"
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	rows, err := s.db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		c, err := s.scanCDR(rows, f.Missed)
		if err != nil {
			return fmt.Errorf("sqlstore: %s: %w", table, err)
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlstore: %s: %w", table, err)
	}
	return nil
}

// scanCDR reads a row of accCols (missed_calls' when missed). Rows
// OpenSIPS wrote have no palio_id and empty Palio columns.
func (s *AccountingStore) scanCDR(rows *sql.Rows, missed bool) (accounting.CDR, error) {
	var c accounting.CDR
	var code string
	var tm, created any
	var id sql.NullString
	var dir string
	var cost int64
	dest := []any{&c.Method, &c.FromTag, &c.ToTag, &c.CallID, &code, &c.Reason, &tm}
	if !missed {
		dest = append(dest, &c.Duration, &c.MSDuration)
	}
	dest = append(dest, &c.SetupTime, &created, &id, &c.Caller, &c.From, &c.Callee, &c.Dialled, &c.Number, &c.Class,
		&c.Gateway, &c.Carrier, &dir, &c.Hangup, &c.Cause, &cost, &c.Rate)
	if err := rows.Scan(dest...); err != nil {
		return c, err
	}
	c.ID = id.String
	c.Code, _ = strconv.Atoi(strings.TrimSpace(code))
	c.Direction = accounting.Direction(dir)
	c.Cost = accounting.Money(cost)
	var err1, err2 error
	c.Time, err1 = s.scanTime(tm)
	c.Created, err2 = s.scanTime(created)
	return c, errors.Join(err1, err2)
}

// scanTime reads a DATETIME as the drivers return it (a time.Time whose
// clock reading is the column's, in UTC or in no zone; or text) as a
// time of the store's zone.
func (s *AccountingStore) scanTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case nil:
		return time.Time{}, nil
	case time.Time:
		return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, s.Location), nil
	case []byte:
		return s.scanTime(string(t))
	case string:
		for _, layout := range []string{time.DateTime, "2006-01-02T15:04:05Z07:00", "2006-01-02 15:04:05Z07:00", "2006-01-02T15:04:05"} {
			if p, err := time.Parse(layout, t); err == nil {
				return s.scanTime(p)
			}
		}
		return time.Time{}, fmt.Errorf("DATETIME %q", t)
	}
	return time.Time{}, fmt.Errorf("DATETIME of type %T", v)
}

// rateCols are palio_rates' columns in the order of Rates.
const rateCols = "class, prefix, per_minute, connect_fee, billing_initial, billing_increment, free, description"

// Rates returns the rate table by id.
func (s *AccountingStore) Rates(ctx context.Context) ([]accounting.Rate, error) {
	rows, err := s.db.r.QueryContext(ctx, "SELECT id, "+rateCols+" FROM palio_rates ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: palio_rates: %w", err)
	}
	defer rows.Close()
	var out []accounting.Rate
	for rows.Next() {
		var r accounting.Rate
		var perMin, fee int64
		if err := rows.Scan(&r.ID, &r.Class, &r.Prefix, &perMin, &fee, &r.Initial, &r.Increment, &r.Free, &r.Description); err != nil {
			return nil, fmt.Errorf("sqlstore: palio_rates: %w", err)
		}
		r.PerMinute, r.ConnectFee = accounting.Money(perMin), accounting.Money(fee)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: palio_rates: %w", err)
	}
	return out, nil
}

// PutRate adds a rate (ID 0) or replaces the rate with r's ID.
func (s *AccountingStore) PutRate(ctx context.Context, r accounting.Rate) (accounting.Rate, error) {
	if err := r.Validate(); err != nil {
		return accounting.Rate{}, err
	}
	args := []any{r.Class, r.Prefix, int64(r.PerMinute), int64(r.ConnectFee), r.Initial, r.Increment, r.Free, r.Description}
	if r.ID == 0 {
		res, err := s.db.w.ExecContext(ctx, "INSERT INTO palio_rates ("+rateCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)", args...)
		if s.db.dialect.isDuplicate(err) {
			return accounting.Rate{}, accounting.ErrExists
		}
		if err != nil {
			return accounting.Rate{}, fmt.Errorf("sqlstore: palio_rates: %w", err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return accounting.Rate{}, fmt.Errorf("sqlstore: palio_rates: %w", err)
		}
		r.ID = int(id)
		return r, nil
	}
	res, err := s.db.w.ExecContext(ctx, "UPDATE palio_rates SET class = ?, prefix = ?, per_minute = ?, connect_fee = ?, "+
		"billing_initial = ?, billing_increment = ?, free = ?, description = ? WHERE id = ?", append(args, r.ID)...)
	if s.db.dialect.isDuplicate(err) {
		return accounting.Rate{}, accounting.ErrExists
	}
	if err != nil {
		return accounting.Rate{}, fmt.Errorf("sqlstore: palio_rates: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return accounting.Rate{}, fmt.Errorf("sqlstore: palio_rates: %w", err)
	} else if n == 0 {
		return accounting.Rate{}, accounting.ErrNotFound
	}
	return r, nil
}

// DeleteRate removes the rate with id.
func (s *AccountingStore) DeleteRate(ctx context.Context, id int) error {
	res, err := s.db.w.ExecContext(ctx, "DELETE FROM palio_rates WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("sqlstore: palio_rates: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlstore: palio_rates: %w", err)
	} else if n == 0 {
		return accounting.ErrNotFound
	}
	return nil
}

// Departments returns the accounts' departments by user and domain.
func (s *AccountingStore) Departments(ctx context.Context) ([]accounting.Department, error) {
	rows, err := s.db.r.QueryContext(ctx, "SELECT username, domain, department FROM palio_departments ORDER BY username, domain")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: palio_departments: %w", err)
	}
	defer rows.Close()
	var out []accounting.Department
	for rows.Next() {
		var d accounting.Department
		if err := rows.Scan(&d.User, &d.Domain, &d.Department); err != nil {
			return nil, fmt.Errorf("sqlstore: palio_departments: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// SetDepartment stores an account's department, or removes its row for
// an empty one.
func (s *AccountingStore) SetDepartment(ctx context.Context, d accounting.Department) error {
	if err := d.Validate(); err != nil {
		return err
	}
	var err error
	if d.Department == "" {
		_, err = s.db.w.ExecContext(ctx, "DELETE FROM palio_departments WHERE username = ? AND domain = ?", d.User, d.Domain)
	} else {
		_, err = s.db.w.ExecContext(ctx, s.db.dialect.upsert("palio_departments", []string{"username", "domain", "department"},
			[]string{"username", "domain"}, []string{"department"}), d.User, d.Domain, d.Department)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: palio_departments: %w", err)
	}
	return nil
}
