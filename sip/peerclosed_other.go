//go:build !linux

package sip

import "net"

// peerClosed reports false: outside Linux only a failed read (dialedConn)
// or a failed write tells that a connection is over.
func peerClosed(net.Conn) bool { return false }
