package enum

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/palio-voip/palio/sip"
)

// Caller is what FromUser learned about the caller of a request: whether
// the From user is a number in ENUM and, in the strict variant, whether
// the request came from a host that number's ENUM URIs name.
type Caller struct {
	// User is the From user as it came.
	User string
	// E164 is User normalised; empty when it is not E.164.
	E164 string
	// Strict tells which variant ran: false for "the number exists in
	// ENUM", true for OpenSIPS's is_from_user_enum (the source address
	// check).
	Strict bool
	// Outcome is OutcomeFound (exists), OutcomeVerified (strict, the
	// source matches), OutcomeMismatch, OutcomeNotFound, OutcomeNotE164
	// or OutcomeError.
	Outcome Outcome
	// URI is the ENUM URI whose host matched the source (strict), or the
	// first URI (exists).
	URI string
}

// Trusted reports whether the check passed: the number exists in ENUM,
// or, for a strict check, the source address matched.
func (c *Caller) Trusted() bool {
	if c.Strict {
		return c.Outcome == OutcomeVerified
	}
	return c.Outcome == OutcomeFound
}

type callerKey struct{}

// NewCallerContext returns a context carrying c.
func NewCallerContext(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the Caller a FromUser stage recorded, if any. It must
// not be modified.
func CallerFrom(ctx context.Context) (*Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(*Caller)
	return c, ok
}

// FromUser returns a stage that checks the caller against ENUM, records
// the verdict (CallerFrom) for the stages after it, and always passes the
// request on: the decision to trust or refuse belongs to those stages, as
// the if around is_from_user_enum() does in an OpenSIPS script. With
// strict false it checks that the From user's number exists in ENUM; with
// strict true, OpenSIPS's meaning, that the host of one of its SIP URIs
// resolves to the request's source address. See CheckCaller.
func (r *Resolver) FromUser(strict bool) sip.Middleware {
	return func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) error {
			c, err := r.CheckCaller(ctx, req, strict)
			if r.log.Enabled(ctx, slog.LevelDebug) {
				r.log.Debug("enum: caller checked", "callid", callID(req), "from", c.User, "src", req.Source(),
					"strict", strict, "outcome", c.Outcome, "error", err)
			}
			return next.ServeSIP(NewCallerContext(ctx, &c), w, req)
		})
	}
}

// CheckCaller checks the From user of req against ENUM (OpenSIPS's
// is_from_user_enum). The user is normalised with the numbering plan and
// must be E.164. Without strict it passes when the number has a usable SIP
// NAPTR. With strict, it passes when the host of one of the resulting URIs
// — an IP address, or a name whose A (for an IPv4 source) or AAAA (IPv6)
// records are looked up through the same DNS servers and cached — equals
// the request's source address (req.Source()); the port is not compared.
//
// The verdict is Caller.Outcome; the error is non-nil only when the check
// could not be made (a lookup failed or timed out; Outcome is then
// OutcomeError). The whole check, address lookups included, takes at
// most Config.Timeout.
func (r *Resolver) CheckCaller(ctx context.Context, req *sip.Request, strict bool) (Caller, error) {
	c := Caller{Strict: strict}
	if f := req.From(); f != nil {
		c.User = f.Address.User
	}
	err := r.checkCaller(ctx, req, &c)
	if err != nil {
		c.Outcome = OutcomeError
		err = errorf("caller %q: %w", c.User, err)
	}
	r.m.callers.WithLabelValues(string(c.Outcome)).Inc()
	return c, err
}

// checkCaller fills in c's E164, Outcome and URI, or fails.
func (r *Resolver) checkCaller(ctx context.Context, req *sip.Request, c *Caller) error {
	e164, ok := r.Normalize(c.User)
	if !ok {
		c.Outcome = OutcomeNotE164
		return nil
	}
	c.E164 = e164
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	res, _, err := r.lookup(ctx, e164)
	switch {
	case errors.Is(err, ErrNotFound):
		c.Outcome = OutcomeNotFound
		return nil
	case err != nil:
		return err
	}
	if !c.Strict {
		c.Outcome, c.URI = OutcomeFound, res[0].URI
		return nil
	}
	c.Outcome = OutcomeMismatch
	src, ok := sourceAddr(req.Source())
	if !ok {
		return nil
	}
	var failed error
	for _, result := range res {
		u, err := sip.ParseURI(result.URI)
		if err != nil || u.Host == "" {
			continue
		}
		addrs, err := r.hostAddrs(ctx, u.Host, src.Is6())
		if err != nil {
			failed = err
			continue
		}
		if slices.Contains(addrs, src) {
			c.Outcome, c.URI = OutcomeVerified, result.URI
			return nil
		}
	}
	// A host that could not be resolved might have matched: no verdict.
	return timeoutErr(failed)
}

// sourceAddr parses a request's source, "ip:port" or "ip".
func sourceAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return a.Unmap(), err == nil
}

// hostAddrs returns the addresses of host of the family wanted: the host
// itself when it is an IP address, else its A or AAAA records, cached.
func (r *Resolver) hostAddrs(ctx context.Context, host string, v6 bool) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	qtype, key := dns.TypeA, "A "+strings.ToLower(host)
	if v6 {
		qtype, key = dns.TypeAAAA, "AAAA "+strings.ToLower(host)
	}
	now := r.now().UnixNano()
	if e, ok := r.addrs.Get(key, now); ok {
		return e.val, nil
	}
	name := dns.Fqdn(strings.ToLower(host))
	var (
		addrs []netip.Addr
		m     *dns.Msg
		err   error
		ttl   = ^uint32(0)
	)
	if v6 {
		var rrs []*dns.AAAA
		rrs, _, m, err = query[*dns.AAAA](ctx, r, name, qtype)
		for _, rr := range rrs {
			if a, ok := netip.AddrFromSlice(rr.AAAA); ok {
				addrs, ttl = append(addrs, a.Unmap()), min(ttl, rr.Hdr.Ttl)
			}
		}
	} else {
		var rrs []*dns.A
		rrs, _, m, err = query[*dns.A](ctx, r, name, qtype)
		for _, rr := range rrs {
			if a, ok := netip.AddrFromSlice(rr.A.To4()); ok {
				addrs, ttl = append(addrs, a), min(ttl, rr.Hdr.Ttl)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		ttl = negativeTTL(m)
	}
	if ttl != 0 && ttl != ^uint32(0) {
		d := min(time.Duration(ttl)*time.Second, r.cfg.MaxTTL)
		r.addrs.Put(key, answer[[]netip.Addr]{val: addrs, neg: len(addrs) == 0}, now+int64(d), now)
	}
	return addrs, nil
}
