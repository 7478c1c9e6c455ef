package registrar

import (
	"testing"
	"time"
)

func TestNonceCheck(t *testing.T) {
	n := newNonces([]byte("0123456789abcdef"), 30*time.Second)
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	nonce := n.issue(t0, "voip.unisi.it")
	if len(nonce) != nonceLen {
		t.Fatalf("nonce %q: got length %d, want %d", nonce, len(nonce), nonceLen)
	}
	tests := []struct {
		name  string
		nonce string
		realm string
		at    time.Time
		want  nonceState
	}{
		{"fresh", nonce, "voip.unisi.it", t0.Add(29 * time.Second), nonceValid},
		{"at the limit", nonce, "voip.unisi.it", t0.Add(30 * time.Second), nonceValid},
		{"expired", nonce, "voip.unisi.it", t0.Add(31 * time.Second), nonceStale},
		{"from a node whose clock is a little ahead", nonce, "voip.unisi.it", t0.Add(-5 * time.Second), nonceValid},
		{"from the future", nonce, "voip.unisi.it", t0.Add(-time.Minute), nonceBad},
		{"another realm", nonce, "other.example", t0, nonceBad},
		{"truncated", nonce[:20], "voip.unisi.it", t0, nonceBad},
		{"not base64", nonce[:nonceLen-1] + "!", "voip.unisi.it", t0, nonceBad},
		{"empty", "", "voip.unisi.it", t0, nonceBad},
	}
	for _, tt := range tests {
		if _, got := n.check(tt.nonce, tt.realm, tt.at); got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
	other := newNonces([]byte("fedcba9876543210"), 30*time.Second)
	if _, got := other.check(nonce, "voip.unisi.it", t0); got != nonceBad {
		t.Errorf("another secret: got %d, want bad", got)
	}
	if a, b := n.issue(t0, "r"), n.issue(t0, "r"); a == b {
		t.Errorf("two nonces issued at the same instant are equal: %s", a)
	}
}

func TestNonceCountWindow(t *testing.T) {
	tests := []struct {
		name string
		seq  []uint32
		want []bool
	}{
		{"increasing", []uint32{1, 2, 3}, []bool{true, true, true}},
		{"repeated", []uint32{1, 1}, []bool{true, false}},
		{"reordered within the window", []uint32{1, 3, 2, 2}, []bool{true, true, true, false}},
		{"jump then old", []uint32{1, 100, 37, 36}, []bool{true, true, true, false}},
		{"the window's last slot", []uint32{64, 1, 1}, []bool{true, true, false}},
		{"just outside the window", []uint32{65, 1}, []bool{true, false}},
		{"no qop: nc 0, once", []uint32{0, 0}, []bool{true, false}},
		{"huge jump", []uint32{1, 1 << 31, 1<<31 - 1, 2}, []bool{true, true, true, false}},
	}
	for _, tt := range tests {
		var w ncWindow
		for i, nc := range tt.seq {
			if got := w.accept(nc); got != tt.want[i] {
				t.Errorf("%s: nc %d (#%d): got %v, want %v", tt.name, nc, i, got, tt.want[i])
			}
		}
	}
}

func TestNonceForget(t *testing.T) {
	n := newNonces([]byte("0123456789abcdef"), 30*time.Second)
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	a, b := n.issue(t0, "r"), n.issue(t0.Add(time.Minute), "r")
	n.use(a, t0, 1)
	n.use(b, t0.Add(time.Minute), 1)
	n.forget(t0.Add(time.Minute))
	if got := n.windows(); got != 1 {
		t.Errorf("got %d replay windows, want 1 (the older nonce forgotten)", got)
	}
	if !n.use(b, t0.Add(time.Minute), 2) || n.use(b, t0.Add(time.Minute), 2) {
		t.Errorf("the live nonce's window was lost")
	}
}
