package routing

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/sip"
)

// Wrap returns the routing stage in front of next: a sip.Middleware, the
// pipeline's do_routing with its failure route.
//
// The caller's group comes from the From URI's user (and host, unless
// Config.IgnoreDomain) in the dr_groups rows of the current table, or is
// Config.DefaultGroup; the number is the Request-URI user. When no rule
// matches, the stage calls nothing and answers Config.NoRouteCode (404 No
// Route). Otherwise it calls next once per destination, in order, each
// time with a clone of the request whose Request-URI is the destination's
// (sip:User@gateway-address), the destination as the only target
// (sip.WithTargets) and the decision in the context (DecisionFrom).
//
// It moves on to the next destination when next fails with one of
// Config.FailoverCodes and the caller is still there (the context is not
// done); it stops, returning next's outcome, on success (nil), on any
// other status (486 Busy Here, 404, 6xx) and when the caller cancelled.
// A gateway (or its carrier) at its channel limit is not tried. When every
// destination has failed over, the stage tries the next rule
// (Config.Fallback), or returns the best failover outcome it saw (RFC 3261
// §16.7: 408 before 5xx, 503 last); when no destination could be tried at
// all, 503 Service Unavailable.
func (r *Router) Wrap(next sip.Handler) sip.Handler {
	return &stage{r: r, next: next}
}

type stage struct {
	r    *Router
	next sip.Handler
}

var _ sip.Handler = (*stage)(nil)

// The outcomes the stage counts, per call and per attempt.
const (
	outAnswered = iota
	outRejected
	outFailover
	outExhausted
	outUnavailable
	outNoRoute
	outCanceled
	outFull
	outError
	nOutcomes
)

var outcomeNames = [nOutcomes]string{"answered", "rejected", "failover", "exhausted", "unavailable", "no_route", "canceled", "full", "error"}

// outcomeCounters holds the counters of palio_routing_calls_total and
// palio_routing_attempts_total, resolved once.
type outcomeCounters struct {
	calls, attempts [nOutcomes]prometheus.Counter
}

func newOutcomeCounters(m *metrics) outcomeCounters {
	var o outcomeCounters
	for i, name := range outcomeNames {
		switch i {
		case outAnswered, outRejected, outExhausted, outUnavailable, outNoRoute, outCanceled, outError:
			o.calls[i] = m.calls.WithLabelValues(name)
		}
		switch i {
		case outAnswered, outRejected, outFailover, outCanceled, outFull, outError:
			o.attempts[i] = m.attempts.WithLabelValues(name)
		}
	}
	return o
}

