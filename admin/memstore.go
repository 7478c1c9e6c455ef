package admin

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
)

// MemStore is a Store in memory, for tests and programs without a
// database. The zero value is not usable: call NewMemStore.
type MemStore struct {
	mu     sync.Mutex
	notice Notice
	audit  []AuditEntry
	logins map[string]Login
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{logins: map[string]Login{}} }

var (
	_ Store      = (*MemStore)(nil)
	_ LoginStore = (*MemStore)(nil)
)

// Notice returns the notice.
func (s *MemStore) Notice(ctx context.Context) (Notice, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notice, nil
}

// SetNotice replaces the notice.
func (s *MemStore) SetNotice(ctx context.Context, n Notice) error {
	if err := n.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notice = n
	return nil
}

// AddAudit appends e.
func (s *MemStore) AddAudit(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.ID = int64(len(s.audit) + 1)
	s.audit = append(s.audit, e)
	return e, nil
}

// Audit returns the entries f selects, newest first.
func (s *MemStore) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []AuditEntry
	for _, e := range slices.Backward(s.audit) {
		if f.Who != "" && e.Who != f.Who {
			continue
		}
		out = append(out, e)
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	return out, nil
}

// Login returns the login called name.
func (s *MemStore) Login(ctx context.Context, name string) (Login, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.logins[name]
	if !ok {
		return Login{}, ErrNotFound
	}
	return l, nil
}

// PutLogin stores l.
func (s *MemStore) PutLogin(ctx context.Context, l Login) error {
	if err := l.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logins[l.Name] = l
	return nil
}

// DeleteLogin removes a login.
func (s *MemStore) DeleteLogin(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.logins[name]; !ok {
		return ErrNotFound
	}
	delete(s.logins, name)
	return nil
}

// Logins returns every login, by name.
func (s *MemStore) Logins(ctx context.Context) ([]Login, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.SortedFunc(maps.Values(s.logins), func(a, b Login) int { return strings.Compare(a.Name, b.Name) }), nil
}
