package sip

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/internal/promreg"
	"github.com/prometheus/client_golang/prometheus"
)

// Config says what a Server listens on and what it is.
type Config struct {
	// Listen lists the sockets to serve; at least one.
	Listen []Listen
	// Domains are names that mean this proxy on any port ("voip.unisi.it").
	Domains []string
	// DialogMaxDuration is how long a confirmed call may last without a
	// BYE before the dialog table forgets it (default 12 h).
	DialogMaxDuration time.Duration
	// UDPBuffer, when positive, sets the receive and send buffer of UDP
	// listeners in bytes (capped by the kernel's rmem_max/wmem_max).
	UDPBuffer int
	// Stateless lists the methods answered without a server transaction
	// when they arrive over UDP, as OpenSIPS's registrar replies
	// statelessly: a retransmission is simply handled again, so the
	// handler must be idempotent (the registrar is: a repeated CSeq is a
	// retransmission). Nil means REGISTER; an empty, non-nil slice turns
	// it off. Over TCP, TLS and WebSocket every request has a transaction.
	Stateless []Method
	// InlineStateless serves the Stateless requests on the read loop of the
	// UDP socket they came to, instead of handing each to a worker
	// goroutine: one goroutine wake less per request (REGISTER costs about
	// a fifth less CPU), but the socket reads nothing else until the
	// handler returns. Set it only when the handlers of those methods do
	// not wait on the network or on a disk write: a registrar whose
	// location store is in memory or written back later, whose
	// subscribers are in a local database.
	InlineStateless bool
	// StackHolders is how many goroutines the server keeps parked at a
	// working stack depth while it runs, so that the Go runtime starts
	// the goroutine of each received message with a stack it does not
	// have to grow (see stacks.go: 9 stack copies a call become 3).
	// Zero means 32, which works while the process has fewer than about
	// 130 other goroutines (palio_sip_goroutine_starting_stack_bytes
	// shows the result: 8192 when it works); negative means none.
	StackHolders int
	// RouteSecret keys the signature the proxy writes into its
	// Record-Route entries and checks on the in-dialog requests that come
	// back along them (see DialogRelay). Nodes that share an address, or
	// that should keep relaying calls established before a restart, need
	// the same secret; empty means a random one for this process.
	RouteSecret []byte
	// Streams bounds TCP, TLS and WebSocket connections: idle and message
	// timeouts, caps per source and in all (see StreamLimits; the zero
	// value means the defaults).
	Streams StreamLimits
	// TLS holds the certificates of the TLS and WSS listeners (chosen per
	// handshake by SNI and local address, reloaded in place), the client
	// certificates required of trunks, the WebSocket origins allowed, and
	// how the proxy verifies the servers it dials over TLS. Nil: a TLS or
	// WSS listener needs its own CertFile and KeyFile, and dialled
	// servers are verified against the system's roots by host name.
	TLS *TLS
}

