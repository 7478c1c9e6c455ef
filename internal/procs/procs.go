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
package procs

import (
	"context"
	"log/slog"
	"runtime"
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
	low      int // samples in a row below Down
	lastCPU  time.Duration
	lastWall time.Time
	// set is runtime.GOMAXPROCS; a test replaces it.
	set func(int) int
	// cpu reads the process's CPU time; a test replaces it.
	cpu func() time.Duration
}

// New returns a Tuner for cfg; log may be nil.
func New(cfg Config, log *slog.Logger) *Tuner {
	cfg.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Tuner{cfg: cfg, log: log, set: runtime.GOMAXPROCS, cpu: processCPU}
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
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			t.Sample(now, t.cpu())
		}
	}
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
