package routing

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Reload reads the tables from the store, compiles them and swaps the new
// table in. Rows that cannot work are left out, each logged and listed in
// the report, and the others load. Gateways and carriers keep their
// running state by id (unless Config.ReloadState; with LocalProbeState
// they take only an operator's disable or enable) and their calls in
// progress. If the store fails, the current table stays and the error
// says why.
//
// One reload runs at a time: a Reload called while another runs waits for
// it, then loads afresh; it gives up with ctx's error if ctx ends first.
func (r *Router) Reload(ctx context.Context) (Report, error) {
	return r.reload(ctx, nil)
}

// reload loads and swaps the tables (snapshot.Value's rules: one at a
// time). before, when set, runs first, holding the reload: a change to the
// store that the reload must see (SetGatewayAddress).
func (r *Router) reload(ctx context.Context, before func(context.Context) error) (Report, error) {
	start := time.Now()
	var rep Report
	var prev, next *table
	var beforeErr error
	err := r.tab.Reload(ctx, func(ctx context.Context) (*table, error) {
		if before != nil {
			if beforeErr = before(ctx); beforeErr != nil {
				return nil, beforeErr
			}
		}
		d, err := r.store.Load(ctx)
		if err != nil {
			return nil, err
		}
		t, rp := compile(d, compileOptions{extraPrefixChars: r.cfg.ExtraPrefixChars, ignoreDomain: r.cfg.IgnoreDomain})
		rp.Problems = append(rp.Problems, r.pushTLS(t)...)
		r.attach(t)
		prev, next, rep = r.tab.Load(), t, rp
		return t, nil
	})
	if beforeErr != nil {
		return Report{}, beforeErr
	}
	if err != nil {
		r.m.reloads.WithLabelValues("error").Inc()
		if r.tab.Load() != nil {
			r.log.Warn("routing: reload failed, keeping the current tables", "error", err)
		}
		return Report{}, fmt.Errorf("routing: reload: %w", err)
	}
	r.notePlaceholders(prev, next)
	took := time.Since(start)
	rep.Took = took

	r.m.reloads.WithLabelValues("ok").Inc()
	r.m.reloadTime.Observe(took.Seconds())
	r.m.lastReload.SetToCurrentTime()
	r.m.loaded.WithLabelValues("dr_gateways").Set(float64(rep.Gateways))
	r.m.loaded.WithLabelValues("dr_carriers").Set(float64(rep.Carriers))
	r.m.loaded.WithLabelValues("dr_rules").Set(float64(rep.Rules))
	r.m.loaded.WithLabelValues("dr_groups").Set(float64(rep.Groups))
	r.m.problems.Set(float64(len(rep.Problems)))
	for _, p := range rep.Problems {
		r.log.Warn("routing: "+p.String(), "table", p.Table, "id", p.ID)
	}
	r.log.Info("routing: tables loaded", "gateways", rep.Gateways, "carriers", rep.Carriers, "rules", rep.Rules,
		"groups", rep.Groups, "problems", len(rep.Problems), "took", took)
	return rep, nil
}

