package routing

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/palio-voip/palio/sip"
)

// Trunk capacity. Calls in progress are counted per gateway from the
// dialog table's branch events (Watch): EventBranchStarted adds one to the
// gateway named by Leg.Gateway, EventBranchEnded takes it away, and the
// table guarantees one end per start, whether the branch failed, was
// cancelled, or was answered and later hung up from either side. A
// carrier's count is the sum of its gateways' counts, however each call
// was routed to them.
//
// Between the moment the stage picks a gateway and the moment the
// Forwarder reports the branch, a call is not yet in the table: the stage
// reserves a channel for it (reserve), which the branch's start event
// takes over, so that concurrent calls cannot overshoot a limit. The
// reservation hangs on the call's record (sip.Call.SetValue), where the
// branch event finds it.

// reservation is a channel taken on a gateway for one attempt of a call,
// until the branch's start event counts the call itself (take) or the
// attempt ends without a branch (release). Exactly one of the two gives
// the channel back to the pending count.
type reservation struct {
	gwid  string
	s     *gwState
	taken atomic.Bool
}

// take hands the reservation over to the branch: true the first time.
func (res *reservation) take() bool { return res != nil && res.taken.CompareAndSwap(false, true) }

// reservationKey is the key of a call's current reservation on its record.
type reservationKey struct{}

// alarmAt returns the number of calls at which a trunk of channels raises
// its alarm, or 0 for none.
func alarmAt(channels int, threshold float64) int {
	if channels <= 0 || threshold <= 0 {
		return 0
	}
	n := int(math.Ceil(float64(channels)*threshold - 1e-9))
	return max(1, min(n, channels))
}

// usedLocked returns the calls in progress and reserved on c's gateways.
func (c *crState) usedLocked() int {
	n := 0
	for _, m := range c.members {
		n += m.legs + m.pending
	}
	return n
}

// legsLocked returns the calls in progress on c's gateways.
func (c *crState) legsLocked() int {
	n := 0
	for _, m := range c.members {
		n += m.legs
	}
	return n
}

// fullness says which trunk is at its limit.
type fullness struct {
	carrier        string // "" when the gateway itself is full
	used, channels int
}

func (f fullness) kind() string {
	if f.carrier != "" {
		return "carrier"
	}
	return "gateway"
}

func (f fullness) trunk(g *gateway) string {
	if f.carrier != "" {
		return f.carrier
	}
	return g.row.GWID
}

// String returns "full: 30 of 30 channels" or "carrier pstn full: ...".
func (f fullness) String() string {
	s := fmt.Sprintf("full: %d of %d channels", f.used, f.channels)
	if f.carrier != "" {
		s = "carrier " + f.carrier + " " + s
	}
	return s
}

// fullLocked says whether no call may be added to s now, and which trunk
// is at its limit.
func fullLocked(s *gwState) (fullness, bool) {
	if s.channels > 0 && s.legs+s.pending >= s.channels {
		return fullness{used: s.legs + s.pending, channels: s.channels}, true
	}
	for _, c := range s.carriers {
		if c.channels > 0 {
			if n := c.usedLocked(); n >= c.channels {
				return fullness{carrier: c.id, used: n, channels: c.channels}, true
			}
		}
	}
	return fullness{}, false
}

// full says whether g cannot take a call now, and why.
func (r *Router) full(g *gateway) (fullness, bool) {
	if !g.capped {
		return fullness{}, false
	}
	r.capMu.Lock()
	defer r.capMu.Unlock()
	return fullLocked(g.rt)
}

// reserve takes a channel on g for an attempt of call, or says why it
// cannot. An uncapped gateway needs no reservation (nil). With a
// ChannelCounter, the cluster must have room too (one round trip, bounded
// by Config.CounterTimeout; see shared.go).
func (r *Router) reserve(ctx context.Context, g *gateway, call *sip.Call) (*reservation, fullness, bool) {
	if !g.capped {
		return nil, fullness{}, false
	}
	r.capMu.Lock()
	if f, full := fullLocked(g.rt); full {
		r.capMu.Unlock()
		return nil, f, true
	}
	g.rt.pending++
	var counts []TrunkCount
	var seq int64
	if r.sh != nil {
		counts, seq = r.countsLocked(g.rt)
	}
	r.capMu.Unlock()
	if r.sh != nil {
		if f, full := r.reserveShared(ctx, g.rt, counts, seq); full {
			r.capMu.Lock()
			if g.rt.pending > 0 {
				g.rt.pending--
			}
			r.markLocked(g.rt)
			r.capMu.Unlock()
			return nil, f, true
		}
	}
	res := &reservation{gwid: g.row.GWID, s: g.rt}
	call.SetValue(reservationKey{}, res)
	return res, fullness{}, false
}

