package sip

import (
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// OverloadConfig bounds the work a Server takes on, so that an offered load
// above what the machine can carry costs it a cheap refusal per excess
// call instead of a pile of half-served ones (goroutines waiting in the
// Forwarder, transactions waiting on the socket, memory growing until the
// calls it does serve time out too).
//
// The measure is the number of initial requests pending: received, not
// refused, and still in the proxy's hands. An INVITE stops being pending
// when the first response comes back from downstream (the next hop's 100
// Trying: it has left our queues, and the time until the callee rings is
// not our load), when T1 (500 ms) has passed since it was sent without
// one (a next hop that does not answer at all: a trunk gone dark must not
// fill the bound while the Forwarder waits FirstResponse for it, and turn
// every new call away), or when it is answered upstream; any other
// request when it is answered. On a healthy server that number is the
// arrival rate times the time the proxy takes plus one round trip
// (milliseconds: 3000 calls/s give a dozen); when the server falls behind
// (CPU, the socket's read loop, a slow stage), it is the queue, and by
// Little's law the delay each new call would see.
// The pending count does not see the kernel's queue: the datagrams that
// wait in a UDP listener's receive buffer because the read loop (one
// goroutine a listener, parsing every message) is behind. MaxQueueDelay
// bounds that wait, measured from the kernel's receive timestamps
// (queuedelay.go).
//
// Above MaxPending (unless the pending requests are a burst still
// moving: MaxPendingDelay), or above MaxQueueDelay, a new initial request
// is refused at once with 503 Service Unavailable and Retry-After, sent
// once (no retransmission, its transaction ended, as the shutdown's 503),
// before any stage runs.
//
// Never refused: in-dialog requests (a To tag: BYE, re-INVITE, the ACK),
// ACK, CANCEL, responses, retransmissions of requests already taken (they
// belong to their transaction), and INVITE retransmissions of answered
// calls. Calls in progress finish; only new ones wait.
//
// Stateless requests (Config.Stateless: REGISTER over UDP) have their own
// bound: a fixed pool of workers and a queue; when both are full, each
// request beyond them used to get a goroutine of its own. Those overflow
// goroutines now count as pending, and a request that finds MaxPending
// reached is answered 503 on the socket's read loop.
//
// OpenSIPS has no built-in equivalent: a script calls `load_get()` or the
// `ratelimit` module's `rl_check()` with a fixed rate and answers 503
// itself; Kamailio's `pike` and `pipelimit` are the same idea. Palio bounds
// the queue rather than the rate, so the limit follows the machine's real
// capacity (other work on it, the services turned on) without tuning.
type OverloadConfig struct {
	// MaxPending is how many initial requests may be pending before new
	// ones are refused (default DefaultMaxPending; -1: no bound).
	MaxPending int
	// MaxQueueDelay bounds the time datagrams wait in a UDP listener's
	// receive queue before the server reads them, a queue the pending
	// count does not see (queuedelay.go): while the minimum wait over
	// 100 ms intervals is above it, new initial requests are refused as
	// beyond MaxPending (default DefaultMaxQueueDelay; negative: not
	// measured). Linux only (the kernel's receive timestamps).
	MaxQueueDelay time.Duration
	// MaxPendingDelay tells a burst from a backlog. Above MaxPending, new
	// initial requests are still admitted, up to BurstFactor × MaxPending,
	// while the pending ones keep leaving quickly: the least time one
	// took over the last 100 ms interval, from admission to the next
	// hop's first response or our own answer, is under MaxPendingDelay
	// (default DefaultMaxPendingDelay; negative: MaxPending is a hard
	// bound). A collection pause or a slow moment of the next hop makes
	// the count jump past MaxPending while requests still flow: those
	// callers would have been refused 503 (a phone gives the call up, or
	// retransmits 500 ms later); a machine that has fallen behind keeps
	// every request waiting, so the least time rises and it refuses.
	MaxPendingDelay time.Duration
	// RetryAfter is the Retry-After of the 503 (default 5 s, rounded to
	// whole seconds, at least 1 s).
	RetryAfter time.Duration
}

// BurstFactor is how far above MaxPending the pending count may go in a
// burst (OverloadConfig.MaxPendingDelay): a hard bound on the requests in
// the proxy's hands whatever their pace.
const BurstFactor = 4

// DefaultMaxPendingDelay is the default OverloadConfig.MaxPendingDelay. A
// healthy server hands an INVITE to its next hop, and gets its 100 Trying
// back, in a millisecond or two on a LAN; when even the quickest request
// of a 100 ms interval took 50 ms, every request waited that long. At
// 2000 calls/s on a 2-core machine shared with SIPp, 20 ms still refused
// calls in stalls the machine recovered from, 100 ms none; offered 3000
// calls/s it could not carry, the median set-up time of the admitted
// calls rose from 52 ms (a hard bound) to 110 ms at 50 ms and 158 ms at
// 100 ms: 50 ms keeps it well under T1 (bench/overload.sh, 2026-12-07).
const DefaultMaxPendingDelay = 50 * time.Millisecond

// Check reports a setting WithOverload would misread: MaxPending below
// -1 (only -1 means no bound: -5 is more likely a typo than a choice) and
// a negative RetryAfter. The error names the field.
func (c OverloadConfig) Check() error {
	switch {
	case c.MaxPending < -1:
		return fmt.Errorf("sip: overload: MaxPending %d: want a positive bound, 0 for the default (%d) or -1 for none", c.MaxPending, DefaultMaxPending)
	case c.RetryAfter < 0:
		return fmt.Errorf("sip: overload: RetryAfter %v: negative", c.RetryAfter)
	}
	return nil
}

// DefaultMaxQueueDelay is the default OverloadConfig.MaxQueueDelay. A
// standing queue of 500 ms in the socket means every request that comes
// out of it has already been retransmitted (SIP's T1): refusing is then
// clearly right, and a loaded test machine does not get there by
// accident. 100 ms refuses earlier (bench/overload.sh measured both); a
// healthy server's wait is well under a millisecond.
const DefaultMaxQueueDelay = 500 * time.Millisecond

// DefaultMaxPending is the default OverloadConfig.MaxPending. At the
// 2000–3000 calls/s a 2-core machine routes, 100 pending requests are
// 30–50 ms of queue, well under SIP's 500 ms T1: admitted callers are
// answered before they retransmit, and a queue that grows past it means
// the machine is behind. Stages that wait (ENUM lookups, a remote
// database) hold their requests pending: raise it for those (pending ≈
// calls/s × the time a call spends in the pipeline).
const DefaultMaxPending = 100

// WithOverload sets the Server's overload protection (see OverloadConfig).
// Without it the defaults apply.
func WithOverload(cfg OverloadConfig) Option {
	return func(s *Server) { s.overload = newOverload(cfg) }
}

// overloadLogEvery is how often at most the overload line is logged.
const overloadLogEvery = 10 * time.Second

// overload is the Server's admission control (OverloadConfig).
type overload struct {
	max        int64 // 0: no bound
	maxDelay   int64 // nanoseconds; 0: not measured
	queue      queueDelay
	maxLeave   int64 // MaxPendingDelay, nanoseconds; 0: MaxPending is hard
	leave      leaveDelay
	retryAfter string
	pending    atomic.Int64
	shedding   atomic.Bool  // refused since the last "over" line
	lastLog    atomic.Int64 // unix nanoseconds of the last Warn line
	episode    atomic.Int64 // refused since the overload began
	unlogged   atomic.Int64 // refused since the last Warn line
	log        *slog.Logger
	shed       *prometheus.CounterVec
	bursts     prometheus.Counter
}

func newOverload(cfg OverloadConfig) *overload {
	o := &overload{}
	switch {
	case cfg.MaxPending == 0:
		o.max = DefaultMaxPending
	case cfg.MaxPending > 0:
		o.max = int64(cfg.MaxPending)
	}
	switch {
	case cfg.MaxQueueDelay == 0:
		o.maxDelay = int64(DefaultMaxQueueDelay)
	case cfg.MaxQueueDelay > 0:
		o.maxDelay = int64(cfg.MaxQueueDelay)
	}
	switch {
	case cfg.MaxPendingDelay == 0:
		o.maxLeave = int64(DefaultMaxPendingDelay)
	case cfg.MaxPendingDelay > 0:
		o.maxLeave = int64(cfg.MaxPendingDelay)
	}
	ra := cfg.RetryAfter
	if ra <= 0 {
		ra = 5 * time.Second
	}
	o.retryAfter = strconv.Itoa(max(1, int((ra+time.Second/2)/time.Second)))
	return o
}

// init registers the metrics and sets the logger; NewServer calls it once.
func (o *overload) init(log *slog.Logger, reg prometheus.Registerer) {
	o.log = log
	o.shed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "palio_sip_overload_refused_total",
		Help: "Initial requests refused with 503 because too many were pending (OverloadConfig), by method.",
	}, []string{"method"})
	o.bursts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "palio_sip_overload_burst_admitted_total",
		Help: "Initial requests admitted above MaxPending because the pending ones kept leaving within MaxPendingDelay (a burst, not a backlog).",
	})
	delay := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "palio_sip_udp_queue_delay_seconds",
		Help: "The standing queue delay of the UDP listeners: the least time a datagram waited in the socket over the last 100 ms (OverloadConfig.MaxQueueDelay; 0 when not measured).",
	}, func() float64 { return o.queue.standing(time.Now().UnixNano()).Seconds() })
	pending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "palio_sip_pending_requests",
		Help: "Initial requests received and not yet answered by more than 100 Trying (what OverloadConfig.MaxPending bounds).",
	}, func() float64 { return float64(o.pending.Load()) })
	leave := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "palio_sip_pending_delay_seconds",
		Help: "The least time a pending request took to leave the proxy's hands (admission to the next hop's first response or our answer) over the last 100 ms; 0 when none left in the last 200 ms (OverloadConfig.MaxPendingDelay).",
	}, func() float64 { return o.leave.standing(time.Now().UnixNano()).Seconds() })
	if reg != nil {
		reg.MustRegister(o.shed, o.bursts, pending, delay, leave)
	}
}

