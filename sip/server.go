package sip

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
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
	// CertFile and KeyFile are the PEM certificate and key of TLS and WSS
	// listeners.
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

	ua      *sipgo.UserAgent
	sgs     *sipgo.Server
	tr      transactor
	local   *Local
	dialogs *Dialogs

	packetConns []net.PacketConn
	listeners   []listener

	handler   Handler
	stateless []Method
	inline    bool // Config.InlineStateless
	// statelessQ feeds the workers of stateless requests (see readFilter).
	statelessQ chan statelessJob
	workers    sync.WaitGroup
	baseCtx    context.Context
	stopBase   context.CancelFunc
	started    atomic.Bool
	draining   atomic.Bool
	closing    atomic.Bool
	inflight   atomic.Int64 // requests being handled
	detached   atomic.Int64 // requests of our own in flight (CANCEL, BYE)
	serving    sync.WaitGroup
	closed     chan struct{}
	once       sync.Once
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
	s.stateless = cfg.Stateless
	s.inline = cfg.InlineStateless
	if s.stateless == nil {
		s.stateless = []Method{REGISTER}
	}

	s.local = newLocal()
	s.local.AddDomain(cfg.Domains...)
	if err := s.bind(cfg); err != nil {
		s.closeSockets()
		return nil, err
	}

	libLog := slog.New(minLevel{s.log.Handler(), slog.LevelWarn}).With("component", "sipgo")
	uaOpts := []sipgo.UserAgentOption{
		sipgo.WithUserAgent("Palio"),
		sipgo.WithUserAgentTransportLayerOptions(
			sipmsg.WithTransportLayerLogger(libLog),
			sipmsg.WithTransportLayerReadFilter(s.readFilter),
		),
		sipgo.WithUserAgentTransactionLayerOptions(
			sipmsg.WithTransactionLayerLogger(libLog),
			sipmsg.WithTransactionLayerUnhandledResponseHandler(s.strayResponse),
		),
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
	s.tr = s.guardLoopback(sipgoTransactor{cli: cli, closing: &s.closing})
	// Every request goes through one entry point: no per-method handlers
	// are registered, so sipgo hands all of them to the no-route handler.
	s.sgs.OnNoRoute(s.handle)
	s.dialogs = NewDialogs(cfg.DialogMaxDuration)
	s.dialogs.Subscribe(s.metrics.dialogEvent)
	s.baseCtx, s.stopBase = context.WithCancel(context.Background())
	return s, nil
}

// init raises sipgo's process-wide UDP limits, before any sipgo socket can
// read them: sipgo refuses to write a UDP message above 1300 bytes, which
// breaks INVITEs with large SDP bodies (a video offer, ICE candidates); the
// kernel fragments them instead, as Kamailio and OpenSIPS let it. The read
// buffer is raised to the largest datagram for the same reason.
//
// It also shortens how long finished transactions wait: sipgo keeps a
// non-INVITE client transaction 32 s after its final response (Timer D where
// RFC 3261 §17.1.2.2 has Timer K = T4 = 5 s) and a non-INVITE server
// transaction 64*T1 (Timer J). A proxy handling thousands of calls a second
// holds every message that long; Kamailio waits 5 s (wt_timer). Palio uses
// T4 (5 s) for both: a retransmission of a request whose final response was
// lost arrives within T2 (4 s) of that response, and a retransmitted final
// response within the same window.
//
// Timer L (INVITE server transaction) and Timer M (INVITE client
// transaction) keep an answered INVITE's transactions in RFC 6026's
// Accepted state for 64*T1 (32 s). Palio ends both at the 2xx: the 2xx
// retransmissions and the ACK are relayed statelessly and a retransmitted
// INVITE is absorbed by the dialog table. But sipgo v1.7.3 does not stop
// those two timers when a transaction is terminated, so each timer would
// hold its transaction, with the INVITE and the 2xx and their bodies, for
// 32 s all the same: at 3000 calls/s, 190 000 transactions. T1 (500 ms)
// bounds that and still covers the moment between the 2xx and Palio's
// own termination.
func init() {
	sipmsg.UDPMTUSize = 65535
	sipmsg.TransportBufferReadSize = 65535
	sipmsg.Timer_D = sipmsg.T4
	sipmsg.Timer_J = sipmsg.T4
	sipmsg.Timer_L = sipmsg.T1
	sipmsg.Timer_M = sipmsg.T1
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
			s.packetConns = append(s.packetConns, pc)
			if err := s.local.addListen(network, pc.LocalAddr(), ln.Advertise); err != nil {
				return err
			}
		case "tcp", "ws", "tls", "wss":
			l, err := net.Listen("tcp", ln.Addr)
			if err != nil {
				return fmt.Errorf("sip: listen %s %s: %w", network, ln.Addr, err)
			}
			if network == "tls" || network == "wss" {
				cert, err := tls.LoadX509KeyPair(ln.CertFile, ln.KeyFile)
				if err != nil {
					l.Close()
					return fmt.Errorf("sip: %s certificate: %w", network, err)
				}
				l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
			}
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
}

