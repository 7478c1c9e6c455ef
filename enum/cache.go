package enum

import (
	"hash/maphash"
	"sync"
)

// shards is the number of independently locked parts of a cache: a hit
// takes one shard's read lock for a map access, never a global lock.
const shards = 32

// evictSample is how many entries a full shard looks at to choose one to
// evict: the first expired one, else the one closest to expiry.
const evictSample = 8

// cache is a bounded TTL cache for answers, positive and negative (RFC
// 2308). Time is in Unix nanoseconds, read by the caller from its clock.
// Expired entries are not served; they are evicted when their shard needs
// room.
type cache[V any] struct {
	seed     maphash.Seed
	perShard int
	shards   [shards]shard[V]
}

type shard[V any] struct {
	mu sync.RWMutex
	m  map[string]entry[V]
	_  [32]byte // 24 + 8 + 32: one shard per 64-byte cache line
}

type entry[V any] struct {
	val     V
	neg     bool  // a negative answer: NXDOMAIN, NODATA or nothing usable
	expires int64 // Unix nanoseconds
}

// newCache returns a cache of about size entries, or nil (no caching) if
// size is not positive. A nil cache misses every get and drops every put.
func newCache[V any](size int) *cache[V] {
	if size <= 0 {
		return nil
	}
	c := &cache[V]{seed: maphash.MakeSeed(), perShard: (size + shards - 1) / shards}
	for i := range c.shards {
		c.shards[i].m = make(map[string]entry[V])
	}
	return c
}

func (c *cache[V]) shard(key string) *shard[V] {
	return &c.shards[maphash.String(c.seed, key)%shards]
}

// get returns the entry for key if it is still fresh at now.
func (c *cache[V]) get(key string, now int64) (entry[V], bool) {
	if c == nil {
		return entry[V]{}, false
	}
	s := c.shard(key)
	s.mu.RLock()
	e, ok := s.m[key]
	s.mu.RUnlock()
	if !ok || e.expires <= now {
		return entry[V]{}, false
	}
	return e, true
}

// put stores e under key, evicting an entry when the shard is full.
func (c *cache[V]) put(key string, e entry[V], now int64) {
	if c == nil || e.expires <= now {
		return
	}
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[key]; !ok && len(s.m) >= c.perShard {
		s.evict(now)
	}
	s.m[key] = e
}

// evict removes one entry: the first expired one among a sample (map
// iteration starts at a random place), else the sampled one that expires
// first.
func (s *shard[V]) evict(now int64) {
	var victim string
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

// len returns the number of entries, fresh or not (tests, metrics).
func (c *cache[V]) len() int {
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
