package sip

import (
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// The second measure of overload (OverloadConfig.MaxQueueDelay): how long
// datagrams wait in a UDP listener's receive queue before the read loop
// takes them. The pending count sees the proxy's own queues; this sees the
// kernel's, which fills when the read loop (one goroutine a listener,
// parsing every message) falls behind, and which can hold seconds of
// traffic with a large udp_buffer. The kernel stamps each datagram on
// arrival (SO_TIMESTAMPNS, Linux); the read loop compares the stamp with
// the time it reads it. As CoDel does, the minimum over an interval is
// what counts: a burst passes, a standing queue does not.

// delayInterval is the interval whose minimum queue delay is published.
const delayInterval = 100 * time.Millisecond

// queueDelay is the latest published standing delay: of the UDP
// listeners' queues, or of the pending requests (leaveDelay).
type queueDelay struct {
	delay atomic.Int64 // nanoseconds
	at    atomic.Int64 // unix nanoseconds it was published
}

// standing returns the standing delay published within the last two
// intervals (zero when none was: the queue has been empty or quiet).
func (q *queueDelay) standing(now int64) time.Duration {
	if !q.fresh(now) {
		return 0
	}
	return time.Duration(q.delay.Load())
}

// fresh reports whether a delay was published within the last two
// intervals.
func (q *queueDelay) fresh(now int64) bool { return now-q.at.Load() <= int64(2*delayInterval) }

// delayWindow is the current interval of a measure: one listener's, only
// its read loop touching it, or leaveDelay's, under its mutex.
type delayWindow struct {
	start, min int64
}

// observe takes the queue delay d of a datagram read at now, publishing
// the interval's minimum to q when the interval is over.
func (w *delayWindow) observe(q *queueDelay, d, now int64) {
	if w.start == 0 || d < w.min {
		w.min = d
		if w.start == 0 {
			w.start = now
		}
	}
	if now-w.start >= int64(delayInterval) {
		q.delay.Store(w.min)
		q.at.Store(now)
		w.start, w.min = now, d
	}
}

// udpAddrPortWriter is what the allocation-free write paths need of a UDP
// listener (a *net.UDPConn, or a wrapper of one).
type udpAddrPortWriter interface {
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

// delayConnOf wraps a UDP listener to measure its queue delay, when the
// overload protection wants it and the platform stamps datagrams; else it
// returns pc.
func (o *overload) delayConnOf(pc net.PacketConn) net.PacketConn {
	if o == nil || o.maxDelay <= 0 {
		return rawPacketConn(pc)
	}
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return pc
	}
	return newDelayConn(uc, &o.queue)
}