// Local returns the server's identity: its listening addresses and domains.
func (s *Server) Local() *Local { return s.local }

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
	if len(s.stateless) > 0 && len(s.packetConns) > 0 && !s.inline {
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

// strayResponse receives responses that match no client transaction. A
// 2xx to an INVITE is an end-to-end retransmission of the callee's answer
// (the Forwarder ends the INVITE transactions as soon as it relays the
// first 2xx, since the UAs retransmit 2xx and ACK end to end): it is
// forwarded statelessly along its Via path, as RFC 3261 §16.7 has a proxy
// do. Anything else is dropped (RFC 6026 §8.4).
func (s *Server) strayResponse(res *Response) {
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		if cs := res.CSeq(); cs != nil && cs.MethodName == INVITE {
			if err := s.forwardStateless(res); err == nil {
				s.metrics.strayRelayed.Inc()
				return
			} else if s.log.Enabled(context.Background(), slog.LevelDebug) {
				s.log.Debug("sip: 2xx retransmission not relayed", "callid", callID(res), "error", err)
			}
		}
	}
	s.metrics.stray.Inc()
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("sip: stray response dropped", "status", res.StatusCode, "callid", callID(res))
	}
}

// forwardStateless sends a response on without a transaction: our Via is
// removed and the response goes where the next Via says (received and
// rport first, RFC 3581).
func (s *Server) forwardStateless(res *Response) error {
	v := res.Via()
	if v == nil || !s.local.isOurVia(v) {
		return errors.New("sip: top Via is not ours")
	}
	if b, _ := v.Params.Get("branch"); !strings.HasPrefix(b, branchPrefix) {
		return errors.New("sip: top Via branch is not ours")
	}
	res.RemoveHeader("Via")
	next := res.Via()
	if next == nil {
		return errors.New("sip: no Via left")
	}
	host := next.Host
	if r, ok := next.Params.Get("received"); ok && r != "" {
		host = r
	}
	port := next.Port
	if rp, ok := next.Params.Get("rport"); ok && rp != "" {
		if n, err := strconv.Atoi(rp); err == nil {
			port = n
		}
	}
	if port == 0 {
		port = sipmsg.DefaultPort(next.Transport)
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	network := strings.ToLower(next.Transport)
	res.SetDestination(addr)
	res.SetTransport(next.Transport)
	if network == "udp" && len(s.packetConns) > 0 {
		return writeUDP(s.packetConns[0], addr, res)
	}
	conn, err := s.ua.TransportLayer().GetConnection(network, addr)
	if err != nil {
		return err
	}
	defer conn.TryClose()
	return conn.WriteMsg(res)
}

// handle is the entry point of every request sipgo receives.
func (s *Server) handle(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if s.closing.Load() {
		return
	}
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	s.metrics.request(req.Method)

	if req.IsAck() {
		// An ACK for a 2xx: its transaction is a throwaway; never answer it.
		if validate(req) == nil {
			_ = s.serve(s.baseCtx, discardWriter{}, req)
		}
		return
	}
	if s.draining.Load() && toTag(req) == "" {
		res := NewResponse(req, 503, "Shutting Down")
		res.AppendHeader(sipmsg.NewHeader("Retry-After", "30"))
		_ = tx.Respond(res)
		return
	}

	if err := validate(req); err != nil {
		s.metrics.response(400)
		_ = tx.Respond(NewResponse(req, 400, err.Error()))
		return
	}
	if req.IsInvite() && toTag(req) == "" && s.dialogs.retransmission(req) {
		// The INVITE of a call already answered, retransmitted after its
		// transaction ended: the 2xx already went (and is retransmitted by
		// the callee); nothing is due.
		s.metrics.absorbed.Inc()
		return
	}
	w := newTxWriter(s, req, tx)
	ctx, cancel := context.WithCancelCause(s.baseCtx)
	defer cancel(nil)
	r := req
	if req.IsInvite() {
		// The transaction layer reads tx.Origin() when the caller's CANCEL
		// arrives (to build the 487); give the chain its own copy to edit.
		r = req.Clone()
		if !tx.OnCancel(func(*sipmsg.Request) {
			w.cancelled()
			cancel(ErrCanceled)
		}) {
			if errors.Is(tx.Err(), sipmsg.ErrTransactionCanceled) {
				w.cancelled()
				cancel(ErrCanceled)
			} else {
				cancel(ErrTransactionEnded)
			}
		}
	}
	tx.OnTerminate(func(string, error) { cancel(ErrTransactionEnded) })

	err := s.serve(ctx, w, r)
	s.finish(w, req, err)
	if !w.invite && toTag(req) != "" && w.Status() >= 200 {
		// An in-dialog request other than INVITE (a BYE, mostly) is
		// relayed with a stable branch or refused (481, 483): a
		// retransmission that finds no transaction is relayed or refused
		// again, and the next hop's transaction answers it. Keeping ours
		// for Timer J would hold every BYE of every call for 5 s.
		tx.Terminate()
		return
	}
	if w.invite {
		if st := w.Status(); st >= 200 && st < 300 {
			// The 2xx is relayed; its retransmissions and the ACK travel end
			// to end (forwarded statelessly), and a retransmitted INVITE is
			// absorbed by the dialog table: the transaction need not wait for
			// Timer L (32 s) holding the call's messages.
			tx.Terminate()
		}
	}
}

// sendDetached sends a request of the proxy's own (a CANCEL, a BYE) on a
// client transaction in the background and drops its response.
func (s *Server) sendDetached(req *Request) {
	s.detached.Add(1)
	go func() {
		defer s.detached.Add(-1)
		ctx, cancel := context.WithTimeout(s.baseCtx, 64*sipmsg.T1)
		defer cancel()
		tx, err := s.tr.request(ctx, req)
		if err != nil {
			s.log.Debug("sip: request not sent", "method", string(req.Method), "callid", callID(req), "error", err)
			return
		}
		defer tx.Terminate()
		for {
			select {
			case res := <-tx.Responses():
				if res.StatusCode >= 200 {
					return
				}
			case <-tx.Done():
				return
			case <-ctx.Done():
				return
			}
		}
	}()
}

// validate checks what a proxy needs of a request before it routes it
// (RFC 3261 §16.3 step 1, §8.1.1): the mandatory headers, and a CSeq whose
// method is the request's. It returns the reason phrase of the 400.
func validate(r *Request) error {
	switch {
	case r.Via() == nil:
		return errors.New("Bad Request: missing Via")
	case r.From() == nil:
		return errors.New("Bad Request: missing From")
	case r.To() == nil:
		return errors.New("Bad Request: missing To")
	case r.CallID() == nil:
		return errors.New("Bad Request: missing Call-ID")
	case r.CSeq() == nil:
		return errors.New("Bad Request: missing CSeq")
	case r.CSeq().MethodName != r.Method:
		return errors.New("Bad Request: CSeq method mismatch")
	}
	return nil
}

var errPanic = &StatusError{Code: 500, Reason: "Server Internal Error", Err: errors.New("sip: handler panicked")}

// serve runs the handler, turning a panic into a logged 500.
func (s *Server) serve(ctx context.Context, w ResponseWriter, r *Request) error {
	return serveRecovered(ctx, s.handler, w, r, s.log, s.metrics.panics.Inc)
}

// Recover is a middleware that turns a panic in the handlers after it into
// a 500 outcome, logged once at Error with the stack. The Server recovers
// by itself; use Recover around code that runs handlers elsewhere.
func Recover(log *slog.Logger) Middleware {
	if log == nil {
		log = slog.Default()
	}
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
			return serveRecovered(ctx, next, w, r, log, nil)
		})
	}
}

