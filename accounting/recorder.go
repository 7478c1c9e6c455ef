package accounting

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/snapshot"
)

// Config tunes a Recorder. The zero value works: batches of 100 written
// every second, a queue of 10 000 records, no spool file.
type Config struct {
	// BatchSize is the most records written in one transaction (default
	// 100); a batch is written when it is full or FlushInterval after its
	// first record (default 1 s).
	BatchSize     int
	FlushInterval time.Duration
	// Queue bounds the records waiting in memory for the writer (default
	// 10 000). A call that ends while it is full loses its record
	// (counted as dropped, logged): the call itself never waits.
	Queue int
	// Spool is the path of the file that keeps the records the store
	// would not take (an outage, a timeout), written to the store when it
	// answers again, also after a restart. Empty: they are kept in
	// memory instead, at most Queue of them, and lost if the process
	// ends first.
	Spool string
	// SpoolMax bounds the spool file in bytes (default 64 MiB, some
	// 130 000 records). When it is full, new records are dropped,
	// counted and logged; those in it are kept.
	SpoolMax int64
	// WriteTimeout bounds one write to the store (default 5 s): a batch
	// that takes longer goes to the spool.
	WriteTimeout time.Duration
	// RetryInterval is the wait before the first retry after a failed
	// write (default 1 s); it doubles at each failure up to a minute.
	RetryInterval time.Duration
	// InternalClasses are the call classes of numbers inside the
	// organisation (default "voip"): a call to another class leaves it.
	InternalClasses []string
	// InternalSources are the trusted address groups inside the
	// organisation (the media box, the old PBXs): an unauthenticated call
	// from one of them comes from inside. Callers who authenticated are
	// inside; any other caller is outside.
	InternalSources []int
}

func (c *Config) setDefaults() error {
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	if c.BatchSize > 1000 {
		return fmt.Errorf("accounting: batch size %d: at most 1000", c.BatchSize)
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = time.Second
	}
	if c.Queue <= 0 {
		c.Queue = 10000
	}
	if c.SpoolMax <= 0 {
		c.SpoolMax = 64 << 20
	}
	if c.SpoolMax < 4096 {
		return fmt.Errorf("accounting: spool size %d bytes: at least 4096", c.SpoolMax)
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 5 * time.Second
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = time.Second
	}
	if c.InternalClasses == nil {
		c.InternalClasses = []string{"voip"}
	}
	return nil
}

// maxRetryInterval bounds the wait between retries during an outage.
const maxRetryInterval = time.Minute

// Option configures a Recorder.
type Option func(*Recorder)

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(r *Recorder) { r.log = l } }

// WithRegisterer registers the metrics (palio_accounting_*) with reg.
func WithRegisterer(reg prometheus.Registerer) Option { return func(r *Recorder) { r.reg = reg } }

// WithCarrier sets how a record's carrier is found from its gateway (the
// routing tables know which carrier lists a gateway; the dialog table
// knows only the gateway). It runs on the writer's goroutine.
func WithCarrier(fn func(gateway string) string) Option {
	return func(r *Recorder) { r.carrier = fn }
}

