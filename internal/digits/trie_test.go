package digits

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestTrieGetSet(t *testing.T) {
	var tr Trie[string]
	if _, ok := tr.Get(""); ok {
		t.Fatalf("empty trie: Get(\"\") found a value")
	}
	tr.Set("0577", "siena")
	tr.Set("0575", "arezzo")
	tr.Set("+39", "italy")
	tr.Set("*72", "forward")
	tr.Set("0577", "siena (replaced)")

	tests := []struct {
		name, key, want string
		ok              bool
	}{
		{"digits", "0575", "arezzo", true},
		{"replaced", "0577", "siena (replaced)", true},
		{"plus sign", "+39", "italy", true},
		{"star code", "*72", "forward", true},
		{"inner node without value", "057", "", false},
		{"longer than any key", "05771", "", false},
		{"unknown non-digit", "#1", "", false},
		{"root without value", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tr.Get(tt.key)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Get(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.ok)
			}
		})
	}
	if got, want := tr.Len(), 4; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
}

func TestTrieLongest(t *testing.T) {
	var tr Trie[int]
	for _, p := range []string{"0", "05", "0577", "057715", "+3906"} {
		tr.Set(p, len(p))
	}
	tests := []struct {
		in     string
		prefix string
		ok     bool
	}{
		{"0577153012", "057715", true},
		{"0577", "0577", true},
		{"0576", "05", true},
		{"0123", "0", true},
		{"+390612345", "+3906", true},
		{"+44", "", false},
		{"1234", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, n, ok := tr.Longest(tt.in)
			if ok != tt.ok || (ok && (tt.in[:n] != tt.prefix || v != len(tt.prefix))) {
				t.Errorf("Longest(%q) = %d, %d, %v; want prefix %q, ok %v", tt.in, v, n, ok, tt.prefix, tt.ok)
			}
		})
	}
	tr.Set("", -1)
	if v, n, ok := tr.Longest("999"); !ok || n != 0 || v != -1 {
		t.Errorf("with a root value: Longest(\"999\") = %d, %d, %v; want -1, 0, true", v, n, ok)
	}
}

func TestCursorSeesEveryPrefixShortestFirst(t *testing.T) {
	var tr Trie[string]
	for _, p := range []string{"0", "000", "0003", "1"} {
		tr.Set(p, p)
	}
	var got []string
	c := tr.Cursor()
	in := "00039"
	for i := 0; i < len(in); i++ {
		if !c.Next(in[i]) {
			break
		}
		if v, ok := c.Value(); ok {
			got = append(got, v)
		}
	}
	if want := "0 000 0003"; strings.Join(got, " ") != want {
		t.Errorf("prefixes of %q: got %q, want %q", in, strings.Join(got, " "), want)
	}
	if c.Next('9') {
		t.Errorf("Next after the walk fell off: got true, want false")
	}
	var empty Trie[int]
	ec := empty.Cursor()
	if ec.Next('1') {
		t.Errorf("empty trie: Next = true, want false")
	}
}

// TestTrieAgainstMap checks Get and Longest against a map and a scan over
// random keys mixing digits and other bytes.
func TestTrieAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := "0123456789+*#a"
	key := func() string {
		b := make([]byte, r.IntN(7))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	var tr Trie[int]
	m := map[string]int{}
	for i := range 3000 {
		k := key()
		tr.Set(k, i)
		m[k] = i
	}
	if tr.Len() != len(m) {
		t.Fatalf("Len() = %d, want %d", tr.Len(), len(m))
	}
	tr.Compact()
	for range 5000 {
		k := key()
		want, wok := m[k]
		if got, ok := tr.Get(k); got != want || ok != wok {
			t.Fatalf("Get(%q) = %d, %v; want %d, %v", k, got, ok, want, wok)
		}
		wn, wok := -1, false
		for n := len(k); n >= 0; n-- {
			if _, ok := m[k[:n]]; ok {
				wn, wok = n, true
				break
			}
		}
		if _, n, ok := tr.Longest(k); ok != wok || (ok && n != wn) {
			t.Fatalf("Longest(%q) = len %d, %v; want len %d, %v", k, n, ok, wn, wok)
		}
	}
}

func TestLookupsDoNotAllocate(t *testing.T) {
	var tr Trie[[]int32]
	tr.Set("0577", []int32{1, 2})
	tr.Set("+39", []int32{3})
	allocs := testing.AllocsPerRun(100, func() {
		tr.Get("0577")
		tr.Longest("+390577")
		c := tr.Cursor()
		c.Next('0')
		c.Value()
	})
	if allocs != 0 {
		t.Errorf("lookups allocated %v times a run, want 0", allocs)
	}
}

// BenchmarkLongest: budget 0 allocs/op.
func BenchmarkLongest(b *testing.B) {
	var tr Trie[int]
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 100_000 {
		var sb strings.Builder
		for range 3 + r.IntN(7) {
			sb.WriteByte(byte('0' + r.IntN(10)))
		}
		tr.Set(sb.String(), i)
	}
	b.ReportAllocs()
	for b.Loop() {
		tr.Longest("00390577232111")
	}
}
