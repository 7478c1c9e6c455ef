package dialplan

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// MemStore is a Store in memory, for tests and for deployments whose
// rules live in their program.
type MemStore struct {
	mu     sync.Mutex
	rules  map[int]Rule
	lastID int
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns a MemStore holding rules. Rules with ID 0 get fresh
// ids; of two rules with the same ID, the later is kept.
func NewMemStore(rules ...Rule) *MemStore {
	s := &MemStore{rules: make(map[int]Rule, len(rules))}
	for _, r := range rules {
		if r.ID != 0 {
			s.rules[r.ID] = r
			s.lastID = max(s.lastID, r.ID)
		}
	}
	for _, r := range rules {
		if r.ID == 0 {
			s.lastID++
			r.ID = s.lastID
			s.rules[r.ID] = r
		}
	}
	return s
}

// Rules returns every rule by ascending ID.
func (s *MemStore) Rules(ctx context.Context) ([]Rule, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dialplan: rules: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Rule, 0, len(s.rules))
	for _, id := range slices.Sorted(maps.Keys(s.rules)) {
		out = append(out, s.rules[id])
	}
	return out, nil
}

// Rule returns the rule with the given id.
func (s *MemStore) Rule(ctx context.Context, id int) (Rule, error) {
	if err := ctx.Err(); err != nil {
		return Rule{}, fmt.Errorf("dialplan: rule %d: %w", id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rules[id]
	if !ok {
		return Rule{}, fmt.Errorf("dialplan: rule %d: %w", id, ErrNotFound)
	}
	return r, nil
}

// AddRule stores a new rule, giving it an id if it has none.
func (s *MemStore) AddRule(ctx context.Context, r Rule) (Rule, error) {
	if err := ctx.Err(); err != nil {
		return Rule{}, fmt.Errorf("dialplan: add rule: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.ID == 0 {
		r.ID = s.lastID + 1
	} else if _, taken := s.rules[r.ID]; taken {
		return Rule{}, fmt.Errorf("dialplan: add rule %d: %w", r.ID, ErrExists)
	}
	s.lastID = max(s.lastID, r.ID)
	s.rules[r.ID] = r
	return r, nil
}

// UpdateRule replaces the rule with r.ID.
func (s *MemStore) UpdateRule(ctx context.Context, r Rule) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dialplan: update rule %d: %w", r.ID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rules[r.ID]; !ok {
		return fmt.Errorf("dialplan: update rule %d: %w", r.ID, ErrNotFound)
	}
	s.rules[r.ID] = r
	return nil
}

// DeleteRule removes the rule with the given id.
func (s *MemStore) DeleteRule(ctx context.Context, id int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dialplan: delete rule %d: %w", id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rules[id]; !ok {
		return fmt.Errorf("dialplan: delete rule %d: %w", id, ErrNotFound)
	}
	delete(s.rules, id)
	return nil
}
