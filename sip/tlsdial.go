package sip

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
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
	if err := d.ensure(ctx, r); err != nil {
		return nil, err
	}
	return d.next.request(ctx, r)
}

func (d *tlsDialer) write(r *Request) error {
	ctx, cancel := context.WithTimeout(context.Background(), tlsDialTimeout)
	defer cancel()
	if err := d.ensure(ctx, r); err != nil {
		return err
	}
	return d.next.write(r)
}

// ensure makes sure a request to be sent over TLS to an IP address finds
// a connection in sipgo's pool, dialling one when there is none.
func (d *tlsDialer) ensure(ctx context.Context, r *Request) error {
	if !strings.EqualFold(r.Transport(), "TLS") {
		return nil
	}
	host, port, err := sipmsg.ParseAddr(r.Destination())
	if err != nil {
		return nil // sipgo says why
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil // a name: sipgo dials it
	}
	if port == 0 {
		port = sipmsg.DefaultTlsPort
	}
	if port < 0 || port > 65535 {
		return nil // sipgo says why
	}
	ip = ip.Unmap().WithZone("")
	addr := netip.AddrPortFrom(ip, uint16(port)).String()
	if d.pooled(addr) {
		return nil
	}
	d.mu.Lock()
	if c := d.dialing[addr]; c != nil {
		d.mu.Unlock()
		select {
		case <-c.done:
			return c.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c := &dialCall{done: make(chan struct{})}
	d.dialing[addr] = c
	d.mu.Unlock()

	c.err = d.dial(ctx, ip.String(), addr)
	d.mu.Lock()
	delete(d.dialing, addr)
	d.mu.Unlock()
	close(c.done)
	return c.err
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
	if err := d.conns.hand(ctx, conn); err != nil {
		_ = conn.Close()
		return err
	}
	// sipgo pools the connection on its accept loop's goroutine: wait
	// for it, so that the request does not make sipgo dial a second one.
	for !d.pooled(addr) {
		select {
		case <-ctx.Done():
			_ = conn.Close()
			return fmt.Errorf("sip: tls dial %s: the connection was not taken: %w", addr, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	return nil
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
