package sip

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// StreamLimits bounds what TCP, TLS and WebSocket peers may hold. A zero
// field takes its default; a negative one turns that limit off.
//
// Connections the proxy dials itself (to a gateway, to a phone whose flow
// is gone) belong to sipgo's connection pool and are not covered.
type StreamLimits struct {
	// IdleTimeout closes a connection on which nothing was read or written
	// for that long (default 120 s, Kamailio's and OpenSIPS's
	// tcp_connection_lifetime). A connection that registered a contact
	// (the proxy sent a 2xx to a REGISTER over it) may stay idle for the
	// registration's expiry plus 32 s (64*T1, so that the refresh sent at
	// expiry has its whole transaction), the longest any 2xx over it
	// granted, at most 24 h; RFC 5626 keepalives (CRLFCRLF) count as
	// traffic. A connection that still holds a transaction (an
	// INVITE ringing, a response on its way) is not idle.
	IdleTimeout time.Duration
	// MessageTimeout bounds how long a message may take to arrive once
	// its first byte has (default 10 s: OpenSIPS's tcp_max_msg_time is
	// 4 s, Kamailio's tcp_msg_read_timeout 20 s), whatever the byte rate:
	// a slowloris sender is cut off. It also bounds a TLS handshake and
	// any one write (a peer that stops reading).
	MessageTimeout time.Duration
	// MaxConns caps accepted connections over all stream listeners
	// (default 2048, Kamailio's and OpenSIPS's tcp_max_connections). Each
	// costs sipgo a 64 KiB read buffer.
	MaxConns int
	// MaxConnsPerIP caps accepted connections per source address (per /64
	// for IPv6; default 64). Raise it for sites with many TCP phones
	// behind one NAT.
	MaxConnsPerIP int
}

// Defaults of StreamLimits.
const (
	DefaultIdleTimeout    = 120 * time.Second
	DefaultMessageTimeout = 10 * time.Second
	DefaultMaxConns       = 2048
	DefaultMaxConnsPerIP  = 64
)

// registeredMargin is added to a registration's expiry to get how long its
// connection may stay idle: 64*T1, the life of the refresh's transaction.
var registeredMargin = 64 * sipmsg.T1

// maxRegisteredIdle bounds the idle time a registration can grant, whatever
// the 2xx said.
const maxRegisteredIdle = 24 * time.Hour

// withDefaults resolves zero fields to defaults and negative ones to 0 (off).
func (l StreamLimits) withDefaults() StreamLimits {
	dur := func(v, def time.Duration) time.Duration {
		switch {
		case v == 0:
			return def
		case v < 0:
			return 0
		}
		return v
	}
	num := func(v, def int) int {
		switch {
		case v == 0:
			return def
		case v < 0:
			return 0
		}
		return v
	}
	return StreamLimits{
		IdleTimeout:    dur(l.IdleTimeout, DefaultIdleTimeout),
		MessageTimeout: dur(l.MessageTimeout, DefaultMessageTimeout),
		MaxConns:       num(l.MaxConns, DefaultMaxConns),
		MaxConnsPerIP:  num(l.MaxConnsPerIP, DefaultMaxConnsPerIP),
	}
}

// Reasons a stream connection was refused or closed (metric labels).
const (
	refusedPerIP = "per-ip"
	refusedTotal = "total"
	refusedGate  = "gate" // the SourceGate refused the source

	closedGate   = "gate"
	closedOrigin = "origin"

	closedIdle       = "idle"
	closedMessage    = "message-timeout"
	closedWrite      = "write-timeout"
	closedHandshake  = "handshake"
	closedPeer       = "peer"
	closedError      = "error"
	closedLocal      = "local"
	closedReasonNone = ""
)

// streamGuard enforces StreamLimits over every stream listener of a Server.
type streamGuard struct {
	cfg StreamLimits // resolved
	in  *inputLog
	m   *metrics
	// tl is the transport layer whose pools hold the connections; set by
	// NewServer before any connection is accepted.
	tl *sipmsg.TransportLayer
	// gate, when set, is asked at accept and at each message begun.
	gate SourceGate
	// capture, when set, sees what the connections write (WithCapture).
	capture *capture
	// tlsConf, when set, describes TLS peers and checks WebSocket origins.
	tlsConf *TLS
	// peers holds the Peer of each TLS and WSS connection accepted, by
	// transport and remote address (peerKeyOf), from its handshake to
	// its close.
	peers sync.Map

	mu    sync.Mutex
	total int
	perIP map[netip.Addr]int
	byNet map[string]int // open connections by network
}

