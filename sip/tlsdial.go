package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// tlsDialTimeout bounds the TCP connect and TLS handshake of a connection
// the streamDialer makes, whatever the request's context allows: a gateway
// that accepts and then says nothing fails the branch (503), it does not
// hold it.
var tlsDialTimeout = 10 * time.Second // a var for the tests

// streamDialer is the step of the client side that dials stream
// connections itself, before sipgo would, and hands each to sipgo's TCP or
// TLS transport as if a listener had accepted it (dialedConns): sipgo pools
// it under the remote address, reads it, and sends the request, and the
// ones after it, over it. It does so for two reasons.
//
//   - TLS to IP addresses (with Config.TLS). sipgo names the ClientHello
//     after the host it dials, which crypto/tls leaves out for an address,
//     so that a check made inside sipgo's handshake cannot tell which
//     address it serves; here each connection gets a tls.Config of its own
//     (TLS.dialConfig): the gateway entry of the address, its server name
//     sent as SNI and checked on the certificate, or the address itself
//     checked against the certificate's IP SANs.
//   - Capture (WithCapture). sipgo's dialled connections offer no hook on
//     their writes (its DialerCreate returns a net.Dialer, whose connection
//     cannot be wrapped), so with capture on every TCP and TLS connection
//     the server opens for a request is dialled here and wrapped
//     (captureConn): what the server sends over it is captured as what it
//     reads is (the read filter). A host name is resolved as sipgo
//     resolves it (its A/AAAA records, IPv4 first) and the connection
//     pooled under the address sipgo will look for; TLS to a name is
//     configured as sipgo would (the client config, the name as server
//     name, TLS.verifyServer checking it).
//
// Without capture, TCP and TLS to names are left to sipgo. A name that
// resolves through SRV records alone is left to sipgo too.
//
// Every request to a destination it dials for goes through send, whatever
// connection sipgo pools for it (one dialled here, or one a listener
// accepted): a pooled connection this step dialled that is known closed
// (its read failed, or on Linux TCP_INFO shows the peer's FIN or reset) is
// dropped and dialled again before the send, and a send that fails on a
// pooled connection drops it, dials once more and sends again
// (palio_sip_tls_redials_total, TCP ones included).
type streamDialer struct {
	next     transactor
	tls      *TLS // nil: no Config.TLS
	tl       *sipmsg.TransportLayer
	tlsConns *dialedConns // served as TLS; nil without TLS nor capture
	tcpConns *dialedConns // served as TCP; nil without capture
	capture  *capture
	resolver *net.Resolver
	redials  *prometheus.CounterVec // without Config.TLS (with it, the TLS's)

	mu      sync.Mutex
	dialing map[string]*dialCall // by "network ip:port": one dial at a time each
}

// dialCall is one dial in progress; those who wait for it read err once
// done is closed.
type dialCall struct {
	done chan struct{}
	err  error
}

func (d *streamDialer) request(ctx context.Context, r *Request) (sipmsg.ClientTransaction, error) {
	network, conns := d.streamOf(r)
	if conns == nil {
		return d.next.request(ctx, r)
	}
	dst, ok := d.destination(ctx, r, network, conns)
	if !ok {
		return d.next.request(ctx, r)
	}
	var tx sipmsg.ClientTransaction
	err := d.send(ctx, dst, func() error {
		var err error
		tx, err = d.next.request(ctx, r)
		return err
	})
	return tx, err
}

func (d *streamDialer) write(r *Request) error {
	network, conns := d.streamOf(r)
	if conns == nil {
		return d.next.write(r) // UDP, or a stream this step leaves to sipgo
	}
	ctx, cancel := context.WithTimeout(context.Background(), tlsDialTimeout)
	defer cancel()
	dst, ok := d.destination(ctx, r, network, conns)
	if !ok {
		return d.next.write(r)
	}
	return d.send(ctx, dst, func() error { return d.next.write(r) })
}

// streamDest is where a request this step sends goes: the network (tcp,
// tls), the address sipgo pools the connection under, and what dials it.
type streamDest struct {
	network string
	ip      string       // the address dialled
	name    string       // the host name resolved to ip; empty for an address
	addr    string       // "ip:port", the key of sipgo's pool
	conns   *dialedConns // the listener the connection is handed to sipgo through
}

