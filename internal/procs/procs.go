// Package procs fits GOMAXPROCS to the load: one Go processor while the
// process uses little CPU, all of them when it needs more.
//
// Measured on the UniSI example (bench/compare.sh, 2 cores): at 800
// calls/s a router with GOMAXPROCS=1 spends about 14 % less CPU per call
// than with 2, and an RTP relay at 50 calls about 20 % less per packet.
// With one processor there are no idle processors to wake, no spinning
// threads looking for work and no work stealing; each network wake-up
// runs the goroutine it readied on the thread that polled. Under load
// the second processor is needed, or the queues grow. The Tuner samples
// the process's CPU time and moves between the two.
//
// On one processor the garbage collector is what delays messages: its
// mark phase gets a quarter of the only processor, in slices that grow
// with the phase (about 7 % of the time since it began, up to 7 ms at
// 3000 calls/s, where a phase lasts 100 ms), and everything waits behind
// each slice. At 3000 calls/s on one processor p99 INVITE->200 was
// 12-40 ms with the collector left alone and 8 ms with the collection
// run on Max processors (bench/ab.sh, three rounds each). So while it
// keeps one processor under load the Tuner watches the heap and, before
// the runtime would start a cycle, runs one itself on Max processors.
package procs

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// Config says when to move. The zero Config is the default.
type Config struct {
	// Max is the number of processors under load (default: GOMAXPROCS
	// when the Tuner starts).
	Max int
	// Interval is how often the CPU time is sampled (default 1 s).
	Interval time.Duration
	// Up is the CPU use, in cores, above which one processor becomes
	// Max (default 0.6): one processor at 60 % keeps its queues short.
	Up float64
	// Down is the CPU use, in cores, below which Max processors become
	// one (default 0.35), once it has stayed there for DownAfter samples
	// in a row (default 5): a passing lull does not switch.
	Down      float64
	DownAfter int
	// Collect is how often the heap is looked at while the Tuner keeps
	// one processor and the process uses at least CollectAbove cores
	// (default 25 ms, and 0.1 cores): once the heap has grown 70 % of
	// the way from the live heap to the collector's goal, the Tuner runs
	// the collection itself on Max processors (see the package
	// documentation). Go's pacer never starts a cycle before about 70 %
	// of that way (its minimum trigger, 45/64), so the Tuner's comes
	// first unless the heap grows faster than it looks. Below
	// CollectAbove nothing is looked at: collections are rare there and
	// an idle process should not wake 40 times a second. A negative
	// Collect leaves the collector to the runtime.
	Collect      time.Duration
	CollectAbove float64
}

func (c *Config) setDefaults() {
	if c.Max <= 0 {
		c.Max = runtime.GOMAXPROCS(0)
	}
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.Up <= 0 {
		c.Up = 0.6
	}
	if c.Down <= 0 || c.Down >= c.Up {
		c.Down = min(0.35, c.Up/2)
	}
	if c.DownAfter <= 0 {
		c.DownAfter = 5
	}
	if c.Collect == 0 {
		c.Collect = 25 * time.Millisecond
	}
	if c.CollectAbove <= 0 {
		c.CollectAbove = 0.1
	}
}

// Run adapts GOMAXPROCS until ctx ends, then sets it back to Max. It does
// nothing (but wait for ctx) when Max is 1, or where the process's CPU
// time cannot be read. Each change is logged at debug level.
func Run(ctx context.Context, cfg Config, log *slog.Logger) {
	t := New(cfg, log)
	t.Run(ctx)
}

// Start runs Run on a goroutine of its own and returns the function that
// stops it, waits for it and so sets GOMAXPROCS back.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, cfg, log)
	}()
	return func() { cancel(); <-done }
}

// Tuner is the state of Run, for a program that wants to read it.
type Tuner struct {
	cfg      Config
	log      *slog.Logger
	cur      int
	low      int     // samples in a row below Down
	cores    float64 // the CPU use of the last sample
	lastCPU  time.Duration
	lastWall time.Time
	// set is runtime.GOMAXPROCS; a test replaces it.
	set func(int) int
	// cpu reads the process's CPU time; a test replaces it.
	cpu func() time.Duration
	// heap reads the heap's size (heapSize); gc is runtime.GC. A test
	// replaces them.
	heap func() heapSize
	gc   func()
	// collections counts the collections the Tuner ran.
	collections atomic.Int64
}