// attach links a new table to the running states of its gateways and
// carriers, creating those of new ones, and brings limits, alarms and
// gauges up to date.
func (r *Router) attach(t *table) {
	r.capMu.Lock()
	defer r.capMu.Unlock()
	var changes []Event
	gwSeen := make(map[*gwState]bool, len(t.gws))
	for _, g := range t.gws {
		id := g.row.GWID
		s := r.gwRT[id]
		stored := g.row.State
		if r.cfg.LocalProbeState && stored == StateInactive {
			stored = StateActive // a probe's view, not the operator's
		}
		switch {
		case s == nil:
			s = &gwState{id: id}
			s.state.Store(int32(stored))
			r.gwRT[id] = s
		case !s.known:
			// Seen so far only in dialog events, or removed by an earlier
			// reload: a new gateway, whose state is the stored one.
			s.state.Store(int32(stored))
		case r.cfg.LocalProbeState:
			// Only the operator's decision is shared: disabled, or
			// enabled again; the probe state stays this node's.
			cur := s.load()
			if (stored == StateDisabled) != (cur == StateDisabled) && s.state.CompareAndSwap(int32(cur), int32(stored)) {
				changes = append(changes, r.gatewayEvent(g, cur, stored, CauseReload, ""))
			}
		case r.cfg.ReloadState:
			if prev := State(s.state.Swap(int32(g.row.State))); prev != g.row.State {
				changes = append(changes, r.gatewayEvent(g, prev, g.row.State, CauseReload, ""))
				s.downLogged.Store(g.row.State == StateInactive) // logged just now
			}
		}
		gwSeen[s] = true
		s.channels = g.row.Channels
		s.alarmAt = alarmAt(g.row.Channels, r.cfg.AlarmThreshold)
		s.mCalls = r.m.gwCalls.WithLabelValues(id)
		r.m.gwState.WithLabelValues(id).Set(float64(s.load()))
		if g.row.Channels > 0 {
			r.m.channels.WithLabelValues("gateway", id).Set(float64(g.row.Channels))
		} else {
			r.m.channels.DeleteLabelValues("gateway", id)
		}
		g.rt = s
	}
	for id, s := range r.gwRT {
		s.carriers = nil
		if s.known && !gwSeen[s] {
			r.m.gwCalls.DeleteLabelValues(id)
			r.m.gwState.DeleteLabelValues(id)
			r.m.channels.DeleteLabelValues("gateway", id)
			s.mCalls, s.channels, s.alarmAt = nil, 0, 0
		}
		s.known = gwSeen[s]
	}

	crSeen := make(map[*crState]bool, len(t.crs))
	for _, c := range t.crs {
		id := c.row.CarrierID
		stored := StateActive
		if c.row.State != StateActive {
			stored = StateDisabled
		}
		s := r.crRT[id]
		switch {
		case s == nil:
			s = &crState{id: id}
			s.state.Store(int32(stored))
			r.crRT[id] = s
		case !s.known:
			s.state.Store(int32(stored))
		case r.cfg.ReloadState || r.cfg.LocalProbeState:
			if prev := State(s.state.Swap(int32(stored))); prev != stored {
				ev := Event{Kind: EventCarrierState, Time: r.now(), Carrier: id, State: stored, Previous: prev, Cause: CauseReload}
				r.logState(ev)
				changes = append(changes, ev)
			}
		}
		crSeen[s] = true
		s.channels = c.row.Channels
		s.alarmAt = alarmAt(c.row.Channels, r.cfg.AlarmThreshold)
		s.mCalls = r.m.crCalls.WithLabelValues(id)
		if c.row.Channels > 0 {
			r.m.channels.WithLabelValues("carrier", id).Set(float64(c.row.Channels))
		} else {
			r.m.channels.DeleteLabelValues("carrier", id)
		}
		s.members = s.members[:0]
		for _, e := range c.list {
			if !slices.Contains(s.members, e.gw.rt) {
				s.members = append(s.members, e.gw.rt)
				e.gw.rt.carriers = append(e.gw.rt.carriers, s)
			}
		}
		c.rt = s
	}
	for id, s := range r.crRT {
		if s.known && !crSeen[s] {
			r.m.crCalls.DeleteLabelValues(id)
			r.m.channels.DeleteLabelValues("carrier", id)
			s.mCalls, s.channels, s.alarmAt, s.members = nil, 0, 0, nil
		}
		s.known = crSeen[s]
	}

	for _, s := range r.gwRT {
		r.evalLocked(s)
	}
	for _, s := range r.crRT {
		if len(s.members) == 0 {
			r.alarmLocked(&s.alarm, 0, s.channels, s.alarmAt, "", s.id)
			if s.mCalls != nil {
				s.mCalls.Set(0)
			}
		}
	}
	for _, ev := range changes {
		r.events.post(job{ev: ev})
	}
}
