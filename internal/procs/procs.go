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
// the process's CPU time and moves between the two: up as soon as one
// processor is full (read every 100 ms), down only after seconds of
// light load.
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
	// Watch is how often the Tuner reads the CPU time (default
	// Interval/10, 100 ms); on fewer than Max processors each reading
	// may switch up (Saturated): a step from a light load to a heavy
	// one must not wait for a whole Interval on one processor. On a 2-core machine going from 200 to 3000 calls/s at
	// once, the second it took queued enough datagrams to start SIPp's
	// retransmissions, which then ran for twelve seconds.
	Watch time.Duration
	// Saturated is the CPU use, in cores, over one Watch at or above
	// which one processor is taken as full and Max come at once
	// (default 0.9). The Up threshold still decides over an Interval:
	// a short burst at a light load does not switch.
	Saturated float64
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
	if c.Watch <= 0 || c.Watch > c.Interval {
		c.Watch = c.Interval / 10
	}
	if c.Saturated <= 0 {
		c.Saturated = 0.9
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
	// watchCPU and watchWall are the last reading of Watch.
	watchCPU  time.Duration
	watchWall time.Time
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
	t.watchCPU, t.watchWall = t.lastCPU, t.lastWall
	tick := time.NewTicker(t.cfg.Watch)
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
			t.Tick(now, t.cpu())
		}
	}
}

// Tick takes one reading every Watch: on fewer than Max processors, a
// full processor since the last reading brings Max at once; every
// Interval, the reading is a Sample. It returns the processors in use
// after it.
func (t *Tuner) Tick(now time.Time, cpu time.Duration) int {
	wall, used := now.Sub(t.watchWall), cpu-t.watchCPU
	t.watchCPU, t.watchWall = cpu, now
	if t.cur < t.cfg.Max && wall > 0 {
		if cores := used.Seconds() / wall.Seconds(); cores >= t.cfg.Saturated {
			t.low = 0
			t.change(t.cfg.Max, cores)
			// The Interval's sample starts over from here: its
			// average would still be mostly the light load.
			t.lastCPU, t.lastWall = cpu, now
			return t.cur
		}
	}
	if now.Sub(t.lastWall) >= t.cfg.Interval-t.cfg.Watch/2 {
		return t.Sample(now, cpu)
	}
	return t.cur
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