// key is the destination's key in dialing: "network ip:port".
func (dst streamDest) key() string { return dst.network + " " + dst.addr }

// streamOf returns the network ("tls", "tcp") of r's transport and the
// listener this step hands its connections through; conns is nil for a
// request this step leaves to sipgo (UDP, or TCP without capture). It
// allocates nothing: every request sent passes here.
func (d *streamDialer) streamOf(r *Request) (network string, conns *dialedConns) {
	switch t := r.Transport(); {
	case strings.EqualFold(t, "tls"):
		return "tls", d.tlsConns
	case strings.EqualFold(t, "tcp"):
		return "tcp", d.tcpConns
	}
	return "", nil
}

// destination returns where r, to be sent over network through conns
// (streamOf), goes when this step dials it (TLS to an IP address; with
// capture, any TCP or TLS destination whose name resolves); ok is false
// for any other request, which is left to sipgo.
func (d *streamDialer) destination(ctx context.Context, r *Request, network string, conns *dialedConns) (dst streamDest, ok bool) {
	host, port, err := sipmsg.ParseAddr(r.Destination())
	if err != nil {
		return streamDest{}, false // sipgo says why
	}
	if port == 0 {
		port = sipmsg.DefaultPort(network)
	}
	if port < 0 || port > 65535 {
		return streamDest{}, false // sipgo says why
	}
	name := ""
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if d.capture == nil {
			return streamDest{}, false // a name: sipgo dials it
		}
		name = host
		if ip, err = d.resolve(ctx, host); err != nil {
			return streamDest{}, false // sipgo tries again, and says why
		}
	}
	ip = ip.Unmap().WithZone("")
	return streamDest{network: network, ip: ip.String(), name: name,
		addr: netip.AddrPortFrom(ip, uint16(port)).String(), conns: conns}, true
}

// send sends a request to dst with do, over the connection sipgo pools
// for it: a live one, or one dialled for it (ensure). When the send fails
// on the connection (the write, or sipgo's taking it from the pool: a
// gateway restarted and the connection broke, or sipgo's read loop closed
// it under us) and that connection was not dialled for this message, the
// connection is dropped, dialled again and the request sent once more over
// the new one: at most one dial a message, so a peer that refuses or
// breaks every connection fails the branch (503) at once.
func (d *streamDialer) send(ctx context.Context, dst streamDest, do func() error) error {
	c, dialled, err := d.ensure(ctx, dst)
	if err != nil {
		return err
	}
	err = do()
	if err == nil || dialled || !connFailed(err) {
		_, _ = c.TryClose() // ensure's reference
		return err
	}
	d.drop(c, dst)
	d.redialed("failed")
	c, _, err = d.ensure(ctx, dst)
	if err != nil {
		return err
	}
	defer c.TryClose()
	return do()
}

// connFailed reports whether err is a failure of the connection a
// request was to go over (not of the request or of its context).
func connFailed(err error) bool {
	var op *net.OpError
	return errors.Is(err, sipmsg.ErrTransactionTransport) || errors.Is(err, net.ErrClosed) || errors.As(err, &op)
}

// redialed counts a pooled connection dropped and dialled again, by cause
// (palio_sip_tls_redials_total): on the TLS's collectors with Config.TLS,
// else on the server's (redials).
func (d *streamDialer) redialed(cause string) {
	switch {
	case d.tls != nil:
		d.tls.redials.WithLabelValues(cause).Inc()
	case d.redials != nil:
		d.redials.WithLabelValues(cause).Inc()
	}
}

