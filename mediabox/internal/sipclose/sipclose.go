// Package sipclose takes a sipgo user agent's UDP listener down without
// leaving sipgo a way to open another socket afterwards.
//
// sipgo answers a request, and sends one, from the connection its pool
// holds for the address; finding none, it opens a fresh socket with a
// reader of its own that nothing closes. UserAgent.Close empties the pool
// but leaves the listener's socket to the serve context, and the
// listener's reader, once stopped, takes its entries out of the pool too:
// a request read as the listener closes (its handler runs on a goroutine
// of its own, later), or a request sent then, finds no connection and
// opens one.
//
// A Gate, installed as the transport layer's read filter, records the
// addresses the listener reads from. Its Close drops whatever the
// listener reads from then on, puts a closed connection in the pool in
// place of the listener (under its address and each address it read
// from) so that a late answer or request fails instead, stops the
// listener and ends the transactions.
package sipclose

import (
	"net"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Gate is a listener's read filter and its shutter. The zero Gate is
// ready to use.
type Gate struct {
	mu      sync.Mutex
	shut    bool
	remotes map[string]struct{} // as many as sipgo's pool holds for the listener
}

// Filter is the read filter (sip.WithTransportLayerReadFilter): it
// passes what the listener reads until Close, and drops it after.
func (g *Gate) Filter(p sip.TransportReadProps, data []byte) ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shut {
		return nil, nil // dropped
	}
	if p.RemoteAddr != nil {
		if g.remotes == nil {
			g.remotes = map[string]struct{}{}
		}
		g.remotes[p.RemoteAddr.String()] = struct{}{}
	}
	return data, nil
}

// Close takes the listener at laddr of ua down. stop must close the
// listener and return once its reader has stopped (diago's Serve
// returned). Call it once nothing more is expected from the listener.
//
// ua.Close is not called: it would empty the pool again, and a request
// still to be handled in that moment would find no connection. The
// listener is the only connection of a user agent whose requests leave
// from it (diago's client, with sipgo.WithClientConnectionAddr): there is
// nothing else in the pool to close.
func (g *Gate) Close(ua *sipgo.UserAgent, laddr string, stop func()) {
	pool := ua.TransportLayer().Pool("udp")
	g.mu.Lock()
	g.shut = true
	g.mu.Unlock()
	g.bury(pool, laddr)
	stop()
	// The reader may have added an address as the gate shut, and took
	// it out of the pool as it stopped.
	g.bury(pool, laddr)
	ua.TransactionLayer().Close()
}

// bury puts a closed connection in the pool under laddr and every
// address the listener read from.
func (g *Gate) bury(pool *sip.ConnectionPool, laddr string) {
	la, _ := net.ResolveUDPAddr("udp", laddr)
	// A *sip.UDPConnection, as sipgo's UDP transport expects of its pool;
	// a listener's, so that sipgo never closes it.
	dead := &sip.UDPConnection{PacketConn: deadPacketConn{laddr: la}, PacketAddr: laddr, Listener: true}
	g.mu.Lock()
	defer g.mu.Unlock()
	pool.Add(laddr, dead)
	for a := range g.remotes {
		pool.Add(a, dead)
	}
}

// deadPacketConn is a closed socket: every read and write fails.
type deadPacketConn struct{ laddr *net.UDPAddr }

func (deadPacketConn) ReadFrom([]byte) (int, net.Addr, error) { return 0, nil, net.ErrClosed }

func (deadPacketConn) WriteTo([]byte, net.Addr) (int, error) { return 0, net.ErrClosed }

func (deadPacketConn) Close() error { return nil }

func (d deadPacketConn) LocalAddr() net.Addr {
	if d.laddr == nil {
		return &net.UDPAddr{}
	}
	return d.laddr
}

func (deadPacketConn) SetDeadline(time.Time) error { return nil }

func (deadPacketConn) SetReadDeadline(time.Time) error { return nil }

func (deadPacketConn) SetWriteDeadline(time.Time) error { return nil }
