package procs

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestSample: the processors follow the CPU use, up at once, down only
// after DownAfter low samples in a row.
func TestSample(t *testing.T) {
	var got []int
	tu := New(Config{Max: 4, Interval: time.Second, Up: 0.6, Down: 0.3, DownAfter: 3}, nil)
	tu.set = func(n int) int {
		if n > 0 {
			got = append(got, n)
		}
		return 4
	}
	tu.cur = 4
	start := time.Unix(1000, 0)
	tu.lastWall = start
	now, cpu := start, time.Duration(0)
	step := func(cores float64) int {
		now = now.Add(time.Second)
		cpu += time.Duration(cores * float64(time.Second))
		return tu.Sample(now, cpu)
	}
	steps := []struct {
		cores float64
		want  int
	}{
		{0.1, 4}, {0.1, 4}, // two low samples: not yet
		{0.5, 4},                     // between Down and Up: the count starts over
		{0.1, 4}, {0.2, 4}, {0.1, 1}, // three in a row: one processor
		{0.5, 1},  // below Up: stays
		{0.65, 4}, // above Up: at once
		{0.9, 4},
		{0.2, 4}, {0.2, 4}, {0.2, 1},
	}
	for i, s := range steps {
		if n := step(s.cores); n != s.want {
			t.Fatalf("step %d (%.2f cores): %d processors, want %d", i, s.cores, n, s.want)
		}
	}
	if want := []int{1, 4, 1}; len(got) != len(want) || got[0] != 1 || got[1] != 4 || got[2] != 1 {
		t.Errorf("GOMAXPROCS set to %v, want %v", got, want)
	}
}

// TestRunRestores: Run uses the real runtime and, when it ends, leaves
// GOMAXPROCS as it found it.
func TestRunRestores(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	if before < 2 {
		runtime.GOMAXPROCS(2)
		defer runtime.GOMAXPROCS(before)
	}
	max := runtime.GOMAXPROCS(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// An idle test process: it drops to one processor after DownAfter
	// samples.
	stop := Start(ctx, Config{Interval: 10 * time.Millisecond, DownAfter: 2}, nil)
	deadline := time.Now().Add(5 * time.Second)
	for runtime.GOMAXPROCS(0) != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Errorf("idle: GOMAXPROCS %d, want 1", n)
	}
	// A second Tuner in the same process leaves it to the first, even
	// under a load that would make it switch.
	second := make(chan struct{})
	go func() {
		defer close(second)
		tu := New(Config{Max: 2, Interval: time.Millisecond}, nil)
		// A load that would make it raise GOMAXPROCS at once.
		begin := time.Now()
		tu.cpu = func() time.Duration { return 2*time.Since(begin) + time.Second }
		tu.set = func(n int) int {
			if n > 0 {
				t.Errorf("the second Tuner set GOMAXPROCS to %d", n)
			}
			return runtime.GOMAXPROCS(0)
		}
		tu.Run(ctx)
	}()
	time.Sleep(50 * time.Millisecond) // fifty of its intervals
	stop()
	cancel()
	<-second
	if n := runtime.GOMAXPROCS(0); n != max {
		t.Errorf("after Run: GOMAXPROCS %d, want %d back", n, max)
	}
}
