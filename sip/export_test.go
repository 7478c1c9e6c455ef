package sip

import "time"

// SetTLSDialTimeout sets the TLS dialer's bound on connect and handshake
// until the returned function restores it (the tests of a silent peer).
func SetTLSDialTimeout(d time.Duration) (restore func()) {
	old := tlsDialTimeout
	tlsDialTimeout = d
	return func() { tlsDialTimeout = old }
}
