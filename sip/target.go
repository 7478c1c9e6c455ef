package sip

import (
	"context"
	"strings"
)

// Target is one destination for a request: the Request-URI the branch will
// carry and, optionally, where to send it.
type Target struct {
	// URI becomes the Request-URI of the forwarded request.
	URI URI
	// NextHop, when set ("ip:port" or "host:port"), is where the request
	// is sent instead of the host of URI or of the top Route: OpenSIPS's
	// destination URI ($du). The registrar uses it for a NATed phone's
	// received address, routing for a gateway's socket. With Route, it
	// applies only once Route's entries are all this proxy's own.
	NextHop string
	// Route is a route set pre-loaded onto the request (RFC 3261 §16.6
	// step 6), first entry first: the registrar puts there the Path a
	// binding was registered with (RFC 3327 §5.3), so that a phone
	// registered through another proxy, or another node of a cluster, is
	// reached through it. The request goes to the first entry that is not
	// this proxy, over that entry's transport (Transport and NextHop are
	// then ignored). Entries that are this proxy are skipped; when the last
	// one names a flow of this proxy (a Path written by Flows), the request
	// is sent over that flow, or refused with 430 (Flow Failed) if it is
	// gone (RFC 5626 §5.3).
	Route []URI
	// Transport ("UDP", "TCP", "TLS", "WS", "WSS") overrides the transport
	// implied by URI; empty means: the URI's transport parameter, TLS for
	// sips, else UDP.
	Transport string
	// Gateway names the gateway or carrier this target belongs to. It is
	// recorded on the dialog (trunk usage, CDRs) and empty for phones.
	Gateway string
}

// String returns the target as the URI followed by its route set and
// the next hop, if any.
func (t Target) String() string {
	s := t.URI.String()
	for i := range t.Route {
		s += " through " + t.Route[i].String()
	}
	if t.NextHop != "" {
		s += " via " + t.NextHop
	}
	return s
}

// transport returns the transport the branch for t uses, upper case.
func (t Target) transport(route *URI) string {
	if t.Transport != "" {
		return strings.ToUpper(t.Transport)
	}
	u := &t.URI
	if route != nil {
		u = route
	}
	return uriTransport(u)
}

// uriTransport is URITransport.
func uriTransport(u *URI) string { return URITransport(u) }

type targetsKey struct{}

// WithTargets returns a context that tells the Forwarder where to send the
// request. Several targets are tried in parallel (forking, RFC 3261 §16.7);
// with none, the Forwarder sends to the Request-URI. A later WithTargets
// replaces the set of an earlier one.
func WithTargets(ctx context.Context, targets ...Target) context.Context {
	return context.WithValue(ctx, targetsKey{}, targets)
}

// TargetsFrom returns the target set placed in ctx by WithTargets.
func TargetsFrom(ctx context.Context) []Target {
	t, _ := ctx.Value(targetsKey{}).([]Target)
	return t
}
