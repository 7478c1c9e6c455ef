package sip

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Feed delivers events of type T to subscribers: the dialog table's
// DialogEvents, the registrar's binding events, the router's gateway
// events. A subscriber chooses how it is called:
//
//   - synchronously (the default), on the goroutine that published the
//     event, before Publish returns: for bounded work only (counting,
//     updating a map), never a network or disk wait, and never a call back
//     into the publisher;
//   - asynchronously (Async), in order, on a goroutine of its own, through
//     a bounded queue: a slow subscriber (a CDR writer, a presence server
//     sending NOTIFYs) delays nothing, and when its queue is full the
//     event is dropped for it alone, counted and logged.
//
// Events published one after the other reach each subscriber in that
// order. A panic in a subscriber is recovered and logged. The zero Feed
// is ready to use (without metrics or logging); Close stops the
// asynchronous subscribers.
type Feed[T any] struct {
	cfg    FeedConfig
	mu     sync.Mutex // serializes Subscribe, unsubscribe and Close
	subs   atomic.Pointer[[]*feedSub[T]]
	closed bool
}

// FeedConfig names a feed for its logs and metrics.
type FeedConfig struct {
	// Name is the feed's name in log lines ("dialogs").
	Name string
	// Logger receives the drop and panic lines; nil logs nothing.
	Logger *slog.Logger
	// Dropped, when set, counts the events dropped for an asynchronous
	// subscriber whose queue was full, by the subscriber's name (its one
	// label).
	Dropped *prometheus.CounterVec
}

// NewFeed returns an empty feed.
func NewFeed[T any](cfg FeedConfig) *Feed[T] { return &Feed[T]{cfg: cfg} }

// SubscribeOption says how a subscriber is called.
type SubscribeOption func(*subscribeOptions)

type subscribeOptions struct {
	name  string
	queue int
}

// Async delivers events to the subscriber on a goroutine of its own,
// through a queue of at most queue events (at least 1); see Feed.
func Async(queue int) SubscribeOption {
	return func(o *subscribeOptions) { o.queue = max(queue, 1) }
}

// SubscriberName names the subscriber in the logs and in the dropped
// events metric ("cdr", "presence"). Keep the set of names small: it is
// a metric label.
func SubscriberName(name string) SubscribeOption {
	return func(o *subscribeOptions) { o.name = name }
}

type feedSub[T any] struct {
	name string
	fn   func(T)
	// Asynchronous subscribers only:
	q       chan T
	stop    chan struct{}
	done    chan struct{}
	dropped prometheus.Counter
	drops   atomic.Int64 // since the last drop line
	lastLog atomic.Int64 // unix nanoseconds of the last drop line
}

// Subscribe registers fn for every event published from now on and
// returns the function that removes it (and, for an asynchronous
// subscriber, waits until it has handled the events already queued).
func (f *Feed[T]) Subscribe(fn func(T), opts ...SubscribeOption) (unsubscribe func()) {
	return f.SubscribeAfter(nil, fn, opts...)
}

// SubscribeAfter is Subscribe for a subscriber that must first catch up:
// fn gets the events of first, in order, before any event published from
// now on — a synchronous subscriber on the caller's goroutine before
// SubscribeAfter returns, an asynchronous one at the head of its queue
// (made len(first) longer, so that the room for new events stays). The publisher keeps the two
// apart: the caller holds whatever lock its Publish runs under, so that
// first is the state no published event has changed yet.
func (f *Feed[T]) SubscribeAfter(first []T, fn func(T), opts ...SubscribeOption) (unsubscribe func()) {
	var o subscribeOptions
	for _, opt := range opts {
		opt(&o)
	}
	s := &feedSub[T]{name: o.name, fn: fn}
	if s.name == "" {
		s.name = "unnamed"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return func() {}
	}
	if o.queue > 0 {
		s.q = make(chan T, o.queue+len(first))
		for _, ev := range first {
			s.q <- ev
		}
		s.stop = make(chan struct{})
		s.done = make(chan struct{})
		if f.cfg.Dropped != nil {
			s.dropped = f.cfg.Dropped.WithLabelValues(s.name)
		}
		go f.run(s)
	} else {
		for _, ev := range first {
			f.call(s, ev)
		}
	}
	var cur []*feedSub[T]
	if p := f.subs.Load(); p != nil {
		cur = *p
	}
	next := append(slices.Clone(cur), s)
	f.subs.Store(&next)
	var once sync.Once
	return func() { once.Do(func() { f.remove(s) }) }
}

func (f *Feed[T]) remove(s *feedSub[T]) {
	f.mu.Lock()
	if p := f.subs.Load(); p != nil {
		next := slices.DeleteFunc(slices.Clone(*p), func(x *feedSub[T]) bool { return x == s })
		f.subs.Store(&next)
	}
	f.mu.Unlock()
	s.halt()
}

// halt stops an asynchronous subscriber's goroutine and waits for it.
func (s *feedSub[T]) halt() {
	if s.q == nil {
		return
	}
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

// Len returns the number of subscribers.
func (f *Feed[T]) Len() int {
	if p := f.subs.Load(); p != nil {
		return len(*p)
	}
	return 0
}

// Publish delivers ev: synchronous subscribers are called in turn,
// asynchronous ones get it queued (or dropped when their queue is full).
func (f *Feed[T]) Publish(ev T) {
	p := f.subs.Load()
	if p == nil {
		return
	}
	for _, s := range *p {
		if s.q == nil {
			f.call(s, ev)
			continue
		}
		select {
		case s.q <- ev:
		default:
			f.drop(s)
		}
	}
}

// drop counts an event lost for s, and says so at most once a second.
func (f *Feed[T]) drop(s *feedSub[T]) {
	if s.dropped != nil {
		s.dropped.Inc()
	}
	n := s.drops.Add(1)
	now := time.Now().UnixNano()
	last := s.lastLog.Load()
	if now-last < int64(time.Second) || !s.lastLog.CompareAndSwap(last, now) {
		return
	}
	s.drops.Add(-n)
	if f.cfg.Logger != nil {
		f.cfg.Logger.Warn("sip: event subscriber too slow, events dropped", "feed", f.cfg.Name, "subscriber", s.name, "dropped", n)
	}
}

// call runs a subscriber, recovering a panic.
func (f *Feed[T]) call(s *feedSub[T], ev T) {
	defer func() {
		if p := recover(); p != nil && f.cfg.Logger != nil {
			f.cfg.Logger.Error("sip: event subscriber panic", "feed", f.cfg.Name, "subscriber", s.name,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	s.fn(ev)
}

// run is an asynchronous subscriber's goroutine.
func (f *Feed[T]) run(s *feedSub[T]) {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			// Deliver what is queued: the last events of a closing
			// publisher (the calls a server ends as it closes) are the
			// ones a CDR writer must not lose.
			for {
				select {
				case ev := <-s.q:
					f.call(s, ev)
				default:
					return
				}
			}
		case ev := <-s.q:
			f.call(s, ev)
		}
	}
}

// Close removes every subscriber and stops the asynchronous ones once
// they have handled the events already in their queues. Subscribe after
// Close does nothing.
func (f *Feed[T]) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	var subs []*feedSub[T]
	if p := f.subs.Load(); p != nil {
		subs = *p
	}
	f.subs.Store(nil)
	f.mu.Unlock()
	for _, s := range subs {
		s.halt()
	}
}
