package alias

import (
	"context"

	"github.com/palio-voip/palio/sip"
)

// Result is what the alias stage found for a request.
type Result struct {
	// Found reports whether the Request-URI was an alias.
	Found bool
	// Alias is the Request-URI user that was looked up.
	Alias string
	// User and Domain are the account it stands for (when Found).
	User, Domain string
	// Rewritten reports whether the stage changed the Request-URI.
	Rewritten bool
}

// String says what the stage found: "5500 is an alias of FAX_5500@voip.unisi.it"
// or "5002 is no alias".
func (r Result) String() string {
	if !r.Found {
		return r.Alias + " is no alias"
	}
	acct := r.User
	if r.Domain != "" {
		acct += "@" + r.Domain
	}
	return r.Alias + " is an alias of " + acct
}

type resultKey struct{}

// NewContext returns ctx carrying the alias stage's result.
func NewContext(ctx context.Context, r Result) context.Context {
	return context.WithValue(ctx, resultKey{}, r)
}

// ResultFrom returns the alias stage's result, if the stage ran.
func ResultFrom(ctx context.Context) (Result, bool) {
	r, ok := ctx.Value(resultKey{}).(Result)
	return r, ok
}

// Wrap is the alias stage: it looks the Request-URI up and, with
// Config.Rewrite, replaces its user and host with the account (a domain-less
// account keeps the Request-URI's host). Requests that are not aliases pass
// on unchanged. It never rejects.
func (a *Aliases) Wrap(next sip.Handler) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		res := Result{Alias: r.Recipient.User}
		if al, ok := a.Lookup(r.Recipient.User, r.Recipient.Host); ok {
			a.metrics.lookups.WithLabelValues("hit").Inc()
			res.Found, res.User, res.Domain = true, al.Username, al.Domain
			if a.cfg.Rewrite {
				r.Recipient.User = al.Username
				if al.Domain != "" {
					r.Recipient.Host = al.Domain
					r.Recipient.Port = 0
				}
				res.Rewritten = true
			}
		} else {
			a.metrics.lookups.WithLabelValues("miss").Inc()
		}
		call := sip.CallFrom(ctx)
		if res.Found {
			call.SetNumber(r.Recipient.User)
		}
		call.Trace("alias", res)
		return next.ServeSIP(NewContext(ctx, res), w, r)
	})
}
