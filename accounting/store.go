package accounting

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotFound is returned by a Store for a row it does not have.
var ErrNotFound = errors.New("accounting: not found")

// ErrExists is returned by Store.PutRate for a class and prefix another
// rate has already.
var ErrExists = errors.New("accounting: a rate for that class and prefix exists already")

// Filter selects records: those created in [From, To) (a zero bound is
// open), of a user, from the acc table or from missed_calls.
type Filter struct {
	From, To time.Time
	// User keeps the calls of one account, by its user part ("5002") or
	// its AOR: its outgoing calls (CDR.Caller, or the From user when the
	// caller did not authenticate) and its incoming ones (CDR.Callee).
	User string
	// Missed reads missed_calls (the unanswered calls) instead of acc
	// (every call).
	Missed bool
	// Limit stops after that many records; 0 means no limit.
	Limit int
}

// Match reports whether c is one of the records f selects, but for
// Missed and Limit: the memory store's filter, and the reference the SQL
// stores' queries must agree with.
func (f Filter) Match(c CDR) bool {
	if !f.From.IsZero() && c.Created.Before(f.From) {
		return false
	}
	if !f.To.IsZero() && !c.Created.Before(f.To) {
		return false
	}
	if f.User == "" {
		return true
	}
	if strings.Contains(f.User, "@") {
		return strings.EqualFold(c.Caller, f.User) || strings.EqualFold(c.Callee, f.User) ||
			(c.Caller == "" && strings.EqualFold(c.From, f.User))
	}
	return strings.EqualFold(userOf(c.Caller), f.User) || strings.EqualFold(userOf(c.Callee), f.User) ||
		(c.Caller == "" && strings.EqualFold(userOf(c.From), f.User))
}

// Store is where CDRs and the rate table live: OpenSIPS's acc and
// missed_calls and Palio's palio_rates in SQL, or memory.
type Store interface {
	// WriteCDRs stores a batch of records, every one in acc and the
	// unanswered ones in missed_calls too, all or none. A record whose ID
	// is already stored is left as it is: writing a batch again is
	// harmless.
	WriteCDRs(ctx context.Context, cdrs []CDR) error
	// CDRs calls fn with each record f selects, by creation time (then
	// in the order they were written); an error from fn stops it and is
	// returned.
	CDRs(ctx context.Context, f Filter, fn func(CDR) error) error
	// Rates returns the rate table, by ID.
	Rates(ctx context.Context) ([]Rate, error)
	// PutRate stores r: a new rate when its ID is 0 (returned with the
	// ID assigned), else the rate with that ID is replaced (ErrNotFound
	// when there is none). A class and prefix have one rate (ErrExists).
	PutRate(ctx context.Context, r Rate) (Rate, error)
	// DeleteRate removes the rate with id (ErrNotFound when there is none).
	DeleteRate(ctx context.Context, id int) error
}

// Department is the department an account belongs to, for the reports
// (the seed's "Dettaglio costi" per department).
type Department struct {
	User, Domain string
	Department   string
}

// AOR returns "user@domain".
func (d Department) AOR() string { return d.User + "@" + d.Domain }

// Validate reports why d cannot be stored.
func (d Department) Validate() error {
	if d.User == "" || strings.ContainsAny(d.User, " \t@;:<>,") {
		return fmt.Errorf("accounting: department of %q: want a user", d.User)
	}
	if len(d.Department) > 64 || strings.ContainsAny(d.Department, "\t\n") {
		return fmt.Errorf("accounting: department %q: at most 64 characters, no tab or newline", d.Department)
	}
	return nil
}

// DepartmentStore keeps the accounts' departments (palio_departments).
type DepartmentStore interface {
	// Departments returns every account's department, by user and domain.
	Departments(ctx context.Context) ([]Department, error)
	// SetDepartment stores the account's department; an empty Department
	// removes the account's row.
	SetDepartment(ctx context.Context, d Department) error
}
