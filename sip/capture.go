package sip

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// Capturer receives a copy of every SIP message a Server sends or
// receives, as the bytes on the wire, for a HOMER collector (HEPClient) or
// any other trace (WithCapture). CaptureSIP is called on the goroutine
// that reads or writes the socket: it must not block, and must not keep m.Data
// after it returns (the buffer is the transport's).
type Capturer interface {
	CaptureSIP(m Captured)
}

// Captured is one SIP message seen on the wire.
type Captured struct {
	// Time is when it was read, or written.
	Time time.Time
	// Network is the transport: "udp", "tcp", "tls", "ws" or "wss".
	Network string
	// Src and Dst are where it came from and went to. For a received
	// message Dst is the listener (a wildcard listener's advertised
	// address when that is an IP address, else 0.0.0.0 or ::).
	Src, Dst netip.AddrPort
	// Sent says the server sent it; otherwise it received it.
	Sent bool
	// Data is the whole message, start line to body; it is valid only
	// during the call.
	Data []byte
}

// WithCapture has the server hand every SIP message it sends and receives
// to c, as OpenSIPS's tracer and Kamailio's siptrace do: UDP datagrams on
// its listeners, messages over the TCP, TLS and WebSocket connections it
// accepted, and over the TCP and TLS connections it dials for its requests
// (with capture on, the server dials those itself and wraps them, rather
// than sipgo: see streamDialer). Keepalives (CRLF, STUN) are not messages
// and are left out. Without it nothing is wrapped and capture costs
// nothing.
func WithCapture(c Capturer) Option {
	return func(s *Server) {
		if c != nil {
			s.capture = &capture{c: c, partial: map[streamKey]*partialMsg{}}
		}
	}
}

// capture is a Server's side of WithCapture: the wrappers of its sockets
// and the reassembly of messages read in pieces from streams.
type capture struct {
	c Capturer

	mu        sync.Mutex
	partial   map[streamKey]*partialMsg // TCP/TLS messages read in part
	lastSweep time.Time
}

// streamKey names a stream connection by its two ends.
type streamKey struct{ local, remote netip.AddrPort }

// partialMsg is the start of a message a stream read ended in.
type partialMsg struct {
	buf  []byte
	last time.Time
}

// partialMax bounds what is kept of an unfinished message: sipgo refuses
// longer ones (and closes the connection).
const partialMax = 256 << 10

// partialIdle is how long an unfinished message is kept without a read:
// longer than any MessageTimeout sensible, so a connection that died
// mid-message leaves nothing behind for long.
const partialIdle = 2 * time.Minute

// emit hands one message to the Capturer.
func (c *capture) emit(network string, src, dst netip.AddrPort, sent bool, data []byte) {
	if !looksSIP(data) {
		return
	}
	c.c.CaptureSIP(Captured{Time: time.Now(), Network: network, Src: src, Dst: dst, Sent: sent, Data: data})
}

// looksSIP reports whether b starts as a SIP message does (a method or
// "SIP/2.0"): keepalives, STUN and garbage are not captured.
func looksSIP(b []byte) bool {
	return len(b) > 8 && b[0] >= 'A' && b[0] <= 'Z'
}

// packetConn wraps a UDP listener so that what it reads and writes is
// captured; bound is the address it was bound with and advertise the
// listener's Advertise, which names a wildcard listener's own address.
func (c *capture) packetConn(pc net.PacketConn, advertise string) net.PacketConn {
	if c == nil {
		return pc
	}
	local := addrPortOf(pc.LocalAddr())
	if local.Addr().IsUnspecified() {
		host, _, err := net.SplitHostPort(advertise)
		if err != nil {
			host = advertise
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			local = netip.AddrPortFrom(ip.Unmap(), local.Port())
		}
	}
	uc, _ := pc.(udpAddrPortWriter) // a *net.UDPConn, or the queue-delay wrapper of one
	return &capturePacketConn{PacketConn: pc, uc: uc, cap: c, local: local}
}

