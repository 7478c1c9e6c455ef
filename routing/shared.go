package routing

import (
	"context"
	"sync/atomic"
	"time"
)

// Shared channel counts (WithChannelCounter). The Router keeps counting its
// own calls exactly as without a counter (legs from the dialog table,
// pending reservations), and:
//
//   - reserve checks its own counts first, then asks the counter, with
//     Config.CounterTimeout, whether the cluster has room: one round trip
//     per attempt on a capped trunk;
//   - every change of its counts (a branch started or ended, a
//     reservation given back) makes a report due, which a goroutine sends
//     at most every flushSpacing with the trunks that changed; every
//     Config.CounterInterval it sends all of them, which also keeps the
//     node alive in the counter;
//   - alarms are the cluster's: raised and cleared by the report that
//     sees the crossing (on whichever node), seen by the others.
//
// When the counter fails (unreachable, too slow), the Router logs a
// warning (at most one per warnEvery), counts the failure and admits the
// call on its own counts; after downAfter failures in a row it stops
// asking until a full report succeeds again, which brings the
// counter up to date with the node's calls: the cluster converges within
// a CounterInterval of the engine's return. Alarms stay as they were
// meanwhile.

const (
	flushSpacing = 10 * time.Millisecond
	warnEvery    = 10 * time.Second
	// downAfter is the number of failed requests in a row after which
	// the node stops asking the counter until a report succeeds: one slow
	// answer (a busy machine, a new connection) admits its call on the
	// node's own counts, but does not take the node out of the cluster's
	// counts for a second.
	downAfter = 3
)

// WithChannelCounter counts trunk channels across the cluster with c (see
// ChannelCounter): limits and alarms apply to the calls of every node.
// Without it, the Router counts its own calls only.
func WithChannelCounter(c ChannelCounter) Option { return func(r *Router) { r.counter = c } }

// sharedState is the Router's side of a ChannelCounter.
type sharedState struct {
	seq   int64           // guarded by Router.capMu
	dirty map[string]bool // trunk keys changed since the last report; guarded by capMu
	due   chan struct{}
	down  atomic.Bool
	fails atomic.Int32 // requests failed in a row
	warn  atomic.Int64 // unix nanos of the last warning
}

// newSharedState returns the state of a Router with a counter. The
// sequence starts from the clock (microseconds) so that a restarted
// node's reports replace those of its previous run.
func newSharedState() *sharedState {
	return &sharedState{
		seq:   time.Now().UnixMicro(),
		dirty: make(map[string]bool),
		due:   make(chan struct{}, 1),
	}
}

// startShared starts the reporting goroutine.
func (r *Router) startShared() {
	r.m.counterUp.Set(1)
	r.wg.Add(1)
	go r.reportLoop()
}

// markLocked notes that s's counts (and its carriers') changed.
func (r *Router) markLocked(s *gwState) {
	if r.sh == nil {
		return
	}
	r.sh.dirty["gateway:"+s.id] = true
	for _, c := range s.carriers {
		r.sh.dirty["carrier:"+c.id] = true
	}
	select {
	case r.sh.due <- struct{}{}:
	default:
	}
}

// countsLocked returns the node's counts for a new call on s (its gateway
// and carriers with a limit), the new call included, and the stamp.
func (r *Router) countsLocked(s *gwState) ([]TrunkCount, int64) {
	counts := make([]TrunkCount, 0, 1+len(s.carriers))
	if s.channels > 0 {
		counts = append(counts, TrunkCount{ID: s.id, Channels: s.channels, AlarmAt: s.alarmAt, Used: s.legs + s.pending, Calls: s.legs})
	}
	for _, c := range s.carriers {
		if c.channels > 0 {
			counts = append(counts, TrunkCount{Carrier: true, ID: c.id, Channels: c.channels, AlarmAt: c.alarmAt, Used: c.usedLocked(), Calls: c.legsLocked()})
		}
	}
	r.sh.seq++
	return counts, r.sh.seq
}

// reserveShared asks the counter whether the cluster has room for the
// call whose channel was just reserved on s. It returns the full trunk,
// or false when the call may go: the cluster has room, or the counter
// could not tell and the node's own counts decide.
func (r *Router) reserveShared(ctx context.Context, s *gwState, counts []TrunkCount, seq int64) (fullness, bool) {
	if len(counts) == 0 || r.sh.down.Load() {
		if len(counts) > 0 {
			r.m.counterLocal.Inc()
		}
		return fullness{}, false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.CounterTimeout)
	i, used, err := r.counter.Reserve(ctx, seq, counts)
	cancel()
	if err != nil {
		r.counterFailed("reserve", err)
		r.m.counterLocal.Inc()
		return fullness{}, false
	}
	r.sh.fails.Store(0)
	if i < 0 {
		return fullness{}, false
	}
	f := fullness{used: used, channels: counts[i].Channels}
	if counts[i].Carrier {
		f.carrier = counts[i].ID
	}
	return f, true
}

