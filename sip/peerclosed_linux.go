package sip

import (
	"net"
	"syscall"
	"unsafe"
)

// tcpEstablished is the kernel's TCP_ESTABLISHED state (include/net/tcp_states.h).
const tcpEstablished = 1

// peerClosed reports whether the kernel knows c's TCP connection to be
// over while its reader may not have seen it yet: the peer sent its FIN
// (CLOSE_WAIT) or a reset, or the socket is closed. It asks the kernel's
// TCP_INFO, which consumes nothing of what is queued to be read.
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	if err := rc.Control(func(fd uintptr) {
		var info syscall.TCPInfo
		n := uint32(syscall.SizeofTCPInfo)
		_, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&n)), 0)
		closed = e == 0 && info.State != tcpEstablished
	}); err != nil {
		return true // the descriptor is closed
	}
	return closed
}
