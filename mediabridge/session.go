package mediabridge

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Leg names one side of a stream.
type Leg int

const (
	// LegA is the caller's side: the phone or gateway that sent the offer
	// of the initial INVITE.
	LegA Leg = iota
	// LegB is the callee's side.
	LegB
)

func (l Leg) String() string {
	switch l {
	case LegA:
		return "A"
	case LegB:
		return "B"
	}
	return fmt.Sprintf("Leg(%d)", int(l))
}

func (l Leg) valid() bool { return l == LegA || l == LegB }

const (
	kindRTP  = 0
	kindRTCP = 1
)

// Session is the media of one call: its streams, by m= index. The SIP
// side creates it with Relay.NewSession when it anchors a call and closes
// it on teardown (BYE, CANCEL, a final failure, dialog expiry); the Relay
// ends it by itself on a timeout. Its methods are safe for concurrent use.
type Session struct {
	r       *Relay
	callID  string
	created int64 // Relay.mono

	mu       sync.Mutex
	streams  []*Stream // by m= index; nil where none was asked for
	closed   bool
	err      error
	done     chan struct{}
	answered atomic.Int64 // Relay.mono when a stream first had both peers; 0 before
	origins  [2]Origin    // the o= line of the SDP each leg receives (Anchor)
	onEnd    []func(error)
}

// OnEnd adds fn to the functions run once when the session ends, with the
// reason Err reports (nil for Close). The SIP side uses it to hang up a
// call whose media timed out. If the session has ended already, fn runs
// at once. fn must not block.
func (s *Session) OnEnd(fn func(reason error)) {
	s.mu.Lock()
	if !s.closed {
		s.onEnd = append(s.onEnd, fn)
		s.mu.Unlock()
		return
	}
	err := s.err
	s.mu.Unlock()
	fn(err)
}

// CallID is the call id the session was created with.
func (s *Session) CallID() string { return s.callID }

// Stream returns the stream of m= line index, allocating its ports (two
// even/odd pairs, one per leg) the first time and returning the same
// stream afterwards. It fails with ErrNoPorts when the port range is
// exhausted (the SIP side answers 503 or 488) and ErrClosed once the
// session has ended.
func (s *Session) Stream(index int) (*Stream, error) {
	if index < 0 || index > 63 {
		return nil, fmt.Errorf("mediabridge: stream %d: index out of 0-63", index)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if index < len(s.streams) && s.streams[index] != nil {
		return s.streams[index], nil
	}
	st, err := s.r.newStream(s, index)
	if err != nil {
		return nil, err
	}
	for len(s.streams) <= index {
		s.streams = append(s.streams, nil)
	}
	s.streams[index] = st
	return st, nil
}

// Close ends the session: its sockets are closed and their ports back in
// the pool when it returns. It is idempotent and safe to call after a
// timeout ended the session.
func (s *Session) Close() { s.end(nil) }

// Done is closed when the session has ended, by Close, Relay.Close or a
// timeout.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err is, once Done is closed, why the session ended: nil for Close,
// ErrNoMedia, ErrHoldTimeout or ErrOfferTimeout for a timeout, ErrClosed
// when the Relay closed. It is nil while the session lives.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Ended reports whether the session has ended or is ending: true from
// the moment Close or a timeout ends it (and the Relay stops counting it),
// while Done is closed only once its ports are back in the pool.
func (s *Session) Ended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// end closes the session once; it reports whether this call did.
func (s *Session) end(reason error) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.closed = true
	s.err = reason
	streams := s.streams
	s.mu.Unlock()

	s.r.forget(s)
	var wg sync.WaitGroup
	for _, st := range streams {
		if st != nil {
			wg.Add(1)
			st.p.release(st, &wg)
		}
	}
	wg.Wait()
	close(s.done)
	s.mu.Lock()
	fns := s.onEnd
	s.onEnd = nil
	s.mu.Unlock()
	for _, fn := range fns {
		fn(reason)
	}
	return true
}

// Stats returns the session's media statistics so far; after the session
// ended, the final ones.
func (s *Session) Stats() SessionStats {
	s.mu.Lock()
	streams := s.streams
	s.mu.Unlock()
	ss := SessionStats{CallID: s.callID}
	for _, st := range streams {
		if st == nil {
			continue
		}
		x := st.Stats()
		ss.Streams = append(ss.Streams, x)
		for _, l := range [2]LegStats{x.A, x.B} {
			ss.Packets += l.Packets
			ss.Bytes += l.Bytes
			ss.Lost += l.Lost
			ss.MaxJitter = max(ss.MaxJitter, l.Jitter)
		}
		ss.OneWay = ss.OneWay || x.OneWay
	}
	return ss
}

// Stream is one m= line of a call relayed through two legs: what the
// relay receives on leg A's sockets it sends out of leg B's to B's peer,
// and the other way round; RTP to RTP, RTCP to RTCP.
type Stream struct {
	s       *Session
	index   int
	p       *poller
	created int64
	rate    atomic.Uint32
	legs    [2]leg
}

// leg is one side of a stream: its sockets, its peer and what it sent.
type leg struct {
	st     *Stream
	side   Leg
	port   int     // the even (RTP) port; RTCP on port+1
	socks  [2]sock // rtp, rtcp
	peer   atomic.Pointer[peer]
	held   atomic.Bool
	source atomic.Pointer[netip.AddrPort] // the latched RTP source
	stats  legCounters
}

