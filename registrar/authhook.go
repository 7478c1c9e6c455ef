package registrar

import (
	"net"
	"net/netip"

	"github.com/palio-voip/palio/sip"
)

// AuthFailure is one failed authentication, as the registrar logs it
// ("registrar: auth failed"): what a guard counts per source and per user
// to ban password guessers (package guard).
type AuthFailure struct {
	// Source is the IP address the request came from.
	Source netip.Addr
	// User is the digest username (the claimed From or To user when the
	// credentials could not be parsed); Realm the realm checked.
	User, Realm string
	// Method is the request's method.
	Method sip.Method
	// Reason is one of the Reason* constants.
	Reason string
}

// WithAuthFailures calls fn for every authentication failure, every
// reason (the stale and replayed nonces of working phones too: fn picks
// the reasons it counts), synchronously on the request's goroutine before
// the answer goes: it must be quick and must not block.
func WithAuthFailures(fn func(AuthFailure)) Option {
	return func(r *Registrar) { r.failed = fn }
}

func authFailure(req *sip.Request, user, realm, reason string) AuthFailure {
	f := AuthFailure{User: user, Realm: realm, Method: req.Method, Reason: reason}
	if host, _, err := net.SplitHostPort(req.Source()); err == nil {
		if ip, err := netip.ParseAddr(host); err == nil {
			f.Source = ip.Unmap()
		}
	}
	return f
}
