package guard

import (
	"context"

	"github.com/palio-voip/palio/sip"
)

// The check-only stages are the guard's part in a dry run (sip.RunDry:
// the example's `route NUMBER -from USER` and the admin page's route):
// they refuse what Bans and Wrap would refuse, with the same answer and
// the same trace line, and change nothing: no metric moves, no figure is
// counted, no alert is logged or published, no ban is written. So a dry
// run can be repeated at will without bringing an account nearer a fraud
// threshold, and it says what the next real call would get.

// CheckBans is Bans for a dry run: a request from a banned source gets
// 503, one that would carry a locked account's credentials 403 "Account
// Locked", traced as Bans traces them; nothing is counted. user is the
// account the dry run calls as (registrar.AsCaller's user: the real
// request would carry its credentials); empty reads the request's own
// credentials, as Bans does.
func (g *Guard) CheckBans(user string) sip.Middleware {
	return func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			if err := g.checkBans(ctx, r, user, false); err != nil {
				return err
			}
			return next.ServeSIP(ctx, w, r)
		})
	}
}

// CheckFraud is Wrap for a dry run, after authentication: an initial
// INVITE of an authenticated caller is matched against the fraud rules as
// Wrap matches it, and the trace says what Wrap would: the caller's block,
// or the rule matched with the figures this call would bring (this call
// included), or the threshold it would reach. A blocked caller, and a
// call that would reach a critical threshold with FraudConfig.Block, get
// Wrap's 403. Nothing is counted: the figures stay as they were.
func (g *Guard) CheckFraud(next sip.Handler) sip.Handler {
	if g.cfg.Fraud.Off {
		return next
	}
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		call, caller, number, ok := fraudCall(ctx, r)
		if !ok {
			return next.ServeSIP(ctx, w, r)
		}
		if err := g.fraud.check(ctx, call, caller, number); err != nil {
			return err
		}
		return next.ServeSIP(ctx, w, r)
	})
}

// check is begin without counting: the outcome and the trace begin would
// give a call of caller to number now, worked out on a copy of the
// figures.
func (f *fraudChecker) check(ctx context.Context, call *sip.Call, caller sip.CallerIdentity, number string) error {
	g := f.g
	if _, blocked := g.bans.Load().fraud[caller.User]; blocked {
		call.Trace("fraud", sip.Note("refused: "+caller.User+"'s outbound calls are blocked (guard list; guard clear "+caller.User+")"))
		return sip.Reject(403, "Forbidden: Blocked by Fraud Check")
	}
	now := g.now().In(g.cfg.Fraud.Location)
	r, profile := f.rule(ctx, f.snap.Load(), caller, number, now)
	if r == nil {
		call.Tracef("fraud", "no rule of profile %d for %s", profile, number)
		return nil
	}
	var st fstats
	f.mu.Lock()
	if cur := f.stats[statKey{caller.User, r.Prefix}]; cur != nil {
		st = *cur
	}
	f.mu.Unlock()
	// What a real call does to the figures, on the copy.
	values := st.begin(now, r.ID, number)
	a, raised := pickAlert(r, &st, values, startParams, true)
	if !raised {
		call.Trace("fraud", ruleTrace{r.ID, r.Prefix, values[ParamTotalCalls], values[ParamCallsPerMinute], values[ParamConcurrentCalls]})
		return nil
	}
	a.User, a.Domain, a.Number = caller.User, caller.Domain, number
	if a.critical && g.cfg.Fraud.Block {
		call.Trace("fraud", sip.Note("refused: "+a.FraudAlert.String()))
		return sip.Reject(403, "Forbidden: Blocked by Fraud Check")
	}
	call.Trace("fraud", sip.Note(a.Kind()+": "+a.FraudAlert.String()))
	return nil
}
