package ttlcache

import (
	"strconv"
	"sync"
	"testing"
)

func TestCache(t *testing.T) {
	c := New[string, int](64)
	c.Put("a", 1, 100, 0)
	c.Put("b", 2, 50, 0)
	c.Put("stale", 3, 10, 20) // already expired: dropped
	tests := []struct {
		key  string
		now  int64
		want int
		ok   bool
	}{
		{"a", 10, 1, true},
		{"a", 99, 1, true},
		{"a", 100, 0, false},
		{"b", 49, 2, true},
		{"b", 50, 0, false},
		{"stale", 0, 0, false},
		{"missing", 0, 0, false},
	}
	for _, tt := range tests {
		got, ok := c.Get(tt.key, tt.now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Get(%q, %d): got %d %v, want %d %v", tt.key, tt.now, got, ok, tt.want, tt.ok)
		}
	}
	c.Delete("a")
	if _, ok := c.Get("a", 0); ok {
		t.Error("a deleted key is still there")
	}
	c.Clear()
	if n := c.Len(); n != 0 {
		t.Errorf("after Clear: %d entries", n)
	}
}

// The cache never holds much more than its size, and keeps fresh entries
// over expired ones.
func TestCacheBound(t *testing.T) {
	const size = 320
	c := New[int, int](size)
	for i := 0; i < 10*size; i++ {
		c.Put(i, i, int64(1000+i), 0)
	}
	if n := c.Len(); n > size+shards {
		t.Errorf("got %d entries, want at most about %d", n, size)
	}
	// The latest entries expire last: the oldest ones went first.
	kept := 0
	for i := 9 * size; i < 10*size; i++ {
		if _, ok := c.Get(i, 0); ok {
			kept++
		}
	}
	if kept < size/2 {
		t.Errorf("only %d of the %d newest entries kept", kept, size)
	}
}

func TestNilCache(t *testing.T) {
	var c *Cache[string, int] = New[string, int](0)
	c.Put("a", 1, 100, 0)
	if _, ok := c.Get("a", 0); ok || c.Len() != 0 {
		t.Error("a nil cache cached")
	}
	c.Delete("a")
	c.Clear()
}

func TestCacheConcurrent(t *testing.T) {
	c := New[string, int](1000)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				k := strconv.Itoa(i % 500)
				c.Put(k, i, int64(i+10), int64(i))
				c.Get(k, int64(i))
				if i%100 == 0 {
					c.Delete(k)
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkGet(b *testing.B) {
	c := New[string, int](10000)
	c.Put("+390577232111", 1, 1<<62, 0)
	b.ReportAllocs()
	for b.Loop() {
		c.Get("+390577232111", 1) // budget: 0 allocations
	}
}

// A full shard evicts an expired entry if its sample has one, else the
// one closest to expiry.
func TestEvict(t *testing.T) {
	tests := []struct {
		name    string
		expires []int64
		want    string // the key evicted
	}{
		{name: "expired first", expires: []int64{100, 101, 5, 102, 103, 104, 105, 106}, want: "2"},
		{name: "else soonest", expires: []int64{107, 101, 106, 100, 103, 104, 105, 102}, want: "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &shard[string, int]{m: map[string]entry[int]{}}
			for i, e := range tt.expires {
				s.m[strconv.Itoa(i)] = entry[int]{expires: e}
			}
			s.evict(10)
			if _, ok := s.m[tt.want]; ok || len(s.m) != len(tt.expires)-1 {
				t.Errorf("got %d entries left with %q among them, want %q evicted", len(s.m), tt.want, tt.want)
			}
		})
	}
}