func newStreamGuard(cfg StreamLimits, in *inputLog, m *metrics) *streamGuard {
	return &streamGuard{cfg: cfg.withDefaults(), in: in, m: m, perIP: make(map[netip.Addr]int), byNet: make(map[string]int)}
}

// listener wraps l, a TCP listener bound for network ("tcp", "tls", "ws"
// or "wss"); conf, when set, makes it serve TLS.
func (g *streamGuard) listener(l net.Listener, network string, conf *tls.Config) net.Listener {
	return &streamListener{Listener: l, g: g, network: network, tls: conf}
}

// ipKey is the address a per-IP cap counts: the IP, or its /64 for IPv6
// (one subscriber's allocation).
func ipKey(a net.Addr) netip.Addr {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip = a.AddrPort().Addr()
	case *net.UDPAddr:
		ip = a.AddrPort().Addr()
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Addr{}
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			ip = p.Addr()
		}
	}
	return ip
}

// admit counts a new connection from key over network, or says why it is
// refused.
func (g *streamGuard) admit(key netip.Addr, network string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cfg.MaxConns > 0 && g.total >= g.cfg.MaxConns {
		return refusedTotal
	}
	if g.cfg.MaxConnsPerIP > 0 && g.perIP[key] >= g.cfg.MaxConnsPerIP {
		return refusedPerIP
	}
	g.total++
	g.perIP[key]++
	g.byNet[network]++
	return ""
}

func (g *streamGuard) release(key netip.Addr, network string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.total--
	g.byNet[network]--
	if n := g.perIP[key] - 1; n > 0 {
		g.perIP[key] = n
	} else {
		delete(g.perIP, key)
	}
}

// busy reports whether sipgo holds c for a transaction: a connection with
// a transaction in progress (an INVITE ringing, a response to send) must
// not be closed as idle. sipgo counts the references of a connection: one
// for its read loop, TransportIdleConnection for idling, one per
// transaction and one for this look-up.
func (g *streamGuard) busy(c *streamConn) bool {
	if g.tl == nil {
		return false
	}
	pool := g.tl.Pool(c.network)
	if pool == nil {
		return false
	}
	conn := pool.Get(c.raddr)
	if conn == nil {
		return false
	}
	defer conn.TryClose()
	var inner net.Conn
	switch sc := conn.(type) {
	case *sipmsg.TCPConnection:
		inner = sc.Conn
	case *sipmsg.WSConnection:
		inner = sc.Conn
	}
	if inner != net.Conn(c) {
		return false
	}
	return conn.Ref(0) > 2+sipmsg.TransportIdleConnection
}

// streamListener applies the caps at accept time and wraps what it
// accepts in a streamConn.
type streamListener struct {
	net.Listener
	g       *streamGuard
	network string
	tls     *tls.Config
}

// Accept returns the next connection within the caps. One over a cap is
// closed at once (with a reset, so that it leaves no TIME_WAIT), counted
// and logged (rate-limited per source); Accept then waits for the next.
// A transient error (out of file descriptors) is retried after a pause:
// sipgo stops serving a listener whose Accept fails.
func (l *streamListener) Accept() (net.Conn, error) {
	var pause time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			l.g.in.limitedWarn("sip: accept failed", slog.String("transport", l.network), slog.String("error", err.Error()))
			time.Sleep(pause)
			continue
		}
		pause = 0
		if l.g.gate != nil && l.g.gate.Admit(addrPortOf(c.RemoteAddr()), l.network) != Pass {
			// The gate logs its own decisions (once per block).
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			c.Close()
			l.g.m.streamRefused.WithLabelValues(refusedGate).Inc()
			continue
		}
		key := ipKey(c.RemoteAddr())
		if reason := l.g.admit(key, l.network); reason != "" {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			src := c.RemoteAddr()
			c.Close()
			l.g.m.streamRefused.WithLabelValues(reason).Inc()
			l.g.in.sourceWarn(kindRefused, src, "sip: connection refused",
				slog.String("transport", l.network), slog.String("reason", reason))
			continue
		}
		l.g.m.streamConns.WithLabelValues(l.network).Inc()
		return newStreamConn(l.g, c, l.network, key, l.tls), nil
	}
}

// clockBase anchors the monotonic clock of stream connections.
var clockBase = time.Now()