func (s *stage) ServeSIP(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
	rt := s.r
	t := rt.tab.Load()
	now := rt.now()
	group := rt.groupOf(t, r)
	number := r.Recipient.User
	debug := rt.log.Enabled(ctx, slog.LevelDebug)
	d, ok := rt.first(t, group, number, now)
	call := sip.CallFrom(ctx)
	if !ok {
		call.Tracef("routing", "group %d, number %s: no rule", group, number)
		rt.out.calls[outNoRoute].Inc()
		if debug {
			rt.log.DebugContext(ctx, "routing: no route", "callid", callID(r), "ruri", r.Recipient.String(), "group", group)
		}
		reject := rt.noRoute
		return &reject
	}

	d.trace(call)
	var best *sip.StatusError
	tried := false
	for {
		for i := range d.Destinations {
			if ctx.Err() != nil {
				// The caller is gone: the transaction layer answered its
				// CANCEL with 487, or the transaction ended.
				rt.out.calls[outCanceled].Inc()
				switch {
				case w.Status() != 0:
					return nil
				case best != nil:
					return best
				}
				return sip.Rejectf(487, "Request Terminated", context.Cause(ctx))
			}
			dst := d.Destinations[i]
			g := dst.gw
			gwid := g.row.GWID
			res, f, full := rt.reserve(ctx, g, call)
			if full {
				rt.m.full.WithLabelValues(f.kind(), f.trunk(g)).Inc()
				rt.out.attempts[outFull].Inc()
				call.Tracef("skipped", "%s\t%s", gwid, f.String())
				if debug {
					rt.log.DebugContext(ctx, "routing: destination skipped", "callid", callID(r), "gateway", gwid, "reason", f.String())
				}
				continue
			}
			tried = true
			target := dst.Target()
			req := r.Clone()
			req.Recipient = target.URI
			req.Recipient.UriParams = target.URI.UriParams.Clone()
			attempt := d
			attempt.Attempt = i
			actx := sip.WithTargets(context.WithValue(ctx, decisionKey{}, &attempt), target)
			if debug {
				rt.log.DebugContext(ctx, "routing: trying", "callid", callID(r), "rule", d.Rule, "gateway", gwid,
					"ruri", target.URI.String(), "attempt", i+1, "of", len(d.Destinations))
			}
			err := s.next.ServeSIP(actx, w, req)
			rt.release(res, call)
			if err == nil {
				out := outAnswered
				if ctx.Err() != nil {
					out = outCanceled // the Forwarder's nil after the caller's CANCEL
				}
				rt.out.attempts[out].Inc()
				rt.out.calls[out].Inc()
				return nil
			}
			se, isStatus := sip.AsStatus(err)
			if !isStatus {
				rt.out.attempts[outError].Inc()
				rt.out.calls[outError].Inc()
				return err
			}
			rt.failed(ctx, g, se)
			if ctx.Err() != nil {
				rt.out.attempts[outCanceled].Inc()
				rt.out.calls[outCanceled].Inc()
				return err
			}
			if !rt.failover.Has(se.Code) {
				rt.out.attempts[outRejected].Inc()
				rt.out.calls[outRejected].Inc()
				if debug {
					rt.log.DebugContext(ctx, "routing: final answer, no failover", "callid", callID(r), "gateway", gwid, "status", se.Code)
				}
				return err
			}
			rt.out.attempts[outFailover].Inc()
			if debug {
				rt.log.DebugContext(ctx, "routing: failing over", "callid", callID(r), "gateway", gwid, "status", se.Code)
			}
			if sip.Better(se, best) {
				best = se
			}
		}
		if !rt.cfg.Fallback {
			break
		}
		if d, ok = rt.next(t, d, now); !ok {
			break
		}
		d.trace(call)
		if debug {
			rt.log.DebugContext(ctx, "routing: rule fallback", "callid", callID(r), "rule", d.Rule, "prefix", d.Prefix)
		}
	}
	if !tried || best == nil {
		rt.out.calls[outUnavailable].Inc()
		return sip.Rejectf(503, "Service Unavailable", errNoDestination)
	}
	rt.out.calls[outExhausted].Inc()
	return best
}

var errNoDestination = errors.New("routing: no usable destination (disabled, inactive, placeholder address or full)")

// failed makes a probed gateway inactive when a call to it ended with one
// of Config.DisableCodes.
func (r *Router) failed(ctx context.Context, g *gateway, se *sip.StatusError) {
	if ctx.Err() != nil || g.row.ProbeMode == ProbeNever || !r.disable.Has(se.Code) {
		return
	}
	r.transition(g, StateActive, StateInactive, CauseCall, strconv.Itoa(se.Code)+" "+reasonOf(se))
}

func reasonOf(se *sip.StatusError) string {
	if se.Reason != "" {
		return se.Reason
	}
	if se.Response != nil && se.Response.Reason != "" {
		return se.Response.Reason
	}
	return sip.ReasonPhrase(se.Code)
}

// groupOf returns the caller's group.
func (r *Router) groupOf(t *table, req *sip.Request) int {
	if len(t.members) > 0 {
		if f := req.From(); f != nil {
			k := memberKey{user: f.Address.User}
			if !r.cfg.IgnoreDomain {
				k.domain = lowerHost(f.Address.Host)
			}
			if g, ok := t.members[k]; ok {
				return g
			}
		}
	}
	return r.cfg.DefaultGroup
}

// lowerHost returns host in lower case (RFC 3261 §19.1.4: hosts compare
// case-insensitively), allocating only when it has upper-case letters.
func lowerHost(host string) string {
	for i := 0; i < len(host); i++ {
		if c := host[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(host)
		}
	}
	return host
}

func callID(r *sip.Request) string {
	if c := r.CallID(); c != nil {
		return c.Value()
	}
	return ""
}

func fromTag(r *sip.Request) string {
	if f := r.From(); f != nil {
		t, _ := f.Params.Get("tag")
		return t
	}
	return ""
}
