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
)

// tlsDialTimeout bounds the TCP connect and TLS handshake of a connection
// the tlsDialer makes, whatever the request's context allows: a gateway
// that accepts and then says nothing fails the branch (503), it does not
// hold it.
var tlsDialTimeout = 10 * time.Second // a var for the tests

// tlsDialer is the step of the client side that dials TLS connections to
// IP addresses itself, before sipgo would. sipgo names the ClientHello
// after the host it dials, which crypto/tls leaves out for an address, so
// that a check made inside sipgo's handshake cannot tell which address it
// serves; here each connection gets a tls.Config of its own
// (TLS.dialConfig): the gateway entry of the address, its server name
// sent as SNI and checked on the certificate, or the address itself
// checked against the certificate's IP SANs. The connection is then
// handed to sipgo's TLS transport as if a listener had accepted it
// (dialedConns): sipgo pools it under the remote address, reads it, and
// sends the request, and the ones after it, over it. Connections to host
// names are left to sipgo (TLS.verifyServer checks them by name).
type tlsDialer struct {
	next  transactor
	tls   *TLS
	tl    *sipmsg.TransportLayer
	conns *dialedConns

	mu      sync.Mutex
	dialing map[string]*dialCall // by "ip:port": one dial at a time each
}

// dialCall is one dial in progress; those who wait for it read err once
// done is closed.
type dialCall struct {
	done chan struct{}
	err  error
}

func (d *tlsDialer) request(ctx context.Context, r *Request) (sipmsg.ClientTransaction, error) {
	ip, addr, ok := tlsDestination(r)
	if !ok {
		return d.next.request(ctx, r)
	}
	var tx sipmsg.ClientTransaction
	err := d.send(ctx, ip, addr, func() error {
		var err error
		tx, err = d.next.request(ctx, r)
		return err
	})
	return tx, err
}

func (d *tlsDialer) write(r *Request) error {
	ip, addr, ok := tlsDestination(r)
	if !ok {
		return d.next.write(r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), tlsDialTimeout)
	defer cancel()
	return d.send(ctx, ip, addr, func() error { return d.next.write(r) })
}

// tlsDestination returns the IP address and "ip:port" a request to be
// sent over TLS to an IP address goes to; ok is false for any other
// request (another transport, a host name), which is left to sipgo.
func tlsDestination(r *Request) (ip, addr string, ok bool) {
	if !strings.EqualFold(r.Transport(), "TLS") {
		return "", "", false
	}
	host, port, err := sipmsg.ParseAddr(r.Destination())
	if err != nil {
		return "", "", false // sipgo says why
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return "", "", false // a name: sipgo dials it
	}
	if port == 0 {
		port = sipmsg.DefaultTlsPort
	}
	if port < 0 || port > 65535 {
		return "", "", false // sipgo says why
	}
	a = a.Unmap().WithZone("")
	return a.String(), netip.AddrPortFrom(a, uint16(port)).String(), true
}

