package enum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/palio-voip/palio/sip"
)

// Outcome says what a stage of this package made of a request; it is also
// the outcome label of the stage metrics.
type Outcome string

// The outcomes of Query (Decision) and FromUser (Caller).
const (
	// OutcomeFound: ENUM has SIP URIs for the number. Query routed the
	// call to them; for FromUser the caller's number exists in ENUM.
	OutcomeFound Outcome = "found"
	// OutcomeNotFound: the number is E.164 but not in ENUM.
	OutcomeNotFound Outcome = "not_found"
	// OutcomeNotE164: the number is not E.164, even after normalisation
	// (an extension, a short code, a name).
	OutcomeNotE164 Outcome = "not_e164"
	// OutcomeError: the lookup failed (timeout, SERVFAIL); the request
	// went on as if ENUM had said nothing.
	OutcomeError Outcome = "error"
	// OutcomeVerified: strict FromUser only: the host of one of the
	// caller's ENUM URIs resolves to the request's source address.
	OutcomeVerified Outcome = "verified"
	// OutcomeMismatch: strict FromUser only: the number is in ENUM but
	// none of its hosts resolves to the source address.
	OutcomeMismatch Outcome = "mismatch"
)

// String says what ENUM said: "found +390577232111: 3 URIs",
// "not_found +390577232111", "not E.164: 5002".
func (d *Decision) String() string {
	switch d.Outcome {
	case OutcomeNotE164:
		return "not E.164: " + d.Input
	case OutcomeFound:
		return fmt.Sprintf("found %s: %d URIs", d.E164, len(d.Results))
	case OutcomeError:
		return fmt.Sprintf("error %s: %v", d.E164, d.Err)
	}
	return string(d.Outcome) + " " + d.E164
}

// QueryConfig says how the Query stage treats requests.
type QueryConfig struct {
	// Number returns the number to look up in a request. Nil: the
	// Request-URI user, as enum_query without its number argument.
	Number func(r *sip.Request) string
	// NotFound, when not zero, is the status to reject calls to E.164
	// numbers that are not in ENUM with (404, 604). Zero passes them on
	// unchanged, so that they reach the PSTN routing. Numbers that are not
	// E.164, and lookups that fail or time out, always pass on unchanged.
	NotFound int
	// Found, when set, handles the calls ENUM routes instead of next: the
	// Forwarder, say, so that stages meant for PSTN numbers (dialplan,
	// routing) do not see an Internet URI. Nil: next handles them too.
	Found sip.Handler
	// Fallback passes the request on to next, unchanged, when every URI
	// ENUM gave failed with a failover outcome (or none was usable): the
	// PSTN gateways after the Internet ones. Without it the best of those
	// outcomes is answered.
	Fallback bool
	// Failover says which outcomes of one URI let the next be tried; the
	// zero value means sip.DefaultFailover (408, 500, 502, 503, 504), the
	// rule routing uses too. When every URI failed, the best outcome
	// (sip.ResponseRank) is answered.
	Failover sip.StatusSet
}

// Decision is what the Query stage did with a request, for the stages
// after it and for explain output (route -from).
type Decision struct {
	// Input is the number taken from the request.
	Input string
	// E164 is Input normalised; empty when it is not E.164.
	E164 string
	// Outcome is what ENUM said.
	Outcome Outcome
	// Results are the URIs ENUM gave, in the order they are tried.
	Results []Result
	// Used is the index in Results of the URI the request now carries
	// (it grows with each failover attempt), -1 when none.
	Used int
	// CacheHit tells whether the answer came from the cache.
	CacheHit bool
	// Err is the lookup failure when Outcome is OutcomeError.
	Err error
}

type decisionKey struct{}

// NewContext returns a context carrying d.
func NewContext(ctx context.Context, d *Decision) context.Context {
	return context.WithValue(ctx, decisionKey{}, d)
}

// DecisionFrom returns the Decision of the Query stage the request went
// through, if any. It must not be modified.
func DecisionFrom(ctx context.Context) (*Decision, bool) {
	d, ok := ctx.Value(decisionKey{}).(*Decision)
	return d, ok
}

