// Package ttlcache is a bounded, sharded cache whose entries expire: the
// one caching mechanism of Palio's stores and resolvers (ENUM answers,
// accounts, location lookups). Time is passed in by the caller, in Unix
// nanoseconds read from its own clock, so tests move it by hand. A full
// shard evicts an expired entry, else the one closest to expiry among a
// small sample. A nil *Cache caches nothing: every Get misses and every
// Put is dropped, so that "no cache" needs no special case.
package ttlcache

import (
	"hash/maphash"
	"sync"
)

// shards is the number of independently locked parts of a cache: a hit
// takes one shard's read lock for a map access, never a global lock.
const shards = 32

// evictSample is how many entries a full shard looks at to choose one to
// evict.
const evictSample = 8

// Cache maps keys to values for a time.
type Cache[K comparable, V any] struct {
	seed     maphash.Seed
	perShard int
	shards   [shards]shard[K, V]
}

type shard[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]entry[V]
}

type entry[V any] struct {
	val     V
	expires int64
}

// New returns a cache of about size entries, or nil (no caching) when size
// is not positive.
func New[K comparable, V any](size int) *Cache[K, V] {
	if size <= 0 {
		return nil
	}
	c := &Cache[K, V]{seed: maphash.MakeSeed(), perShard: (size + shards - 1) / shards}
	for i := range c.shards {
		c.shards[i].m = make(map[K]entry[V])
	}
	return c
}

func (c *Cache[K, V]) shard(key K) *shard[K, V] {
	return &c.shards[maphash.Comparable(c.seed, key)%shards]
}

// Get returns the value of key if it is still fresh at now.
func (c *Cache[K, V]) Get(key K, now int64) (V, bool) {
	v, _, ok := c.GetExpiry(key, now)
	return v, ok
}

// GetExpiry is Get, also returning when the value expires (a DNS answer's
// TTL left).
func (c *Cache[K, V]) GetExpiry(key K, now int64) (V, int64, bool) {
	if c == nil {
		var zero V
		return zero, 0, false
	}
	s := c.shard(key)
	s.mu.RLock()
	e, ok := s.m[key]
	s.mu.RUnlock()
	if !ok || e.expires <= now {
		var zero V
		return zero, 0, false
	}
	return e.val, e.expires, true
}

// Put stores v under key until expires (it is dropped if that is not after
// now), evicting an entry when the shard is full.
func (c *Cache[K, V]) Put(key K, v V, expires, now int64) {
	if c == nil || expires <= now {
		return
	}
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[key]; !ok && len(s.m) >= c.perShard {
		s.evict(now)
	}
	s.m[key] = entry[V]{val: v, expires: expires}
}

// Delete removes key.
func (c *Cache[K, V]) Delete(key K) {
	if c == nil {
		return
	}
	s := c.shard(key)
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}

// Clear removes every entry.
func (c *Cache[K, V]) Clear() {
	if c == nil {
		return
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
}

// Len returns the number of entries, fresh or not.
func (c *Cache[K, V]) Len() int {
	if c == nil {
		return 0
	}
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// evict removes one entry: the first expired one among a sample (map
// iteration starts at a random place), else the sampled one that expires
// first.
func (s *shard[K, V]) evict(now int64) {
	var victim K
	var soonest int64
	n := 0
	for k, e := range s.m {
		if e.expires <= now {
			victim = k
			break
		}
		if n == 0 || e.expires < soonest {
			victim, soonest = k, e.expires
		}
		if n++; n == evictSample {
			break
		}
	}
	delete(s.m, victim)
}
