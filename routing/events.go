package routing

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// EventKind says what an Event reports.
type EventKind int

const (
	// EventGatewayState: a gateway changed state (Event.State, with the
	// state it left in Event.Previous), OpenSIPS's E_DROUTING_STATUS.
	EventGatewayState EventKind = iota + 1
	// EventCarrierState: a carrier was switched on or off by an operator
	// (or by a reload with Config.ReloadState or LocalProbeState).
	EventCarrierState
	// EventTrunkAlarm: the calls in progress on a gateway or carrier with
	// a channel limit reached Config.AlarmThreshold of it. It fires once,
	// and not again before EventTrunkAlarmCleared.
	EventTrunkAlarm
	// EventTrunkAlarmCleared: the calls in progress fell back below the
	// threshold (or the limit was removed by a reload).
	EventTrunkAlarmCleared
)

// String returns the kind's name: "gateway-state", "carrier-state",
// "trunk-alarm", "trunk-alarm-cleared".
func (k EventKind) String() string {
	switch k {
	case EventGatewayState:
		return "gateway-state"
	case EventCarrierState:
		return "carrier-state"
	case EventTrunkAlarm:
		return "trunk-alarm"
	case EventTrunkAlarmCleared:
		return "trunk-alarm-cleared"
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// Cause says why a gateway or carrier changed state.
type Cause string

// The causes of state changes.
const (
	// CauseProbe: an OPTIONS probe failed (or answered again).
	CauseProbe Cause = "probe"
	// CauseCall: a call sent to the gateway ended with one of
	// Config.DisableCodes (what a script's dr_disable() does).
	CauseCall Cause = "call"
	// CauseOperator: SetGatewayEnabled or SetCarrierEnabled.
	CauseOperator Cause = "operator"
	// CauseReload: a reload with Config.ReloadState took the state from
	// the store (with LocalProbeState: an operator's disable or enable
	// made elsewhere).
	CauseReload Cause = "reload"
	// CauseProbingOff: ClearInactive made a gateway that failed probes or
	// calls active again, as a Router that does not probe must.
	CauseProbingOff Cause = "probing-off"
)

// Event is a change the Router reports to its subscribers (Subscribe):
// gateway and carrier states, and trunk capacity alarms.
type Event struct {
	// Kind says what happened; the fields that follow it apply as noted.
	Kind EventKind
	// Time is when it happened, by the Router's clock.
	Time time.Time
	// Gateway is the gateway concerned (state events, gateway alarms).
	Gateway string
	// Carrier is the carrier concerned (carrier events, carrier alarms).
	Carrier string
	// Address is the gateway's address (gateway state events).
	Address string
	// State is the new state and Previous the old one (state events).
	State, Previous State
	// Cause says why the state changed, and Detail adds what was seen
	// ("408 Request Timeout", "503 Service Unavailable").
	Cause  Cause
	Detail string
	// Calls is the number of calls in progress on the trunk and Channels
	// its limit (alarm events).
	Calls, Channels int
}

// String describes the event on one line.
func (e Event) String() string {
	switch e.Kind {
	case EventGatewayState:
		s := fmt.Sprintf("gateway %s (%s): %s -> %s, %s", e.Gateway, e.Address, e.Previous, e.State, e.Cause)
		if e.Detail != "" {
			s += ": " + e.Detail
		}
		return s
	case EventCarrierState:
		return fmt.Sprintf("carrier %s: %s -> %s, %s", e.Carrier, e.Previous, e.State, e.Cause)
	case EventTrunkAlarm, EventTrunkAlarmCleared:
		what := "gateway " + e.Gateway
		if e.Carrier != "" {
			what = "carrier " + e.Carrier
		}
		verb := "alarm"
		if e.Kind == EventTrunkAlarmCleared {
			verb = "alarm cleared"
		}
		return fmt.Sprintf("%s: %s, %d of %d channels in use", what, verb, e.Calls, e.Channels)
	}
	return e.Kind.String()
}

// dispatcher delivers events to subscribers in order, on a goroutine of
// its own, and writes state changes to the store in the same order.
type dispatcher struct {
	log *slog.Logger

	mu    sync.Mutex
	queue []job
	feed  *sip.Feed[Event]
	wake  chan struct{}
	stop  chan struct{}
	done  chan struct{}
}

// job is one event to deliver and, optionally, a store write to make first.
type job struct {
	ev      Event
	persist func(ctx context.Context) error
	result  chan error // receives persist's outcome, when not nil
}

// persistTimeout bounds a state write to the store.
const persistTimeout = 10 * time.Second

func newDispatcher(log *slog.Logger, dropped *prometheus.CounterVec) *dispatcher {
	d := &dispatcher{
		log:  log,
		feed: sip.NewFeed[Event](sip.FeedConfig{Name: "routing", Logger: log, Dropped: dropped}),
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go d.run()
	return d
}

func (d *dispatcher) subscribe(fn func(Event), opts ...sip.SubscribeOption) func() {
	return d.feed.Subscribe(fn, opts...)
}

// post queues a job. After close, jobs are dropped (and their result
// channels told so).
func (d *dispatcher) post(j job) {
	d.mu.Lock()
	select {
	case <-d.stop:
		d.mu.Unlock()
		if j.result != nil {
			j.result <- errClosed
		}
		return
	default:
	}
	d.queue = append(d.queue, j)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run() {
	defer close(d.done)
	for {
		select {
		case <-d.stop:
			d.mu.Lock()
			q := d.queue
			d.queue = nil
			d.mu.Unlock()
			for _, j := range q {
				if j.result != nil {
					j.result <- errClosed
				}
			}
			return
		case <-d.wake:
		}
		for {
			d.mu.Lock()
			q := d.queue
			d.queue = nil
			d.mu.Unlock()
			if len(q) == 0 {
				break
			}
			for _, j := range q {
				d.handle(j)
			}
		}
	}
}

func (d *dispatcher) handle(j job) {
	if j.persist != nil {
		ctx, cancel := context.WithTimeout(context.Background(), persistTimeout)
		err := j.persist(ctx)
		cancel()
		if err != nil {
			d.log.Warn("routing: cannot store the new state", "event", j.ev.String(), "error", err)
		}
		if j.result != nil {
			j.result <- err
		}
	}
	if j.ev.Kind == 0 {
		return
	}
	d.feed.Publish(j.ev)
}

func (d *dispatcher) close() {
	d.mu.Lock()
	select {
	case <-d.stop:
		d.mu.Unlock()
		<-d.done
		return
	default:
	}
	close(d.stop)
	d.mu.Unlock()
	<-d.done
	d.feed.Close()
}
