package routing

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// gwState is the running state of a gateway, kept by GWID across reloads
// (OpenSIPS's inherit_state): whether it is enabled, the calls in progress
// on it, its alarm, its last probe.
type gwState struct {
	id    string
	state atomic.Int32 // a State
	probe atomic.Pointer[ProbeResult]
	// downLogged is set once the gateway being inactive has been logged
	// (its change of state, or a first failed probe of a gateway that
	// was inactive already), so that failed probes are not logged again
	// until it comes back.
	downLogged atomic.Bool

	// Guarded by Router.capMu.
	known    bool // in the current table
	legs     int  // branches in progress, from the dialog table
	pending  int  // channels reserved by the stage, not yet seen as branches
	alarm    bool
	channels int
	alarmAt  int
	carriers []*crState // carriers listing the gateway in the current table
	mCalls   prometheus.Gauge
}

// crState is the running state of a carrier, kept by CarrierID across
// reloads.
type crState struct {
	id    string
	state atomic.Int32 // a State: active, or disabled by an operator

	// Guarded by Router.capMu.
	known    bool
	alarm    bool
	channels int
	alarmAt  int
	members  []*gwState
	mCalls   prometheus.Gauge
}

func (s *gwState) load() State { return State(s.state.Load()) }
func (s *crState) load() State { return State(s.state.Load()) }

// ProbeResult is the outcome of a gateway's last OPTIONS probe.
type ProbeResult struct {
	// Time is when the probe ended.
	Time time.Time
	// Code is the final response's status code, 0 when none came.
	Code int
	// Err says why no response came (a timeout, a transport error).
	Err error
}

// String returns "200", "503" or the error.
func (p ProbeResult) String() string {
	if p.Err != nil {
		return p.Err.Error()
	}
	if p.Code == 0 {
		return "never"
	}
	return fmt.Sprint(p.Code)
}

// GatewayStatus is a gateway as the Router runs it: the gateway list of the
// CLI and of the admin API.
type GatewayStatus struct {
	// Gateway is the row as loaded, with State the running state.
	Gateway
	// Calls is the number of calls in progress on the gateway.
	Calls int
	// Alarm reports whether the trunk alarm is raised.
	Alarm bool
	// Probe is the last probe's outcome; zero if never probed.
	Probe ProbeResult
}

// CarrierStatus is a carrier as the Router runs it.
type CarrierStatus struct {
	// Carrier is the row as loaded, with State the running state.
	Carrier
	// Calls is the number of calls in progress on the carrier's gateways.
	Calls int
	// Alarm reports whether the trunk alarm is raised.
	Alarm bool
}

// Gateways returns every gateway of the current table with its running
// state, by row ID.
func (r *Router) Gateways() []GatewayStatus {
	t := r.tab.Load()
	out := make([]GatewayStatus, 0, len(t.gws))
	r.capMu.Lock()
	for _, g := range t.gws {
		st := GatewayStatus{Gateway: g.row, Calls: g.rt.legs, Alarm: g.rt.alarm}
		st.State = g.rt.load()
		out = append(out, st)
	}
	r.capMu.Unlock()
	for i, g := range t.gws {
		if p := g.rt.probe.Load(); p != nil {
			out[i].Probe = *p
		}
	}
	return out
}

// Carriers returns every carrier of the current table with its running
// state, by row ID.
func (r *Router) Carriers() []CarrierStatus {
	t := r.tab.Load()
	out := make([]CarrierStatus, 0, len(t.crs))
	r.capMu.Lock()
	for _, c := range t.crs {
		st := CarrierStatus{Carrier: c.row, Calls: c.rt.legsLocked(), Alarm: c.rt.alarm}
		st.State = c.rt.load()
		out = append(out, st)
	}
	r.capMu.Unlock()
	return out
}

// SetGatewayEnabled switches a gateway on (StateActive) or off
// (StateDisabled, which probing never undoes): the CLI's "gateway
// enable|disable ID", OpenSIPS's dr_gw_status. The new state applies at
// once; unless Config.VolatileState, it is also written to the store, and
// SetGatewayEnabled waits for that (or for ctx). An unknown gwid fails with
// ErrNotFound; a failed write returns its error, the new state applying
// all the same.
func (r *Router) SetGatewayEnabled(ctx context.Context, gwid string, enabled bool) error {
	g := r.tab.Load().gwByID[gwid]
	if g == nil {
		return fmt.Errorf("routing: gateway %s: %w", gwid, ErrNotFound)
	}
	to := StateDisabled
	if enabled {
		to = StateActive
	}
	prev := State(g.rt.state.Swap(int32(to)))
	ev := Event{Gateway: gwid, State: to}
	if prev != to {
		ev = r.gatewayEvent(g, prev, to, CauseOperator, "")
	}
	return r.commit(ctx, ev, r.storeGatewayState(ev))
}

// SetCarrierEnabled switches a carrier on or off, as SetGatewayEnabled does
// for a gateway (OpenSIPS's dr_carrier_status). A carrier whose flags
// include CarrierOff stays off.
func (r *Router) SetCarrierEnabled(ctx context.Context, id string, enabled bool) error {
	c := r.tab.Load().crByID[id]
	if c == nil {
		return fmt.Errorf("routing: carrier %s: %w", id, ErrNotFound)
	}
	to := StateDisabled
	if enabled {
		to = StateActive
	}
	prev := State(c.rt.state.Swap(int32(to)))
	ev := Event{}
	if prev != to {
		ev = Event{Kind: EventCarrierState, Time: r.now(), Carrier: id, State: to, Previous: prev, Cause: CauseOperator}
		r.logState(ev)
	}
	return r.commit(ctx, ev, func(ctx context.Context) error { return r.store.SetCarrierState(ctx, id, to) })
}

