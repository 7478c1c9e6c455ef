package destination

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/enum"
	"github.com/palio-voip/palio/permission"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
)

// Config assembles the sub-pipeline.
type Config struct {
	// Plan classifies the number (required): its translation rewrites
	// the Request-URI and its attrs are the call's class.
	Plan *dialplan.Plan
	// Class is the call-class check (permission.Class); nil checks
	// nothing.
	Class sip.Middleware
	// Stages run after the class check and before the destination, in
	// order: the call services (features), which may Redirect.
	Stages []sip.Middleware
	// Registrar sends the LocalClasses to the registered contacts of the
	// account called (required when LocalClasses is not empty).
	Registrar *registrar.Registrar
	// LocalClasses are the classes of calls to local accounts; default
	// {"voip"}.
	LocalClasses []string
	// ENUM, when set, is tried for the other classes before Router: a
	// number in ENUM goes to the URIs it gives, with failover among them,
	// and to Router when it is not in ENUM or every URI failed.
	ENUM *enum.Resolver
	// ENUMQuery tunes the ENUM lookup (which number to look up: a site
	// with an outside-line prefix strips it there); its Found and
	// Fallback are the sub-pipeline's.
	ENUMQuery enum.QueryConfig
	// Router sends the other classes to gateways (required).
	Router *routing.Router
	// MaxRedirects bounds how many times one call may be redirected
	// (a forward of a forward...); default 5.
	MaxRedirects int
}

// Destination is the sub-pipeline dialplan → class check → call services
// → destination of the class: the registrar's contacts for calls to local
// accounts, ENUM (when configured) and then dynamic routing for the
// rest. The main pipeline runs it after authentication and alias (Wrap);
// a call service runs it again for a new number (Redirect), so that a
// forwarded call is classified, checked and routed exactly as if dialled.
//
// Calls that ENUM routes go through the same classification and class
// check as any call to their number: a number is what the caller dialled,
// whether it then travels over the Internet or the PSTN, and an account
// that may not call abroad may not reach a foreign number through ENUM
// either. (The UniSI example used to send ENUM hits straight to the
// Forwarder, past dialplan and class.)
type Destination struct {
	cfg Config
}

// New checks cfg and returns the sub-pipeline.
func New(cfg Config) (*Destination, error) {
	if cfg.Plan == nil {
		return nil, errors.New("destination: no dialplan")
	}
	if cfg.Router == nil {
		return nil, errors.New("destination: no router")
	}
	if cfg.LocalClasses == nil {
		cfg.LocalClasses = []string{"voip"}
	}
	if len(cfg.LocalClasses) > 0 && cfg.Registrar == nil {
		return nil, errors.New("destination: local classes but no registrar")
	}
	if cfg.MaxRedirects <= 0 {
		cfg.MaxRedirects = 5
	}
	return &Destination{cfg: cfg}, nil
}

// Wrap is the sub-pipeline as a stage: the request goes through it and
// on to next (the Forwarder).
func (d *Destination) Wrap(next sip.Handler) sip.Handler {
	var routed sip.Handler = d.cfg.Router.Wrap(next)
	if d.cfg.ENUM != nil {
		// A number in ENUM goes to its URIs (next); one that is not, or
		// whose URIs all failed, to the gateways.
		q := d.cfg.ENUMQuery
		q.Found, q.Fallback = next, true
		routed = d.cfg.ENUM.Query(q)(routed)
	}
	var local sip.Handler = sip.NotFound
	if d.cfg.Registrar != nil {
		local = d.cfg.Registrar.Lookup(next)
	}
	dest := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		res, _ := dialplan.ResultFrom(ctx)
		if slices.Contains(d.cfg.LocalClasses, res.Attrs) {
			return local.ServeSIP(ctx, w, r)
		}
		return routed.ServeSIP(ctx, w, r)
	})
	mws := []sip.Middleware{d.cfg.Plan.Wrap}
	if d.cfg.Class != nil {
		mws = append(mws, d.cfg.Class)
	}
	mws = append(mws, d.cfg.Stages...)
	chain := sip.Chain(mws...)(dest)
	rn := &run{chain: chain, max: d.cfg.MaxRedirects}
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		if _, ok := ctx.Value(runKey{}).(*run); !ok {
			ctx = context.WithValue(ctx, runKey{}, rn)
		}
		return chain.ServeSIP(ctx, w, r)
	})
}

// run is the sub-pipeline serving a call, for Redirect.
type run struct {
	chain sip.Handler
	max   int
}

type runKey struct{}

type redirectsKey struct{}

// ErrNoPipeline is Redirect's error when the request is not being served
// by a Destination.
var ErrNoPipeline = errors.New("destination: redirect outside the sub-pipeline")

// Redirect serves the call r again for number, through the sub-pipeline
// that is serving it (a stage of Config.Stages calls it: a call forward,
// the boss's secretary), as the account as: the number is classified and
// checked against as's classes (an outbound call of as), then routed;
// the outcome is the outcome of that call. The request is a clone of r
// with number as its Request-URI user; the call record notes the new
// number. A call redirected more than Config.MaxRedirects times gets 482
// (Loop Detected).
func Redirect(ctx context.Context, w sip.ResponseWriter, r *sip.Request, number string, as registrar.Identity) error {
	rn, ok := ctx.Value(runKey{}).(*run)
	if !ok {
		return ErrNoPipeline
	}
	n, _ := ctx.Value(redirectsKey{}).(int)
	if n >= rn.max {
		return sip.Reject(482, "Loop Detected")
	}
	ctx = context.WithValue(ctx, redirectsKey{}, n+1)
	// The redirected call is as's outbound call: its class check looks at
	// as's classes, not at the original caller's or source's.
	ctx = registrar.NewContext(ctx, as)
	ctx = permission.NewContext(ctx, permission.Source{})
	req := r.Clone()
	req.Recipient.User = number
	call := sip.CallFrom(ctx)
	call.SetNumber(number)
	call.Tracef("redirect", "to %s as %s@%s", number, as.Username, as.Domain)
	return rn.chain.ServeSIP(ctx, w, req)
}

// String describes the sub-pipeline.
func (d *Destination) String() string {
	return fmt.Sprintf("destination: dialplan, class check, %d stages, local %v, enum %v, routing", len(d.cfg.Stages), d.cfg.LocalClasses, d.cfg.ENUM != nil)
}
