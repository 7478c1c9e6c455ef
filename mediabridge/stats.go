package mediabridge

import (
	"net/netip"
	"sync/atomic"
	"time"
)

// LegStats is what the relay received from one leg's phone or gateway on
// one stream: the media flowing from that side to the other.
type LegStats struct {
	// Source is the address the leg's RTP was latched to (where its
	// packets come from and where the other side's go), or the zero
	// value before the first packet.
	Source netip.AddrPort
	// Packets and Bytes count the RTP packets accepted from the leg (UDP
	// payload bytes), RTCPPackets and RTCPBytes its RTCP.
	Packets, Bytes         uint64
	RTCPPackets, RTCPBytes uint64
	// Lost is the number of RTP packets that never arrived, from the
	// sequence numbers (RFC 3550 A.3: expected minus received, wrap
	// around and reordering handled, duplicates not counted as
	// negative loss), summed over the SSRCs the leg used.
	Lost uint64
	// Jitter is the RFC 3550 A.8 interarrival jitter of the RTP, at the
	// stream's clock rate (Stream.SetClockRate, 8000 Hz by default).
	Jitter time.Duration
	// LastPacket is when the last RTP or RTCP packet was accepted, zero
	// before the first.
	LastPacket time.Time
	// Dropped counts packets that arrived on the leg's sockets and were
	// not relayed: from a source other than the latched one, before the
	// peers were known, or that the kernel refused to send.
	Dropped uint64
}

// LossRate is Lost over the packets expected (0 without packets).
func (l LegStats) LossRate() float64 {
	if l.Packets+l.Lost == 0 {
		return 0
	}
	return float64(l.Lost) / float64(l.Packets+l.Lost)
}

// StreamStats are one stream's statistics (an m= line).
type StreamStats struct {
	// Index is the stream's m= index.
	Index int
	// A and B are what the relay received from the caller's side and the
	// callee's side.
	A, B LegStats
	// Held reports a leg on hold (Stream.Hold).
	Held bool
	// OneWay reports one-way audio: one side's media has been flowing
	// for Config.OneWayAfter while nothing came from the other side in
	// that time (never on hold). Silent names the silent side.
	OneWay bool
	Silent Leg
}

// SessionStats are a call's media statistics, for the call record and
// CDRs: the streams' and their sums.
type SessionStats struct {
	CallID  string
	Streams []StreamStats
	// Packets, Bytes and Lost sum both legs' RTP over every stream.
	Packets, Bytes, Lost uint64
	// MaxJitter is the largest jitter of any leg.
	MaxJitter time.Duration
	// OneWay reports a stream with one-way audio.
	OneWay bool
}

// legCounters are the statistics of one leg, written only by the poller
// that owns the stream (atomics, so that Stats reads them at any time
// without a lock).
type legCounters struct {
	packets, bytes         atomic.Uint64
	rtcpPackets, rtcpBytes atomic.Uint64
	dropped                atomic.Uint64
	lost                   atomic.Uint64
	jitter                 atomic.Uint32 // RFC 3550 J × 16, in clock units
	lastRx                 atomic.Int64  // monotonic ns since the Relay started, 0 = never
	firstRx                atomic.Int64

	seq seqState // poller-owned
}

const (
	seqMod      = 1 << 16
	maxDropout  = 3000
	maxMisorder = 100
)

// seqState follows one RTP source's sequence numbers and timing, as
// RFC 3550 appendices A.1, A.3 and A.8 do.
type seqState struct {
	init     bool
	ssrc     uint32
	maxSeq   uint16
	cycles   uint64
	baseSeq  uint64
	badSeq   uint32
	received uint64
	banked   uint64 // loss of earlier SSRCs and sequence restarts

	lastArrival int64  // ns
	lastTS      uint32 // RTP timestamp of the last packet
	jitter      uint32 // J × 16 in clock units
	haveTransit bool
}

// lost is the current loss estimate.
func (s *seqState) lost() uint64 {
	if !s.init {
		return s.banked
	}
	expected := s.cycles + uint64(s.maxSeq) + 1 - s.baseSeq
	if expected <= s.received {
		return s.banked
	}
	return s.banked + expected - s.received
}

func (s *seqState) restart(seq uint16, ssrc uint32) {
	s.banked = s.lost()
	s.init = true
	s.ssrc = ssrc
	s.maxSeq = seq
	s.cycles = 0
	s.baseSeq = uint64(seq)
	s.badSeq = seqMod + 1
	s.received = 0
	s.haveTransit = false
}

// update takes one RTP packet's sequence number, timestamp and SSRC,
// arrived at now (ns) with the given clock rate (Hz).
func (s *seqState) update(seq uint16, ts, ssrc uint32, now int64, rate uint32) {
	switch {
	case !s.init || ssrc != s.ssrc:
		s.restart(seq, ssrc)
	default:
		udelta := seq - s.maxSeq
		switch {
		case udelta < maxDropout:
			if seq < s.maxSeq {
				s.cycles += seqMod
			}
			s.maxSeq = seq
		case udelta <= seqMod-maxMisorder:
			// A large jump: a restarted source if the next packet
			// follows it, otherwise a stray one, not counted.
			if uint32(seq) != s.badSeq {
				s.badSeq = uint32(seq+1) & (seqMod - 1)
				return
			}
			s.restart(seq, ssrc)
		default:
			// Reordered or duplicate: counted, max unchanged.
		}
	}
	s.received++

	// A.8: D(i-1,i) = (Rj - Ri) - (Sj - Si), in clock units.
	if s.haveTransit {
		arrival := (now - s.lastArrival) * int64(rate) / int64(time.Second)
		d := arrival - int64(int32(ts-s.lastTS))
		if d < 0 {
			d = -d
		}
		if d > 1<<24 {
			d = 1 << 24 // a clock jump, not jitter
		}
		j := int64(s.jitter)
		j += d - (j+8)>>4
		s.jitter = uint32(j)
	}
	s.haveTransit = true
	s.lastArrival = now
	s.lastTS = ts
}

// rtp records an accepted RTP packet. Anything that is not RTP version 2
// is counted but adds nothing to loss and jitter.
func (c *legCounters) rtp(b []byte, now int64, rate uint32) {
	if len(b) >= 2 && b[0]>>6 == 2 && b[1] >= 192 && b[1] <= 223 {
		// RTCP multiplexed on the RTP port (RFC 5761 §4: packet types
		// 192-223 are never RTP payload types there).
		c.rtcpPackets.Add(1)
		c.rtcpBytes.Add(uint64(len(b)))
		return
	}
	c.packets.Add(1)
	c.bytes.Add(uint64(len(b)))
	if len(b) < 12 || b[0]>>6 != 2 {
		return
	}
	seq := uint16(b[2])<<8 | uint16(b[3])
	ts := uint32(b[4])<<24 | uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7])
	ssrc := uint32(b[8])<<24 | uint32(b[9])<<16 | uint32(b[10])<<8 | uint32(b[11])
	c.seq.update(seq, ts, ssrc, now, rate)
	c.lost.Store(c.seq.lost())
	c.jitter.Store(c.seq.jitter)
}
