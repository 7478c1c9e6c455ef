package alert

import (
	"maps"
	"slices"
	"sync"
)

// DefaultHistory is how many alerts a Dispatcher remembers when
// Config.History is zero.
const DefaultHistory = 100

// Result is what became of an event handed to one notifier.
type Result string

// The results of a Delivery.
const (
	// ResultPending: queued, or being delivered (with its retries).
	ResultPending Result = "pending"
	// ResultSent: the notifier delivered it.
	ResultSent Result = "sent"
	// ResultFailed: the notifier gave up on it (Delivery.Error says why).
	ResultFailed Result = "failed"
	// ResultDropped: lost to the notifier's full queue, or to Close.
	ResultDropped Result = "dropped"
)

// Delivery is an event's fate at one notifier.
type Delivery struct {
	// Notifier is the notifier's Name.
	Notifier string
	Result   Result
	// Error is why a failed delivery failed (its error's text).
	Error string
}

// Record is an alert as a Dispatcher remembers it: the event as
// published (Time and Severity filled in) and, for each notifier whose
// route took it, what became of it. An event no route takes has no
// Deliveries.
type Record struct {
	// Seq numbers the Dispatcher's events from 1, in publishing order.
	Seq        uint64
	Event      Event
	Deliveries []Delivery
}

// Delivered reports whether every notifier that took the event delivered
// it (false while one is pending, and for an event no notifier took).
func (r Record) Delivered() bool {
	if len(r.Deliveries) == 0 {
		return false
	}
	for _, d := range r.Deliveries {
		if d.Result != ResultSent {
			return false
		}
	}
	return true
}

// history is a ring of the last records: a record's slot is its Seq
// modulo the ring's size, so a late delivery result for a record already
// overwritten is recognised and dropped.
type history struct {
	mu   sync.Mutex
	ring []Record
	seq  uint64
}

func newHistory(n int) *history {
	if n <= 0 {
		return nil
	}
	return &history{ring: make([]Record, n)}
}

// add records ev with its deliveries and returns its Seq (0 without a
// history).
func (h *history) add(ev Event, ds []Delivery) uint64 {
	if h == nil {
		return 0
	}
	if ev.Fields != nil {
		ev.Fields = maps.Clone(ev.Fields)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	h.ring[h.seq%uint64(len(h.ring))] = Record{Seq: h.seq, Event: ev, Deliveries: ds}
	return h.seq
}

// set records the result of record seq at notifier name, if the record
// is still kept.
func (h *history) set(seq uint64, name string, res Result, err error) {
	if h == nil || seq == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r := &h.ring[seq%uint64(len(h.ring))]
	if r.Seq != seq {
		return
	}
	for i := range r.Deliveries {
		if r.Deliveries[i].Notifier == name {
			r.Deliveries[i].Result = res
			if err != nil {
				r.Deliveries[i].Error = err.Error()
			}
		}
	}
}

// recent returns copies of the records kept, newest first.
func (h *history) recent() []Record {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	n := min(h.seq, uint64(len(h.ring)))
	out := make([]Record, 0, n)
	for s := h.seq; s > h.seq-n; s-- {
		r := h.ring[s%uint64(len(h.ring))]
		r.Deliveries = slices.Clone(r.Deliveries)
		if r.Event.Fields != nil {
			r.Event.Fields = maps.Clone(r.Event.Fields)
		}
		out = append(out, r)
	}
	return out
}

// Recent returns the last alerts published (at most Config.History),
// newest first, each with what became of it at each notifier so far. The
// records are copies: the caller may keep them.
func (d *Dispatcher) Recent() []Record { return d.hist.recent() }
