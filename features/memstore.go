package features

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// MemStore is a Store in memory, for tests and tiny deployments.
type MemStore struct {
	mu       sync.Mutex
	nextID   int
	settings []Settings
	entries  []ListEntry
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{nextID: 1} }

// Settings returns every account's settings, by user and domain.
func (s *MemStore) Settings(ctx context.Context) ([]Settings, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Settings, len(s.settings))
	for i, st := range s.settings {
		st.SecretaryAllow = slices.Clone(st.SecretaryAllow)
		out[i] = st
	}
	return out, nil
}

// PutSettings stores st (Empty settings remove the account's row).
func (s *MemStore) PutSettings(ctx context.Context, st Settings) error {
	if err := st.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st.SecretaryAllow = slices.Clone(st.SecretaryAllow)
	i := slices.IndexFunc(s.settings, func(x Settings) bool { return x.User == st.User && strings.EqualFold(x.Domain, st.Domain) })
	switch {
	case st.Empty() && i >= 0:
		s.settings = slices.Delete(s.settings, i, i+1)
	case st.Empty():
	case i >= 0:
		s.settings[i] = st
	default:
		s.settings = append(s.settings, st)
		slices.SortFunc(s.settings, func(a, b Settings) int {
			if c := strings.Compare(a.User, b.User); c != 0 {
				return c
			}
			return strings.Compare(a.Domain, b.Domain)
		})
	}
	return nil
}

// ListEntries returns every blacklist row, by ID.
func (s *MemStore) ListEntries(ctx context.Context) ([]ListEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.entries), nil
}

// AddListEntry stores e.
func (s *MemStore) AddListEntry(ctx context.Context, e ListEntry) (ListEntry, error) {
	if err := e.Validate(); err != nil {
		return ListEntry{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.entries {
		if x.User == e.User && strings.EqualFold(x.Domain, e.Domain) && x.Prefix == e.Prefix {
			return ListEntry{}, ErrExists
		}
	}
	if !e.Global() {
		e.Description = "" // userblacklist has no such column
	}
	e.ID = s.nextID
	s.nextID++
	s.entries = append(s.entries, e)
	return e, nil
}

// DeleteListEntry removes a row.
func (s *MemStore) DeleteListEntry(ctx context.Context, id int, global bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.entries {
		if x.ID == id && x.Global() == global {
			s.entries = slices.Delete(s.entries, i, i+1)
			return nil
		}
	}
	return ErrNotFound
}

// UpdateListEntry replaces a row's prefix, flag and description.
func (s *MemStore) UpdateListEntry(ctx context.Context, e ListEntry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	if !e.Global() {
		e.Description = ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	at := -1
	for i, x := range s.entries {
		same := x.User == e.User && strings.EqualFold(x.Domain, e.Domain)
		switch {
		case same && x.ID == e.ID:
			at = i
		case same && x.Prefix == e.Prefix:
			return ErrExists
		}
	}
	if at < 0 {
		return ErrNotFound
	}
	e.Domain = s.entries[at].Domain
	s.entries[at] = e
	return nil
}
