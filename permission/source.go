package permission

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/palio-voip/palio/sip"
)

// SourceConfig says what the source stage trusts.
type SourceConfig struct {
	// Trusted lists the address groups whose requests are trusted (PSTN
	// gateways, the ToIP trunk, the media box); empty trusts every group.
	Trusted []int
	// RejectUntrusted answers requests from elsewhere with 403 instead of
	// passing them on (to authentication).
	RejectUntrusted bool
	// MatchPattern checks the rows' patterns against the Request-URI.
	MatchPattern bool
}

// Source is what the source stage learned of a request's sender.
type Source struct {
	// IP and Port are the packet's source.
	IP   netip.Addr
	Port int
	// Trusted is set when the source belongs to a trusted group.
	Trusted bool
	// Group and ContextInfo come from the matching address row.
	Group       int
	ContextInfo string
}

// String says what the source check found: "trusted 198.51.100.1:5060
// group 1 (gw-siena-1)" or "untrusted 10.0.0.2:5060: authentication
// required".
func (s Source) String() string {
	addr := netip.AddrPortFrom(s.IP, uint16(s.Port)).String()
	if s.Trusted {
		return fmt.Sprintf("trusted %s group %d (%s)", addr, s.Group, s.ContextInfo)
	}
	return "untrusted " + addr + ": authentication required"
}

// sourceRejected is a Source the stage refused (RejectUntrusted).
type sourceRejected Source

func (s sourceRejected) String() string {
	return "untrusted " + netip.AddrPortFrom(s.IP, uint16(s.Port)).String() + ": rejected"
}

type sourceKey struct{}

// NewContext returns ctx carrying s.
func NewContext(ctx context.Context, s Source) context.Context {
	return context.WithValue(ctx, sourceKey{}, s)
}

// SourceFrom returns what the source stage found, if it ran.
func SourceFrom(ctx context.Context) (Source, bool) {
	s, ok := ctx.Value(sourceKey{}).(Source)
	return s, ok
}

// TrustedSource reports whether the source stage found r's sender trusted:
// the registrar's Authenticate stage lets such requests through without a
// challenge (OpenSIPS scripts do check_source_address() before
// proxy_authorize()).
func TrustedSource(ctx context.Context, _ *sip.Request) bool {
	s, ok := SourceFrom(ctx)
	return ok && s.Trusted
}

// Source returns the source stage (OpenSIPS's check_source_address and
// get_source_group): the packet's source address, port and transport are
// checked against the table; a trusted source is marked in the context
// (SourceFrom) with its group and context_info; others pass on untrusted,
// or get 403 with RejectUntrusted.
func (a *Addresses) Source(cfg SourceConfig) sip.Middleware {
	return func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			src := sourceOf(r)
			uri := ""
			if cfg.MatchPattern {
				uri = r.Recipient.String()
			}
			if src.IP.IsValid() {
				if m, err := a.CheckAddress(0, src.IP, src.Port, r.Transport(), uri); err == nil &&
					(len(cfg.Trusted) == 0 || slices.Contains(cfg.Trusted, m.Group)) {
					src.Trusted, src.Group, src.ContextInfo = true, m.Group, m.ContextInfo
				}
			}
			call := sip.CallFrom(ctx)
			call.SetSourceCheck(sip.SourceCheck{Trusted: src.Trusted, Group: src.Group, Info: src.ContextInfo})
			switch {
			case src.Trusted:
				a.metrics.sources.WithLabelValues("trusted").Inc()
			case cfg.RejectUntrusted:
				a.metrics.sources.WithLabelValues("rejected").Inc()
				call.Trace("source", sourceRejected(src))
				return sip.Reject(403, "Forbidden")
			default:
				a.metrics.sources.WithLabelValues("untrusted").Inc()
			}
			call.Trace("source", src)
			return next.ServeSIP(NewContext(ctx, src), w, r)
		})
	}
}

// sourceOf parses a request's packet source.
func sourceOf(r *sip.Request) Source {
	host, port, err := net.SplitHostPort(r.Source())
	if err != nil {
		return Source{}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return Source{}
	}
	p, _ := strconv.Atoi(port)
	return Source{IP: ip.Unmap(), Port: p}
}
