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
type streamDialer struct {
	next     transactor
	tls      *TLS // nil: no Config.TLS
	tl       *sipmsg.TransportLayer
	tlsConns *dialedConns // served as TLS; nil without TLS nor capture
	tcpConns *dialedConns // served as TCP; nil without capture
	capture  *capture
	resolver *net.Resolver

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
	if err := d.ensure(ctx, r); err != nil {
		return nil, err
	}
	return d.next.request(ctx, r)
}

func (d *streamDialer) write(r *Request) error {
	ctx, cancel := context.WithTimeout(context.Background(), tlsDialTimeout)
	defer cancel()
	if err := d.ensure(ctx, r); err != nil {
		return err
	}
	return d.next.write(r)
}

// ensure makes sure a request to be sent over a stream this step dials
// finds a connection in sipgo's pool, dialling one when there is none.
func (d *streamDialer) ensure(ctx context.Context, r *Request) error {
	network := strings.ToLower(r.Transport())
	var conns *dialedConns
	switch network {
	case "tls":
		conns = d.tlsConns
	case "tcp":
		conns = d.tcpConns
	}
	if conns == nil {
		return nil
	}
	host, port, err := sipmsg.ParseAddr(r.Destination())
	if err != nil {
		return nil // sipgo says why
	}
	if port == 0 {
		port = sipmsg.DefaultPort(network)
	}
	if port < 0 || port > 65535 {
		return nil // sipgo says why
	}
	name := ""
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if d.capture == nil {
			return nil // a name: sipgo dials it
		}
		name = host
		if ip, err = d.resolve(ctx, host); err != nil {
			return nil // sipgo tries again, and says why
		}
	}
	ip = ip.Unmap().WithZone("")
	addr := netip.AddrPortFrom(ip, uint16(port)).String()
	if d.pooled(network, addr) {
		return nil
	}
	key := network + " " + addr
	d.mu.Lock()
	if c := d.dialing[key]; c != nil {
		d.mu.Unlock()
		select {
		case <-c.done:
			return c.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c := &dialCall{done: make(chan struct{})}
	d.dialing[key] = c
	d.mu.Unlock()

	c.err = d.dial(ctx, network, ip.String(), name, addr, conns)
	d.mu.Lock()
	delete(d.dialing, key)
	d.mu.Unlock()
	close(c.done)
	return c.err
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

// pooled reports whether sipgo's pool of network holds a connection to
// addr.
func (d *streamDialer) pooled(network, addr string) bool {
	c := d.tl.Pool(network).Get(addr)
	if c == nil {
		return false
	}
	_, _ = c.TryClose() // Get took a reference
	return true
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

// dial connects to addr (ip, dialled for name: empty for an address),
// runs the TLS handshake for network tls, and hands the connection to
// sipgo through conns, wrapped for capture when that is on; it returns
// once sipgo has pooled it.
func (d *streamDialer) dial(ctx context.Context, network, ip, name, addr string, conns *dialedConns) error {
	ctx, cancel := context.WithTimeout(ctx, tlsDialTimeout)
	defer cancel()
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("sip: %s dial %s: %w", network, addr, err)
	}
	conn := raw
	if network == "tls" {
		tc := tls.Client(raw, d.tlsConfig(ip, name))
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return fmt.Errorf("sip: tls dial %s: %w", addr, err)
		}
		conn = tc
	}
	if sc := d.capture.stream(conn, network); sc != nil {
		conn = &captureConn{Conn: conn, sc: sc}
	}
	if err := conns.hand(ctx, conn); err != nil {
		_ = conn.Close()
		return err
	}
	// sipgo pools the connection on its accept loop's goroutine: wait
	// for it, so that the request does not make sipgo dial a second one.
	for !d.pooled(network, addr) {
		select {
		case <-ctx.Done():
			_ = conn.Close()
			return fmt.Errorf("sip: %s dial %s: the connection was not taken: %w", network, addr, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	return nil
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
