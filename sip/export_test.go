package sip

import (
	"sync"
	"time"
)

// SetTLSDialTimeout sets the TLS dialer's bound on connect and handshake
// until the returned function restores it (the tests of a silent peer).
func SetTLSDialTimeout(d time.Duration) (restore func()) {
	old := tlsDialTimeout
	tlsDialTimeout = d
	return func() { tlsDialTimeout = old }
}

// HoldDialedReads makes the read loop of every connection the stream dialer
// made stop when its read fails (the peer closed), before anything notes
// it, as a read loop not scheduled yet: the connection stays in sipgo's
// pool. With closeConn the connection is closed there too, as sipgo's
// read loop closes it while a request is about to be written on it, and
// the dialer's own checks are turned off, so that only the write fails.
// The returned function lets the reads go and restores the checks.
func HoldDialedReads(closeConn bool) (release func()) {
	held := make(chan struct{})
	h := func(c *dialedConn) {
		if closeConn {
			_ = c.Conn.Close()
		}
		<-held
	}
	dialedHooks.readFailed.Store(&h)
	dialedHooks.noGoneCheck.Store(closeConn)
	var once sync.Once
	return func() {
		once.Do(func() {
			dialedHooks.readFailed.Store(nil)
			dialedHooks.noGoneCheck.Store(false)
			close(held)
		})
	}
}

// InviteBranches is how many branches of INVITE server transactions the
// read filter keeps for their ACKs (ackpath.go).
func (s *Server) InviteBranches() int { return s.invites.len() }