// New returns a Tuner for cfg; log may be nil.
func New(cfg Config, log *slog.Logger) *Tuner {
	cfg.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Tuner{cfg: cfg, log: log, set: runtime.GOMAXPROCS, cpu: processCPU, heap: readHeap, gc: runtime.GC}
}

// running is set while a Tuner runs: GOMAXPROCS is the process's, and
// two Tuners (two servers in one process, as in tests) would fight over
// it and restore each other's choice.
var running atomic.Bool

// Run is the loop of the package's Run. Only one Tuner runs in a process
// at a time; another one waits for its ctx and does nothing.
func (t *Tuner) Run(ctx context.Context) {
	if t.cfg.Max <= 1 || t.cpu() <= 0 || !running.CompareAndSwap(false, true) {
		<-ctx.Done()
		return
	}
	defer running.Store(false)
	t.cur = t.set(0) // 0 reads it
	t.lastCPU, t.lastWall = t.cpu(), time.Now()
	tick := time.NewTicker(t.cfg.Interval)
	defer tick.Stop()
	defer func() {
		if t.cur != t.cfg.Max {
			t.set(t.cfg.Max)
		}
	}()
	// look is armed while the heap is to be watched (watching).
	look := time.NewTimer(time.Hour)
	look.Stop()
	defer look.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			t.Sample(now, t.cpu())
		case <-look.C:
			t.Look()
		}
		if t.watching() {
			look.Reset(t.cfg.Collect)
		}
	}
}

// watching reports whether the heap is to be looked at: one processor
// out of several, under load.
func (t *Tuner) watching() bool {
	return t.cfg.Collect > 0 && t.cur == 1 && t.cfg.Max > 1 && t.cores >= t.cfg.CollectAbove
}

// Look reads the heap and, when a collection is due and the Tuner keeps
// one processor, runs it on Max processors and goes back to one; it
// reports whether it did.
func (t *Tuner) Look() bool {
	if t.cur != 1 || t.cfg.Max <= 1 || !t.heap().due() {
		return false
	}
	t.set(t.cfg.Max)
	t.gc()
	t.set(1)
	t.collections.Add(1)
	return true
}

// Collections returns how many collections the Tuner ran.
func (t *Tuner) Collections() int64 { return t.collections.Load() }

// heapSize is what the runtime says of the heap: the live heap the last
// cycle marked, the goal of the next one, and the bytes in objects now
// (live and not yet collected).
type heapSize struct{ live, goal, objects uint64 }

// due reports whether the heap has grown 70 % of the way from the live
// heap to the goal.
func (h heapSize) due() bool {
	return h.goal > h.live && h.objects >= h.live+(h.goal-h.live)/10*7
}

// readHeap reads heapSize from runtime/metrics.
func readHeap() heapSize {
	m := []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/heap/goal:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
	}
	metrics.Read(m)
	var v [3]uint64
	for i, s := range m {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	return heapSize{live: v[0], goal: v[1], objects: v[2]}
}

// Sample takes one reading (the wall time and the process's CPU time
// then) and moves GOMAXPROCS when it must; it returns the processors in
// use after it.
func (t *Tuner) Sample(now time.Time, cpu time.Duration) int {
	wall := now.Sub(t.lastWall)
	used := cpu - t.lastCPU
	t.lastCPU, t.lastWall = cpu, now
	if wall <= 0 {
		return t.cur
	}
	cores := used.Seconds() / wall.Seconds()
	t.cores = cores
	switch {
	case t.cur < t.cfg.Max && cores >= t.cfg.Up:
		t.low = 0
		t.change(t.cfg.Max, cores)
	case t.cur > 1 && cores < t.cfg.Down:
		if t.low++; t.low >= t.cfg.DownAfter {
			t.low = 0
			t.change(1, cores)
		}
	default:
		t.low = 0
	}
	return t.cur
}

func (t *Tuner) change(n int, cores float64) {
	t.set(n)
	t.log.Debug("procs: GOMAXPROCS changed", "from", t.cur, "to", n, "cpu_cores", cores)
	t.cur = n
}
