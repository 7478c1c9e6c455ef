package registrar

import (
	"context"
	"errors"

	"github.com/palio-voip/palio/sip"
)

// AsCaller is the dry run's stand-in for Authenticate (sip.RunDry): the
// request is taken as sent by the account user, read from the
// subscriber store, so that a blocked account and its classes count as
// they would for a real call. A trusted source (Config.TrustedSource)
// needs no account, as in Authenticate. An unknown user is 403 "unknown
// user", a blocked one 403 "Account Blocked"; no credentials are checked
// and no P-Asserted-Identity is added.
func (r *Registrar) AsCaller(user string) sip.Middleware {
	return func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) error {
			call := sip.CallFrom(ctx)
			if r.cfg.TrustedSource != nil && r.cfg.TrustedSource(ctx, req) {
				call.Trace("auth", sip.Note("not needed (trusted source)"))
				return next.ServeSIP(ctx, w, req)
			}
			sub, err := r.subs.Subscriber(ctx, user, "")
			if errors.Is(err, ErrNotFound) {
				return sip.Reject(403, "Forbidden: unknown user "+user)
			}
			if err != nil {
				return err
			}
			if sub.Blocked {
				return sip.Reject(403, "Account Blocked")
			}
			id := Identity{Username: sub.Username, Domain: sub.Domain, Realm: r.cfg.Realm, Subscriber: sub}
			call.SetCaller(sip.CallerIdentity{User: id.Username, Domain: id.Domain})
			call.Trace("auth", id)
			return next.ServeSIP(NewContext(ctx, id), w, req)
		})
	}
}