func serveRecovered(ctx context.Context, h Handler, w ResponseWriter, r *Request, log *slog.Logger, counted func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if counted != nil {
				counted()
			}
			log.Error("sip: handler panic", "callid", callID(r), "method", string(r.Method), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = errPanic
		}
	}()
	return h.ServeSIP(ctx, w, r)
}

// finish turns the outcome of a request into its final response (the edge
// of the contract on Handler).
func (s *Server) finish(w ResponseWriter, req *Request, err error) {
	if w.Status() != 0 {
		// A final response is already upstream (relayed, or the 487 that
		// answered the caller's CANCEL): nothing more is due.
		return
	}
	var res *Response
	if err == nil {
		s.log.Error("sip: handler returned without a final response", "callid", callID(req), "method", string(req.Method))
		res = NewResponse(req, 500, "Server Internal Error")
	} else if se, ok := AsStatus(err); ok {
		switch {
		case se.Response != nil && se.relayed && se.Code == 503:
			// RFC 3261 §16.7 step 6: a 503 from downstream says that
			// downstream cannot serve; only we know about our other
			// destinations, so the caller gets a 500.
			res = NewResponse(req, 500, "Server Internal Error")
		case se.Response != nil:
			res = se.Response
		default:
			res = NewResponse(req, se.Code, se.reason())
		}
		if se.Err != nil && s.log.Enabled(context.Background(), slog.LevelDebug) {
			s.log.Debug("sip: request failed", "callid", callID(req), "method", string(req.Method), "status", se.Code, "error", se.Err)
		}
	} else {
		s.log.Error("sip: request failed", "callid", callID(req), "method", string(req.Method), "ruri", req.Recipient.String(), "error", err)
		res = NewResponse(req, 500, "Server Internal Error")
	}
	if werr := w.WriteResponse(res); werr != nil && !errors.Is(werr, ErrFinalSent) {
		s.log.Debug("sip: final response not sent", "callid", callID(req), "status", res.StatusCode, "error", werr)
	}
}

