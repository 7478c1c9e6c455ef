package accounting

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// MemStore is a Store and a DepartmentStore in memory, for tests and tiny
// deployments. It keeps times as given (the SQL stores keep whole
// seconds).
type MemStore struct {
	mu     sync.Mutex
	acc    []CDR
	missed []CDR
	ids    map[string]bool
	rates  []Rate
	nextID int
	depts  []Department
	// fail, when set, makes WriteCDRs fail with it (FailWrites).
	fail error
}

var (
	_ Store           = (*MemStore)(nil)
	_ DepartmentStore = (*MemStore)(nil)
)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{ids: map[string]bool{}, nextID: 1} }

// FailWrites makes WriteCDRs fail with err from now on (nil: succeed
// again): a database outage, for tests of the writer.
func (s *MemStore) FailWrites(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

// WriteCDRs stores cdrs.
func (s *MemStore) WriteCDRs(ctx context.Context, cdrs []CDR) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	for _, c := range cdrs {
		if c.ID != "" {
			if s.ids[c.ID] {
				continue
			}
			s.ids[c.ID] = true
		}
		s.acc = insertByCreated(s.acc, c)
		if !c.Answered() {
			s.missed = insertByCreated(s.missed, c)
		}
	}
	return nil
}

// insertByCreated inserts c after the records created at or before it.
func insertByCreated(list []CDR, c CDR) []CDR {
	i := len(list)
	for i > 0 && list[i-1].Created.After(c.Created) {
		i--
	}
	return slices.Insert(list, i, c)
}

// CDRs calls fn with the records f selects.
func (s *MemStore) CDRs(ctx context.Context, f Filter, fn func(CDR) error) error {
	s.mu.Lock()
	list := s.acc
	if f.Missed {
		list = s.missed
	}
	var sel []CDR
	for _, c := range list {
		if f.Match(c) {
			sel = append(sel, c)
			if f.Limit > 0 && len(sel) == f.Limit {
				break
			}
		}
	}
	s.mu.Unlock()
	for _, c := range sel {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

// Rates returns the rate table by ID.
func (s *MemStore) Rates(ctx context.Context) ([]Rate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rates), nil
}

// PutRate adds or replaces a rate.
func (s *MemStore) PutRate(ctx context.Context, r Rate) (Rate, error) {
	if err := r.Validate(); err != nil {
		return Rate{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.ContainsFunc(s.rates, func(x Rate) bool { return x.ID != r.ID && x.Class == r.Class && x.Prefix == r.Prefix }) {
		return Rate{}, ErrExists
	}
	if r.ID == 0 {
		r.ID = s.nextID
		s.nextID++
		s.rates = append(s.rates, r)
		return r, nil
	}
	i := slices.IndexFunc(s.rates, func(x Rate) bool { return x.ID == r.ID })
	if i < 0 {
		return Rate{}, ErrNotFound
	}
	s.rates[i] = r
	return r, nil
}

// DeleteRate removes a rate.
func (s *MemStore) DeleteRate(ctx context.Context, id int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.rates, func(x Rate) bool { return x.ID == id })
	if i < 0 {
		return ErrNotFound
	}
	s.rates = slices.Delete(s.rates, i, i+1)
	return nil
}

// Departments returns the departments by user and domain.
func (s *MemStore) Departments(ctx context.Context) ([]Department, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.depts), nil
}

// SetDepartment stores or removes an account's department.
func (s *MemStore) SetDepartment(ctx context.Context, d Department) error {
	if err := d.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.depts, func(x Department) bool { return x.User == d.User && strings.EqualFold(x.Domain, d.Domain) })
	switch {
	case d.Department == "" && i >= 0:
		s.depts = slices.Delete(s.depts, i, i+1)
	case d.Department == "":
	case i >= 0:
		s.depts[i] = d
	default:
		s.depts = append(s.depts, d)
		slices.SortFunc(s.depts, func(a, b Department) int {
			if c := strings.Compare(a.User, b.User); c != 0 {
				return c
			}
			return strings.Compare(a.Domain, b.Domain)
		})
	}
	return nil
}