// Recorder writes a CDR for every call: it follows a dialog table's
// events (Watch) and, as a stage (Wrap), the calls refused before they
// reached the Forwarder. Records go through a bounded queue to a writer
// goroutine that stores them in batches, so that a slow or full database
// never holds up a call; what the store will not take goes to the spool
// and is written when it answers again. Close writes what is queued
// before it returns.
//
// The writer is woken when a batch is full and by its flush tick, not
// per record: a record per call handed over a channel woke it for every
// call (3000 wake-ups a second at 3000 calls/s, each a goroutine made
// runnable and often a thread woken to run it).
type Recorder struct {
	cfg     Config
	store   Store
	log     *slog.Logger
	reg     prometheus.Registerer
	m       *metrics
	carrier func(string) string
	rates   snapshot.Value[RateTable]

	// The queue: records waiting for the writer, oldest first, at most
	// cfg.Queue of them.
	mu     sync.Mutex
	closed bool
	queue  []CDR
	first  time.Time     // when the queue's oldest record came
	full   chan struct{} // (capacity 1) a batch is waiting: wake the writer

	// Counts for Stats.
	pending atomic.Int64 // queued, not yet written, spooled or dropped
	written atomic.Int64
	dropped atomic.Int64
	spooled atomic.Int64 // in the spool now
	lastLog atomic.Int64 // unix nanoseconds of the last drop line
	drops   atomic.Int64 // since that line

	// The writer goroutine's own.
	sp        spool
	down      bool
	backoff   time.Duration
	nextRetry time.Time

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New returns a Recorder writing to store, with the rate table loaded
// from it, and starts its writer. A spool file left by a previous run is
// taken up: its records are written as soon as the store answers.
func New(cfg Config, store Store, opts ...Option) (*Recorder, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	r := &Recorder{cfg: cfg, store: store, stop: make(chan struct{}), done: make(chan struct{})}
	for _, o := range opts {
		o(r)
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.m = newMetrics(r.reg)
	r.rates.Store(NewRateTable(nil))
	if _, err := r.ReloadRates(context.Background()); err != nil {
		return nil, err
	}
	if cfg.Spool == "" {
		r.sp = &memSpool{max: cfg.Queue}
	} else {
		fs, lost, err := openFileSpool(cfg.Spool, cfg.SpoolMax)
		if err != nil {
			return nil, err
		}
		if lost {
			r.log.Warn("accounting: the spool's last record was cut short (the process died while writing it); it is lost", "spool", cfg.Spool)
		}
		r.sp = fs
		if n := fs.len(); n > 0 {
			r.log.Info("accounting: records left in the spool by a previous run; writing them when the store answers", "spool", cfg.Spool, "cdrs", n)
			r.down = true // logged as back when they are written
		}
	}
	r.setSpooled()
	r.full = make(chan struct{}, 1)
	go r.run()
	return r, nil
}

// ReloadRates reads the rate table from the store into a new snapshot;
// the records written from then on are priced by it.
func (r *Recorder) ReloadRates(ctx context.Context) (snapshot.Report, error) {
	start := time.Now()
	var n int
	err := r.rates.Reload(ctx, func(ctx context.Context) (*RateTable, error) {
		rates, err := r.store.Rates(ctx)
		if err != nil {
			return nil, fmt.Errorf("accounting: loading the rates: %w", err)
		}
		n = len(rates)
		return NewRateTable(rates), nil
	})
	if err != nil {
		r.m.reloads.WithLabelValues("error").Inc()
		return snapshot.Report{Component: "rates"}, err
	}
	r.m.reloads.WithLabelValues("ok").Inc()
	return snapshot.Report{Component: "rates", Loaded: n, Took: time.Since(start)}, nil
}

// Rates returns the rate table the records are priced by.
func (r *Recorder) Rates() *RateTable { return r.rates.Load() }

// recordedKey marks, on a call's record, that this Recorder has the
// call's CDR.
type recordedKey struct{ r *Recorder }

// Watch records every call of the dialog table d when it terminates, and
// returns the function that stops following it. It runs on the
// goroutine that ends the call, and only builds the record and queues it.
func (r *Recorder) Watch(d *sip.Dialogs) (stop func()) {
	return d.Subscribe(func(ev sip.DialogEvent) {
		if ev.Kind == sip.EventTerminated {
			r.Record(ev.Dialog)
		}
	}, sip.SubscriberName("accounting"))
}

// Wrap returns a stage that records the calls refused before they reach
// the Forwarder, which the dialog table never sees (a 403 of the class
// check, a 404 or 480 of the registrar lookup, a 603 of a blacklist):
// put it first in the chain of initial requests, in front of the stage
// that authenticates. The proxy's own challenges (401, 407) are not
// calls: the phone asks again with credentials. Calls the dialog table
// took are recorded by Watch, once.
func (r *Recorder) Wrap(next sip.Handler) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) error {
		if call := sip.CallFrom(ctx); call != nil {
			call.OnEnd(func(d sip.Dialog) {
				if d.Code == 401 || d.Code == 407 || d.Call.Value(recordedKey{r}) != nil {
					return
				}
				r.Record(d)
			})
		}
		return next.ServeSIP(ctx, w, req)
	})
}