// readFilter sees every UDP datagram before sipgo parses it. A request of
// a stateless method is taken out of sipgo's path (no server transaction,
// no timers) and handled by serveStateless, right here or on a worker;
// anything else goes on as it is. It never returns an error: sipgo stops
// a listener whose filter fails.
func (s *Server) readFilter(props sipmsg.TransportReadProps, data []byte) ([]byte, error) {
	if props.Transport != "UDP" || len(s.stateless) == 0 || s.closing.Load() {
		return data, nil
	}
	for _, m := range s.stateless {
		if len(data) > len(m) && string(data[:len(m)]) == string(m) && data[len(m)] == ' ' {
			s.inflight.Add(1)
			if s.inline {
				// The parser copies what it keeps, so data, sipgo's read
				// buffer, may be parsed in place.
				s.serveStateless(statelessJob{data, props.RemoteAddr, props.LocalAddr})
				return nil, nil
			}
			buf := make([]byte, len(data))
			copy(buf, data)
			job := statelessJob{buf, props.RemoteAddr, props.LocalAddr}
			select {
			case s.statelessQ <- job:
			default:
				// Every worker is busy (waiting for the database, say):
				// do not hold up the socket's read loop.
				go s.serveStateless(job)
			}
			return nil, nil
		}
	}
	return data, nil
}

// statelessJob is a datagram for serveStateless.
type statelessJob struct {
	data     []byte
	from, to net.Addr
}

// statelessQueue is how many stateless requests wait for a worker before
// readFilter starts goroutines of their own.
const statelessQueue = 1024

