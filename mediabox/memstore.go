package mediabox

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"sync"
)

// MemStore is a Store in memory, for tests and tiny deployments.
type MemStore struct {
	mu      sync.Mutex
	menus   map[string]Menu
	boxes   map[string]Mailbox
	msgs    map[string][]Message
	queues  map[string]Queue
	lastMsg int64
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{menus: map[string]Menu{}, boxes: map[string]Mailbox{}, msgs: map[string][]Message{}, queues: map[string]Queue{}}
}

func cloneMenu(m Menu) Menu {
	m.Keys = maps.Clone(m.Keys)
	return m
}

func cloneQueue(q Queue) Queue {
	q.Members = slices.Clone(q.Members)
	return q
}

// Menu implements MenuStore.
func (s *MemStore) Menu(_ context.Context, id string) (Menu, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.menus[id]
	if !ok {
		return Menu{}, ErrNotFound
	}
	return cloneMenu(m), nil
}

// Menus implements MenuStore.
func (s *MemStore) Menus(_ context.Context) ([]Menu, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Menu, 0, len(s.menus))
	for _, id := range slices.Sorted(maps.Keys(s.menus)) {
		out = append(out, cloneMenu(s.menus[id]))
	}
	return out, nil
}

// PutMenu implements MenuStore.
func (s *MemStore) PutMenu(_ context.Context, m Menu) error {
	if err := m.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.menus[m.ID] = cloneMenu(m)
	return nil
}

// DeleteMenu implements MenuStore.
func (s *MemStore) DeleteMenu(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.menus[id]; !ok {
		return ErrNotFound
	}
	delete(s.menus, id)
	return nil
}

// Mailbox implements VoicemailStore.
func (s *MemStore) Mailbox(_ context.Context, user string) (Mailbox, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.boxes[user]
	if !ok {
		return Mailbox{}, ErrNotFound
	}
	return b, nil
}

// PutMailbox implements VoicemailStore.
func (s *MemStore) PutMailbox(_ context.Context, b Mailbox) error {
	if err := b.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.boxes[b.User] = b
	return nil
}

// AddMessage implements VoicemailStore.
func (s *MemStore) AddMessage(_ context.Context, m Message) (Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastMsg++
	m.ID = s.lastMsg
	s.msgs[m.Mailbox] = append(s.msgs[m.Mailbox], m)
	return m, nil
}

// Messages implements VoicemailStore.
func (s *MemStore) Messages(_ context.Context, user string) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.msgs[user])
	slices.SortStableFunc(out, func(a, b Message) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// MarkHeard implements VoicemailStore.
func (s *MemStore) MarkHeard(_ context.Context, user string, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, m := range s.msgs[user] {
		if m.ID == id {
			s.msgs[user][i].Heard = true
			return nil
		}
	}
	return ErrNotFound
}

// DeleteMessage implements VoicemailStore.
func (s *MemStore) DeleteMessage(_ context.Context, user string, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, m := range s.msgs[user] {
		if m.ID == id {
			s.msgs[user] = slices.Delete(s.msgs[user], i, i+1)
			return nil
		}
	}
	return ErrNotFound
}

// Queue implements QueueStore.
func (s *MemStore) Queue(_ context.Context, id string) (Queue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.queues[id]
	if !ok {
		return Queue{}, ErrNotFound
	}
	return cloneQueue(q), nil
}

// Queues implements QueueStore.
func (s *MemStore) Queues(_ context.Context) ([]Queue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Queue, 0, len(s.queues))
	for _, id := range slices.Sorted(maps.Keys(s.queues)) {
		out = append(out, cloneQueue(s.queues[id]))
	}
	return out, nil
}

// PutQueue implements QueueStore.
func (s *MemStore) PutQueue(_ context.Context, q Queue) error {
	if err := q.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queues[q.ID] = cloneQueue(q)
	return nil
}

// DeleteQueue implements QueueStore.
func (s *MemStore) DeleteQueue(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.queues[id]; !ok {
		return ErrNotFound
	}
	delete(s.queues, id)
	return nil
}

// SetAgent implements QueueStore.
func (s *MemStore) SetAgent(_ context.Context, queue, number string, loggedIn bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.queues[queue]
	if !ok {
		return ErrNotFound
	}
	for i, m := range q.Members {
		if m.Number == number {
			q.Members[i].LoggedIn = loggedIn
			return nil
		}
	}
	return ErrNotFound
}