// send sends a request to addr with do, over the connection sipgo pools
// for addr: a live one, or one dialled for it (ensure). When the send
// fails on the connection (the write, or sipgo's taking it from the pool:
// a gateway restarted and the connection broke, or sipgo's read loop
// closed it under us) and that connection was not dialled for this
// message, the connection is dropped, dialled again and the request sent
// once more over the new one: at most one dial a message, so a gateway
// that refuses or breaks every connection fails the branch (503) at once.
func (d *tlsDialer) send(ctx context.Context, ip, addr string, do func() error) error {
	c, dialled, err := d.ensure(ctx, ip, addr)
	if err != nil {
		return err
	}
	err = do()
	if err == nil || dialled || !connFailed(err) {
		_, _ = c.TryClose() // ensure's reference
		return err
	}
	d.drop(c, addr)
	d.tls.redials.WithLabelValues("failed").Inc()
	c, _, err = d.ensure(ctx, ip, addr)
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

// ensure returns the connection sipgo pools for addr, with a reference
// the caller releases (TryClose), dialling one when there is none or the
// pooled one is known closed (live); dialled says it was dialled for this
// call.
func (d *tlsDialer) ensure(ctx context.Context, ip, addr string) (c sipmsg.Connection, dialled bool, err error) {
	if c := d.live(addr); c != nil {
		return c, false, nil
	}
	d.mu.Lock()
	if call := d.dialing[addr]; call != nil {
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
		d.dialing[addr] = call
		d.mu.Unlock()
		call.err = d.dial(ctx, ip, addr)
		d.mu.Lock()
		delete(d.dialing, addr)
		d.mu.Unlock()
		close(call.done)
		if call.err != nil {
			return nil, false, call.err
		}
	}
	if c := d.live(addr); c != nil {
		return c, true, nil
	}
	return nil, false, fmt.Errorf("sip: tls dial %s: the connection closed as soon as it was made", addr)
}

// live returns the connection sipgo pools for addr, with a reference the
// caller releases; a connection the tlsDialer dialled that is known closed
// (its read failed, or the kernel has its peer's FIN or reset) while
// sipgo's read loop has not dropped it yet is dropped here, and live
// returns nil.
func (d *tlsDialer) live(addr string) sipmsg.Connection {
	c := d.tl.Pool("tls").Get(addr)
	if c == nil {
		return nil
	}
	if dc := dialedOf(c); dc != nil && dc.gone() {
		d.drop(c, addr)
		d.tls.redials.WithLabelValues("closed").Inc()
		return nil
	}
	return c
}

// drop takes c out of sipgo's pool under addr, if it is still there,
// closes its socket and releases the caller's reference. sipgo's read loop then
// ends on the closed connection and leaves a new one pooled under addr.
func (d *tlsDialer) drop(c sipmsg.Connection, addr string) {
	pool := d.tl.Pool("tls")
	if cur := pool.Get(addr); cur != nil {
		if cur == c {
			pool.Delete(addr)
		}
		_, _ = cur.TryClose()
	}
	if dc := dialedOf(c); dc != nil {
		// The socket itself: no close_notify to a peer that is gone, and
		// no wait behind a write stuck on it.
		_ = dc.Conn.NetConn().Close()
	}
	_, _ = c.TryClose()
}

// dialedOf returns the dialedConn under sipgo's connection c, or nil for
// a connection the tlsDialer did not make (one a listener accepted).
func dialedOf(c sipmsg.Connection) *dialedConn {
	tc, ok := c.(*sipmsg.TCPConnection)
	if !ok {
		return nil
	}
	dc, _ := tc.Conn.(*dialedConn)
	return dc
}

// pooled reports whether sipgo's TLS pool holds a connection to addr.
func (d *tlsDialer) pooled(addr string) bool {
	c := d.tl.Pool("tls").Get(addr)
	if c == nil {
		return false
	}
	_, _ = c.TryClose() // Get took a reference
	return true
}

// dial connects to addr, runs the handshake with the address's own
// config, and hands the connection to sipgo; it returns once sipgo has
// pooled it.
func (d *tlsDialer) dial(ctx context.Context, ip, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, tlsDialTimeout)
	defer cancel()
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("sip: tls dial %s: %w", addr, err)
	}
	conn := tls.Client(raw, d.tls.dialConfig(ip))
	if err := conn.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return fmt.Errorf("sip: tls dial %s: %w", addr, err)
	}
	dc := &dialedConn{Conn: conn}
	if err := d.conns.hand(ctx, dc); err != nil {
		_ = conn.Close()
		return err
	}
	// sipgo pools the connection on its accept loop's goroutine: wait
	// for it, so that the request does not make sipgo dial a second one.
	for !d.pooledAs(addr, dc) {
		select {
		case <-ctx.Done():
			_ = conn.Close()
			return fmt.Errorf("sip: tls dial %s: the connection was not taken: %w", addr, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// pooledAs reports whether sipgo pools dc under addr (a connection being
// dropped may still be there).
func (d *tlsDialer) pooledAs(addr string, dc *dialedConn) bool {
	c := d.tl.Pool("tls").Get(addr)
	if c == nil {
		return false
	}
	defer c.TryClose()
	return dialedOf(c) == dc || dc.gone()
}

// dialedConn is a connection the tlsDialer dialled, as sipgo reads and
// writes it. It notes when a read fails (the peer closed, the connection
// broke), so that a connection known to be over is not handed a request
// in the moment before sipgo's read loop drops it from the pool.
type dialedConn struct {
	*tls.Conn
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
	return c.readFailed.Load() || peerClosed(c.Conn.NetConn())
}

// dialedConns is the listener sipgo's TLS transport serves the tlsDialer's
// connections from: Accept returns each connection handed to it.
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
