package permission

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/sip"
)

// ClassConfig is the table of call classes: which class a call of each
// dialplan type needs, and where the accounts' classes come from.
type ClassConfig struct {
	// Required maps the dialplan's attrs (the call type) to the class the
	// caller's account must hold. UniSI: voip, legacy, media, toip →
	// local; national, mobile, international → the class of that name.
	Required map[string]string
	// Unmapped is the class a call type missing from Required needs; empty
	// lets such calls through.
	Unmapped string
	// DefaultClasses are the classes of an account that has none (new
	// accounts get local). Default: local.
	DefaultClasses []string
	// Caller returns the outbound classes of the authenticated caller
	// (the example reads them from registrar.IdentityFrom); ok false when
	// the request was not authenticated.
	Caller func(ctx context.Context) (classes []string, ok bool)
	// Callee returns the inbound classes of the local account a call
	// from a trusted gateway is for (the seed's "Gruppi di abilitazione
	// in INGRESSO"); found false when user@domain is not a local account.
	// Nil skips the inbound check.
	Callee func(ctx context.Context, user, domain string) (classes []string, found bool, err error)
	// InboundTypes are the call types that address a local account, whose
	// inbound classes are checked (UniSI: voip); empty checks every call
	// from a trusted source. Calls of other types (a gateway reaching the
	// media box or the legacy PBX) then need no account lookup.
	InboundTypes []string
	// SourceClasses maps a trusted source's address group to the inbound
	// class its calls carry (1 → "pstn", 2 → "toip"); unmapped groups
	// carry "external". An account whose inbound classes are empty or
	// include "all" takes every call.
	SourceClasses map[int]string
}

// UniSIClasses is the call-type → class table of the seed deployment.
var UniSIClasses = map[string]string{
	"voip": "local", "legacy": "local", "media": "local", "toip": "local",
	"national": "national", "mobile": "mobile", "international": "international",
}

// OutboundClasses are the classes an account's outbound list may name:
// those Required maps call types to, Unmapped and DefaultClasses, sorted.
func (c ClassConfig) OutboundClasses() []string {
	var out []string
	for _, v := range c.Required {
		out = append(out, v)
	}
	out = append(out, c.Unmapped)
	out = append(out, c.DefaultClasses...)
	if len(c.DefaultClasses) == 0 {
		out = append(out, "local")
	}
	return sortedWords(out)
}

// InboundClasses are the classes an account's inbound list may name: the
// classes of SourceClasses, "external" (the sources it does not map) and
// "all", sorted.
func (c ClassConfig) InboundClasses() []string {
	out := []string{"external", "all"}
	for _, v := range c.SourceClasses {
		out = append(out, v)
	}
	return sortedWords(out)
}

// CheckAccount reports the first class of an account's outbound or
// inbound list that the configuration does not know (a typo that would
// silently allow nothing), naming the classes it knows.
func (c ClassConfig) CheckAccount(outbound, inbound []string) error {
	for _, list := range []struct {
		dir   string
		names []string
		known []string
	}{{"outbound", outbound, c.OutboundClasses()}, {"inbound", inbound, c.InboundClasses()}} {
		for _, n := range list.names {
			if !slices.Contains(list.known, n) {
				return fmt.Errorf("unknown %s class %q (known: %s)", list.dir, n, strings.Join(list.known, ", "))
			}
		}
	}
	return nil
}

// sortedWords sorts ws and drops empty and repeated words.
func sortedWords(ws []string) []string {
	slices.Sort(ws)
	ws = slices.Compact(ws)
	if len(ws) > 0 && ws[0] == "" {
		ws = ws[1:]
	}
	return ws
}

// ClassDecision is what the class stage decided, for explain output.
type ClassDecision struct {
	// Direction is "outbound" (an authenticated caller) or "inbound" (a
	// call from a trusted source to a local account); empty when the
	// stage had nothing to check.
	Direction string
	// CallType is the dialplan's attrs; Class the class it needs.
	CallType, Class string
	// Held are the classes of the account checked.
	Held []string
	// Allowed is the verdict.
	Allowed bool
}

// String says what the stage checked: "outbound call needs national; held
// local,national: allowed", or "nothing to check".
func (d ClassDecision) String() string {
	if d.Direction == "" {
		return "nothing to check"
	}
	need := d.Class
	if need == "" {
		need = "nothing"
	}
	verdict := "allowed"
	if !d.Allowed {
		verdict = "refused"
	}
	return d.Direction + " call needs " + need + "; held " + strings.Join(d.Held, ",") + ": " + verdict
}

type classKey struct{}

// ClassFrom returns the class stage's decision, if it ran.
func ClassFrom(ctx context.Context) (ClassDecision, bool) {
	d, ok := ctx.Value(classKey{}).(ClassDecision)
	return d, ok
}

// Class returns the class stage, which runs after the dialplan: an
// authenticated caller's outbound classes must hold the class the call
// type needs, else 403 "Forbidden: class not allowed"; a call from a
// trusted gateway to a local account needs the account's inbound classes to
// hold the source's class. A request the dialplan did not classify, or an
// untrusted one that is not authenticated, is not this stage's to judge:
// the first passes, the second gets 403 (authentication must run before).
func Class(cfg ClassConfig) sip.Middleware {
	if len(cfg.DefaultClasses) == 0 {
		cfg.DefaultClasses = []string{"local"}
	}
	return func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			res, ok := dialplan.ResultFrom(ctx)
			if !ok {
				return next.ServeSIP(ctx, w, r)
			}
			d := ClassDecision{CallType: res.Attrs, Allowed: true}
			src, _ := SourceFrom(ctx)
			if src.Trusted {
				if cfg.Callee != nil && (len(cfg.InboundTypes) == 0 || slices.Contains(cfg.InboundTypes, res.Attrs)) {
					d.Direction = "inbound"
					d.Class = cfg.SourceClasses[src.Group]
					if d.Class == "" {
						d.Class = "external"
					}
					held, found, err := cfg.Callee(ctx, r.Recipient.User, r.Recipient.Host)
					if err != nil {
						return fmt.Errorf("permission: inbound classes of %s: %w", r.Recipient.User, err)
					}
					if found {
						d.Held = held
						d.Allowed = len(held) == 0 || slices.Contains(held, "all") || slices.Contains(held, d.Class)
					}
				}
			} else {
				d.Direction = "outbound"
				d.Class = cfg.Required[res.Attrs]
				if _, mapped := cfg.Required[res.Attrs]; !mapped {
					d.Class = cfg.Unmapped
				}
				if d.Class != "" {
					if cfg.Caller == nil {
						return fmt.Errorf("permission: class stage without a Caller function")
					}
					held, ok := cfg.Caller(ctx)
					if !ok {
						return sip.Reject(403, "Forbidden: not authenticated")
					}
					if len(held) == 0 {
						held = cfg.DefaultClasses
					}
					d.Held = held
					d.Allowed = slices.Contains(held, d.Class)
				}
			}
			ctx = context.WithValue(ctx, classKey{}, d)
			sip.CallFrom(ctx).Trace("class", d)
			if !d.Allowed {
				return sip.Reject(403, "Forbidden: class not allowed")
			}
			return next.ServeSIP(ctx, w, r)
		})
	}
}
