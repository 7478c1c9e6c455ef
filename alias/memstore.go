package alias

import (
	"context"
	"slices"
	"sync"
)

// MemStore is a Store in memory, for tests and tiny deployments.
type MemStore struct {
	mu     sync.Mutex
	nextID int
	rows   []Alias
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns a MemStore holding aliases (IDs are assigned where
// zero).
func NewMemStore(aliases ...Alias) *MemStore {
	s := &MemStore{nextID: 1}
	for _, a := range aliases {
		s.Add(context.Background(), a)
	}
	return s
}

// Aliases returns every alias, by ID.
func (s *MemStore) Aliases(ctx context.Context) ([]Alias, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rows), nil
}

// Add stores a.
func (s *MemStore) Add(ctx context.Context, a Alias) (Alias, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rows {
		if r.AliasUsername == a.AliasUsername && r.AliasDomain == a.AliasDomain {
			return Alias{}, ErrExists
		}
	}
	if a.ID == 0 {
		a.ID = s.nextID
	}
	if a.ID >= s.nextID {
		s.nextID = a.ID + 1
	}
	s.rows = append(s.rows, a)
	slices.SortFunc(s.rows, func(x, y Alias) int { return x.ID - y.ID })
	return a, nil
}

// Delete removes an alias.
func (s *MemStore) Delete(ctx context.Context, aliasUser, aliasDomain string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range s.rows {
		if r.AliasUsername == aliasUser && r.AliasDomain == aliasDomain {
			s.rows = slices.Delete(s.rows, i, i+1)
			return nil
		}
	}
	return ErrNotFound
}