// statelessWorkers is how many goroutines serve stateless requests. They
// live as long as the server, so their stacks are grown once: a goroutine
// per REGISTER spent a tenth of the CPU growing its stack. There are
// enough of them for a write-through location store, where each waits
// for its group commit.
func statelessWorkers() int { return max(64, 8*runtime.GOMAXPROCS(0)) }

func (s *Server) statelessWorker() {
	defer s.workers.Done()
	for job := range s.statelessQ {
		s.serveStateless(job)
	}
}

// serveStateless handles a request without a server transaction and
// answers it from the listening socket it came to.
func (s *Server) serveStateless(job statelessJob) {
	defer s.inflight.Add(-1)
	from, to := job.from, job.to
	m, err := sipmsg.ParseMessage(job.data)
	if err != nil {
		s.log.Debug("sip: unparsable request dropped", "src", from.String(), "error", err)
		return
	}
	req, ok := m.(*sipmsg.Request)
	if !ok {
		return
	}
	req.SetSource(from.String())
	req.SetTransport("UDP")
	s.metrics.request(req.Method)
	pc := s.packetConnFor(to)
	if pc == nil {
		return
	}
	w := &statelessWriter{s: s, pc: pc, dest: responseAddr(req)}
	if err := validate(req); err != nil {
		_ = w.WriteResponse(NewResponse(req, 400, err.Error()))
		return
	}
	if s.draining.Load() {
		res := NewResponse(req, 503, "Shutting Down")
		res.AppendHeader(sipmsg.NewHeader("Retry-After", "30"))
		_ = w.WriteResponse(res)
		return
	}
	err = s.serve(s.baseCtx, w, req)
	s.finish(w, req, err)
}

// packetConnFor returns the UDP listener bound to addr (the first one if
// none is: a wildcard listener reports the address it was bound with).
func (s *Server) packetConnFor(addr net.Addr) net.PacketConn {
	for _, pc := range s.packetConns {
		if pc.LocalAddr().String() == addr.String() {
			return pc
		}
	}
	if len(s.packetConns) == 0 {
		return nil
	}
	return s.packetConns[0]
}

// statelessWriter answers a request handled without a transaction.
type statelessWriter struct {
	s      *Server
	pc     net.PacketConn
	dest   string
	mu     sync.Mutex
	status int
}

func (w *statelessWriter) WriteResponse(res *Response) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if res.StatusCode >= 200 {
		if w.status != 0 {
			return ErrFinalSent
		}
		w.status = res.StatusCode
		w.s.metrics.response(res.StatusCode)
	}
	return writeUDP(w.pc, w.dest, res)
}

// writeUDP sends res from pc to dest ("ip:port", or a host name) without a
// transaction: from a pooled buffer, to a parsed address when dest is one.
func writeUDP(pc net.PacketConn, dest string, res *Response) error {
	buf := responseBuffers.Get().(*bytes.Buffer)
	defer responseBuffers.Put(buf)
	buf.Reset()
	res.StringWrite(buf)
	if ap, err := netip.ParseAddrPort(dest); err == nil {
		if uc, ok := pc.(*net.UDPConn); ok {
			_, err = uc.WriteToUDPAddrPort(buf.Bytes(), ap)
			return err
		}
	}
	addr, err := net.ResolveUDPAddr("udp", dest)
	if err != nil {
		return fmt.Errorf("sip: response address %q: %w", dest, err)
	}
	_, err = pc.WriteTo(buf.Bytes(), addr)
	return err
}

// responseBuffers hold serialized responses sent without a transaction.
var responseBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (w *statelessWriter) Status() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

// txWriter is the ResponseWriter of a request received on a server
// transaction.
type txWriter struct {
	s      *Server
	req    *Request // as received: tx.Origin()
	tx     sipmsg.ServerTransaction
	dest   string
	invite bool

	mu       sync.Mutex // serializes writes
	status   atomic.Int32
	canceled atomic.Bool
}

func newTxWriter(s *Server, req *Request, tx sipmsg.ServerTransaction) *txWriter {
	return &txWriter{s: s, req: req, tx: tx, dest: responseAddr(req), invite: req.IsInvite()}
}

