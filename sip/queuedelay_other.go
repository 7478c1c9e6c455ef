//go:build !linux

package sip

import "net"

// newDelayConn measures nothing where the kernel's receive timestamps are
// not read: only the pending count bounds the load.
func newDelayConn(uc *net.UDPConn, q *queueDelay) net.PacketConn { return uc }