// ensure returns the connection sipgo pools for dst, with a reference
// the caller releases (TryClose), dialling one when there is none or the
// pooled one is known closed (live); dialled says it was dialled for this
// call.
func (d *streamDialer) ensure(ctx context.Context, dst streamDest) (c sipmsg.Connection, dialled bool, err error) {
	if c := d.live(dst); c != nil {
		return c, false, nil
	}
	key := dst.key()
	d.mu.Lock()
	if call := d.dialing[key]; call != nil {
		d.mu.Unlock()
		select {
		case <-call.done:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
		if call.err != nil {
			return nil, false, call.err
		}
	} else {
		call := &dialCall{done: make(chan struct{})}
		d.dialing[key] = call
		d.mu.Unlock()
		call.err = d.dial(ctx, dst)
		d.mu.Lock()
		delete(d.dialing, key)
		d.mu.Unlock()
		close(call.done)
		if call.err != nil {
			return nil, false, call.err
		}
	}
	if c := d.live(dst); c != nil {
		return c, true, nil
	}
	return nil, false, fmt.Errorf("sip: %s dial %s: the connection closed as soon as it was made", dst.network, dst.addr)
}

// live returns the connection sipgo pools for dst, with a reference the
// caller releases; a connection the streamDialer dialled that is known
// closed (its read failed, or the kernel has its peer's FIN or reset)
// while sipgo's read loop has not dropped it yet is dropped here, and live
// returns nil.
func (d *streamDialer) live(dst streamDest) sipmsg.Connection {
	c := d.tl.Pool(dst.network).Get(dst.addr)
	if c == nil {
		return nil
	}
	if dc := dialedOf(c); dc != nil && dc.gone() {
		d.drop(c, dst)
		d.redialed("closed")
		return nil
	}
	return c
}

// drop takes c out of sipgo's pool under dst, if it is still there,
// closes its socket and releases the caller's reference. sipgo's read loop then
// ends on the closed connection and leaves a new one pooled under dst.
func (d *streamDialer) drop(c sipmsg.Connection, dst streamDest) {
	pool := d.tl.Pool(dst.network)
	if cur := pool.Get(dst.addr); cur != nil {
		if cur == c {
			pool.Delete(dst.addr)
		}
		_, _ = cur.TryClose()
	}
	if dc := dialedOf(c); dc != nil {
		// The socket itself: no close_notify to a peer that is gone, and
		// no wait behind a write stuck on it.
		_ = dc.raw.Close()
	}
	_, _ = c.TryClose()
}

// dialedOf returns the dialedConn under sipgo's connection c, or nil for
// a connection the streamDialer did not make (one a listener accepted).
func dialedOf(c sipmsg.Connection) *dialedConn {
	tc, ok := c.(*sipmsg.TCPConnection)
	if !ok {
		return nil
	}
	dc, _ := tc.Conn.(*dialedConn)
	return dc
}

// resolve returns the address sipgo picks for a name: the first IPv4 one
// of its A/AAAA records, else the first.
func (d *streamDialer) resolve(ctx context.Context, name string) (netip.Addr, error) {
	res := d.resolver
	if res == nil {
		res = net.DefaultResolver
	}
	ips, err := res.LookupNetIP(ctx, "ip", name)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			return ip.Unmap(), nil
		}
	}
	if len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("sip: %s has no address", name)
	}
	return ips[0], nil
}

// tlsConfig is the config of a TLS connection to ip, dialled for name
// (empty: for the address itself).
func (d *streamDialer) tlsConfig(ip, name string) *tls.Config {
	if name == "" && d.tls != nil {
		return d.tls.dialConfig(ip)
	}
	// As sipgo's TLS transport configures its own dials.
	conf := &tls.Config{}
	if d.tls != nil {
		conf = d.tls.ClientConfig()
	}
	if conf.ServerName == "" {
		conf = conf.Clone()
		conf.ServerName = name
		if name == "" {
			conf.ServerName = ip
		}
	}
	return conf
}

