//go:build linux && (amd64 || arm64 || ppc64le || riscv64 || loong64 || s390x)

package sip

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"unsafe"
)

// rawUDP is a UDP listener read and written with raw system calls on its
// non-blocking socket, waiting for readiness through Go's network poller
// (syscall.RawConn) as net.UDPConn does.
//
// net.UDPConn's calls enter the scheduler's syscall state, and the first
// one after the process was idle wakes the runtime's monitor thread
// (sysmon), which then polls every 20 µs for as long as the process stays
// busy: at 200 calls/s that was 3 150 wake-ups a second, four in five of
// the process's context switches, for calls that never block (the socket
// is non-blocking; a full queue returns EAGAIN and the poller waits).
type rawUDP struct {
	*net.UDPConn
	rc     syscall.RawConn
	family int    // AF_INET or AF_INET6
	oob    []byte // control messages of the reads, when stamped (one reader)
	// stamped: the socket has SO_TIMESTAMPNS set; each read then hands
	// the datagram's receive time to onStamp.
	onStamp func(ns int64)
	// rd is the state of a read, kept with the socket: the function
	// handed to the poller captures it, and a new one per datagram put
	// it all on the heap (with the writes', 6 % of the bytes a call
	// allocated). One read at a time (the socket's read loop); readMu
	// makes sure of it.
	readMu sync.Mutex
	rd     *rawRead
	// peers are the addresses ReadFrom handed out, by source (under
	// readMu): a phone or a trunk sends from one address again and
	// again, and an address and its string made per datagram were four
	// allocations each time (sipgo's read loop takes the string as the
	// message's source and its connection pool's key).
	peers map[netip.AddrPort]*udpPeer
}

// maxPeers bounds rawUDP.peers: past it the cache starts over, so a
// scan from many sources costs at worst what no cache did.
const maxPeers = 4096

// udpPeer is the source address of datagrams as ReadFrom reports it: a
// net.Addr whose string is made once. It is shared by every datagram from
// that source and never changed. AddrPort gives the address as
// net.UDPAddr's does.
type udpPeer struct {
	ap netip.AddrPort
	s  string
}

// Network is "udp".
func (p *udpPeer) Network() string { return "udp" }

// String is net.UDPAddr's form of the address ("192.0.2.1:5060", an
// IPv4-mapped IPv6 source as its IPv4 address, "[2001:db8::1]:5060").
func (p *udpPeer) String() string { return p.s }

// AddrPort is the address and port.
func (p *udpPeer) AddrPort() netip.AddrPort {
	if p == nil {
		return netip.AddrPort{}
	}
	return p.ap
}

// peer returns the udpPeer of ap, made once (called under readMu).
func (c *rawUDP) peer(ap netip.AddrPort) *udpPeer {
	if p := c.peers[ap]; p != nil {
		return p
	}
	if len(c.peers) >= maxPeers {
		clear(c.peers)
	}
	p := &udpPeer{ap: ap, s: net.UDPAddrFromAddrPort(ap).String()}
	c.peers[ap] = p
	return p
}

// rawRead is what one recvmsg needs, and its results.
type rawRead struct {
	rsa   syscall.RawSockaddrAny
	iov   syscall.Iovec
	msg   syscall.Msghdr
	oob   []byte
	n     int
	oobn  int
	errno syscall.Errno
	fn    func(fd uintptr) bool // rd.recv, bound once
}

func (rd *rawRead) recv(fd uintptr) bool {
	for {
		rd.msg.Namelen = uint32(syscall.SizeofSockaddrAny)
		if len(rd.oob) > 0 {
			rd.msg.SetControllen(len(rd.oob))
		}
		r, _, e := syscall.RawSyscall(syscall.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&rd.msg)), 0)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait until the poller finds it readable
		}
		rd.n, rd.oobn, rd.errno = int(r), int(rd.msg.Controllen), e
		return true
	}
}

// rawWrite is what one sendto needs, pooled: writes come from many
// goroutines at once.
type rawWrite struct {
	sa    [syscall.SizeofSockaddrInet6]byte
	salen uintptr
	p     unsafe.Pointer
	len   int
	errno syscall.Errno
	fn    func(fd uintptr) bool // w.send, bound once
}

func (w *rawWrite) send(fd uintptr) bool {
	for {
		_, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(w.p), uintptr(w.len), 0, uintptr(unsafe.Pointer(&w.sa[0])), w.salen)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // the send buffer is full: wait until writable
		}
		w.errno = e
		return true
	}
}

var rawWrites = sync.Pool{New: func() any {
	w := &rawWrite{}
	w.fn = w.send
	return w
}}