// Listen is one socket the Server serves.
type Listen struct {
	// Network is "udp", "tcp", "tls", "ws" or "wss".
	Network string
	// Addr is the "host:port" to bind; port 0 picks a free port (see
	// Local.Addr for the one chosen).
	Addr string
	// Advertise is the "host[:port]" written in Via and Record-Route when it
	// differs from Addr (a wildcard bind, a NAT). Required for 0.0.0.0.
	Advertise string
	// CertFile and KeyFile are the PEM certificate and key of a TLS or
	// WSS listener that does not use Config.TLS (loaded once, never
	// reloaded).
	CertFile, KeyFile string
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithRegisterer registers the server's metrics (palio_sip_*) with r. Without
// it the metrics are kept but not exported.
func WithRegisterer(r prometheus.Registerer) Option { return func(s *Server) { s.reg = r } }

// WithResolver sets the DNS resolver used to reach targets given by host
// name (tests point it at an in-process DNS server).
func WithResolver(r *net.Resolver) Option { return func(s *Server) { s.resolver = r } }

// Server serves SIP on UDP, TCP, TLS and WebSocket listeners through one
// sipgo user agent, and is the edge of the handler contract: it hands every
// request to its Handler (usually a *ServeMux), with a context cancelled by
// the caller's CANCEL, recovers panics, and turns the outcome into the final
// response (see Handler). It also owns what the Forwarder and DialogRelay
// share: the client side of the transaction layer, the Local identity and
// the Dialogs table.
type Server struct {
	log      *slog.Logger
	reg      prometheus.Registerer
	resolver *net.Resolver
	metrics  *metrics

	ua    *sipgo.UserAgent
	sgs   *sipgo.Server
	tr    transactor
	local *Local
	// hungUp keeps the ACKs of answers the Forwarder hung up, for their
	// retransmissions (hungup.go).
	hungUp  hungUpAnswers
	dialogs *Dialogs
	rr      *routeSigner
	flowKey []byte // keys the flow tokens of Flows (flow.go)

	packetConns []net.PacketConn
	listeners   []listener
	dialed      *dialedConns    // the streamDialer's TLS connections; nil without Config.TLS and capture
	dialedTCP   *dialedConns    // the streamDialer's TCP connections; nil without capture
	streams     *streamGuard    // StreamLimits of the stream listeners
	inputs      *inputLog       // bounded, rate-limited lines about bad input
	malformed   malformedBudget // answers to unparsable requests (malformed.go)
	gate        SourceGate      // WithSourceGate; nil hears every source
	capture     *capture        // WithCapture; nil: off
	overload    *overload       // WithOverload (overload.go)

	handler   Handler
	callLog   bool // WithCallLog
	stateless []Method
	inline    bool // Config.InlineStateless
	nHolders  int  // Config.StackHolders, resolved
	holders   *stackHolders
	// statelessQ feeds the workers of stateless requests (see readFilter).
	statelessQ chan statelessJob
	// invites are the branches of the INVITE server transactions alive on
	// UDP, whose ACKs the read filter leaves to sipgo (ackpath.go).
	invites branchSet
	// lanes order the responses to our client transactions on UDP
	// (responseorder.go).
	lanes    *responseLanes
	workers  sync.WaitGroup
	baseCtx  context.Context
	stopBase context.CancelFunc
	started  atomic.Bool
	draining atomic.Bool
	closing  atomic.Bool
	inflight atomic.Int64 // requests being handled
	detached atomic.Int64 // requests of our own in flight (CANCEL, BYE)
	serving  sync.WaitGroup
	closed   chan struct{}
	once     sync.Once
}

type listener struct {
	network string
	l       net.Listener
}

// NewServer binds the configured sockets and prepares the transaction
// layer; Start (or Serve) begins serving them. Binding here, not in Start,
// lets the Forwarder know our addresses before the first request.
func NewServer(cfg Config, opts ...Option) (*Server, error) {
	if len(cfg.Listen) == 0 {
		return nil, errors.New("sip: no listeners configured")
	}
	s := &Server{closed: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.metrics = newMetrics(s.reg)
	if s.overload == nil {
		s.overload = newOverload(OverloadConfig{})
	}
	s.overload.init(s.log, s.reg)
	s.inputs = newInputLog(s.log, s.metrics)
	s.inputs.answer = s.answerMalformed
	s.streams = newStreamGuard(cfg.Streams, s.inputs, s.metrics)
	s.streams.gate = s.gate
	s.streams.capture = s.capture
	s.streams.tlsConf = cfg.TLS
	s.stateless = cfg.Stateless
	s.inline = cfg.InlineStateless
	s.nHolders = cfg.StackHolders
	if s.nHolders == 0 {
		s.nHolders = defaultStackHolders
	}
	if s.stateless == nil {
		s.stateless = []Method{REGISTER}
	}

	secret := cfg.RouteSecret
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	s.rr = newRouteSigner(secret)
	s.flowKey = flowKey(secret)
	s.local = newLocal()
	s.local.AddDomain(cfg.Domains...)
	if err := s.bind(cfg); err != nil {
		s.closeSockets()
		return nil, err
	}

	// sipgo logs routine events at Info, which a busy proxy cannot
	// afford, and some Error lines per bad packet: inputs keeps Warn and
	// above, bounded and rate-limited.
	libLog := slog.New(s.inputs.handler(s.log.Handler())).With("component", "sipgo")
	uaOpts := []sipgo.UserAgentOption{
		sipgo.WithUserAgent("Palio"),
		sipgo.WithUserAgentTransportLayerOptions(
			sipmsg.WithTransportLayerLogger(libLog),
			sipmsg.WithTransportLayerReadFilter(s.inputs.filter(s.captureReads(s.readFilter))),
		),
		sipgo.WithUserAgentTransactionLayerOptions(
			sipmsg.WithTransactionLayerLogger(libLog),
			sipmsg.WithTransactionLayerUnhandledResponseHandler(s.strayResponse),
		),
	}
	if cfg.TLS != nil {
		uaOpts = append(uaOpts, sipgo.WithUserAgenTLSConfig(cfg.TLS.ClientConfig()))
	}
	if s.resolver != nil {
		uaOpts = append(uaOpts, sipgo.WithUserAgentDNSResolver(s.resolver))
	}
	ua, err := sipgo.NewUA(uaOpts...)
	if err != nil {
		s.closeSockets()
		return nil, fmt.Errorf("sip: user agent: %w", err)
	}
	s.ua = ua
	s.streams.tl = ua.TransportLayer()
	s.sgs, err = sipgo.NewServer(ua, sipgo.WithServerLogger(libLog))
	if err != nil {
		s.closeSockets()
		return nil, fmt.Errorf("sip: server: %w", err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientLogger(libLog))
	if err != nil {
		s.closeSockets()
		return nil, fmt.Errorf("sip: client: %w", err)
	}
	s.lanes = newResponseLanes(s.strayResponse, s.metrics.laneFull.Inc)
	var tr transactor = sipgoTransactor{cli: cli, closing: &s.closing, lanes: s.lanes}
	if cfg.TLS != nil || s.capture != nil {
		// The stream connections dialled here (tlsdial.go): TLS to
		// addresses, and with capture every TCP and TLS one.
		sd := &streamDialer{next: tr, tls: cfg.TLS, tl: ua.TransportLayer(), capture: s.capture, resolver: s.resolver,
			dialing: map[string]*dialCall{}}
		listenAddr := func(network string) net.Addr {
			for _, l := range s.listeners {
				if l.network == network {
					return l.l.Addr()
				}
			}
			return nil
		}
		s.dialed = newDialedConns(listenAddr("tls"))
		sd.tlsConns = s.dialed
		if s.capture != nil {
			s.dialedTCP = newDialedConns(listenAddr("tcp"))
			sd.tcpConns = s.dialedTCP
		}
		if cfg.TLS == nil {
			// The redials of the TCP and TLS connections dialled for
			// capture, on the server's registerer.
			sd.redials = promreg.Register(s.reg, newRedials())
		}
		tr = sd
	}
	s.tr = s.guardLoopback(tr)
	// Every request goes through one entry point: no per-method handlers
	// are registered, so sipgo hands all of them to the no-route handler.
	s.sgs.OnNoRoute(s.handle)
	s.dialogs = NewDialogs(cfg.DialogMaxDuration)
	s.dialogs.local = s.local
	s.dialogs.events.cfg = FeedConfig{Name: "dialogs", Logger: s.log, Dropped: s.metrics.dialogEventsDropped}
	s.dialogs.Subscribe(s.metrics.dialogEvent)
	s.baseCtx, s.stopBase = context.WithCancel(context.Background())
	return s, nil
}

func (s *Server) bind(cfg Config) error {
	for _, ln := range cfg.Listen {
		network := strings.ToLower(ln.Network)
		switch network {
		case "udp":
			pc, err := net.ListenPacket("udp", ln.Addr)
			if err != nil {
				return fmt.Errorf("sip: listen udp %s: %w", ln.Addr, err)
			}
			if cfg.UDPBuffer > 0 {
				if uc, ok := pc.(*net.UDPConn); ok {
					_ = uc.SetReadBuffer(cfg.UDPBuffer)
					_ = uc.SetWriteBuffer(cfg.UDPBuffer)
				}
			}
			s.packetConns = append(s.packetConns, s.capture.packetConn(s.overload.delayConnOf(pc), ln.Advertise))
			if err := s.local.addListen(network, pc.LocalAddr(), ln.Advertise); err != nil {
				return err
			}
		case "tcp", "ws", "tls", "wss":
			l, err := net.Listen("tcp", ln.Addr)
			if err != nil {
				return fmt.Errorf("sip: listen %s %s: %w", network, ln.Addr, err)
			}
			var conf *tls.Config
			if network == "tls" || network == "wss" {
				switch {
				case ln.CertFile != "" || ln.KeyFile != "":
					cert, err := tls.LoadX509KeyPair(ln.CertFile, ln.KeyFile)
					if err != nil {
						l.Close()
						return fmt.Errorf("sip: %s certificate: %w", network, err)
					}
					conf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, CipherSuites: modernSuites}
				case cfg.TLS != nil && len(cfg.TLS.state.Load().certs) > 0:
					conf = cfg.TLS.ServerConfig()
				default:
					l.Close()
					return fmt.Errorf("sip: %s listener %s: no certificate (set CertFile and KeyFile, or Config.TLS)", network, ln.Addr)
				}
			}
			l = s.streams.listener(l, network, conf)
			s.listeners = append(s.listeners, listener{network, l})
			if err := s.local.addListen(network, l.Addr(), ln.Advertise); err != nil {
				return err
			}
		default:
			return fmt.Errorf("sip: unknown listener network %q (want udp, tcp, tls, ws or wss)", ln.Network)
		}
	}
	return nil
}

func (s *Server) closeSockets() {
	for _, pc := range s.packetConns {
		pc.Close()
	}
	for _, l := range s.listeners {
		l.l.Close()
	}
	if s.dialed != nil {
		s.dialed.Close()
	}
	if s.dialedTCP != nil {
		s.dialedTCP.Close()
	}
}

// Local returns the server's identity: its listening addresses and domains.
func (s *Server) Local() *Local { return s.local }

// Stopping reports whether Shutdown or Close has begun: requests of the
// server's own that fail from now on fail because it stops, not because
// their peer is gone.
func (s *Server) Stopping() bool { return s.draining.Load() }

// Dialogs returns the table of calls routed through this server.
func (s *Server) Dialogs() *Dialogs { return s.dialogs }

// Logger returns the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// Start serves the bound sockets with h in the background. It may be called
// once.
func (s *Server) Start(h Handler) error {
	if h == nil {
		return errors.New("sip: nil handler")
	}
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("sip: server already started")
	}
	s.handler = h
	s.holders = holdStacks(max(s.nHolders, 0))
	if len(s.packetConns) > 0 { // REGISTER unless inline, and the ACKs (ackpath.go)
		s.statelessQ = make(chan statelessJob, statelessQueue)
		for range statelessWorkers() {
			s.workers.Add(1)
			go s.statelessWorker()
		}
	}
	for _, pc := range s.packetConns {
		s.serving.Add(1)
		go func(pc net.PacketConn) {
			defer s.serving.Done()
			_ = s.sgs.ServeUDP(pc)
		}(pc)
	}
	for _, l := range s.listeners {
		s.serving.Add(1)
		go func(l listener) {
			defer s.serving.Done()
			switch l.network {
			case "tcp":
				_ = s.sgs.ServeTCP(l.l)
			case "tls":
				_ = s.sgs.ServeTLS(l.l)
			case "ws":
				_ = s.sgs.ServeWS(l.l)
			case "wss":
				_ = s.sgs.ServeWSS(l.l)
			}
		}(l)
	}
	if s.dialed != nil {
		s.serving.Add(1)
		go func() {
			defer s.serving.Done()
			_ = s.sgs.ServeTLS(s.dialed) // tlsdial.go
		}()
	}
	if s.dialedTCP != nil {
		s.serving.Add(1)
		go func() {
			defer s.serving.Done()
			_ = s.sgs.ServeTCP(s.dialedTCP) // tlsdial.go
		}()
	}
	for _, pc := range s.packetConns {
		waitUDPServing(s.ua.TransportLayer(), pc.LocalAddr().String())
	}
	s.log.Info("sip: serving", "listen", s.describe())
	return nil
}

// waitUDPServing waits (at most a second) until sipgo has put the UDP
// listener at addr into its connection pool: requests sent from that
// address before then would try to bind it a second time.
func waitUDPServing(tp *sipmsg.TransportLayer, addr string) {
	for i := 0; i < 1000; i++ {
		if c, err := tp.GetConnection("udp", addr); err == nil {
			c.TryClose() // a listener is never closed by its reference count
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func (s *Server) describe() string {
	var parts []string
	for _, ls := range s.local.listens {
		parts = append(parts, ls.network+"/"+net.JoinHostPort(ls.laddr.Hostname, strconv.Itoa(ls.laddr.Port)))
	}
	return strings.Join(parts, " ")
}

// Serve serves with h until ctx is done, then drains (Shutdown) for at most
// drain before closing.
func (s *Server) Serve(ctx context.Context, h Handler, drain time.Duration) error {
	if err := s.Start(h); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	return s.Shutdown(sctx)
}

// Shutdown stops accepting new calls (they get 503 with Retry-After), waits
// until the requests being handled have finished or ctx is done, then
// closes the server. In-dialog requests keep flowing while it waits.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	var err error
	if !waitZero(ctx, &s.inflight) {
		err = fmt.Errorf("sip: shutdown: %d requests still in progress: %w", s.inflight.Load(), ctx.Err())
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close stops serving at once: listeners, transactions and the dialog table.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.draining.Store(true)
		s.closing.Store(true)
		s.stopBase()
		s.closeSockets()
		// Let the requests being handled see the cancelled context and
		// return before the transport goes: a request still forwarding
		// after it would open a fresh socket that nothing closes.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		waitZero(ctx, &s.inflight)
		waitZero(ctx, &s.detached)
		cancel()
		s.ua.Close()
		s.serving.Wait()
		if s.statelessQ != nil {
			close(s.statelessQ) // the read loops are gone: nothing sends any more
			s.workers.Wait()
		}
		// A message read just before the sockets closed may still make
		// sipgo open a socket to answer it; sweep the pools once more.
		for range 3 {
			time.Sleep(5 * time.Millisecond)
			_ = s.ua.TransportLayer().Close()
		}
		s.dialogs.Close()
		s.holders.release()
		close(s.closed)
	})
	return nil
}

// waitZero waits until n is zero or ctx ends, and reports which.
func waitZero(ctx context.Context, n *atomic.Int64) bool {
	for n.Load() > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(5 * time.Millisecond):
		}
	}
	return true
}

var _ io.Closer = (*Server)(nil)