// Query returns the ENUM routing stage, OpenSIPS's enum_query: it
// normalises the number (the Request-URI user unless cfg says otherwise)
// and, when it is E.164 and ENUM maps it to SIP URIs, rewrites the
// Request-URI to the first and sets it as the only target
// (sip.WithTargets). When that attempt fails over — next returns 408 or
// 5xx (a gateway's 503, an unreachable host) — and the caller is still
// there, it tries the next URI with a fresh clone of the request, in
// order; any other outcome (a 2xx, a busy 486, a 6xx) ends the call there.
// Every attempt carries its Decision (DecisionFrom).
//
// Requests whose number is not E.164, or not in ENUM, or whose lookup
// failed or timed out, go on unchanged: ENUM is a short cut and the PSTN
// routing is the way for the rest (see QueryConfig.NotFound).
func (r *Resolver) Query(cfg QueryConfig) sip.Middleware {
	return func(next sip.Handler) sip.Handler {
		found := cfg.Found
		if found == nil {
			found = next
		}
		if cfg.Failover == (sip.StatusSet{}) {
			cfg.Failover = sip.DefaultFailover
		}
		return &queryStage{r: r, cfg: cfg, next: next, found: found}
	}
}

type queryStage struct {
	r     *Resolver
	cfg   QueryConfig
	next  sip.Handler
	found sip.Handler
}

var _ sip.Handler = (*queryStage)(nil)

func (q *queryStage) ServeSIP(ctx context.Context, w sip.ResponseWriter, req *sip.Request) error {
	d := &Decision{Used: -1}
	if q.cfg.Number != nil {
		d.Input = q.cfg.Number(req)
	} else {
		d.Input = req.Recipient.User
	}
	call := sip.CallFrom(ctx)
	e164, ok := q.r.Normalize(d.Input)
	if !ok {
		d.Outcome = OutcomeNotE164
		call.Trace("enum", d)
		return q.next.ServeSIP(NewContext(ctx, d), w, req)
	}
	d.E164 = e164
	res, hit, err := q.r.lookup(ctx, e164)
	d.Results, d.CacheHit = res, hit
	switch {
	case errors.Is(err, ErrNotFound):
		d.Outcome = OutcomeNotFound
	case err != nil:
		d.Outcome, d.Err = OutcomeError, fmt.Errorf("enum: lookup %q: %w", e164, err)
	}
	log := q.r.log
	debug := log.Enabled(ctx, slog.LevelDebug)
	if err != nil {
		call.Trace("enum", d)
		if debug {
			log.Debug("enum: not routed", "callid", callID(req), "ruri", req.Recipient.String(), "number", e164, "outcome", d.Outcome, "error", err)
		}
		if d.Outcome == OutcomeNotFound && q.cfg.NotFound != 0 {
			return sip.Rejectf(q.cfg.NotFound, "", err)
		}
		return q.next.ServeSIP(NewContext(ctx, d), w, req)
	}
	d.Outcome = OutcomeFound
	call.Trace("enum", d)

	// Keep a pristine copy for the attempts after the first, which may
	// have rewritten the request before failing.
	var orig *sip.Request
	if len(res) > 1 || q.cfg.Fallback {
		orig = req.Clone()
	}
	err = nil
	var best *sip.StatusError
	tried := 0
	for i, result := range res {
		u, perr := sip.ParseURI(result.URI)
		if perr != nil || (u.Scheme != "sip" && u.Scheme != "sips") {
			if debug {
				log.Debug("enum: unusable URI", "callid", callID(req), "uri", result.URI, "error", perr)
			}
			continue
		}
		attempt := req
		if tried > 0 {
			attempt = orig.Clone()
		}
		tried++
		attempt.Recipient = u
		dd := *d
		dd.Used = i
		if debug {
			log.Debug("enum: routed", "callid", callID(req), "number", e164, "ruri", result.URI, "attempt", tried, "cached", hit)
		}
		actx := NewContext(sip.WithTargets(ctx, sip.Target{URI: *u.Clone()}), &dd)
		err = q.found.ServeSIP(actx, w, attempt)
		if !q.cfg.Failover.FailsOver(err) || ctx.Err() != nil || w.Status() >= 200 {
			return err
		}
		if se, ok := sip.AsStatus(err); ok && sip.Better(se, best) {
			best = se
		}
	}
	if tried == 0 {
		d.Outcome = OutcomeNotFound
		if q.cfg.NotFound != 0 {
			return sip.Reject(q.cfg.NotFound, "")
		}
		return q.next.ServeSIP(NewContext(ctx, d), w, req)
	}
	if q.cfg.Fallback && q.cfg.Failover.FailsOver(err) && ctx.Err() == nil {
		call.Tracef("enum", "every URI failed (best %d): falling back", sip.StatusOf(best))
		return q.next.ServeSIP(NewContext(ctx, d), w, orig)
	}
	if best != nil {
		return best
	}
	return err
}

func callID(r *sip.Request) string {
	if c := r.CallID(); c != nil {
		return c.Value()
	}
	return ""
}
