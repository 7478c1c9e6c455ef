package mediabridge

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	// ErrNoPorts: the port range has no free pair left (or every pair
	// tried was taken by another process). The SIP side answers 503 (or
	// 488 when anchoring is optional and it retries without the relay).
	ErrNoPorts = errors.New("mediabridge: no free ports")
	// ErrClosed: the session or the Relay has ended.
	ErrClosed = errors.New("mediabridge: closed")
	// ErrSessionExists: NewSession with a call id that has a live
	// session.
	ErrSessionExists = errors.New("mediabridge: session exists")

	// ErrNoMedia ends a session whose streams were silent in both
	// directions for Config.NoMediaTimeout.
	ErrNoMedia = errors.New("mediabridge: no media")
	// ErrHoldTimeout ends a session with a stream on hold silent for
	// Config.HoldTimeout.
	ErrHoldTimeout = errors.New("mediabridge: hold timeout")
	// ErrOfferTimeout ends a session whose offer was never answered
	// within Config.OfferTimeout.
	ErrOfferTimeout = errors.New("mediabridge: offer timeout")
)

// maxBindTries bounds the pairs one stream leg tries when binds fail
// (ports held by another process), so that ErrNoPorts comes promptly.
const maxBindTries = 32

// Relay is the media relay: it owns the port pool, the sessions and the
// goroutines that move their packets (Workers pollers and a sweeper). Its
// methods are safe for concurrent use.
type Relay struct {
	cfg   Config
	log   *slog.Logger
	reg   prometheus.Registerer
	onEnd func(*Session, error)
	m     *metrics

	v6      bool // sockets are AF_INET6
	pool    *portPool
	table   []atomic.Pointer[sock] // by port - pool.base: the pollers' tokens
	pollers []*poller
	next    atomic.Uint32

	epoch time.Time

	mu       sync.Mutex
	sessions map[string]*Session
	closed   bool

	stopSweep chan struct{}
	swept     chan struct{}
}

// New validates cfg, sets up the pollers and the sweeper, and returns a
// Relay ready for sessions. Close it to stop its goroutines.
func New(cfg Config, opts ...Option) (*Relay, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Relay{
		cfg:       cfg,
		log:       slog.New(slog.DiscardHandler),
		v6:        cfg.Bind.Is6() && !cfg.Bind.Is4In6(),
		pool:      newPortPool(cfg.PortMin, cfg.PortMax),
		epoch:     time.Now(),
		sessions:  make(map[string]*Session),
		stopSweep: make(chan struct{}),
		swept:     make(chan struct{}),
	}
	for _, o := range opts {
		o(r)
	}
	r.table = make([]atomic.Pointer[sock], 2*r.pool.size())
	for range cfg.Workers {
		p, err := newPoller(r)
		if err != nil {
			for _, p := range r.pollers {
				p.stop()
			}
			return nil, err
		}
		r.pollers = append(r.pollers, p)
		go p.run()
	}
	r.m = newMetrics(r, r.reg)
	go r.sweep(cfg.sweepInterval())
	return r, nil
}

// Close ends every session (their Err is ErrClosed), stops the
// goroutines and releases every socket. Later NewSession calls fail with
// ErrClosed.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	all := make([]*Session, 0, len(r.sessions))
	for _, s := range r.sessions {
		all = append(all, s)
	}
	r.mu.Unlock()
	close(r.stopSweep)
	<-r.swept
	for _, s := range all {
		s.end(ErrClosed)
	}
	for _, p := range r.pollers {
		p.stop()
	}
	return nil
}

// NewSession starts the media session of a call. callID identifies it
// (for Session and the logs); use the Call-ID, or Call-ID plus from-tag
// when one Call-ID may carry several calls.
func (r *Relay) NewSession(callID string) (*Session, error) {
	s := &Session{r: r, callID: callID, created: r.mono(), done: make(chan struct{})}
	s.origins[LegA].Address = r.cfg.Advertise
	s.origins[LegB].Address = r.cfg.Advertise
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if _, ok := r.sessions[callID]; ok {
		return nil, fmt.Errorf("%w: %q", ErrSessionExists, callID)
	}
	r.sessions[callID] = s
	return s, nil
}

// Session returns the live session of callID.
func (r *Relay) Session(callID string) (*Session, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.sessions[callID]
	return s, ok
}

// Sessions is the number of live sessions.
func (r *Relay) Sessions() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions)
}

// PortsInUse is the number of ports the live streams hold (four a
// stream).
func (r *Relay) PortsInUse() int { return 2 * r.pool.inUse() }

func (r *Relay) forget(s *Session) {
	r.mu.Lock()
	if r.sessions[s.callID] == s {
		delete(r.sessions, s.callID)
	}
	r.mu.Unlock()
}

// mono is the monotonic time since the Relay started, in ns, never 0.
func (r *Relay) mono() int64 { return int64(time.Since(r.epoch)) + 1 }

func (r *Relay) wall(mono int64) time.Time { return r.epoch.Add(time.Duration(mono - 1)) }