// Record queues the record of the call that ended as d; without waiting:
// when the queue is full (the store is that slow) the record is dropped,
// counted and logged. A call is recorded once, however often it is
// handed in.
func (r *Recorder) Record(d sip.Dialog) {
	if d.Call != nil {
		if d.Call.Value(recordedKey{r}) != nil {
			return
		}
		d.Call.SetValue(recordedKey{r}, true)
	}
	c := fromDialog(d, r.cfg.InternalClasses, r.cfg.InternalSources)
	r.mu.Lock()
	switch {
	case r.closed:
		r.mu.Unlock()
		r.drop(1, "the recorder is closed")
		return
	case len(r.queue) >= r.cfg.Queue:
		r.mu.Unlock()
		r.drop(1, "the queue is full: the store is too slow")
		return
	}
	if len(r.queue) == 0 {
		r.first = time.Now()
	}
	r.queue = append(r.queue, c)
	batch := len(r.queue) == r.cfg.BatchSize
	n := r.pending.Add(1)
	r.mu.Unlock()
	r.m.queued.Set(float64(n))
	if batch {
		select {
		case r.full <- struct{}{}:
		default: // the writer has been told already
		}
	}
}

// take returns the records queued, if there are at least a batch of
// them or the oldest waited half the flush interval (all of them: force),
// and leaves spare, emptied, as the queue. A spare grown past a few
// batches (by an outage) is let go, so that its memory is not held
// while the store keeps up.
func (r *Recorder) take(now time.Time, spare []CDR, force bool) []CDR {
	if cap(spare) > 4*r.cfg.BatchSize {
		spare = nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.queue)
	if n == 0 || (!force && n < r.cfg.BatchSize && now.Sub(r.first) < r.cfg.FlushInterval/2) {
		return spare[:0]
	}
	taken := r.queue
	r.queue = spare[:0]
	return taken
}

// queued is how many records wait in the queue.
func (r *Recorder) queued() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue)
}

// drop counts records lost, and says so at most once a second.
func (r *Recorder) drop(n int, why string) {
	r.m.dropped.Add(float64(n))
	r.dropped.Add(int64(n))
	total := r.drops.Add(int64(n))
	now := time.Now().UnixNano()
	last := r.lastLog.Load()
	if now-last < int64(time.Second) || !r.lastLog.CompareAndSwap(last, now) {
		return
	}
	r.drops.Add(-total)
	r.log.Error("accounting: call records lost", "cdrs", total, "reason", why)
}

// Stats are a Recorder's counts.
type Stats struct {
	// Queued are the records in memory not yet written; Spooled those in
	// the spool, waiting for the store.
	Queued, Spooled int
	// Written and Dropped count the records stored and lost since New.
	Written, Dropped int64
}

// Stats returns the Recorder's counts.
func (r *Recorder) Stats() Stats {
	return Stats{Queued: int(r.pending.Load()), Spooled: int(r.spooled.Load()), Written: r.written.Load(), Dropped: r.dropped.Load()}
}

// Close stops recording and returns once the records queued are written
// (or, when the store does not answer within WriteTimeout, in the spool
// file). Records handed in afterwards are dropped. Without a spool file,
// records the store did not take are lost, and logged.
func (r *Recorder) Close() error {
	r.once.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		close(r.stop)
		<-r.done
	})
	return nil
}

// run is the writer goroutine. It takes the queue when a batch is full,
// or at its tick when the oldest record has waited half FlushInterval,
// and writes it in batches; the emptied slice becomes the next queue.
func (r *Recorder) run() {
	defer close(r.done)
	tick := time.NewTicker(r.cfg.FlushInterval)
	defer tick.Stop()
	var spare []CDR
	r.retry(time.Now(), false) // a spool left by the last run
	for {
		now := time.Now()
		select {
		case <-r.full:
		case now = <-tick.C:
			r.retry(now, false)
		case <-r.stop:
			r.shutdown(spare)
			return
		}
		taken := r.take(now, spare, false)
		r.flushAll(taken)
		clear(taken) // the records' strings are not the spare's to keep
		spare = taken
	}
}

// flushAll writes records in batches of at most BatchSize.
func (r *Recorder) flushAll(records []CDR) {
	for len(records) > 0 {
		n := min(len(records), r.cfg.BatchSize)
		r.flush(records[:n])
		records = records[n:]
	}
}

// shutdown writes what is left: the spool first when the store answers,
// then the queue, in batches. Record no longer queues (closed is set).
func (r *Recorder) shutdown(spare []CDR) {
	r.retry(time.Now(), true)
	r.flushAll(r.take(time.Now(), spare, true))
	if n := r.sp.len(); n > 0 {
		if r.cfg.Spool == "" {
			r.m.dropped.Add(float64(n))
			r.dropped.Add(int64(n))
			r.log.Error("accounting: call records lost at shutdown: the store did not take them and no spool file is configured", "cdrs", n)
		} else {
			r.log.Warn("accounting: call records left in the spool for the next start", "spool", r.cfg.Spool, "cdrs", n)
		}
	}
	if err := r.sp.close(); err != nil {
		r.log.Error("accounting: closing the spool", "error", err)
	}
}

