package accounting

import (
	"encoding/hex"
	"strconv"
	"testing"
	"time"
)

// TestNewID: 32 hex digits whose first 12 are the time of creation in
// milliseconds, so that IDs made a millisecond apart sort in time order,
// and whose random rest keeps IDs of the same millisecond distinct.
func TestNewID(t *testing.T) {
	before := time.Now().UnixMilli()
	first := newID()
	after := time.Now().UnixMilli()
	if len(first) != 32 {
		t.Fatalf("ID %q: %d digits, want 32", first, len(first))
	}
	if _, err := hex.DecodeString(first); err != nil {
		t.Fatalf("ID %q is not hex: %v", first, err)
	}
	ms, err := strconv.ParseInt(first[:12], 16, 64)
	if err != nil || ms < before || ms > after {
		t.Fatalf("ID %q: time %d, want within [%d, %d]", first, ms, before, after)
	}
	seen := map[string]bool{first: true}
	for range 1000 {
		id := newID()
		if seen[id] {
			t.Fatalf("ID %q made twice", id)
		}
		seen[id] = true
	}
	time.Sleep(2 * time.Millisecond)
	if later := newID(); later <= first {
		t.Fatalf("ID %q made 2 ms after %q sorts before it", later, first)
	}
}