// release gives back res if the dialog table did not take it over (no
// branch was started).
func (r *Router) release(res *reservation, call *sip.Call) {
	if res == nil {
		return
	}
	if call.Value(reservationKey{}) == res {
		call.SetValue(reservationKey{}, nil)
	}
	if !res.take() {
		return
	}
	r.capMu.Lock()
	defer r.capMu.Unlock()
	if res.s.pending > 0 {
		res.s.pending--
	}
	r.markLocked(res.s)
}

// Watch counts the calls in progress per gateway and carrier from the
// branch events of d (the proxy's dialog table, sip.Server.Dialogs), for
// the channel limits, the trunk alarms and the palio_routing_*_calls
// gauges. Without it, limits are not enforced. The returned function
// stops watching; Close stops every watch (and Watch after Close does
// nothing).
func (r *Router) Watch(d *sip.Dialogs) (stop func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return func() {}
	}
	unsub := d.Subscribe(r.onDialogEvent)
	r.unwatch = append(r.unwatch, unsub)
	return unsub
}

// onDialogEvent counts branches. It runs on the goroutine that caused the
// event and does not call back into the table.
func (r *Router) onDialogEvent(ev sip.DialogEvent) {
	if ev.Kind != sip.EventBranchStarted && ev.Kind != sip.EventBranchEnded {
		return
	}
	id := ev.Leg.Gateway
	if id == "" {
		return // a phone, not a gateway
	}
	r.capMu.Lock()
	defer r.capMu.Unlock()
	s := r.gwRT[id]
	if s == nil {
		// A gateway of another stage, or one a reload removed: count it
		// all the same, so that a later reload finds the right figure.
		s = &gwState{id: id}
		r.gwRT[id] = s
	}
	if ev.Kind == sip.EventBranchStarted {
		if res, _ := ev.Dialog.Call.Value(reservationKey{}).(*reservation); res != nil && res.gwid == id && res.take() && res.s.pending > 0 {
			res.s.pending--
		}
		s.legs++
	} else if s.legs > 0 {
		s.legs--
	} else {
		r.log.Warn("routing: branch ended on a gateway with no call in progress", "gateway", id, "callid", ev.Dialog.CallID)
	}
	r.markLocked(s)
	r.evalLocked(s)
}

// evalLocked updates the gauges and alarms of s and of its carriers after
// its count changed. With a ChannelCounter, alarms are the cluster's and
// follow its reports instead.
func (r *Router) evalLocked(s *gwState) {
	if s.mCalls != nil {
		s.mCalls.Set(float64(s.legs))
	}
	r.alarmLocked(&s.alarm, s.legs, s.channels, s.alarmAt, s.id, "")
	for _, c := range s.carriers {
		n := c.legsLocked()
		if c.mCalls != nil {
			c.mCalls.Set(float64(n))
		}
		r.alarmLocked(&c.alarm, n, c.channels, c.alarmAt, "", c.id)
	}
}

// alarmLocked raises or clears one trunk's alarm (without a
// ChannelCounter: with one, clusterAlarmLocked does).
func (r *Router) alarmLocked(alarm *bool, calls, channels, at int, gwid, crid string) {
	if r.sh != nil {
		return
	}
	var kind EventKind
	switch {
	case !*alarm && at > 0 && calls >= at:
		kind = EventTrunkAlarm
	case *alarm && (at == 0 || calls < at):
		kind = EventTrunkAlarmCleared
	default:
		return
	}
	*alarm = kind == EventTrunkAlarm
	ev := Event{Kind: kind, Time: r.now(), Gateway: gwid, Carrier: crid, Calls: calls, Channels: channels}
	label, trunk := "gateway", gwid
	if crid != "" {
		label, trunk = "carrier", crid
	}
	if *alarm {
		r.m.alarm.WithLabelValues(label, trunk).Set(1)
		r.log.Warn("routing: "+ev.String(), label, trunk)
	} else {
		r.m.alarm.WithLabelValues(label, trunk).Set(0)
		r.log.Info("routing: "+ev.String(), label, trunk)
	}
	r.events.post(job{ev: ev})
}
