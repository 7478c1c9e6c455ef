package procs

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
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

func TestHeapDue(t *testing.T) {
	const mb = 1 << 20
	tests := []struct {
		name string
		h    heapSize
		want bool
	}{
		{"just collected", heapSize{live: 40 * mb, goal: 200 * mb, objects: 40 * mb}, false},
		{"half way", heapSize{live: 40 * mb, goal: 200 * mb, objects: 120 * mb}, false},
		{"just short of 70 %", heapSize{live: 40 * mb, goal: 200 * mb, objects: 151 * mb}, false},
		{"70 % of the way", heapSize{live: 40 * mb, goal: 200 * mb, objects: 152 * mb}, true},
		{"past the goal", heapSize{live: 40 * mb, goal: 200 * mb, objects: 210 * mb}, true},
		{"no goal read", heapSize{live: 40 * mb, objects: 300 * mb}, false},
		{"nothing read", heapSize{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.h.due(); got != tt.want {
				t.Errorf("%+v due = %v, want %v", tt.h, got, tt.want)
			}
		})
	}
}

// TestLook: a due collection runs between a move to Max processors and
// the move back to one, and only while the Tuner keeps one.
func TestLook(t *testing.T) {
	var calls []string
	tu := New(Config{Max: 2}, nil)
	tu.set = func(n int) int { calls = append(calls, fmt.Sprint("procs ", n)); return 1 }
	tu.gc = func() { calls = append(calls, "gc") }
	h := heapSize{live: 10, goal: 50, objects: 20}
	tu.heap = func() heapSize { return h }

	tu.cur = 1
	if tu.Look() || len(calls) != 0 {
		t.Fatalf("not due: Look ran %v", calls)
	}
	h.objects = 40
	if !tu.Look() {
		t.Fatal("due on one processor: Look ran nothing")
	}
	if want := "procs 2,gc,procs 1"; strings.Join(calls, ",") != want {
		t.Errorf("Look did %q, want %q", strings.Join(calls, ","), want)
	}
	if tu.Collections() != 1 {
		t.Errorf("Collections = %d, want 1", tu.Collections())
	}
	calls = nil
	tu.cur = 2
	if tu.Look() || len(calls) != 0 {
		t.Errorf("on Max processors the runtime collects: Look ran %v", calls)
	}
}

// TestWatching: the heap is watched on one processor under load only.
func TestWatching(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		cur   int
		cores float64
		want  bool
	}{
		{"one processor, under load", Config{Max: 2}, 1, 0.3, true},
		{"one processor, idle", Config{Max: 2}, 1, 0.05, false},
		{"Max processors", Config{Max: 2}, 2, 0.8, false},
		{"collector left to the runtime", Config{Max: 2, Collect: -1}, 1, 0.3, false},
		{"a higher threshold", Config{Max: 2, CollectAbove: 0.5}, 1, 0.3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tu := New(tt.cfg, nil)
			tu.cur, tu.cores = tt.cur, tt.cores
			if got := tu.watching(); got != tt.want {
				t.Errorf("watching = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRunCollects: with the real runtime, a Tuner on one processor under
// load runs the collections itself, on Max processors, while the program
// allocates.
func TestRunCollects(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	if before < 2 {
		runtime.GOMAXPROCS(2)
		defer runtime.GOMAXPROCS(before)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tu := New(Config{Interval: 10 * time.Millisecond, Collect: time.Millisecond, Up: 100, Down: 99}, nil)
	// A steady load of half a core: one processor, watched.
	begin := time.Now()
	tu.cpu = func() time.Duration { return time.Since(begin)/2 + time.Second }
	var maxDuring atomic.Int64
	gc := tu.gc
	tu.gc = func() {
		maxDuring.Store(int64(runtime.GOMAXPROCS(0)))
		gc()
	}
	done := make(chan struct{})
	go func() { defer close(done); tu.Run(ctx) }()
	// Wait for the drop to one processor, then allocate until the Tuner
	// has collected.
	deadline := time.Now().Add(10 * time.Second)
	var sink [][]byte
	for tu.Collections() == 0 && time.Now().Before(deadline) {
		for i := 0; i < 1000; i++ {
			sink = append(sink, make([]byte, 1024))
		}
		if len(sink) > 64*1024 {
			sink = sink[:0]
		}
		time.Sleep(100 * time.Microsecond)
	}
	cancel()
	<-done
	if tu.Collections() == 0 {
		t.Fatal("the Tuner ran no collection in 10 s of allocation on one processor")
	}
	if n := maxDuring.Load(); n != int64(tu.cfg.Max) {
		t.Errorf("collection ran on %d processors, want Max %d", n, tu.cfg.Max)
	}
	if n := runtime.GOMAXPROCS(0); n != tu.cfg.Max {
		t.Errorf("after Run: GOMAXPROCS %d, want %d back", n, tu.cfg.Max)
	}
}

// BenchmarkReadHeap is what one look at the heap costs (40 a second
// under load).
func BenchmarkReadHeap(b *testing.B) {
	for b.Loop() {
		if readHeap().goal == 0 {
			b.Fatal("no heap goal read")
		}
	}
}
