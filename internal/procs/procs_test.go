package procs

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"
)

// fakeTuner is a Tuner on cur processors whose changes of GOMAXPROCS
// are recorded in *got instead of made, its readings starting at start.
func fakeTuner(cfg Config, cur int) (tu *Tuner, got *[]int, start time.Time) {
	got = new([]int)
	tu = New(cfg, nil)
	tu.set = func(n int) int {
		if n > 0 {
			*got = append(*got, n)
		}
		return cur
	}
	tu.cur = cur
	start = time.Unix(1000, 0)
	tu.lastWall, tu.watchWall = start, start
	return tu, got, start
}

// TestSample: the processors follow the CPU use, up at once, down only
// after DownAfter low samples in a row.
func TestSample(t *testing.T) {
	tu, got, start := fakeTuner(Config{Max: 4, Interval: time.Second, Up: 0.6, Down: 0.3, DownAfter: 3}, 4)
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
	if want := []int{1, 4, 1}; !slices.Equal(*got, want) {
		t.Errorf("GOMAXPROCS set to %v, want %v", *got, want)
	}
}

// TestTick: on one processor a full Watch brings Max at once, a busy
// Watch below Saturated does not (the Interval's average decides), and
// the Interval's Sample still runs every tenth tick.
func TestTick(t *testing.T) {
	tu, got, start := fakeTuner(Config{Max: 2, Interval: time.Second, Watch: 100 * time.Millisecond, Up: 0.6, Down: 0.3, DownAfter: 2}, 1)
	now, cpu := start, time.Duration(0)
	tick := func(cores float64) int {
		now = now.Add(100 * time.Millisecond)
		cpu += time.Duration(cores * float64(100*time.Millisecond))
		return tu.Tick(now, cpu)
	}
	type step struct {
		cores float64
		want  int
	}
	var steps []step
	for range 9 {
		steps = append(steps, step{0.1, 1}) // light load
	}
	steps = append(steps,
		step{0.8, 1},  // busy, not full: the Interval's sample (0.17 cores) keeps one
		step{0.95, 2}, // full: Max at once, without waiting for the Interval
	)
	// On Max, a low Watch does not drop at once: only DownAfter low
	// Intervals do.
	for range 19 {
		steps = append(steps, step{0.1, 2})
	}
	steps = append(steps, step{0.1, 1})
	for i, s := range steps {
		if n := tick(s.cores); n != s.want {
			t.Fatalf("tick %d (%.2f cores): %d processors, want %d", i, s.cores, n, s.want)
		}
	}
	if want := []int{2, 1}; !slices.Equal(*got, want) {
		t.Errorf("GOMAXPROCS set to %v, want %v", *got, want)
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
