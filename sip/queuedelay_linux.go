//go:build linux && (amd64 || arm64 || ppc64le || riscv64 || loong64 || s390x)

package sip

import (
	"encoding/binary"
	"net"
	"syscall"
	"time"
)

// newDelayConn is uc read and written with raw system calls (rawUDP),
// whose reads measure the datagrams' queue delay from the kernel's
// receive timestamps. sipgo reads a listener from one goroutine, so the
// control-message buffer and the window are the reader's own.
func newDelayConn(uc *net.UDPConn, q *queueDelay) net.PacketConn {
	c, err := newRawUDP(uc)
	if err != nil {
		return uc
	}
	var serr error
	if err := c.rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return c
	}
	var win delayWindow
	c.oob = make([]byte, syscall.CmsgSpace(16))
	c.onStamp = func(ts int64) {
		now := time.Now().UnixNano()
		win.observe(q, max(0, now-ts), now)
	}
	return c
}

// rawPacketConn is pc read and written with raw system calls when it is
// a UDP socket (rawUDP), else pc.
func rawPacketConn(pc net.PacketConn) net.PacketConn {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return pc
	}
	c, err := newRawUDP(uc)
	if err != nil {
		return pc
	}
	return c
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
