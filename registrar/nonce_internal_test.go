package registrar

import (
	"encoding/base64"
	"encoding/binary"
	"testing"
	"time"
)

func TestNonceCheck(t *testing.T) {
	n := newNonces([]byte("0123456789abcdef"), 30*time.Second, 20*time.Second)
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	nonce := n.issue(t0, "voip.unisi.it")
	if len(nonce) != nonceLen {
		t.Fatalf("nonce %q: got length %d, want %d", nonce, len(nonce), nonceLen)
	}
	// A nonce of our shape, dated at, with a MAC of nobody's.
	forged := func(at time.Time) string {
		var raw [nonceRawLen]byte
		binary.BigEndian.PutUint64(raw[:], uint64(at.UnixNano()))
		return base64.RawURLEncoding.EncodeToString(raw[:])
	}
	yesterday := n.issue(t0.Add(-24*time.Hour), "voip.unisi.it")
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
		{"ours, from yesterday", yesterday, "voip.unisi.it", t0, nonceStale},
		// The realm is inside the MAC: a nonce of another realm is one we
		// cannot check, like one of another secret.
		{"another realm", nonce, "other.example", t0, nonceForeign},
		{"unsigned, dated an hour ago", forged(t0.Add(-time.Hour)), "voip.unisi.it", t0, nonceForeign},
		{"unsigned, dated within the skew", forged(t0.Add(5 * time.Second)), "voip.unisi.it", t0, nonceForeign},
		{"unsigned, dated in the future", forged(t0.Add(time.Minute)), "voip.unisi.it", t0, nonceBad},
		{"unsigned, dated before the horizon", forged(t0.Add(-nonceHorizon - time.Hour)), "voip.unisi.it", t0, nonceBad},
		{"unsigned, dated 1970", forged(time.Unix(0, 1)), "voip.unisi.it", t0, nonceBad},
		{"truncated", nonce[:20], "voip.unisi.it", t0, nonceBad},
		{"not base64", nonce[:nonceLen-1] + "!", "voip.unisi.it", t0, nonceBad},
		{"empty", "", "voip.unisi.it", t0, nonceBad},
	}
	for _, tt := range tests {
		if _, got := n.check(tt.nonce, tt.realm, tt.at); got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
	other := newNonces([]byte("fedcba9876543210"), 30*time.Second, 20*time.Second)
	// Another node's nonce, or one of before a restart that changed the
	// secret: foreign, not bad.
	if _, got := other.check(nonce, "voip.unisi.it", t0); got != nonceForeign {
		t.Errorf("another secret: got %d, want foreign", got)
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
	n := newNonces([]byte("0123456789abcdef"), 30*time.Second, 20*time.Second)
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	a, b := n.issue(t0, "r"), n.issue(t0.Add(time.Minute), "r")
	n.use(a, t0, 1, 0, t0)
	n.use(b, t0.Add(time.Minute), 1, 0, t0.Add(time.Minute))
	n.forget(t0.Add(time.Minute))
	if got := n.windows(); got != 1 {
		t.Errorf("got %d replay windows, want 1 (the older nonce forgotten)", got)
	}
	if n.use(b, t0.Add(time.Minute), 2, 0, t0) != ncNew || n.use(b, t0.Add(time.Minute), 2, 0, t0) != ncReplayed {
		t.Errorf("the live nonce's window was lost")
	}
}

// A count used again with the fingerprint of the REGISTER that first used
// it, within the resend window, is a retransmission; anything else that
// repeats a count is a replay.
func TestNonceRetransmission(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	type use struct {
		nc uint32
		fp uint64
		at time.Duration
	}
	tests := []struct {
		name string
		uses []use
		want []ncVerdict
	}{
		{"the same REGISTER again", []use{{1, 7, 0}, {1, 7, 200 * time.Millisecond}, {1, 7, 4 * time.Second}},
			[]ncVerdict{ncNew, ncRetransmission, ncRetransmission}},
		{"at the end of the window", []use{{1, 7, 0}, {1, 7, 20 * time.Second}}, []ncVerdict{ncNew, ncRetransmission}},
		{"after the window", []use{{1, 7, 0}, {1, 7, 21 * time.Second}}, []ncVerdict{ncNew, ncReplayed}},
		{"another request on the count", []use{{1, 7, 0}, {1, 8, time.Second}}, []ncVerdict{ncNew, ncReplayed}},
		{"not a REGISTER", []use{{1, 0, 0}, {1, 0, time.Second}}, []ncVerdict{ncNew, ncReplayed}},
		{"an older REGISTER of the nonce", []use{{1, 7, 0}, {2, 8, time.Second}, {1, 7, 2 * time.Second}},
			[]ncVerdict{ncNew, ncNew, ncReplayed}},
		{"the last REGISTER, after a SUBSCRIBE", []use{{1, 7, 0}, {2, 0, time.Second}, {1, 7, 2 * time.Second}},
			[]ncVerdict{ncNew, ncNew, ncRetransmission}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newNonces([]byte("0123456789abcdef"), 30*time.Second, 20*time.Second)
			nonce := n.issue(t0, "r")
			for i, u := range tt.uses {
				if got := n.use(nonce, t0, u.nc, u.fp, t0.Add(u.at)); got != tt.want[i] {
					t.Errorf("use %d (nc %d, fp %d, +%v): got %d, want %d", i, u.nc, u.fp, u.at, got, tt.want[i])
				}
			}
		})
	}
}
