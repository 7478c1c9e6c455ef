package guard

import (
	"context"
	"slices"
	"sync"
)

// MemStore is a Store in memory, for tests and tiny deployments (bans
// then last as long as the process).
type MemStore struct {
	mu     sync.Mutex
	bans   []Ban
	rules  []Rule
	nextID int
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns a MemStore holding rules (with their IDs; 0 gets
// the next free one).
func NewMemStore(rules ...Rule) *MemStore {
	s := &MemStore{nextID: 1}
	for _, r := range rules {
		if r.ID == 0 {
			r.ID = s.nextID
		}
		s.nextID = max(s.nextID, r.ID+1)
		s.rules = append(s.rules, r)
	}
	slices.SortFunc(s.rules, func(a, b Rule) int { return a.ID - b.ID })
	return s
}

// Bans returns every ban, by kind and subject.
func (s *MemStore) Bans(ctx context.Context) ([]Ban, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.bans), nil
}

// PutBan stores b, replacing the ban of its kind and subject.
func (s *MemStore) PutBan(ctx context.Context, b Ban) error {
	if err := b.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.ban(b.Kind, b.Subject); i >= 0 {
		s.bans[i] = b
		return nil
	}
	s.bans = append(s.bans, b)
	slices.SortFunc(s.bans, func(a, b Ban) int {
		if a.Kind != b.Kind {
			return cmpString(string(a.Kind), string(b.Kind))
		}
		return cmpString(a.Subject, b.Subject)
	})
	return nil
}

// DeleteBan removes a ban.
func (s *MemStore) DeleteBan(ctx context.Context, kind BanKind, subject string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.ban(kind, subject)
	if i < 0 {
		return ErrNotFound
	}
	s.bans = slices.Delete(s.bans, i, i+1)
	return nil
}

func (s *MemStore) ban(kind BanKind, subject string) int {
	return slices.IndexFunc(s.bans, func(b Ban) bool { return b.Kind == kind && b.Subject == subject })
}

// Rules returns every rule, by ID.
func (s *MemStore) Rules(ctx context.Context) ([]Rule, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rules), nil
}

// PutRule adds (ID 0) or replaces a rule.
func (s *MemStore) PutRule(ctx context.Context, r Rule) (Rule, error) {
	if err := r.Validate(); err != nil {
		return Rule{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.ID == 0 {
		r.ID = s.nextID
		s.nextID++
		s.rules = append(s.rules, r)
		return r, nil
	}
	i := slices.IndexFunc(s.rules, func(x Rule) bool { return x.ID == r.ID })
	if i < 0 {
		return Rule{}, ErrNotFound
	}
	s.rules[i] = r
	return r, nil
}

// DeleteRule removes a rule.
func (s *MemStore) DeleteRule(ctx context.Context, id int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.rules, func(x Rule) bool { return x.ID == id })
	if i < 0 {
		return ErrNotFound
	}
	s.rules = slices.Delete(s.rules, i, i+1)
	return nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