// capturePacketConn is a UDP listener whose datagrams are captured.
type capturePacketConn struct {
	net.PacketConn
	uc    udpAddrPortWriter // for WriteToUDPAddrPort, when pc has it
	cap   *capture
	local netip.AddrPort
}

func (c *capturePacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(b)
	if err == nil && n > 0 {
		c.cap.emit("udp", addrPortOf(addr), c.local, false, b[:n])
	}
	return n, addr, err
}

func (c *capturePacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	n, err := c.PacketConn.WriteTo(b, addr)
	if err == nil {
		c.cap.emit("udp", c.local, addrPortOf(addr), true, b[:n])
	}
	return n, err
}

// WriteToUDPAddrPort is net.UDPConn's, for the stateless responses'
// allocation-free path (writeUDP).
func (c *capturePacketConn) WriteToUDPAddrPort(b []byte, ap netip.AddrPort) (int, error) {
	var n int
	var err error
	if c.uc != nil {
		n, err = c.uc.WriteToUDPAddrPort(b, ap)
	} else {
		n, err = c.PacketConn.WriteTo(b, net.UDPAddrFromAddrPort(ap))
	}
	if err == nil {
		c.cap.emit("udp", c.local, ap, true, b[:n])
	}
	return n, err
}

// captureReads wraps sipgo's read filter, which sees what every stream
// connection reads (decrypted for TLS, one message per call for
// WebSocket), dialled ones included; UDP is captured by its listeners'
// wrappers (packetConn).
func (s *Server) captureReads(next sipmsg.TransportReadFilter) sipmsg.TransportReadFilter {
	c := s.capture
	if c == nil {
		return next
	}
	return func(props sipmsg.TransportReadProps, data []byte) ([]byte, error) {
		switch props.Transport {
		case "TCP":
			c.streamRead("tcp", props, data)
		case "TLS":
			c.streamRead("tls", props, data)
		case "WS":
			c.emit("ws", addrPortOf(props.RemoteAddr), addrPortOf(props.LocalAddr), false, data)
		case "WSS":
			c.emit("wss", addrPortOf(props.RemoteAddr), addrPortOf(props.LocalAddr), false, data)
		}
		return next(props, data)
	}
}

// streamRead captures the messages a TCP or TLS read completes, keeping
// the start of one it ends in until the rest comes. A connection is read
// by one goroutine, so its entry is used by one at a time; the lock is
// for the map.
func (c *capture) streamRead(network string, props sipmsg.TransportReadProps, data []byte) {
	src, dst := addrPortOf(props.RemoteAddr), addrPortOf(props.LocalAddr)
	key := streamKey{dst, src}
	c.mu.Lock()
	p := c.partial[key]
	c.mu.Unlock()
	if p != nil {
		p.buf = append(p.buf, data...)
		data = p.buf
	}
	for {
		data = bytes.TrimLeft(data, "\r\n")
		n := messageLen(data)
		if n <= 0 {
			break
		}
		c.emit(network, src, dst, false, data[:n])
		data = data[n:]
	}
	switch {
	case len(data) == 0 || len(data) > partialMax || messageLen(data) < 0:
		if p != nil {
			c.mu.Lock()
			delete(c.partial, key)
			c.mu.Unlock()
		}
	case p != nil:
		p.buf = p.buf[:copy(p.buf, data)]
		p.last = time.Now()
	default:
		now := time.Now()
		p = &partialMsg{buf: append([]byte(nil), data...), last: now}
		c.mu.Lock()
		c.partial[key] = p
		if now.Sub(c.lastSweep) > partialIdle {
			c.lastSweep = now
			for k, q := range c.partial {
				if now.Sub(q.last) > partialIdle {
					delete(c.partial, k)
				}
			}
		}
		c.mu.Unlock()
	}
}

