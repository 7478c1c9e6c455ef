//go:build !(linux && (amd64 || arm64 || ppc64le || riscv64 || loong64 || s390x))

package sip

import "net"

// newDelayConn measures nothing where the kernel's receive timestamps are
// not read: only the pending count bounds the load.
func newDelayConn(uc *net.UDPConn, q *queueDelay) net.PacketConn { return uc }

// rawPacketConn is pc: the raw system-call path is Linux's.
func rawPacketConn(pc net.PacketConn) net.PacketConn { return pc }
