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
	// received address, routing for a gateway's socket.
	NextHop string
	// Transport ("UDP", "TCP", "TLS", "WS", "WSS") overrides the transport
	// implied by URI; empty means: the URI's transport parameter, TLS for
	// sips, else UDP.
	Transport string
	// Gateway names the gateway or carrier this target belongs to. It is
	// recorded on the dialog (trunk usage, CDRs) and empty for phones.
	Gateway string
}

// String returns the target as the URI followed by the next hop, if any.
func (t Target) String() string {
	s := t.URI.String()
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
