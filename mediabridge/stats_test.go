package mediabridge

import (
	"testing"
	"time"
)

func TestSeqLoss(t *testing.T) {
	tests := []struct {
		name string
		seqs []uint16
		lost uint64
	}{
		{"none", []uint16{1, 2, 3, 4}, 0},
		{"gap", []uint16{1, 2, 5, 6}, 2},
		{"wrap", []uint16{65534, 65535, 0, 1}, 0},
		{"gap across wrap", []uint16{65534, 1, 2}, 2},
		{"reorder", []uint16{1, 3, 2, 4}, 0},
		{"late packet after a loss", []uint16{1, 2, 4, 5, 3}, 0},
		{"stray jump ignored", []uint16{1, 2, 40000, 3, 4}, 0},
		{"restart after a jump", []uint16{1, 2, 40000, 40001, 40002}, 0},
		{"many wraps, every 7th lost", seqRun(10, 200000, 7), 28571},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s seqState
			for _, q := range tt.seqs {
				s.update(q, 0, 1, 0, 8000)
			}
			if got := s.lost(); got != tt.lost {
				t.Fatalf("lost = %d, want %d", got, tt.lost)
			}
		})
	}
}

// seqRun is n sequence numbers from start, every k-th one missing.
func seqRun(start, n, k int) []uint16 {
	var out []uint16
	for i := range n {
		if i%k != k-1 {
			out = append(out, uint16(start+i))
		}
	}
	return out
}

func TestSeqSSRCChange(t *testing.T) {
	var s seqState
	for _, q := range []uint16{1, 2, 4} { // one lost
		s.update(q, 0, 1, 0, 8000)
	}
	for _, q := range []uint16{900, 901, 903} { // another source, one lost
		s.update(q, 0, 2, 0, 8000)
	}
	if got := s.lost(); got != 2 {
		t.Fatalf("lost = %d, want 2 (one per SSRC)", got)
	}
}

func TestJitterSteady(t *testing.T) {
	var s seqState
	for i := range 100 {
		s.update(uint16(i), uint32(i*160), 1, int64(i)*int64(20*time.Millisecond), 8000)
	}
	if s.jitter != 0 {
		t.Fatalf("jitter = %d with perfect 20 ms spacing, want 0", s.jitter)
	}
	// A packet 10 ms late: D = 80 units, J = 80/16 = 5 (×16 = 80).
	s.update(100, 100*160, 1, 100*int64(20*time.Millisecond)+int64(10*time.Millisecond), 8000)
	if s.jitter != 80 {
		t.Fatalf("jitter ×16 = %d, want 80", s.jitter)
	}
}
