package guard

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/palio-voip/palio/sip"
)

// Bans is the stage in front of authentication (and of the registrar): a
// request from a banned source is refused with 503 (the gate, when the
// server has it, refuses such sources before this), and a request whose
// credentials name a banned account with 403 "Account Locked", its
// password unchecked: a guesser learns nothing more. Put it before the
// registrar's Authenticate and around the REGISTER handler.
func (g *Guard) Bans(next sip.Handler) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		if err := g.checkBans(ctx, r, "", true); err != nil {
			return err
		}
		return next.ServeSIP(ctx, w, r)
	})
}

// checkBans is Bans' decision: a 503 for a banned source, a 403 "Account
// Locked" for a locked account (user's; empty: the request's
// credentials'), traced; count says whether the refusal counts in the
// metrics (not in a dry run).
func (g *Guard) checkBans(ctx context.Context, r *sip.Request, user string, count bool) error {
	bs := g.bans.Load()
	if len(bs.ip) == 0 && len(bs.user) == 0 {
		return nil
	}
	now := g.now()
	if len(bs.ip) > 0 {
		if src, ok := sourceOf(r); ok {
			if b, banned := bs.ip[src.Addr()]; banned && b.Active(now) && !g.exempt(src) {
				if count {
					g.metrics.blockedBan.Inc()
				}
				sip.CallFrom(ctx).Trace("guard", sip.Note("refused: source "+src.Addr().String()+" banned: "+b.Reason))
				return sip.Reject(503, "Service Unavailable")
			}
		}
	}
	if len(bs.user) > 0 {
		u, ok := user, user != ""
		if !ok {
			u, ok = credentialsUser(r)
		}
		if ok {
			if b, banned := bs.user[u]; banned && b.Active(now) {
				if count {
					g.metrics.blockedUser.Inc()
				}
				sip.CallFrom(ctx).Trace("guard", sip.Note("refused: account "+u+" locked: "+b.Reason))
				return sip.Reject(403, "Account Locked")
			}
		}
	}
	return nil
}

// fraudCall returns what the fraud check needs of r: its call record, the
// account its caller authenticated as and the number it dialled (as the
// caller dialled it when a stage recorded it, else the Request-URI's
// user); ok is false for a request the check lets pass (not an initial
// INVITE with a call record, or no authenticated caller).
func fraudCall(ctx context.Context, r *sip.Request) (call *sip.Call, caller sip.CallerIdentity, number string, ok bool) {
	call = sip.CallFrom(ctx)
	if call == nil || !r.IsInvite() {
		return nil, caller, "", false
	}
	info := call.Info()
	if info.Caller.User == "" {
		return nil, caller, "", false
	}
	number = info.Dialled
	if number == "" {
		number = r.Recipient.User
	}
	return call, info.Caller, number, true
}

// Wrap is the fraud check of outbound calls, after authentication: an
// initial INVITE of an authenticated caller (sip.Call's Caller) is counted
// against the rule its dialled number matches; a blocked caller's call is
// refused with 403, as is the one that reaches a critical threshold with
// FraudConfig.Block. Requests of trusted sources and other methods pass.
func (g *Guard) Wrap(next sip.Handler) sip.Handler {
	if g.cfg.Fraud.Off {
		return next
	}
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		call, caller, number, ok := fraudCall(ctx, r)
		if !ok {
			return next.ServeSIP(ctx, w, r)
		}
		end, err := g.Begin(ctx, call, caller, number)
		if end != nil {
			call.OnEnd(func(d sip.Dialog) { end(d.Duration(d.Ended)) })
		}
		if err != nil {
			return err
		}
		return next.ServeSIP(ctx, w, r)
	})
}

// sourceOf is a request's packet source.
func sourceOf(r *sip.Request) (netip.AddrPort, bool) {
	ap, err := netip.ParseAddrPort(r.Source())
	if err != nil {
		host, _, herr := net.SplitHostPort(r.Source())
		if herr != nil {
			return netip.AddrPort{}, false
		}
		ip, perr := netip.ParseAddr(host)
		if perr != nil {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(ip.Unmap(), 0), true
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// credentialsUser is the username of a request's Digest credentials
// (Authorization for REGISTER, Proxy-Authorization otherwise; either is
// read).
func credentialsUser(r *sip.Request) (string, bool) {
	for _, name := range []string{"Proxy-Authorization", "Authorization"} {
		for _, h := range sip.HeadersNamed(r, name) {
			if u, ok := DigestUsername(h.Value()); ok {
				return u, true
			}
		}
	}
	return "", false
}

// Begin counts an outbound call of caller to number against the fraud
// rules, as Wrap does for an INVITE, and returns its outcome: nil to go
// on, a 403 *sip.StatusError when the call is refused (the caller
// blocked, before or by this call). end, when not nil, must be called
// once when the call ends, with its talk time (zero for a call not
// answered): the refused call was counted too. call (for its trace) may
// be nil.
func (g *Guard) Begin(ctx context.Context, call *sip.Call, caller sip.CallerIdentity, number string) (end func(talk time.Duration), err error) {
	if g.cfg.Fraud.Off || caller.User == "" {
		return nil, nil
	}
	return g.fraud.begin(ctx, call, caller, number)
}