// newStream allocates a stream's sockets; the session's mutex is held.
func (r *Relay) newStream(s *Session, index int) (*Stream, error) {
	st := &Stream{s: s, index: index, created: r.mono()}
	st.rate.Store(8000)
	st.p = r.pollers[int(r.next.Add(1))%len(r.pollers)]
	for i := range st.legs {
		lg := &st.legs[i]
		lg.st, lg.side = st, Leg(i)
		if err := r.openLeg(lg); err != nil {
			if i == 1 {
				r.closeLeg(&st.legs[0])
			}
			return nil, err
		}
	}
	for i := range st.legs {
		for k := range st.legs[i].socks {
			if err := st.p.add(&st.legs[i].socks[k]); err != nil {
				var wg sync.WaitGroup
				wg.Add(1)
				st.p.release(st, &wg)
				wg.Wait()
				return nil, err
			}
		}
	}
	return st, nil
}

// openLeg takes a port pair and binds its two sockets, skipping pairs
// another process holds (they go back to the pool, to be tried again
// later).
func (r *Relay) openLeg(lg *leg) error {
	var lastErr error
	for range min(maxBindTries, r.pool.size()) {
		port, ok := r.pool.get()
		if !ok {
			break
		}
		rtp, err := openSocket(r.cfg.Bind, port)
		if err == nil {
			var rtcp int
			rtcp, err = openSocket(r.cfg.Bind, port+1)
			if err == nil {
				lg.port = port
				lg.socks[kindRTP] = sock{fd: rtp, port: port, kind: kindRTP, leg: lg}
				lg.socks[kindRTCP] = sock{fd: rtcp, port: port + 1, kind: kindRTCP, leg: lg}
				return nil
			}
			closeSocket(rtp)
		}
		lastErr = err
		r.log.Warn("mediabridge: port pair taken, skipped", "port", port, "error", err)
		r.pool.put(port)
	}
	r.m.exhausted.Inc()
	if lastErr != nil {
		r.log.Warn("mediabridge: no port pair could be bound", "error", lastErr)
		return fmt.Errorf("%w: %d pairs tried: %w", ErrNoPorts, maxBindTries, lastErr)
	}
	r.log.Warn("mediabridge: port range exhausted", "ports", fmt.Sprintf("%d-%d", r.cfg.PortMin, r.cfg.PortMax))
	return ErrNoPorts
}

func (r *Relay) closeLeg(lg *leg) {
	closeSocket(lg.socks[kindRTP].fd)
	closeSocket(lg.socks[kindRTCP].fd)
	if !r.pool.put(lg.port) {
		r.log.Error("mediabridge: port pair released twice", "port", lg.port)
	}
}

// closeStream closes a stream's sockets and returns its ports, once the
// poller can no longer read them.
func (r *Relay) closeStream(st *Stream) {
	r.closeLeg(&st.legs[0])
	r.closeLeg(&st.legs[1])
}

// sweep checks every session's timeouts each tick: per-packet work only
// stores a timestamp.
func (r *Relay) sweep(every time.Duration) {
	defer close(r.swept)
	t := time.NewTicker(every)
	defer t.Stop()
	var live []*Session
	for {
		select {
		case <-r.stopSweep:
			return
		case <-t.C:
		}
		live = live[:0]
		r.mu.Lock()
		for _, s := range r.sessions {
			live = append(live, s)
		}
		r.mu.Unlock()
		now := r.mono()
		for _, s := range live {
			reason := r.expired(s, now)
			if reason == nil || !s.end(reason) {
				continue
			}
			r.m.timeouts.WithLabelValues(timeoutLabel(reason)).Inc()
			r.log.Info("mediabridge: session timed out", "callid", s.callID, "reason", reason)
			if r.onEnd != nil {
				r.onEnd(s, reason)
			}
		}
		clear(live)
	}
}

func timeoutLabel(reason error) string {
	switch reason {
	case ErrNoMedia:
		return "no_media"
	case ErrHoldTimeout:
		return "hold"
	}
	return "offer"
}

// expired returns why s has timed out at now, or nil.
func (r *Relay) expired(s *Session, now int64) error {
	answered := s.answered.Load()
	if answered == 0 {
		if now-s.created >= int64(r.cfg.OfferTimeout) {
			return ErrOfferTimeout
		}
		return nil
	}
	s.mu.Lock()
	streams := s.streams
	s.mu.Unlock()
	held := false
	for _, st := range streams {
		if st == nil {
			continue
		}
		last := max(answered, st.created, st.legs[0].stats.lastRx.Load(), st.legs[1].stats.lastRx.Load())
		limit := r.cfg.NoMediaTimeout
		if st.legs[0].held.Load() || st.legs[1].held.Load() {
			limit, held = r.cfg.HoldTimeout, true
		}
		if now-last < int64(limit) {
			return nil
		}
	}
	if held {
		return ErrHoldTimeout
	}
	return ErrNoMedia
}

// Advertise is the address the Relay advertises, for callers that build
// SDP before a stream exists.
func (r *Relay) Advertise() netip.Addr { return r.cfg.Advertise }
