package admin

import (
	"context"
	"slices"
	"sync"
)

// MemStore is a Store in memory, for tests and programs without a
// database. The zero value is not usable: call NewMemStore.
type MemStore struct {
	mu     sync.Mutex
	notice Notice
	audit  []AuditEntry
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{} }

var _ Store = (*MemStore)(nil)

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