// sock is one relay socket. Below fd, port, kind and leg, its fields
// belong to the poller.
type sock struct {
	fd   int
	port int
	kind int
	leg  *leg

	gen     uint64 // the peer generation the latch was learnt in
	latched bool
	latch   rawAddr
}

// peer is a leg's SDP addresses, immutable once published.
type peer struct {
	gen  uint64
	addr [2]netip.AddrPort // rtp, rtcp
	raw  [2]rawAddr
	ok   [2]bool // a destination (not a hold address or port 0)
}

// Index is the stream's m= index.
func (st *Stream) Index() int { return st.index }

// Local is the relay address leg's phone must send RTP to: the address
// and port to write in the c= and m= lines of the SDP that leg receives
// (the answer for A, the offer for B). RTCP goes to the next port
// (LocalRTCP).
func (st *Stream) Local(l Leg) netip.AddrPort {
	return netip.AddrPortFrom(st.s.r.cfg.Advertise, uint16(st.legs[l&1].port))
}

// LocalRTCP is the relay address leg's phone must send RTCP to (the
// Local port plus one, for an a=rtcp line).
func (st *Stream) LocalRTCP(l Leg) netip.AddrPort {
	return netip.AddrPortFrom(st.s.r.cfg.Advertise, uint16(st.legs[l&1].port+1))
}

// SetPeer records the addresses leg's SDP announced: where the relay
// sends that leg's media until it latches onto the address the media
// really comes from. An invalid rtcp means the RTP port plus one (RFC
// 3550 §11). An unspecified address (c=0.0.0.0, the old RFC 2543 hold)
// or port 0 leaves the leg without a destination until it sends. A call
// that changes the addresses (a re-INVITE moving a phone) restarts
// latching on both of the leg's sockets; the same addresses again keep
// the latch.
func (st *Stream) SetPeer(l Leg, rtp, rtcp netip.AddrPort) error {
	if !l.valid() {
		return fmt.Errorf("mediabridge: %v: no such leg", l)
	}
	if !rtp.IsValid() {
		return fmt.Errorf("mediabridge: leg %v: invalid RTP address", l)
	}
	if !rtcp.IsValid() && rtp.Port() != 0 {
		rtcp = netip.AddrPortFrom(rtp.Addr(), rtp.Port()+1)
	}
	v6 := st.s.r.v6
	np := &peer{addr: [2]netip.AddrPort{rtp, rtcp}}
	for k, ap := range np.addr {
		if !ap.IsValid() || ap.Addr().IsUnspecified() || ap.Port() == 0 {
			continue
		}
		raw, err := makeRaw(ap, v6)
		if err != nil {
			return err
		}
		np.raw[k], np.ok[k] = raw, true
	}
	lg := &st.legs[l]
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	if st.s.closed {
		return ErrClosed
	}
	old := lg.peer.Load()
	if old != nil && old.addr == np.addr {
		return nil
	}
	if old != nil {
		np.gen = old.gen + 1
		lg.source.Store(nil)
	}
	lg.peer.Store(np)
	if st.legs[1-l].peer.Load() != nil && st.s.answered.Load() == 0 {
		st.s.answered.Store(st.s.r.mono())
	}
	return nil
}

// Hold marks leg as on hold (its SDP says sendonly, recvonly or inactive,
// or c=0.0.0.0) or as resumed. Held streams time out after
// Config.HoldTimeout instead of NoMediaTimeout and never count as one-way
// audio. Media keeps flowing either way (music on hold).
func (st *Stream) Hold(l Leg, on bool) { st.legs[l&1].held.Store(on) }

// SetClockRate sets the RTP clock rate for the jitter (default 8000 Hz,
// G.711, G.729; 48000 for Opus, 16000 for G.722's RTP clock is still
// 8000).
func (st *Stream) SetClockRate(hz int) {
	if hz > 0 {
		st.rate.Store(uint32(hz))
	}
}

// Stats returns the stream's statistics so far.
func (st *Stream) Stats() StreamStats {
	r := st.s.r
	x := StreamStats{Index: st.index}
	rate := st.rate.Load()
	var last [2]int64
	for i := range st.legs {
		lg := &st.legs[i]
		c := &lg.stats
		ls := LegStats{
			Packets:     c.packets.Load(),
			Bytes:       c.bytes.Load(),
			RTCPPackets: c.rtcpPackets.Load(),
			RTCPBytes:   c.rtcpBytes.Load(),
			Lost:        c.lost.Load(),
			Jitter:      time.Duration(uint64(c.jitter.Load()) * uint64(time.Second) / 16 / uint64(rate)),
			Dropped:     c.dropped.Load(),
		}
		if src := lg.source.Load(); src != nil {
			ls.Source = *src
		}
		last[i] = c.lastRx.Load()
		if last[i] != 0 {
			ls.LastPacket = r.wall(last[i])
		}
		if i == 0 {
			x.A = ls
		} else {
			x.B = ls
		}
		x.Held = x.Held || lg.held.Load()
	}
	if !x.Held {
		now, after := r.mono(), int64(r.cfg.OneWayAfter)
		for i := range st.legs {
			first := st.legs[i].stats.firstRx.Load()
			silentSince := max(st.legs[1-i].stats.lastRx.Load(), st.created)
			if last[i] != 0 && now-last[i] < after && now-first >= after && now-silentSince >= after {
				x.OneWay, x.Silent = true, Leg(1-i)
			}
		}
	}
	return x
}
