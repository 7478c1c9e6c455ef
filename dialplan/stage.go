package dialplan

import (
	"context"
	"log/slog"

	"github.com/palio-voip/palio/sip"
)

// Wrap returns the dialplan stage in front of next: a sip.Middleware. It
// translates the configured field of the request with the configured dpid.
// On a match it rewrites the field when the output differs (and the field
// can be written), puts the Result in the context for the stages after it
// (ResultFrom) and calls next. On no match it calls nothing and returns the
// configured rejection (420 Invalid Destination by default), as UniSI's
// script answers numbers that fit no class.
func (p *Plan) Wrap(next sip.Handler) sip.Handler {
	return &stage{p: p, next: next}
}

type stage struct {
	p    *Plan
	next sip.Handler
}

var _ sip.Handler = (*stage)(nil)

func (s *stage) ServeSIP(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
	p := s.p
	in := p.cfg.Field.Get(r)
	res, out := p.translate(p.cfg.DPID, in)
	debug := p.log.Enabled(ctx, slog.LevelDebug)
	call := sip.CallFrom(ctx)
	if out != outcomeMatch {
		call.Tracef("dialplan", "dpid %d: no rule translates %q: %d", p.cfg.DPID, in, p.reject.Code)
		reject := *p.reject
		if debug {
			p.log.DebugContext(ctx, "dialplan: no translation", "callid", callID(r), "ruri", r.Recipient.String(),
				"field", p.cfg.Field.Name, "input", in, "rule", res.RuleID, "status", reject.Code)
		}
		return &reject
	}
	if res.Output != in && p.cfg.Field.Set != nil {
		p.cfg.Field.Set(r, res.Output)
	}
	if debug {
		p.log.DebugContext(ctx, "dialplan: translated", "callid", callID(r), "field", p.cfg.Field.Name,
			"input", in, "output", res.Output, "rule", res.RuleID, "attrs", res.Attrs)
	}
	call.SetClass(res.Output, res.Attrs)
	call.Trace("dialplan", res)
	return s.next.ServeSIP(NewContext(ctx, res), w, r)
}

func callID(r *sip.Request) string {
	if c := r.CallID(); c != nil {
		return c.Value()
	}
	return ""
}