// commit queues ev and, unless the state is volatile, the store write,
// and waits for the write.
func (r *Router) commit(ctx context.Context, ev Event, write func(context.Context) error) error {
	if r.cfg.VolatileState {
		if ev.Kind != 0 {
			r.events.post(job{ev: ev})
		}
		return nil
	}
	res := make(chan error, 1)
	r.events.post(job{ev: ev, persist: write, result: res})
	select {
	case err := <-res:
		if err != nil {
			return fmt.Errorf("routing: state changed but not stored: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("routing: state changed, store write pending: %w", context.Cause(ctx))
	}
}

// gatewayEvent builds the event of a gateway state change, counts and
// logs it.
func (r *Router) gatewayEvent(g *gateway, prev, to State, cause Cause, detail string) Event {
	ev := Event{Kind: EventGatewayState, Time: r.now(), Gateway: g.row.GWID, Address: g.row.Address,
		State: to, Previous: prev, Cause: cause, Detail: detail}
	r.m.gwState.WithLabelValues(g.row.GWID).Set(float64(to))
	r.m.stateChanges.WithLabelValues(g.row.GWID, to.String()).Inc()
	if g.rt != nil { // nil while a reload attaches it (see attach)
		g.rt.downLogged.Store(to == StateInactive)
	}
	r.logState(ev)
	return ev
}

// stillDown logs, once, that a gateway which was inactive already failed
// a probe again (a gateway stored inactive by an earlier run, or by
// another node): a gateway that stays unreachable is logged when it is
// first seen so and then only when its state changes.
func (r *Router) stillDown(g *gateway, detail string) {
	if g.rt.load() != StateInactive || !g.rt.downLogged.CompareAndSwap(false, true) {
		return
	}
	r.log.Warn("routing: gateway "+g.row.GWID+" ("+g.row.Address+"): still inactive, probe: "+detail+" (logged again when its state changes)",
		"gateway", g.row.GWID)
}

// ClearInactive makes every gateway that is StateInactive (marked so by
// failed probes or calls, here or, through the store, by an earlier run
// or another node) active again, each change an EventGatewayState with
// CauseProbingOff, and returns their GWIDs. Gateways an operator disabled
// stay disabled. It is for a Router that does not probe, which nothing
// would ever bring back: a server whose probing is switched off calls it
// at start with persist, writing the states to the store (unless
// Config.VolatileState; with LocalProbeState only the history entries)
// and waiting for that or for ctx; a dry run calls
// it without, to route with the operator's states only and leave the
// store alone. A failed write returns its error, the states applying all
// the same.
func (r *Router) ClearInactive(ctx context.Context, persist bool) ([]string, error) {
	var ids []string
	var errs []error
	for _, g := range r.tab.Load().gws {
		if !g.rt.state.CompareAndSwap(int32(StateInactive), int32(StateActive)) {
			continue
		}
		id := g.row.GWID
		ids = append(ids, id)
		ev := r.gatewayEvent(g, StateInactive, StateActive, CauseProbingOff, "")
		if !persist {
			r.events.post(job{ev: ev})
			continue
		}
		write := r.storeFoundState(ev)
		if r.cfg.LocalProbeState {
			write = r.storeGatewayHistory(ev)
		}
		if err := r.commit(ctx, ev, write); err != nil {
			errs = append(errs, fmt.Errorf("gateway %s: %w", id, err))
		}
	}
	return ids, errors.Join(errs...)
}

func (r *Router) logState(ev Event) {
	if ev.State == StateActive {
		r.log.Info("routing: "+ev.String(), "gateway", ev.Gateway)
		return
	}
	r.log.Warn("routing: "+ev.String(), "gateway", ev.Gateway)
}

// transition moves a gateway from one state to another unless something
// else changed it meanwhile (an operator), raising the event and writing
// the state to the store in the background.
func (r *Router) transition(g *gateway, from, to State, cause Cause, detail string) bool {
	if !g.rt.state.CompareAndSwap(int32(from), int32(to)) {
		return false
	}
	ev := r.gatewayEvent(g, from, to, cause, detail)
	j := job{ev: ev}
	switch {
	case r.cfg.VolatileState:
	case r.cfg.LocalProbeState:
		j.persist = r.storeGatewayHistory(ev)
	default:
		j.persist = r.storeFoundState(ev)
	}
	r.events.post(j)
	return true
}

// Subscribe registers fn for every Event from now on and returns a
// function that removes it. Events are delivered in order, one at a time,
// on a goroutine of the Router: fn may block it (delaying later events
// for every subscriber) but never a call; sip.Async(n) gives fn a
// goroutine and a bounded queue of its own (see sip.Feed). A panic in fn
// is logged and forgotten.
func (r *Router) Subscribe(fn func(Event), opts ...sip.SubscribeOption) (unsubscribe func()) {
	return r.events.subscribe(fn, opts...)
}
