package presence

import (
	"context"
	"slices"
	"sync"
)

// MemStore is a Store in memory, for tests and deployments that accept
// losing subscriptions on restart (phones re-subscribe within their
// Expires).
type MemStore struct {
	mu   sync.Mutex
	subs map[Key]Subscription
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{subs: map[Key]Subscription{}} }

// Subscriptions returns the subscriptions of node.
func (s *MemStore) Subscriptions(ctx context.Context, node string) ([]Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Subscription, 0, len(s.subs))
	for _, v := range s.subs {
		if v.Node != node {
			continue
		}
		v.RouteSet = slices.Clone(v.RouteSet)
		out = append(out, v)
	}
	return out, nil
}

// Put inserts or replaces sub.
func (s *MemStore) Put(ctx context.Context, sub Subscription) error {
	sub.RouteSet = slices.Clone(sub.RouteSet)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs[sub.Key] = sub
	return nil
}

// Delete removes the subscription of k.
func (s *MemStore) Delete(ctx context.Context, k Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.subs[k]; !ok {
		return ErrNotFound
	}
	delete(s.subs, k)
	return nil
}
