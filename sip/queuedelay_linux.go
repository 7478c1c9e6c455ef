package sip

import (
	"encoding/binary"
	"net"
	"syscall"
	"time"
)

// delayConn is a UDP listener whose reads measure the datagrams' queue
// delay from the kernel's receive timestamps. sipgo reads a listener from
// one goroutine, so the control-message buffer and the window are its own.
type delayConn struct {
	*net.UDPConn
	q   *queueDelay
	oob []byte
	win delayWindow
}

func newDelayConn(uc *net.UDPConn, q *queueDelay) net.PacketConn {
	rc, err := uc.SyscallConn()
	if err != nil {
		return uc
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return uc
	}
	return &delayConn{UDPConn: uc, q: q, oob: make([]byte, syscall.CmsgSpace(16))}
}

// ReadFrom reads a datagram as net.UDPConn does, and notes how long it
// waited in the receive queue.
func (c *delayConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, oobn, _, ap, err := c.UDPConn.ReadMsgUDPAddrPort(b, c.oob)
	if err != nil {
		return n, nil, err
	}
	if ts, ok := rxTimestamp(c.oob[:oobn]); ok {
		now := time.Now().UnixNano()
		c.win.observe(c.q, max(0, now-ts), now)
	}
	return n, net.UDPAddrFromAddrPort(ap), nil
}

// rxTimestamp finds the SCM_TIMESTAMPNS message in oob (a struct timespec)
// and returns it in unix nanoseconds, without allocating. Only 64-bit
// layouts are read (elsewhere the measure is off).
func rxTimestamp(oob []byte) (int64, bool) {
	const hdr = 16 // struct cmsghdr: size_t len, int level, int type
	if syscall.SizeofCmsghdr != hdr {
		return 0, false
	}
	ne := binary.NativeEndian
	for len(oob) >= hdr {
		l := int(ne.Uint64(oob[0:8]))
		level, typ := int32(ne.Uint32(oob[8:12])), int32(ne.Uint32(oob[12:16]))
		if l < hdr || l > len(oob) {
			return 0, false
		}
		if level == syscall.SOL_SOCKET && typ == syscall.SCM_TIMESTAMPNS && l >= hdr+16 {
			sec := int64(ne.Uint64(oob[hdr : hdr+8]))
			nsec := int64(ne.Uint64(oob[hdr+8 : hdr+16]))
			return sec*1e9 + nsec, true
		}
		oob = oob[min((l+7)&^7, len(oob)):]
	}
	return 0, false
}