// monoNow is the monotonic time in nanoseconds since clockBase.
func monoNow() int64 { return int64(time.Since(clockBase)) }

// monoTime turns monoNow's unit back into a time.Time (with its monotonic
// reading, so that deadlines ignore wall-clock steps).
func monoTime(ns int64) time.Time { return clockBase.Add(time.Duration(ns)) }

// streamConn is an accepted stream connection under StreamLimits. sipgo
// reads it on one goroutine, so the read side's state needs no lock; the
// write side (any goroutine) shares only atomics.
type streamConn struct {
	net.Conn // the accepted connection, or the TLS server over it
	g        *streamGuard
	network  string
	raddr    string     // RemoteAddr().String(): sipgo's pool key
	key      netip.Addr // the per-IP cap's key
	tlsConn  *tls.Conn  // until the handshake is done
	idle     int64      // IdleTimeout, ns (0: off)
	msgLimit int64      // MessageTimeout, ns (0: off)
	slack    int64      // how early an armed idle deadline may fire

	// Read side (sipgo's read goroutine).
	frame    framer
	accepted int64
	lastRead int64
	msgStart int64 // when the message being read began; 0 between messages
	armed    int64 // read deadline set on Conn; 0 none

	capture   *streamConnCapture   // WithCapture; nil: off
	upgrade   []byte               // WebSocket: the upgrade request read so far (origin check)
	peer      atomic.Pointer[Peer] // TLS, WSS: its Peer in g.peers (peerKeyOf), once the handshake is done
	lastWrite atomic.Int64
	regIdle   atomic.Int64 // idle time a registration grants, ns
	extRead   atomic.Int64 // the caller's read deadline (monotonic ns; 0 none)
	extWrite  atomic.Int64 // the caller's write deadline
	rearm     atomic.Bool  // the caller moved the read deadline
	reason    atomic.Pointer[string]
	closed    atomic.Bool
}

func newStreamConn(g *streamGuard, c net.Conn, network string, key netip.Addr, conf *tls.Config) *streamConn {
	now := monoNow()
	sc := &streamConn{
		Conn:     c,
		g:        g,
		network:  network,
		raddr:    c.RemoteAddr().String(),
		key:      key,
		idle:     int64(g.cfg.IdleTimeout),
		msgLimit: int64(g.cfg.MessageTimeout),
		accepted: now,
		lastRead: now,
	}
	sc.slack = int64(time.Second)
	if sc.idle > 0 {
		sc.slack = min(sc.slack, sc.idle/4)
	}
	if network == "ws" || network == "wss" {
		sc.frame.ws = true
	}
	if conf != nil {
		sc.tlsConn = tls.Server(c, conf)
		sc.Conn = sc.tlsConn
	}
	sc.capture = g.capture.stream(c, network)
	return sc
}

// setReason records why the connection ends; the first reason wins.
func (c *streamConn) setReason(r string) {
	c.reason.CompareAndSwap(nil, &r)
}

// Close closes the connection once and releases its place in the caps.
func (c *streamConn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	c.setReason(closedLocal)
	if p := c.peer.Load(); p != nil {
		c.g.peers.CompareAndDelete(peerKeyOf(c.network, c.raddr), p)
	}
	err := c.Conn.Close()
	c.g.release(c.key, c.network)
	c.g.m.streamConns.WithLabelValues(c.network).Dec()
	c.g.m.streamClosed.WithLabelValues(*c.reason.Load()).Inc()
	return err
}

// expire closes the connection for reason and tells the reader it ended.
func (c *streamConn) expire(reason string) (int, error) {
	c.setReason(reason)
	src := c.RemoteAddr()
	c.Close()
	if reason == closedMessage {
		c.g.in.sourceWarn(kindTimeout, src, "sip: connection closed",
			slog.String("transport", c.network), slog.String("reason", reason))
	} else {
		c.g.in.log.Debug("sip: connection closed", "src", src.String(), "transport", c.network, "reason", reason)
	}
	// io.EOF: sipgo ends the read loop quietly (any other error is logged
	// at Error, once per connection: an attacker's lever).
	return 0, io.EOF
}

// deadline is when the read side gives up, and why.
func (c *streamConn) deadline(now int64) (int64, string) {
	var at int64
	why := closedReasonNone
	if c.idle > 0 {
		limit := max(c.idle, c.regIdle.Load())
		at = max(c.lastRead, c.lastWrite.Load()) + limit
		why = closedIdle
	}
	if c.msgStart != 0 && c.msgLimit > 0 {
		if m := c.msgStart + c.msgLimit; at == 0 || m < at {
			at, why = m, closedMessage
		}
	}
	return at, why
}

