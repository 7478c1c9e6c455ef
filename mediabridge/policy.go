package mediabridge

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/palio-voip/palio/sip"
)

// Decision is a Policy's answer for one call: whether the relay anchors
// its media, and why (the `route` dry run prints it).
type Decision struct {
	// Anchor is set when the call's media goes through the relay.
	Anchor bool
	// Mandatory makes anchoring a condition of the call: an offer the
	// relay cannot take (unparsable SDP, no free ports) refuses the
	// request (488 or 503) instead of letting its media flow directly.
	Mandatory bool
	// Why says what decided, e.g. "caller behind NAT (Via received)".
	Why string
}

// String returns "anchor: why", "anchor (mandatory): why" or "direct: why".
func (d Decision) String() string {
	switch {
	case d.Anchor && d.Mandatory:
		return "anchor (mandatory): " + d.Why
	case d.Anchor:
		return "anchor: " + d.Why
	}
	return "direct: " + d.Why
}

// A Policy decides, for the initial INVITE r of call, whether to anchor
// its media. targets are the destinations the pipeline chose (a gateway's
// carry its name; a NATed phone's its received address as NextHop). It
// runs on the INVITE's goroutine and must not block.
type Policy func(r *sip.Request, call *sip.Call, targets []sip.Target) Decision

// Always anchors every call, mandatorily.
func Always(*sip.Request, *sip.Call, []sip.Target) Decision {
	return Decision{Anchor: true, Mandatory: true, Why: "policy always"}
}

// Never lets every call's media flow directly.
func Never(*sip.Request, *sip.Call, []sip.Target) Decision {
	return Decision{Why: "policy never"}
}

// Gateways anchors calls to a gateway or carrier (a target with a
// Gateway name) and calls from a trusted source (a gateway, trunk or
// PBX that the source check vouched for).
func Gateways(_ *sip.Request, call *sip.Call, targets []sip.Target) Decision {
	for _, t := range targets {
		if t.Gateway != "" {
			return Decision{Anchor: true, Why: "call to gateway " + t.Gateway}
		}
	}
	if src := call.Info().Source; src.Trusted {
		return Decision{Anchor: true, Why: "call from a trusted source (group " + strconv.Itoa(src.Group) + ")"}
	}
	return Decision{Why: "no gateway"}
}

// NATTest selects the tests BehindNAT runs on the INVITE, numbered as the
// flags of OpenSIPS nathelper's nat_uac_test; any test that matches puts
// the caller behind NAT.
type NATTest uint

// The tests.
const (
	// NATContactPrivate: the Contact's host is a private address (RFC
	// 1918, RFC 6598 shared address space, IPv6 unique local).
	NATContactPrivate NATTest = 1
	// NATViaReceived: the top Via's host is not the packet's source
	// address.
	NATViaReceived NATTest = 2
	// NATViaPrivate: the top Via's host is a private address.
	NATViaPrivate NATTest = 4
	// NATSDPPrivate: a c= address of the SDP is private.
	NATSDPPrivate NATTest = 8
	// NATViaPort: the top Via's port (5060 when absent) is not the
	// packet's source port. Over UDP only: over TCP and TLS the source
	// port is the connection's ephemeral one.
	NATViaPort NATTest = 16
	// NATContactSource: the Contact's host is not the packet's source
	// address.
	NATContactSource NATTest = 32
	// NATContactPort: the Contact's port is not the packet's source port
	// (over UDP only, as NATViaPort).
	NATContactPort NATTest = 64
	// NATSDPSource: a c= address of the SDP is not the packet's source
	// address. Palio's own; nathelper has no such test.
	NATSDPSource NATTest = 128
)

// DefaultNATTest compares every address the caller wrote with the
// address its packets come from: the tests that see a NAT without
// calling a campus's private VLANs NATed (OpenSIPS users write
// nat_uac_test(19), which also counts a private Contact).
const DefaultNATTest = NATViaReceived | NATViaPort | NATContactSource | NATContactPort | NATSDPSource

var natTestNames = []struct {
	t    NATTest
	name string
}{
	{NATContactPrivate, "Contact private"},
	{NATViaReceived, "Via received"},
	{NATViaPrivate, "Via private"},
	{NATSDPPrivate, "SDP private"},
	{NATViaPort, "Via port"},
	{NATContactSource, "Contact not the source"},
	{NATContactPort, "Contact port"},
	{NATSDPSource, "SDP not the source"},
}