// admit takes a pending slot for a new initial request, or reports that
// there is none left. A request admitted is released exactly once, with
// the time admit returned.
func (o *overload) admit() (int64, bool) {
	if o == nil { // a Server not made by NewServer (tests)
		return 0, true
	}
	now := time.Now().UnixNano()
	return now, o.admitAt(now)
}

func (o *overload) admitAt(now int64) bool {
	if o.maxDelay > 0 && time.Duration(o.queue.delay.Load()) > time.Duration(o.maxDelay) &&
		o.queue.standing(now) > time.Duration(o.maxDelay) {
		return false
	}
	n := o.pending.Add(1)
	if n <= o.max || o.max == 0 {
		return true
	}
	if n <= BurstFactor*o.max && o.maxLeave > 0 && o.leave.moving(now, o.maxLeave) {
		o.bursts.Inc()
		return true
	}
	o.pending.Add(-1)
	return false
}

// release gives back a slot taken by admit at admitted (unix
// nanoseconds): the request has left the proxy's hands, and how long
// that took counts towards MaxPendingDelay. admitted 0: it is given back
// without telling anything of the proxy's pace (a caller's CANCEL, a next
// hop silent for T1).
func (o *overload) release(admitted int64) {
	if o == nil {
		return
	}
	if admitted != 0 && o.maxLeave > 0 {
		now := time.Now().UnixNano()
		o.leave.observe(now-admitted, now)
	}
	n := o.pending.Add(-1)
	if o.shedding.Load() && n <= o.max/2 && o.shedding.CompareAndSwap(true, false) {
		o.log.Info("sip: overload over, accepting new requests", "pending", n, "refused", o.episode.Swap(0))
	}
}