// arm sets the read deadline to at (0: none) or the caller's own, whichever
// is earlier. An idle deadline already armed a little earlier than wanted
// is kept: it fires, and Read arms the right one; that saves a timer reset
// per read.
func (c *streamConn) arm(at, now int64) error {
	if ext := c.extRead.Load(); ext != 0 && (at == 0 || ext < at) {
		at = ext
	}
	if !c.rearm.Swap(false) {
		if at == c.armed || (c.armed > now && at > c.armed && at-c.armed <= c.slack) {
			return nil
		}
	}
	c.armed = at
	var t time.Time
	if at != 0 {
		t = monoTime(at)
	}
	return c.Conn.SetReadDeadline(t)
}

// Read reads what sipgo asks for, closing the connection when it has been
// idle too long, when a message is slower than MessageTimeout, or when a
// TLS handshake does not finish in time.
func (c *streamConn) Read(b []byte) (int, error) {
	if c.tlsConn != nil {
		if err := c.handshake(); err != nil {
			return 0, err
		}
	}
	for {
		now := monoNow()
		at, why := c.deadline(now)
		if at != 0 && now >= at {
			if why == closedIdle && c.g.busy(c) {
				// A transaction still holds the connection: not idle.
				c.lastRead = now
				continue
			}
			return c.expire(why)
		}
		if err := c.arm(at, now); err != nil {
			return 0, c.readFailed(err)
		}
		n, err := c.Conn.Read(b)
		if n > 0 {
			now = monoNow()
			c.lastRead = now
			checkOrigin := c.frame.ws && !c.frame.upgraded
			if checkOrigin && len(c.upgrade) < maxUpgradeRequest {
				c.upgrade = append(c.upgrade, b[:min(n, maxUpgradeRequest-len(c.upgrade))]...)
			}
			inMsg, started := c.frame.feed(b[:n])
			if checkOrigin && c.frame.upgraded {
				ok := c.g.tlsConf.originAllowed(upgradeOrigin(c.upgrade))
				c.upgrade = nil
				if !ok {
					_, _ = c.Conn.Write([]byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
					return c.expire(closedOrigin)
				}
			}
			if c.frame.begun > 0 && !c.admitBegun() {
				return c.expire(closedGate)
			}
			switch {
			case !inMsg:
				c.msgStart = 0
			case started || c.msgStart == 0:
				c.msgStart = now
			}
			return n, nil
		}
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			if ext := c.extRead.Load(); ext != 0 && monoNow() >= ext {
				return 0, err // the caller's own deadline
			}
			continue // ours: the top of the loop decides
		}
		return 0, c.readFailed(err)
	}
}

// admitBegun asks the gate about each message begun in the last read
// (WebSocket's upgrade request counts as one) and reports whether they
// may go on.
func (c *streamConn) admitBegun() bool {
	n := c.frame.begun
	c.frame.begun = 0
	if c.g.gate == nil {
		return true
	}
	src := addrPortOf(c.Conn.RemoteAddr())
	for range n {
		if c.g.gate.Admit(src, c.network) != Pass {
			return false
		}
	}
	return true
}

// readFailed ends the connection on a read error, quietly: a peer that
// resets is its own business, and sipgo logs any error but EOF at Error.
func (c *streamConn) readFailed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return err
	}
	if errors.Is(err, io.EOF) {
		c.setReason(closedPeer)
	} else {
		c.setReason(closedError)
		c.g.in.log.Debug("sip: connection read failed", "src", c.raddr, "transport", c.network, "error", err)
	}
	c.Close()
	return io.EOF
}