// counterFailed switches to the node's own counts, after downAfter
// failures in a row, until a report succeeds.
func (r *Router) counterFailed(op string, err error) {
	r.m.counterErrors.WithLabelValues(op).Inc()
	if r.sh.fails.Add(1) >= downAfter && r.sh.down.CompareAndSwap(false, true) {
		r.m.counterUp.Set(0)
	}
	now := time.Now().UnixNano()
	last := r.sh.warn.Load()
	if now-last >= int64(warnEvery) && r.sh.warn.CompareAndSwap(last, now) {
		r.log.Warn("routing: channel counter unreachable, limits apply to this node's calls only until it answers again", "op", op, "error", err)
	}
}

// reportLoop sends the node's counts: the trunks that changed when a
// report is due (at most every flushSpacing), all of them every
// CounterInterval. While the counter is down, only the full reports are
// tried.
func (r *Router) reportLoop() {
	defer r.wg.Done()
	tick := time.NewTicker(r.cfg.CounterInterval)
	defer tick.Stop()
	r.report(true)
	for {
		select {
		case <-r.base.Done():
			return
		case <-tick.C:
			r.report(true)
		case <-r.sh.due:
			if r.sh.down.Load() {
				continue
			}
			r.report(false)
			select {
			case <-r.base.Done():
				return
			case <-time.After(flushSpacing):
			}
		}
	}
}

// report sends the counts of every trunk (all) or of those that changed,
// and applies the cluster's alarms.
func (r *Router) report(all bool) {
	type trunk struct {
		gw *gwState
		cr *crState
	}
	r.capMu.Lock()
	var counts []TrunkCount
	var trunks []trunk
	for _, s := range r.gwRT {
		if (all && (s.known || s.legs+s.pending > 0)) || r.sh.dirty["gateway:"+s.id] {
			counts = append(counts, TrunkCount{ID: s.id, Channels: s.channels, AlarmAt: s.alarmAt, Used: s.legs + s.pending, Calls: s.legs})
			trunks = append(trunks, trunk{gw: s})
		}
	}
	for _, c := range r.crRT {
		if (all && c.known) || r.sh.dirty["carrier:"+c.id] {
			counts = append(counts, TrunkCount{Carrier: true, ID: c.id, Channels: c.channels, AlarmAt: c.alarmAt, Used: c.usedLocked(), Calls: c.legsLocked()})
			trunks = append(trunks, trunk{cr: c})
		}
	}
	clear(r.sh.dirty)
	r.sh.seq++
	seq := r.sh.seq
	r.capMu.Unlock()
	if len(counts) == 0 && !all {
		return
	}
	timeout := max(r.cfg.CounterTimeout, min(r.cfg.CounterInterval, time.Second))
	ctx, cancel := context.WithTimeout(r.base, timeout)
	totals, err := r.counter.Report(ctx, seq, counts)
	cancel()
	if err != nil {
		if r.base.Err() != nil {
			return
		}
		r.counterFailed("report", err)
		if !all {
			// What changed goes with the next full report.
			r.capMu.Lock()
			for _, c := range counts {
				r.sh.dirty[c.Key()] = true
			}
			r.capMu.Unlock()
		}
		return
	}
	r.sh.fails.Store(0)
	if r.sh.down.Load() && all {
		r.sh.down.Store(false)
		r.m.counterUp.Set(1)
		r.log.Info("routing: channel counter reachable again, limits apply to the cluster's calls")
	}
	if len(totals) != len(counts) {
		return
	}
	r.capMu.Lock()
	defer r.capMu.Unlock()
	for i, t := range totals {
		tr := trunks[i]
		if tr.gw != nil {
			r.clusterAlarmLocked(&tr.gw.alarm, t, counts[i], tr.gw.id, "")
		} else {
			r.clusterAlarmLocked(&tr.cr.alarm, t, counts[i], "", tr.cr.id)
		}
	}
}

// clusterAlarmLocked applies a trunk's cluster alarm: the node whose
// report raised or cleared it raises the event; the others follow.
func (r *Router) clusterAlarmLocked(alarm *bool, t TrunkTotal, c TrunkCount, gwid, crid string) {
	label, trunk := "gateway", gwid
	if crid != "" {
		label, trunk = "carrier", crid
	}
	if !t.Changed {
		if *alarm != t.Alarm {
			*alarm = t.Alarm
			v := 0.0
			if t.Alarm {
				v = 1
			}
			r.m.alarm.WithLabelValues(label, trunk).Set(v)
		}
		return
	}
	kind := EventTrunkAlarmCleared
	if t.Alarm {
		kind = EventTrunkAlarm
	}
	*alarm = t.Alarm
	ev := Event{Kind: kind, Time: r.now(), Gateway: gwid, Carrier: crid, Calls: t.Calls, Channels: c.Channels}
	if t.Alarm {
		r.m.alarm.WithLabelValues(label, trunk).Set(1)
		r.log.Warn("routing: "+ev.String()+" across the cluster", label, trunk)
	} else {
		r.m.alarm.WithLabelValues(label, trunk).Set(0)
		r.log.Info("routing: "+ev.String()+" across the cluster", label, trunk)
	}
	r.events.post(job{ev: ev})
}
