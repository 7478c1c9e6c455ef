package registrar

import (
	"context"
	"crypto/rand"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"
)

// MemStore keeps bindings and subscribers in memory: for tests, and for a
// single node that can afford to lose its registrations on restart (phones
// re-register within their expiry; OpenSIPS's single-instance-no-db mode).
// It implements Store, Subscribers and SecretStore, and is safe for
// concurrent use.
type MemStore struct {
	seed   maphash.Seed
	shards [memShards]memShard

	subMu sync.RWMutex
	subs  map[string]map[string]Subscriber // username → lower-case domain → account

	secretMu sync.Mutex
	secrets  map[string][]byte
}

const memShards = 32

type memShard struct {
	mu   sync.RWMutex
	aors map[string][]Binding
}

var (
	_ Store       = (*MemStore)(nil)
	_ Subscribers = (*MemStore)(nil)
	_ SecretStore = (*MemStore)(nil)
)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	s := &MemStore{seed: maphash.MakeSeed(), subs: map[string]map[string]Subscriber{}, secrets: map[string][]byte{}}
	for i := range s.shards {
		s.shards[i].aors = map[string][]Binding{}
	}
	return s
}

func (s *MemStore) shard(aor string) *memShard {
	return &s.shards[maphash.String(s.seed, aor)%memShards]
}

// Put inserts b or replaces the binding with the same AOR and Contact.
func (s *MemStore) Put(ctx context.Context, b Binding) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sh := s.shard(b.AOR)
	b = b.clone()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	list := sh.aors[b.AOR]
	for i := range list {
		if list[i].Contact == b.Contact {
			list[i] = b
			return nil
		}
	}
	sh.aors[b.AOR] = append(list, b)
	return nil
}

// Lookup returns the bindings of aor, expired ones included.
func (s *MemStore) Lookup(ctx context.Context, aor string) ([]Binding, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sh := s.shard(aor)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	list := sh.aors[aor]
	if len(list) == 0 {
		return nil, nil
	}
	out := make([]Binding, len(list))
	for i := range list {
		out[i] = list[i].clone()
	}
	return out, nil
}

// Delete removes the binding of aor with this contact.
func (s *MemStore) Delete(ctx context.Context, aor, contact string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sh := s.shard(aor)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	list := sh.aors[aor]
	i := slices.IndexFunc(list, func(b Binding) bool { return b.Contact == contact })
	if i < 0 {
		return ErrNotFound
	}
	list = slices.Delete(list, i, i+1)
	if len(list) == 0 {
		delete(sh.aors, aor)
	} else {
		sh.aors[aor] = list
	}
	return nil
}

// DeleteExpired removes and returns the bindings expired at now.
func (s *MemStore) DeleteExpired(ctx context.Context, now time.Time) ([]Binding, error) {
	var gone []Binding
	for i := range s.shards {
		if err := ctx.Err(); err != nil {
			return gone, err
		}
		sh := &s.shards[i]
		sh.mu.Lock()
		for aor, list := range sh.aors {
			kept := list[:0]
			for _, b := range list {
				if b.Expired(now) {
					gone = append(gone, b)
				} else {
					kept = append(kept, b)
				}
			}
			if len(kept) == 0 {
				delete(sh.aors, aor)
			} else {
				clear(list[len(kept):])
				sh.aors[aor] = kept
			}
		}
		sh.mu.Unlock()
	}
	return gone, nil
}

// Count implements Store.
func (s *MemStore) Count(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		for _, list := range sh.aors {
			n += len(list)
		}
		sh.mu.RUnlock()
	}
	return n, nil
}

// List returns every binding, ordered by AOR then contact.
func (s *MemStore) List(ctx context.Context) ([]Binding, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Binding
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		for _, list := range sh.aors {
			for _, b := range list {
				out = append(out, b.clone())
			}
		}
		sh.mu.RUnlock()
	}
	slices.SortFunc(out, func(a, b Binding) int {
		if c := strings.Compare(a.AOR, b.AOR); c != 0 {
			return c
		}
		return strings.Compare(a.Contact, b.Contact)
	})
	return out, nil
}

// Subscriber returns the account username@domain; an empty domain matches
// by username alone, the lowest domain winning when there are several.
// Domains compare case-insensitively, usernames exactly.
func (s *MemStore) Subscriber(ctx context.Context, username, domain string) (Subscriber, error) {
	if err := ctx.Err(); err != nil {
		return Subscriber{}, err
	}
	s.subMu.RLock()
	defer s.subMu.RUnlock()
	byDomain := s.subs[username]
	if domain != "" {
		sub, ok := byDomain[strings.ToLower(domain)]
		if !ok {
			return Subscriber{}, ErrNotFound
		}
		return sub.clone(), nil
	}
	if len(byDomain) == 0 {
		return Subscriber{}, ErrNotFound
	}
	var first string
	seen := false
	for d := range byDomain {
		if !seen || d < first {
			first, seen = d, true
		}
	}
	return byDomain[first].clone(), nil
}

// AddSubscriber inserts sub, or replaces the account with the same
// username and domain (`user add`, provisioning).
func (s *MemStore) AddSubscriber(ctx context.Context, sub Subscriber) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	byDomain := s.subs[sub.Username]
	if byDomain == nil {
		byDomain = map[string]Subscriber{}
		s.subs[sub.Username] = byDomain
	}
	byDomain[strings.ToLower(sub.Domain)] = sub.clone()
	return nil
}

// DeleteSubscriber removes the account username@domain, or returns
// ErrNotFound.
func (s *MemStore) DeleteSubscriber(ctx context.Context, username, domain string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	byDomain := s.subs[username]
	d := strings.ToLower(domain)
	if _, ok := byDomain[d]; !ok {
		return ErrNotFound
	}
	delete(byDomain, d)
	if len(byDomain) == 0 {
		delete(s.subs, username)
	}
	return nil
}

// SetBlocked blocks or unblocks the account username@domain (`user block`),
// or returns ErrNotFound.
func (s *MemStore) SetBlocked(ctx context.Context, username, domain string, blocked bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	d := strings.ToLower(domain)
	sub, ok := s.subs[username][d]
	if !ok {
		return ErrNotFound
	}
	sub.Blocked = blocked
	s.subs[username][d] = sub
	return nil
}

// ListSubscribers returns every account, ordered by username then domain.
func (s *MemStore) ListSubscribers(ctx context.Context) ([]Subscriber, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.subMu.RLock()
	defer s.subMu.RUnlock()
	var out []Subscriber
	for _, byDomain := range s.subs {
		for _, sub := range byDomain {
			out = append(out, sub.clone())
		}
	}
	slices.SortFunc(out, func(a, b Subscriber) int {
		if c := strings.Compare(a.Username, b.Username); c != 0 {
			return c
		}
		return strings.Compare(strings.ToLower(a.Domain), strings.ToLower(b.Domain))
	})
	return out, nil
}

// Secret returns the secret called name, creating it with SecretSize
// random bytes the first time. Registrars sharing the MemStore share it.
func (s *MemStore) Secret(ctx context.Context, name string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.secretMu.Lock()
	defer s.secretMu.Unlock()
	v, ok := s.secrets[name]
	if !ok {
		v = make([]byte, SecretSize)
		rand.Read(v)
		s.secrets[name] = v
	}
	return slices.Clone(v), nil
}