// refused counts a request turned away and logs, at most once every
// overloadLogEvery, how many were.
func (o *overload) refused(method Method) {
	o.shed.WithLabelValues(methodLabel(method)).Inc()
	o.episode.Add(1)
	o.unlogged.Add(1)
	o.shedding.Store(true)
	now := time.Now().UnixNano()
	last := o.lastLog.Load()
	if now-last < int64(overloadLogEvery) || !o.lastLog.CompareAndSwap(last, now) {
		return
	}
	o.log.Warn("sip: overloaded, refusing new requests with 503", "pending", o.pending.Load(), "max_pending", o.max,
		"queue_delay", o.queue.standing(now).Round(time.Millisecond), "refused", o.unlogged.Swap(0))
}

// response is the 503 refusing req.
func (o *overload) response(req *Request) *Response {
	res := NewResponse(req, 503, "Service Unavailable")
	res.AppendHeader(sipmsg.NewHeader("Retry-After", o.retryAfter))
	return res
}

// sheddable reports whether req is a new initial request, the only kind
// overload protection may refuse.
func sheddable(req *Request) bool {
	return !req.IsAck() && !req.IsCancel() && toTag(req) == ""
}

// refuseStateless answers a stateless request (Config.Stateless) 503 on the
// read loop: its workers and their queue are full, and MaxPending requests
// are pending.
func (s *Server) refuseStateless(job statelessJob) {
	defer s.inflight.Add(-1)
	m, err := sipmsg.ParseMessage(job.data)
	if err != nil {
		s.inputs.unparsableFrom("udp", job.from, len(job.data), err.Error())
		s.answerMalformed(job.data, job.from, job.to)
		return
	}
	req, ok := m.(*sipmsg.Request)
	if !ok || validate(req) != nil {
		return
	}
	req.SetSource(job.from.String())
	req.SetTransport("UDP")
	s.metrics.request(req.Method)
	pc := s.packetConnFor(job.to)
	if pc == nil {
		return
	}
	s.overload.refused(req.Method)
	s.metrics.response(503)
	_ = writeUDP(pc, responseAddr(req), s.overload.response(req))
}

