package permission

import (
	"context"
	"slices"
	"sync"
)

// MemStore is an AddressStore in memory, for tests and tiny deployments.
type MemStore struct {
	mu     sync.Mutex
	nextID int
	rows   []Address
}

var _ AddressStore = (*MemStore)(nil)

// NewMemStore returns a MemStore holding rows (IDs assigned where zero).
func NewMemStore(rows ...Address) *MemStore {
	s := &MemStore{nextID: 1}
	for _, r := range rows {
		s.AddAddress(context.Background(), r)
	}
	return s
}

// Addresses returns every row, by ID.
func (s *MemStore) Addresses(ctx context.Context) ([]Address, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rows), nil
}

// AddAddress stores a row.
func (s *MemStore) AddAddress(ctx context.Context, a Address) (Address, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.ID == 0 {
		a.ID = s.nextID
	}
	if a.ID >= s.nextID {
		s.nextID = a.ID + 1
	}
	s.rows = append(s.rows, a)
	slices.SortFunc(s.rows, func(x, y Address) int { return x.ID - y.ID })
	return a, nil
}

// DeleteAddress removes the row with that ID.
func (s *MemStore) DeleteAddress(ctx context.Context, id int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range s.rows {
		if r.ID == id {
			s.rows = slices.Delete(s.rows, i, i+1)
			return nil
		}
	}
	return ErrNotFound
}