// flush prices a batch and writes it, or spools it when the store is
// down or fails.
func (r *Recorder) flush(batch []CDR) {
	rates := r.rates.Load()
	for i := range batch {
		if r.carrier != nil && batch[i].Gateway != "" && batch[i].Carrier == "" {
			batch[i].Carrier = r.carrier(batch[i].Gateway)
		}
		rates.Price(&batch[i])
	}
	r.m.queued.Set(float64(r.pending.Add(-int64(len(batch)))))
	if r.sp.len() > 0 {
		// Behind the records already waiting.
		r.toSpool(batch)
		return
	}
	if err := r.write(batch); err != nil {
		r.outage(err)
		r.toSpool(batch)
	}
}

// write stores a batch within WriteTimeout.
func (r *Recorder) write(batch []CDR) error {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.WriteTimeout)
	defer cancel()
	start := time.Now()
	err := r.store.WriteCDRs(ctx, batch)
	r.m.writeTime.Observe(time.Since(start).Seconds())
	if err != nil {
		r.m.writeErrors.Inc()
		return err
	}
	r.m.written.Add(float64(len(batch)))
	r.written.Add(int64(len(batch)))
	return nil
}

// outage notes a failed write: the first of an outage is logged, and the
// next retry is put off.
func (r *Recorder) outage(err error) {
	if !r.down {
		r.down = true
		r.backoff = r.cfg.RetryInterval
		what := "in the spool file"
		if r.cfg.Spool == "" {
			what = "in memory (no spool file)"
		}
		r.log.Warn("accounting: cannot write call records; keeping them "+what+" until the store answers", "error", err)
	} else {
		r.backoff = min(2*r.backoff, maxRetryInterval)
	}
	r.nextRetry = time.Now().Add(r.backoff)
}

// toSpool puts a batch in the spool; what does not fit is dropped.
func (r *Recorder) toSpool(batch []CDR) {
	kept, err := r.sp.add(batch)
	if err != nil {
		r.log.Error("accounting: cannot write to the spool", "spool", r.cfg.Spool, "error", err)
	}
	r.m.spooled.Add(float64(kept))
	r.setSpooled()
	if lost := len(batch) - kept; lost > 0 {
		why := "the spool is full"
		if err != nil {
			why = "the spool cannot be written: " + err.Error()
		}
		r.drop(lost, why)
	}
}

func (r *Recorder) setSpooled() {
	n := r.sp.len()
	r.spooled.Store(int64(n))
	r.m.inSpool.Set(float64(n))
}

// retry writes the spool to the store when it is due (or now, with
// force), batch by batch, until it is empty or a write fails.
func (r *Recorder) retry(now time.Time, force bool) {
	if r.sp.len() == 0 {
		if r.down {
			r.down = false
			r.log.Info("accounting: the store takes call records again")
		}
		return
	}
	if !force && now.Before(r.nextRetry) {
		return
	}
	total := 0
	for r.sp.len() > 0 {
		batch, entries, next, err := r.sp.peek(r.cfg.BatchSize)
		if err != nil {
			r.log.Error("accounting: cannot read the spool", "spool", r.cfg.Spool, "error", err)
			r.outage(err)
			return
		}
		if bad := entries - len(batch); bad > 0 {
			r.drop(bad, "damaged entries in the spool file")
		}
		if len(batch) > 0 {
			if err := r.write(batch); err != nil {
				r.outage(err)
				return
			}
		}
		if err := r.sp.commit(entries, next); err != nil {
			r.log.Error("accounting: cannot update the spool", "spool", r.cfg.Spool, "error", err)
			r.outage(err)
			return
		}
		total += len(batch)
		r.setSpooled()
		if !force && r.queued() > r.cfg.Queue/2 {
			// The queue fills while the spool drains: serve it first.
			r.nextRetry = time.Time{}
			return
		}
	}
	if r.down {
		r.down = false
		r.log.Info("accounting: the store takes call records again; the spooled ones are written", "cdrs", total)
	}
}