// progressed gives back the call's overload slot: a response came from
// downstream (100 Trying included): the INVITE has left the proxy's
// queues, and how long the next hop then takes is not the proxy's load.
func (c *Call) progressed() {
	if c != nil && c.pending != nil {
		c.pending(true)
	}
}

// stalled gives back the call's overload slot when no response came
// within T1 (Forwarder): the INVITE is out of the proxy's queues, but the
// time it waited is the next hop's, not the proxy's pace.
func (c *Call) stalled() {
	if c != nil && c.pending != nil {
		c.pending(false)
	}
}

// hasSlot reports whether the call came with an overload slot, given
// back since or not (progressed gives it back once).
func (c *Call) hasSlot() bool { return c != nil && c.pending != nil }

// leaveDelay is the pace at which pending requests leave the proxy's
// hands: the least time one took (admission to release) over each 100 ms
// interval, measured as the socket's queue delay is (delayWindow,
// queueDelay). Releases come from every call's goroutine, so the current
// interval is under a mutex; the published minimum is read without it.
type leaveDelay struct {
	mu  sync.Mutex
	win delayWindow
	pub queueDelay
}

// observe takes the time d a request took to leave, released at now.
func (l *leaveDelay) observe(d, now int64) {
	l.mu.Lock()
	l.win.observe(&l.pub, d, now)
	l.mu.Unlock()
}

// moving reports whether requests are leaving at a pace under limit: a
// minimum published within the last two intervals, and under it. None
// published means none left for 200 ms: not moving.
func (l *leaveDelay) moving(now, limit int64) bool {
	return l.pub.fresh(now) && l.pub.delay.Load() < limit
}

// standing returns the minimum published within the last two intervals,
// zero when none was.
func (l *leaveDelay) standing(now int64) time.Duration { return l.pub.standing(now) }
