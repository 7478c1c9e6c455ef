//go:build linux && (amd64 || arm64 || ppc64le || riscv64 || loong64 || s390x)

package sip

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
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
}

func newRawUDP(uc *net.UDPConn) (*rawUDP, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	c := &rawUDP{UDPConn: uc, rc: rc}
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

// ReadFrom reads one datagram.
func (c *rawUDP) ReadFrom(b []byte) (int, net.Addr, error) {
	n, ap, err := c.readAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(ap), nil
}

func (c *rawUDP) readAddrPort(b []byte) (int, netip.AddrPort, error) {
	var (
		rsa   syscall.RawSockaddrAny
		n     int
		oobn  int
		errno syscall.Errno
	)
	var iov syscall.Iovec
	if len(b) > 0 {
		iov.Base = &b[0]
		iov.SetLen(len(b))
	}
	msg := syscall.Msghdr{Name: (*byte)(unsafe.Pointer(&rsa)), Namelen: uint32(syscall.SizeofSockaddrAny), Iov: &iov, Iovlen: 1}
	if len(c.oob) > 0 {
		msg.Control = &c.oob[0]
		msg.SetControllen(len(c.oob))
	}
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			msg.Namelen = uint32(syscall.SizeofSockaddrAny)
			if len(c.oob) > 0 {
				msg.SetControllen(len(c.oob))
			}
			r, _, e := syscall.RawSyscall(syscall.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&msg)), 0)
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // wait until the poller finds it readable
			}
			n, oobn, errno = int(r), int(msg.Controllen), e
			return true
		}
	})
	if err != nil {
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Err: err}
	}
	if errno != 0 {
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Err: errno}
	}
	if c.onStamp != nil {
		if ts, ok := rxTimestamp(c.oob[:oobn]); ok {
			c.onStamp(ts)
		}
	}
	return n, sockaddrToAddrPort(&rsa), nil
}

// WriteTo sends one datagram to addr.
func (c *rawUDP) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return c.UDPConn.WriteTo(b, addr)
	}
	return c.WriteToUDPAddrPort(b, ua.AddrPort())
}

// WriteToUDPAddrPort sends one datagram to ap.
func (c *rawUDP) WriteToUDPAddrPort(b []byte, ap netip.AddrPort) (int, error) {
	var sa [syscall.SizeofSockaddrInet6]byte
	salen, ok := c.sockaddr(&sa, ap)
	if !ok {
		return c.UDPConn.WriteToUDPAddrPort(b, ap)
	}
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		for {
			_, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(p), uintptr(len(b)), 0, uintptr(unsafe.Pointer(&sa[0])), salen)
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // the send buffer is full: wait until writable
			}
			errno = e
			return true
		}
	})
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
