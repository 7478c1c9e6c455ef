package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Route sends the events of some kinds, from some severity up, to one
// notifier.
type Route struct {
	Notifier Notifier
	// Kinds lists the kinds it gets; empty: every kind.
	Kinds []Kind
	// MinSeverity drops less urgent events (zero: none dropped).
	MinSeverity Severity
}

// Config says where a Dispatcher sends events.
type Config struct {
	// Routes are the notifiers and what each gets.
	Routes []Route
	// Queue is how many events wait for each notifier before new ones are
	// dropped (default 256).
	Queue int
	// DrainTimeout bounds how long Close lets the notifiers deliver what
	// is queued (default 5 s); after it, deliveries in progress are
	// cancelled and the rest dropped.
	DrainTimeout time.Duration
	// History is how many of the last alerts Recent returns (default
	// DefaultHistory; negative: none kept).
	History int
}

// Option configures a Dispatcher.
type Option func(*Dispatcher)

// WithLogger sets the logger of the Dispatcher's own lines (a notifier
// failing, events dropped); the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(d *Dispatcher) { d.log = l } }

// WithRegisterer registers the metrics (palio_alert_*) with r.
func WithRegisterer(r prometheus.Registerer) Option { return func(d *Dispatcher) { d.reg = r } }

// Dispatcher hands published events to notifiers. Each notifier has its
// own bounded queue and goroutine, so Publish never blocks: a slow or
// dead notifier (a webhook timing out, Telegram unreachable) loses the
// events its full queue cannot take, counted in
// palio_alert_notifications_total{result="dropped"}, and the others and
// the router carry on.
type Dispatcher struct {
	cfg Config
	log *slog.Logger
	reg prometheus.Registerer
	m   *metrics
	// hist remembers the last events and their deliveries (Recent).
	hist *history

	mu     sync.RWMutex // Publish (read) against Close (write)
	closed bool
	routes []*route

	ctx    context.Context // cancelled when Close gives up draining
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// route is a Route running: its queue, its counters, its drop log.
type route struct {
	Route
	queue                 chan queued
	sent, failed, dropped prometheus.Counter
	dropMu                sync.Mutex
	lastDropLog           time.Time
	dropsSinceLog         int
}

// queued is an event waiting for a notifier, with its record's Seq.
type queued struct {
	ev  Event
	seq uint64
}

// Defaults of Config.
const (
	DefaultQueue        = 256
	DefaultDrainTimeout = 5 * time.Second
)

// New starts a Dispatcher over cfg's routes.
func New(cfg Config, opts ...Option) (*Dispatcher, error) {
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	if cfg.History == 0 {
		cfg.History = DefaultHistory
	}
	d := &Dispatcher{cfg: cfg, hist: newHistory(cfg.History)}
	for _, o := range opts {
		o(d)
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	d.m = newMetrics(d.reg)
	var names []string
	for i, r := range cfg.Routes {
		if r.Notifier == nil {
			return nil, fmt.Errorf("alert: route %d has no notifier", i)
		}
		name := r.Notifier.Name()
		if slices.Contains(names, name) {
			return nil, fmt.Errorf("alert: two notifiers named %q", name)
		}
		names = append(names, name)
		rt := &route{
			Route:   r,
			queue:   make(chan queued, cfg.Queue),
			sent:    d.m.notifications.WithLabelValues(name, "sent"),
			failed:  d.m.notifications.WithLabelValues(name, "failed"),
			dropped: d.m.notifications.WithLabelValues(name, "dropped"),
		}
		d.routes = append(d.routes, rt)
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for _, rt := range d.routes {
		d.wg.Add(1)
		go d.run(rt)
	}
	return d, nil
}

// Publish queues ev for every notifier whose route takes it, filling in
// its Time and Severity when unset, and records it (Recent). It never
// blocks; after Close it drops.
func (d *Dispatcher) Publish(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if ev.Severity == 0 {
		ev.Severity = ev.Kind.DefaultSeverity()
	}
	d.m.events.WithLabelValues(string(ev.Kind)).Inc()
	d.mu.RLock()
	defer d.mu.RUnlock()
	var takers []*route
	var ds []Delivery
	for _, rt := range d.routes {
		if rt.accepts(ev) {
			takers = append(takers, rt)
			ds = append(ds, Delivery{Notifier: rt.Notifier.Name(), Result: ResultPending})
		}
	}
	// Recorded before it is queued, so that a result never comes first.
	seq := d.hist.add(ev, ds)
	for _, rt := range takers {
		if d.closed {
			rt.dropped.Inc()
			d.hist.set(seq, rt.Notifier.Name(), ResultDropped, nil)
			continue
		}
		select {
		case rt.queue <- queued{ev, seq}:
		default:
			rt.dropped.Inc()
			d.hist.set(seq, rt.Notifier.Name(), ResultDropped, nil)
			d.logDrop(rt, ev)
		}
	}
}

// accepts reports whether the route takes ev.
func (rt *route) accepts(ev Event) bool {
	if ev.Severity < rt.MinSeverity {
		return false
	}
	return len(rt.Kinds) == 0 || slices.Contains(rt.Kinds, ev.Kind)
}

// logDrop says, at most once a minute per notifier, that its queue is full.
func (d *Dispatcher) logDrop(rt *route, ev Event) {
	rt.dropMu.Lock()
	defer rt.dropMu.Unlock()
	rt.dropsSinceLog++
	if now := time.Now(); now.Sub(rt.lastDropLog) >= time.Minute {
		d.log.Warn("alert: notifier queue full, events dropped", "notifier", rt.Notifier.Name(), "dropped", rt.dropsSinceLog, "kind", string(ev.Kind))
		rt.lastDropLog, rt.dropsSinceLog = now, 0
	}
}

func (d *Dispatcher) run(rt *route) {
	defer d.wg.Done()
	name := rt.Notifier.Name()
	for q := range rt.queue {
		ev := q.ev
		if d.ctx.Err() != nil {
			rt.dropped.Inc()
			d.hist.set(q.seq, name, ResultDropped, nil)
			continue
		}
		err := rt.Notifier.Notify(d.ctx, ev)
		switch {
		case err == nil:
			rt.sent.Inc()
			d.hist.set(q.seq, name, ResultSent, nil)
		case errors.Is(err, context.Canceled) && d.ctx.Err() != nil:
			rt.dropped.Inc()
			d.hist.set(q.seq, name, ResultDropped, nil)
		default:
			rt.failed.Inc()
			d.hist.set(q.seq, name, ResultFailed, err)
			d.log.Warn("alert: notification failed", "notifier", name, "kind", string(ev.Kind), "subject", ev.Subject, "error", err)
		}
	}
}

// Close stops taking events and lets each notifier deliver what it has
// queued, for at most Config.DrainTimeout; then cancels what is left.
func (d *Dispatcher) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	for _, rt := range d.routes {
		close(rt.queue)
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d.cfg.DrainTimeout):
		d.cancel()
		<-done
	}
	d.cancel()
}