func newRawUDP(uc *net.UDPConn) (*rawUDP, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	c := &rawUDP{UDPConn: uc, rc: rc, rd: &rawRead{}, peers: make(map[netip.AddrPort]*udpPeer)}
	c.rd.fn = c.rd.recv
	c.rd.msg.Name = (*byte)(unsafe.Pointer(&c.rd.rsa))
	c.rd.msg.Iov = &c.rd.iov
	c.rd.msg.Iovlen = 1
	var serr error
	if err := rc.Control(func(fd uintptr) {
		var sa syscall.Sockaddr
		if sa, serr = syscall.Getsockname(int(fd)); serr == nil {
			switch sa.(type) {
			case *syscall.SockaddrInet4:
				c.family = syscall.AF_INET
			case *syscall.SockaddrInet6:
				c.family = syscall.AF_INET6
			}
		}
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, serr
	}
	return c, nil
}

// ReadFrom reads one datagram. Its source is a *udpPeer, the same one
// for every datagram from that address while it stays in the cache.
func (c *rawUDP) ReadFrom(b []byte) (int, net.Addr, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	n, ap, err := c.readLocked(b)
	if err != nil {
		return n, nil, err
	}
	return n, c.peer(ap), nil
}

func (c *rawUDP) readLocked(b []byte) (int, netip.AddrPort, error) {
	rd := c.rd
	rd.iov = syscall.Iovec{}
	if len(b) > 0 {
		rd.iov.Base = &b[0]
		rd.iov.SetLen(len(b))
	}
	rd.oob = c.oob
	rd.msg.Control = nil
	rd.msg.Controllen = 0
	if len(c.oob) > 0 {
		rd.msg.Control = &c.oob[0]
	}
	rd.n, rd.oobn, rd.errno = 0, 0, 0
	err := c.rc.Read(rd.fn)
	rd.iov.Base = nil // the caller's buffer is not ours to keep
	if err != nil {
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Err: err}
	}
	if rd.errno != 0 {
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Err: rd.errno}
	}
	if c.onStamp != nil {
		if ts, ok := rxTimestamp(c.oob[:rd.oobn]); ok {
			c.onStamp(ts)
		}
	}
	return rd.n, sockaddrToAddrPort(&rd.rsa), nil
}

// WriteTo sends one datagram to addr (a *net.UDPAddr or a *udpPeer).
func (c *rawUDP) WriteTo(b []byte, addr net.Addr) (int, error) {
	switch a := addr.(type) {
	case *net.UDPAddr:
		return c.WriteToUDPAddrPort(b, a.AddrPort())
	case *udpPeer:
		return c.WriteToUDPAddrPort(b, a.ap)
	}
	return c.UDPConn.WriteTo(b, addr)
}

// WriteToUDPAddrPort sends one datagram to ap.
func (c *rawUDP) WriteToUDPAddrPort(b []byte, ap netip.AddrPort) (int, error) {
	w := rawWrites.Get().(*rawWrite)
	salen, ok := c.sockaddr(&w.sa, ap)
	if !ok {
		rawWrites.Put(w)
		return c.UDPConn.WriteToUDPAddrPort(b, ap)
	}
	w.salen, w.p, w.len, w.errno = salen, nil, len(b), 0
	if len(b) > 0 {
		w.p = unsafe.Pointer(&b[0])
	}
	err := c.rc.Write(w.fn)
	errno := w.errno
	w.p = nil // the caller's buffer is not ours to keep
	rawWrites.Put(w)
	if err == nil && errno != 0 {
		err = errno
	}
	if err != nil {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: c.LocalAddr(), Addr: net.UDPAddrFromAddrPort(ap), Err: err}
	}
	return len(b), nil
}

// sockaddrToAddrPort reads a received address as net's ReadMsgUDPAddrPort
// does: IPv4 from an AF_INET socket, and IPv6 (v4-mapped kept as such)
// from an AF_INET6 one.
func sockaddrToAddrPort(rsa *syscall.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port))
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(rsa))
		a := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			a = a.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
		}
		return netip.AddrPortFrom(a, ntohs(sa.Port))
	}
	return netip.AddrPort{}
}

// sockaddr writes ap into sa for the socket's family and returns its
// length; false where the raw path does not apply (an IPv6 destination
// on an IPv4 socket, a zone): the caller takes net's.
func (c *rawUDP) sockaddr(sa *[syscall.SizeofSockaddrInet6]byte, ap netip.AddrPort) (uintptr, bool) {
	a := ap.Addr()
	if a.Zone() != "" || !a.IsValid() {
		return 0, false
	}
	switch c.family {
	case syscall.AF_INET:
		if !a.Unmap().Is4() {
			return 0, false
		}
		s := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		*s = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Port: htons(ap.Port()), Addr: a.Unmap().As4()}
		return syscall.SizeofSockaddrInet4, true
	case syscall.AF_INET6:
		s := (*syscall.RawSockaddrInet6)(unsafe.Pointer(sa))
		*s = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Port: htons(ap.Port()), Addr: a.As16()}
		return syscall.SizeofSockaddrInet6, true
	}
	return 0, false
}

// htons and ntohs swap a port between host order and the network's, as
// the raw sockaddr structures keep it (little- or big-endian hosts alike).
func htons(p uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], p)
	return binary.NativeEndian.Uint16(b[:])
}

func ntohs(p uint16) uint16 { return htons(p) }