// cancelled runs inside the transaction layer (under its lock) when the
// caller's CANCEL matched: the layer answers 487 by itself.
func (w *txWriter) cancelled() {
	w.canceled.Store(true)
	w.status.CompareAndSwap(0, 487)
	w.s.metrics.response(487)
	w.s.dialogs.finish(w.req, 487)
}

func (w *txWriter) Status() int { return int(w.status.Load()) }

func (w *txWriter) WriteResponse(res *Response) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	code := res.StatusCode
	cur := int(w.status.Load())
	final := code >= 200
	if final && cur != 0 && !(w.invite && code < 300 && cur < 300) {
		return ErrFinalSent
	}
	if !final && cur >= 300 {
		return ErrFinalSent
	}
	res.SetDestination(w.dest)
	res.SetTransport(w.req.Transport())
	if final && w.canceled.Load() {
		return ErrFinalSent
	}
	err := w.tx.Respond(res)
	if err != nil {
		if errors.Is(err, sipmsg.ErrTransactionCanceled) {
			// The caller's CANCEL won the race while we waited for the
			// transaction: it sent 487. Our res was stored as the
			// transaction's last response though; put the 487 back so that
			// its retransmissions stay right.
			if final {
				_ = w.tx.Respond(NewResponse(w.req, 487, "Request Terminated"))
			}
			return ErrFinalSent
		}
		if final && code < 300 && cur >= 200 {
			// A 2xx retransmission after the INVITE server transaction
			// ended: relay it statelessly (RFC 6026 §8.2).
			return w.s.ua.TransportLayer().WriteMsg(res)
		}
		return err
	}
	if final {
		if cur == 0 {
			w.status.Store(int32(code))
			w.s.metrics.response(code)
			if code >= 300 && w.invite {
				w.s.dialogs.finish(w.req, code)
			}
		}
	}
	return nil
}

// responseAddr is where responses to r go over UDP (RFC 3261 §18.2.2 and
// RFC 3581): the packet's source address, with the Via port unless the
// client asked for rport.
func responseAddr(r *Request) string {
	src := r.Source()
	host, port, err := net.SplitHostPort(src)
	if err != nil {
		return src
	}
	if v := r.Via(); v != nil && !v.Params.Has("rport") {
		if v.Port > 0 {
			port = strconv.Itoa(v.Port)
		} else {
			port = strconv.Itoa(sipmsg.DefaultPort(v.Transport))
		}
	}
	return net.JoinHostPort(host, port)
}

// discardWriter is the ResponseWriter of an ACK: nothing may answer it.
type discardWriter struct{}

func (discardWriter) WriteResponse(*Response) error { return ErrFinalSent }
func (discardWriter) Status() int                   { return 0 }

// minLevel is a slog.Handler that drops records below a level: sipgo logs
// routine events at Info, which a busy proxy cannot afford.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.min}
}

func (h minLevel) WithGroup(n string) slog.Handler {
	return minLevel{h.Handler.WithGroup(n), h.min}
}

// transactor is the client side of the transaction layer, as the Forwarder
// uses it. Tests and fuzzers substitute a scripted one.
type transactor interface {
	// request starts a client transaction for the prebuilt r.
	request(ctx context.Context, r *Request) (sipmsg.ClientTransaction, error)
	// write sends r without a transaction (ACK for a 2xx).
	write(r *Request) error
}

type sipgoTransactor struct {
	cli     *sipgo.Client
	closing *atomic.Bool
}

var errServerClosed = errors.New("sip: server closed")

// prebuilt tells sipgo that the request is complete: with any option it
// adds nothing (no Via, no Max-Forwards).
func prebuilt(*sipgo.Client, *sipmsg.Request) error { return nil }

func (t sipgoTransactor) request(ctx context.Context, r *Request) (sipmsg.ClientTransaction, error) {
	if t.closing.Load() {
		return nil, errServerClosed
	}
	return t.cli.TransactionRequest(ctx, r, prebuilt)
}

func (t sipgoTransactor) write(r *Request) error {
	if t.closing.Load() {
		return errServerClosed
	}
	return t.cli.WriteRequest(r, prebuilt)
}

var _ io.Closer = (*Server)(nil)