// Check runs the selected tests on r and returns the name of the first
// that matches, or "" when none does.
func (t NATTest) Check(r *sip.Request) string {
	src, err := netip.ParseAddrPort(r.Source())
	if err != nil {
		return ""
	}
	srcIP := src.Addr().Unmap()
	udp := strings.EqualFold(r.Transport(), "UDP")
	var contactHost string
	var contactPort int
	if c := r.Contact(); c != nil {
		contactHost, contactPort = c.Address.Host, c.Address.Port
	}
	var viaHost string
	viaPort := 0
	if v := r.Via(); v != nil {
		viaHost, viaPort = v.Host, v.Port
	}
	for _, n := range natTestNames {
		if t&n.t == 0 {
			continue
		}
		hit := false
		switch n.t {
		case NATContactPrivate:
			hit = isPrivate(contactHost)
		case NATViaReceived:
			hit = viaHost != "" && differs(viaHost, srcIP)
		case NATViaPrivate:
			hit = isPrivate(viaHost)
		case NATSDPPrivate, NATSDPSource:
			hit = sdpMatches(r, func(a netip.Addr) bool {
				if n.t == NATSDPPrivate {
					return private(a)
				}
				return a != srcIP
			})
		case NATViaPort:
			hit = udp && viaHost != "" && portOr5060(viaPort) != int(src.Port())
		case NATContactSource:
			hit = contactHost != "" && differs(contactHost, srcIP)
		case NATContactPort:
			hit = udp && contactHost != "" && portOr5060(contactPort) != int(src.Port())
		}
		if hit {
			return n.name
		}
	}
	return ""
}

// BehindNAT anchors calls whose caller fails one of tests (see NATTest)
// or whose callee is a phone registered from behind a NAT (a target
// without a gateway whose next hop, the address its REGISTER came from,
// is not the host of its Contact).
func BehindNAT(tests NATTest) Policy {
	return func(r *sip.Request, _ *sip.Call, targets []sip.Target) Decision {
		if why := tests.Check(r); why != "" {
			return Decision{Anchor: true, Why: "caller behind NAT (" + why + ")"}
		}
		for _, t := range targets {
			if t.Gateway != "" || t.NextHop == "" {
				continue
			}
			host, _, err := net.SplitHostPort(t.NextHop)
			if err != nil {
				host = t.NextHop
			}
			if !strings.EqualFold(strings.Trim(host, "[]"), strings.Trim(t.URI.Host, "[]")) {
				return Decision{Anchor: true, Why: "callee behind NAT (" + t.URI.User + " registered from " + t.NextHop + ")"}
			}
		}
		return Decision{Why: "no NAT"}
	}
}

// DefaultPolicy anchors the calls of callers behind NAT (by
// DefaultNATTest), of callees registered from behind NAT, and to or from
// gateways: AnyOf(BehindNAT(DefaultNATTest), Gateways), the policy named
// "nat+gateways".
var DefaultPolicy = AnyOf(BehindNAT(DefaultNATTest), Gateways)

// PolicyNames are the names ParsePolicy knows, each one of the built-in
// policies.
var PolicyNames = []string{"always", "never", "nat", "gateways"}

// ParsePolicy returns the policy a configuration names: "always",
// "never", "nat" (BehindNAT(DefaultNATTest)), "gateways", or several of
// "nat" and "gateways" joined with "+" (AnyOf them), e.g. "nat+gateways".
func ParsePolicy(name string) (Policy, error) {
	var ps []Policy
	parts := strings.Split(strings.ToLower(strings.TrimSpace(name)), "+")
	for _, p := range parts {
		switch strings.TrimSpace(p) {
		case "always", "never":
			if len(parts) > 1 {
				return nil, fmt.Errorf("mediabridge: policy %q: %s cannot be combined", name, p)
			}
			if p == "always" {
				return Always, nil
			}
			return Never, nil
		case "nat":
			ps = append(ps, BehindNAT(DefaultNATTest))
		case "gateways":
			ps = append(ps, Gateways)
		default:
			return nil, fmt.Errorf("mediabridge: policy %q: %q is none of %s", name, p, strings.Join(PolicyNames, ", "))
		}
	}
	if len(ps) == 1 {
		return ps[0], nil
	}
	return AnyOf(ps...), nil
}

// AnyOf anchors a call when any of policies does (the first that does
// gives the reason and whether it is mandatory); otherwise the last
// decision stands.
func AnyOf(policies ...Policy) Policy {
	return func(r *sip.Request, call *sip.Call, targets []sip.Target) Decision {
		d := Decision{Why: "no policy"}
		for _, p := range policies {
			if d = p(r, call, targets); d.Anchor {
				return d
			}
		}
		return d
	}
}

func portOr5060(p int) int {
	if p == 0 {
		return 5060
	}
	return p
}

// differs reports whether host is an IP address other than src. A host
// name is not compared: it says nothing about a NAT.
func differs(host string, src netip.Addr) bool {
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.Unmap() != src
}

// cgnat is RFC 6598's shared address space, which carriers NAT.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func private(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsPrivate() || cgnat.Contains(a)
}

func isPrivate(host string) bool {
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && private(a)
}

// sdpMatches reports whether a stream of r's SDP has an address for
// which match holds (old-style hold, 0.0.0.0, never does).
func sdpMatches(r *sip.Request, match func(netip.Addr) bool) bool {
	body := r.Body()
	if len(body) == 0 {
		return false
	}
	d, err := ParseBody(contentType(r), body)
	if err != nil {
		return false
	}
	for _, s := range d.Streams() {
		a := s.RTP.Addr()
		if !s.Disabled && a.IsValid() && !a.IsUnspecified() && match(a.Unmap()) {
			return true
		}
	}
	return false
}

// contentType returns m's Content-Type value, "" when it has none.
func contentType(m sip.Message) string {
	if h := m.GetHeaders("Content-Type"); len(h) > 0 {
		return h[0].Value()
	}
	return ""
}