// dial connects to dst (its ip, dialled for its name: empty for an
// address), runs the TLS handshake for network tls, and hands the
// connection to sipgo through dst.conns, wrapped for capture when that is
// on and as a dialedConn; it returns once sipgo has pooled it.
func (d *streamDialer) dial(ctx context.Context, dst streamDest) error {
	ctx, cancel := context.WithTimeout(ctx, tlsDialTimeout)
	defer cancel()
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, "tcp", dst.addr)
	if err != nil {
		return fmt.Errorf("sip: %s dial %s: %w", dst.network, dst.addr, err)
	}
	conn := raw
	if dst.network == "tls" {
		tc := tls.Client(raw, d.tlsConfig(dst.ip, dst.name))
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return fmt.Errorf("sip: tls dial %s: %w", dst.addr, err)
		}
		conn = tc
	}
	if sc := d.capture.stream(conn, dst.network); sc != nil {
		conn = &captureConn{Conn: conn, sc: sc}
	}
	dc := &dialedConn{Conn: conn, raw: raw}
	if err := dst.conns.hand(ctx, dc); err != nil {
		_ = conn.Close()
		return err
	}
	// sipgo pools the connection on its accept loop's goroutine: wait
	// for it, so that the request does not make sipgo dial a second one.
	for !d.pooledAs(dst.network, dst.addr, dc) {
		select {
		case <-ctx.Done():
			_ = conn.Close()
			return fmt.Errorf("sip: %s dial %s: the connection was not taken: %w", dst.network, dst.addr, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// pooledAs reports whether sipgo pools dc under addr in network's pool (a
// connection being dropped may still be there).
func (d *streamDialer) pooledAs(network, addr string, dc *dialedConn) bool {
	c := d.tl.Pool(network).Get(addr)
	if c == nil {
		return false
	}
	defer c.TryClose()
	return dialedOf(c) == dc || dc.gone()
}

// dialedConn is a connection the streamDialer dialled, as sipgo reads and
// writes it: the TCP connection, or the TLS one over it, wrapped for
// capture when that is on (captureConn). It notes when a read fails (the
// peer closed, the connection broke), so that a connection known to be
// over is not handed a request in the moment before sipgo's read loop
// drops it from the pool.
type dialedConn struct {
	net.Conn
	raw        net.Conn // the TCP socket
	readFailed atomic.Bool
}

// dialedHooks let the tests stand for a read loop that has not yet seen
// its connection end (export_test.go).
var dialedHooks struct {
	// readFailed, when set, runs when a read fails, before the failure
	// is noted.
	readFailed atomic.Pointer[func(*dialedConn)]
	// noGoneCheck makes gone report false, as when the peer's FIN is still
	// on its way, so that only the failed write tells.
	noGoneCheck atomic.Bool
}

// Read reads from the connection, noting a failure.
func (c *dialedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		if h := dialedHooks.readFailed.Load(); h != nil {
			(*h)(c)
		}
		c.readFailed.Store(true)
	}
	return n, err
}

// gone reports whether the connection is known to be over: a read failed,
// or the kernel holds the peer's FIN or reset (peerClosed).
func (c *dialedConn) gone() bool {
	if dialedHooks.noGoneCheck.Load() {
		return false
	}
	return c.readFailed.Load() || peerClosed(c.raw)
}

// captureConn is a stream connection the server dialled, whose writes are
// captured (sipgo writes one message per call).
type captureConn struct {
	net.Conn
	sc *streamConnCapture
}

func (c *captureConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if n > 0 {
		c.sc.wrote(b[:n])
	}
	return n, err
}

// dialedConns is the listener sipgo's TLS (or TCP) transport serves the
// streamDialer's connections from: Accept returns each connection handed to it.
type dialedConns struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

// newDialedConns returns the listener; addr is what its Addr says (a TLS
// listener's address, so that sipgo notes no port of its own).
func newDialedConns(addr net.Addr) *dialedConns {
	if addr == nil {
		addr = &net.TCPAddr{IP: net.IPv4zero}
	}
	return &dialedConns{ch: make(chan net.Conn), done: make(chan struct{}), addr: addr}
}

// hand gives c to the transport's accept loop.
func (q *dialedConns) hand(ctx context.Context, c net.Conn) error {
	select {
	case q.ch <- c:
		return nil
	case <-q.done:
		return errServerClosed
	case <-ctx.Done():
		return fmt.Errorf("sip: tls dial: the connection was not taken: %w", ctx.Err())
	}
}

// Accept returns the next dialled connection, or net.ErrClosed once
// closed.
func (q *dialedConns) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

// Close ends Accept.
func (q *dialedConns) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

// Addr is a placeholder: sipgo reads a port from it and notes it as a TLS
// listening port, which Palio does not use (it writes its own Via and
// Record-Route).
func (q *dialedConns) Addr() net.Addr { return q.addr }