// messageLen is the length of the SIP message at the start of b, read off
// a stream (RFC 3261 §18.3: the header ends at an empty line, the body is
// Content-Length bytes): 0 when it is not all there yet, -1 when b cannot
// start one.
func messageLen(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	if b[0] < 'A' || b[0] > 'Z' {
		return -1
	}
	clen := int64(0)
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return 0
		}
		line := b[i : i+j]
		i += j + 1
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			if total := int64(i) + clen; total <= int64(len(b)) {
				return int(total)
			}
			return 0
		}
		if v, ok := contentLength(line); ok {
			clen = v
		}
	}
	return 0
}

// streamConnCapture captures what the server writes on one accepted
// stream connection: one message per write over TCP and TLS (sipgo writes
// each message whole), WebSocket frames decoded over WS and WSS.
type streamConnCapture struct {
	cap           *capture
	network       string
	local, remote netip.AddrPort
	ws            bool

	mu  sync.Mutex // WebSocket: frames are written in pieces
	in  []byte     // bytes of the frame being written
	msg []byte     // payload of a fragmented message so far
}

// stream returns the write side's capture for a connection, nil when off.
func (c *capture) stream(conn net.Conn, network string) *streamConnCapture {
	if c == nil {
		return nil
	}
	return &streamConnCapture{cap: c, network: network, local: addrPortOf(conn.LocalAddr()),
		remote: addrPortOf(conn.RemoteAddr()), ws: network == "ws" || network == "wss"}
}

// wrote captures b, written to the connection.
func (sc *streamConnCapture) wrote(b []byte) {
	if !sc.ws {
		for {
			b = bytes.TrimLeft(b, "\r\n")
			n := messageLen(b)
			if n <= 0 {
				return
			}
			sc.cap.emit(sc.network, sc.local, sc.remote, true, b[:n])
			b = b[n:]
		}
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if len(sc.in) == 0 && bytes.HasPrefix(b, []byte("HTTP/")) {
		return // the upgrade's answer
	}
	sc.in = append(sc.in, b...)
	for {
		hdr, plen, ok := wsFrameLen(sc.in)
		if !ok || len(sc.in) < hdr+plen {
			break
		}
		op, fin := sc.in[0]&0x0f, sc.in[0]&0x80 != 0
		payload := sc.in[hdr : hdr+plen]
		if sc.in[1]&0x80 != 0 { // masked: a client's frame; not ours, but decode it
			key := sc.in[hdr-4 : hdr]
			for i := range payload {
				payload[i] ^= key[i%4]
			}
		}
		if op < 8 { // data or continuation; control frames are not SIP
			if fin && len(sc.msg) == 0 {
				sc.cap.emit(sc.network, sc.local, sc.remote, true, payload)
			} else {
				sc.msg = append(sc.msg, payload...)
				if fin {
					sc.cap.emit(sc.network, sc.local, sc.remote, true, sc.msg)
					sc.msg = sc.msg[:0]
				}
			}
		}
		sc.in = sc.in[:copy(sc.in, sc.in[hdr+plen:])]
	}
	if len(sc.in) > partialMax || len(sc.msg) > partialMax {
		sc.in, sc.msg = sc.in[:0], sc.msg[:0]
	}
}

// wsFrameLen reads a WebSocket frame header (RFC 6455 §5.2): its length, the
// payload's, and whether b holds all of it.
func wsFrameLen(b []byte) (hdr, plen int, ok bool) {
	if len(b) < 2 {
		return 0, 0, false
	}
	hdr = 2 + wsExtra(b[1])
	if len(b) < hdr {
		return 0, 0, false
	}
	switch l := b[1] & 0x7f; l {
	case 126:
		plen = int(b[2])<<8 | int(b[3])
	case 127:
		var v uint64
		for _, c := range b[2:10] {
			v = v<<8 | uint64(c)
		}
		if v > partialMax {
			v = partialMax + 1
		}
		plen = int(v)
	default:
		plen = int(l)
	}
	return hdr, plen, true
}
