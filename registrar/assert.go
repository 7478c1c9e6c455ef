package registrar

import (
	"context"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/sip"
)

// The headers by which a request claims who its caller is, beyond From:
// RFC 3325's asserted and preferred identities and the older
// Remote-Party-ID (draft-ietf-sip-privacy-04), whose screen=yes claims
// that a trusted element checked it. Gateways put them on the PSTN as the
// calling number.
const (
	hdrAssertedIdentity  = "P-Asserted-Identity"
	hdrPreferredIdentity = "P-Preferred-Identity"
	hdrRemotePartyID     = "Remote-Party-ID"
)

// stripIdentity removes every identity header from req: what a sender
// outside the trust domain says of itself is not passed on (RFC 3325
// §9.1).
func stripIdentity(req *sip.Request) {
	req.RemoveHeader(hdrAssertedIdentity)
	req.RemoveHeader(hdrPreferredIdentity)
	req.RemoveHeader(hdrRemotePartyID)
}

// assertIdentity makes req carry the identity its sender proved (RFC 3325
// §9.1, as a proxy at the edge of the trust domain does): the sender's
// own P-Asserted-Identity and Remote-Party-ID go, and one
// P-Asserted-Identity is added: the P-Preferred-Identity the sender chose
// when it names an identity it owns (see Config.Owns), else the
// authenticated account's AOR. The P-Preferred-Identity itself is
// removed.
func (r *Registrar) assertIdentity(ctx context.Context, req *sip.Request, id Identity) {
	asserted := ""
	for _, h := range sip.HeadersNamed(req, hdrPreferredIdentity) {
		for _, v := range splitAddresses(h.Value()) {
			var u sip.URI
			if _, err := sipmsg.ParseAddressValue(v, &u, nil); err != nil {
				continue
			}
			if r.owns(ctx, id, &u) {
				asserted = strings.TrimSpace(v)
				break
			}
		}
		if asserted != "" {
			break
		}
	}
	stripIdentity(req)
	if asserted == "" {
		u := sip.URI{Scheme: "sip", User: id.Username, Host: id.Domain}
		asserted = "<" + u.String() + ">"
	}
	req.AppendHeader(sipmsg.NewHeader(hdrAssertedIdentity, asserted))
}

// owns reports whether the account id may present u as its identity:
// Config.Owns when set, else a SIP URI with the account's user at its
// domain or realm.
func (r *Registrar) owns(ctx context.Context, id Identity, u *sip.URI) bool {
	if r.cfg.Owns != nil {
		return r.cfg.Owns(ctx, id, u)
	}
	if u.Scheme != "sip" && u.Scheme != "sips" {
		return false
	}
	return u.User == id.Username &&
		(strings.EqualFold(u.Host, id.Domain) || strings.EqualFold(u.Host, id.Realm))
}

// splitAddresses splits a header value holding several name-addrs at the
// commas outside quotes and angle brackets.
func splitAddresses(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>':
			if depth > 0 {
				depth--
			}
		case c == ',' && depth == 0:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}
