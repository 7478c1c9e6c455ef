// Package digits provides a prefix trie over byte strings, tuned for the
// numbers a PBX routes: a digit takes a dense, array-indexed edge, any other
// byte ('+', '*', '#', a letter) a sparse one. The dialplan index and the
// routing prefix table are built on it.
//
// A Trie is built once and then only read: lookups never allocate and may
// run concurrently, but Set must not run concurrently with anything else.
package digits

import "slices"

// Trie maps prefixes to values of type V. The zero value is an empty trie
// ready to use.
type Trie[V any] struct {
	nodes []node
	// other holds the edges on non-digit bytes: key parent<<8 | byte.
	other map[uint64]int32
	vals  []V
}

// node is one trie node; index 0 is the root.
type node struct {
	kids [10]int32 // child per digit; 0 means none (the root is nobody's child)
	val  int32     // 1 + index into vals; 0 means no value here
}

// Len returns the number of prefixes holding a value.
func (t *Trie[V]) Len() int { return len(t.vals) }

// Nodes returns the number of nodes, the root included: a measure of the
// trie's memory (about 44 bytes a node).
func (t *Trie[V]) Nodes() int { return len(t.nodes) }

// Set stores v under prefix, replacing any value already there. The empty
// prefix is allowed: its value is found for every input.
func (t *Trie[V]) Set(prefix string, v V) {
	if len(t.nodes) == 0 {
		t.nodes = append(t.nodes, node{})
	}
	n := int32(0)
	for i := 0; i < len(prefix); i++ {
		next := t.child(n, prefix[i])
		if next == 0 {
			next = int32(len(t.nodes))
			t.nodes = append(t.nodes, node{})
			if d := prefix[i] - '0'; d <= 9 {
				t.nodes[n].kids[d] = next
			} else {
				if t.other == nil {
					t.other = make(map[uint64]int32)
				}
				t.other[uint64(n)<<8|uint64(prefix[i])] = next
			}
		}
		n = next
	}
	if t.nodes[n].val != 0 {
		t.vals[t.nodes[n].val-1] = v
		return
	}
	t.vals = append(t.vals, v)
	t.nodes[n].val = int32(len(t.vals))
}

// Compact releases the spare capacity that building left in the trie.
// Call it once the trie is built; it may be called again after more Sets.
func (t *Trie[V]) Compact() {
	t.nodes = slices.Clone(t.nodes)
	t.vals = slices.Clone(t.vals)
}

// Get returns the value stored under exactly prefix.
func (t *Trie[V]) Get(prefix string) (V, bool) {
	c := t.Cursor()
	for i := 0; i < len(prefix); i++ {
		if !c.Next(prefix[i]) {
			var zero V
			return zero, false
		}
	}
	return c.Value()
}

// Longest returns the value of the longest stored prefix of s and that
// prefix's length: the lookup a routing table makes.
func (t *Trie[V]) Longest(s string) (v V, n int, ok bool) {
	c := t.Cursor()
	if x, found := c.Value(); found {
		v, n, ok = x, 0, true
	}
	for i := 0; i < len(s); i++ {
		if !c.Next(s[i]) {
			break
		}
		if x, found := c.Value(); found {
			v, n, ok = x, i+1, true
		}
	}
	return v, n, ok
}

// child returns the child of node n on byte b, or 0.
func (t *Trie[V]) child(n int32, b byte) int32 {
	if d := b - '0'; d <= 9 {
		return t.nodes[n].kids[d]
	}
	if t.other == nil {
		return 0
	}
	return t.other[uint64(n)<<8|uint64(b)]
}

// Cursor is a position in a Trie, for walking an input one byte at a time
// and seeing every stored prefix of it, shortest first, without
// allocating:
//
//	c := t.Cursor()
//	for i := 0; i < len(number); i++ {
//		if !c.Next(number[i]) {
//			break
//		}
//		if v, ok := c.Value(); ok {
//			// number[:i+1] is a stored prefix
//		}
//	}
type Cursor[V any] struct {
	t     *Trie[V]
	n     int32
	valid bool
}

// Cursor returns a cursor at the root (the empty prefix).
func (t *Trie[V]) Cursor() Cursor[V] {
	return Cursor[V]{t: t, valid: len(t.nodes) > 0}
}

// Next moves the cursor along byte b and reports whether the trie goes on
// that way. After it returns false the cursor stays invalid.
func (c *Cursor[V]) Next(b byte) bool {
	if !c.valid {
		return false
	}
	n := c.t.child(c.n, b)
	if n == 0 {
		c.valid = false
		return false
	}
	c.n = n
	return true
}

// Value returns the value stored at the cursor's prefix.
func (c Cursor[V]) Value() (V, bool) {
	if c.valid {
		if i := c.t.nodes[c.n].val; i != 0 {
			return c.t.vals[i-1], true
		}
	}
	var zero V
	return zero, false
}