// handshake runs the TLS handshake on the read goroutine within
// MessageTimeout (or IdleTimeout when that is off).
func (c *streamConn) handshake() error {
	tc := c.tlsConn
	limit := c.msgLimit
	if limit == 0 {
		limit = c.idle
	}
	var t time.Time
	if limit > 0 {
		t = monoTime(c.accepted + limit)
	}
	if ext := c.extRead.Load(); ext != 0 && (t.IsZero() || monoTime(ext).Before(t)) {
		t = monoTime(ext)
	}
	_ = tc.SetDeadline(t)
	err := tc.Handshake()
	_ = tc.SetWriteDeadline(time.Time{})
	c.rearm.Store(true)
	if err != nil {
		c.setReason(closedHandshake)
		c.g.in.log.Debug("sip: TLS handshake failed", "src", c.raddr, "transport", c.network, "error", err)
		c.Close()
		return io.EOF
	}
	c.tlsConn = nil
	// Close may run on another goroutine (sipgo's pool, the server's
	// close): whichever of the two comes second takes the Peer out.
	p := c.g.tlsConf.peerOf(tc.ConnectionState(), addrPortOf(c.RemoteAddr()).Addr(), c.network)
	key := peerKeyOf(c.network, c.raddr)
	c.g.peers.Store(key, p)
	c.peer.Store(p)
	if c.closed.Load() {
		c.g.peers.CompareAndDelete(key, p)
	}
	return nil
}

// maxUpgradeRequest bounds the WebSocket upgrade request kept for the
// origin check (sipgo's own limit on it is larger; an Origin past this
// is not seen and the upgrade is refused when origins are configured).
const maxUpgradeRequest = 8 << 10

// upgradeOrigin returns the Origin header of an HTTP upgrade request.
func upgradeOrigin(req []byte) string {
	for len(req) > 0 {
		i := bytes.IndexByte(req, '\n')
		if i < 0 {
			i = len(req)
		}
		line := bytes.TrimRight(req[:i], "\r")
		req = req[min(i+1, len(req)):]
		if len(line) == 0 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("origin")) {
			return string(bytes.TrimSpace(v))
		}
	}
	return ""
}

func peerKeyOf(network, raddr string) string { return network + "|" + raddr }

// peer returns the Peer of a request that came over an accepted TLS or
// WSS connection; one over a connection the proxy dialled is secure but
// has no client certificate. Nil for the other transports.
func (g *streamGuard) peer(req *Request) *Peer {
	var network string
	switch req.Transport() {
	case "TLS":
		network = "tls"
	case "WSS":
		network = "wss"
	default:
		return nil
	}
	if p, ok := g.peers.Load(peerKeyOf(network, req.Source())); ok {
		return p.(*Peer)
	}
	return &Peer{Transport: req.Transport(), Secure: true}
}

// Write writes within MessageTimeout (a peer that stops reading loses its
// connection) and notes a 2xx to a REGISTER, which lets the connection
// stay idle as long as the registration lasts.
func (c *streamConn) Write(b []byte) (int, error) {
	if c.msgLimit > 0 {
		at := monoNow() + c.msgLimit
		if ext := c.extWrite.Load(); ext != 0 && ext < at {
			at = ext
		}
		_ = c.Conn.SetWriteDeadline(monoTime(at))
	}
	n, err := c.Conn.Write(b)
	if n > 0 {
		if c.capture != nil {
			c.capture.wrote(b[:n])
		}
		c.lastWrite.Store(monoNow())
		if d, ok := registrationLifetime(b[:n]); ok {
			grant := int64(min(d+registeredMargin, maxRegisteredIdle))
			for {
				cur := c.regIdle.Load()
				if grant <= cur || c.regIdle.CompareAndSwap(cur, grant) {
					break
				}
			}
		}
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			if ext := c.extWrite.Load(); ext == 0 || monoNow() < ext {
				c.setReason(closedWrite)
				c.Close()
			}
		}
	}
	return n, err
}

// SetDeadline sets the caller's read and write deadlines; they combine
// with the limits (the earlier wins).
func (c *streamConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the caller's read deadline (sipgo's WebSocket
// handshake sets one).
func (c *streamConn) SetReadDeadline(t time.Time) error {
	c.extRead.Store(toMono(t))
	c.rearm.Store(true)
	if t.IsZero() {
		return nil // the next Read arms the limits' own deadline
	}
	return c.Conn.SetReadDeadline(t)
}

// SetWriteDeadline sets the caller's write deadline.
func (c *streamConn) SetWriteDeadline(t time.Time) error {
	c.extWrite.Store(toMono(t))
	return c.Conn.SetWriteDeadline(t)
}

func toMono(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(int64(t.Sub(clockBase)), 1)
}

// Connections returns how many accepted TCP, TLS, WS and WSS connections
// are open, by network ("tcp", "tls", "ws", "wss"; networks without any
// are absent). Connections the proxy dialled are not counted.
func (s *Server) Connections() map[string]int {
	g := s.streams
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]int, len(g.byNet))
	for n, c := range g.byNet {
		if c > 0 {
			out[n] = c
		}
	}
	return out
}
