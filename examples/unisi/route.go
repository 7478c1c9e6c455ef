package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/alias"
	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/enum"
	"github.com/palio-voip/palio/permission"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
)

// cmdRoute is `route NUMBER -from USER`: a dry run of the pipeline the
// server runs. A synthetic INVITE from USER to NUMBER goes through the very
// same stages (built by app.stages) with two stand-ins: authentication
// takes the caller as USER (its account is read from the store, so blocked
// accounts and classes count), and the Forwarder is replaced by a recorder
// that keeps the request and its targets instead of sending. Each stage's
// decision is read from the context it passed on, so the explanation
// cannot drift from what the server does.
func cmdRoute(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("route", flag.ContinueOnError)
	from := fs.String("from", "", "the calling account (required)")
	src := fs.String("src", "172.20.1.26:5060", "the source address of the INVITE, ip:port")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *from == "" {
		return usagef("usage: route NUMBER -from USER [-src IP:PORT]")
	}
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	// Errors only: the load's warnings (each placeholder gateway, say)
	// are the server's to log; the dry run shows what concerns the call
	// (a placeholder is "skipped ... placeholder address").
	a, err := newApp(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})), nil)
	if err != nil {
		return err
	}
	defer a.close()

	tr := &trace{}
	term := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		tr.final(ctx, r)
		return w.WriteResponse(sip.NewResponse(r, 200, "OK (dry run: would forward)"))
	})
	var chain []sip.Middleware
	for _, s := range a.stages(a.asCaller(*from), term) {
		if s.name == "destination" {
			chain = append(chain, a.explainRouting(tr))
		}
		chain = append(chain, s.mw, tr.after(s.name))
	}
	h := sip.Chain(chain...)(term)

	req := syntheticInvite(pos[0], *from, domainOf(cfg), *src)
	w := &recorder{}
	err = h.ServeSIP(ctx, w, req)
	tr.print(out)
	switch {
	case err == nil:
		fmt.Fprintf(out, "result\t%d %s\n", w.status, w.reason)
		return nil
	default:
		se, ok := sip.AsStatus(err)
		if !ok {
			return err
		}
		fmt.Fprintf(out, "result\t%d %s\n", se.Code, statusReason(se))
		return exitError{code: 1}
	}
}

func statusReason(se *sip.StatusError) string {
	if se.Reason != "" {
		return se.Reason
	}
	if se.Response != nil {
		return se.Response.Reason
	}
	return sip.ReasonPhrase(se.Code)
}

// explainRouting wraps the destination stage of a dry run. For a class
// that goes to dynamic routing it records the router's decision: the rule
// and its destinations in the order the stage tries them, with those
// skipped and why. When the stage reached the (stand-in) Forwarder, that
// is the decision it made, with the very order its weighted draw gave;
// when it could not (no rule, every destination skipped), Router.Explain
// (OpenSIPS's dr_number_routing) shows why.
func (a *app) explainRouting(tr *trace) sip.Middleware {
	return func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			if res, _ := dialplan.ResultFrom(ctx); res.Attrs == "voip" {
				tr.add("destination", "registrar lookup of %s", r.Recipient.User)
				return next.ServeSIP(ctx, w, r)
			}
			group, number := a.router.Group(r), r.Recipient.User
			err := next.ServeSIP(ctx, w, r)
			if tr.decision != nil {
				tr.routing(*tr.decision)
				return err
			}
			ds, xerr := a.router.Explain(group, number)
			if xerr != nil {
				tr.add("routing", "group %d, number %s: no rule", group, number)
			}
			for _, d := range ds {
				tr.routing(d)
			}
			return err
		})
	}
}

// routing records a routing decision.
func (t *trace) routing(d routing.Decision) {
	prefix := d.Prefix
	if prefix == "" {
		prefix = "(none)"
	}
	t.add("routing", "group %d, number %s: rule %d, prefix %s, priority %d, attrs %s", d.Group, d.Number, d.Rule, prefix, d.Priority, dash(d.Attrs))
	for i, dst := range d.Destinations {
		via := ""
		if dst.Carrier != "" {
			via = " via #" + dst.Carrier
		}
		tg := dst.Target()
		t.add("destination", "%d\t%s%s\t%s", i+1, dst.Gateway, via, tg.String())
	}
	for _, sk := range d.Skipped {
		name := sk.Gateway
		switch {
		case name == "":
			name = "#" + sk.Carrier
		case sk.Carrier != "":
			name += " via #" + sk.Carrier
		}
		t.add("skipped", "%s\t%s", name, sk.Reason)
	}
}

// asCaller stands in for authentication in a dry run: the caller is the
// account user, as the store has it.
func (a *app) asCaller(user string) sip.Middleware {
	return func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			if permission.TrustedSource(ctx, r) {
				return next.ServeSIP(ctx, w, r)
			}
			sub, err := a.subs.Subscriber(ctx, user, "")
			if errors.Is(err, registrar.ErrNotFound) {
				return sip.Reject(403, "Forbidden: unknown user "+user)
			}
			if err != nil {
				return err
			}
			if sub.Blocked {
				return sip.Reject(403, "Account Blocked")
			}
			id := registrar.Identity{Username: sub.Username, Domain: sub.Domain, Realm: a.cfg.Registrar.Realm, Subscriber: sub}
			return next.ServeSIP(registrar.NewContext(ctx, id), w, r)
		})
	}
}

func syntheticInvite(number, from, domain, src string) *sip.Request {
	req := sipmsg.NewRequest(sip.INVITE, sip.URI{Scheme: "sip", User: number, Host: domain})
	host, port := src, 5060
	if h, p, ok := strings.Cut(src, ":"); ok {
		host = h
		fmt.Sscan(p, &port)
	}
	req.AppendHeader(&sipmsg.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: host, Port: port,
		Params: sipmsg.HeaderParams{{K: "branch", V: sipmsg.GenerateBranch()}}})
	mf := sipmsg.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	fh := &sipmsg.FromHeader{Address: sip.URI{Scheme: "sip", User: from, Host: domain}}
	fh.Params.Add("tag", sipmsg.GenerateTagN(10))
	req.AppendHeader(fh)
	req.AppendHeader(&sipmsg.ToHeader{Address: sip.URI{Scheme: "sip", User: number, Host: domain}})
	cid := sipmsg.CallIDHeader("route-" + sipmsg.GenerateTagN(12))
	req.AppendHeader(&cid)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	req.AppendHeader(&sipmsg.ContactHeader{Address: sip.URI{Scheme: "sip", User: from, Host: host, Port: port}})
	req.SetBody(nil)
	req.SetSource(src)
	req.SetTransport("UDP")
	return req
}

// trace collects each stage's decision as the request passes.
type trace struct {
	lines    []string
	targets  []sip.Target
	ruri     string
	decision *routing.Decision // the routing stage's, when it forwarded
}

func (t *trace) add(stage, format string, a ...any) {
	t.lines = append(t.lines, stage+"\t"+fmt.Sprintf(format, a...))
}

// after returns an observer placed after the stage called name: it runs
// when that stage passes the request on and reads what it decided.
func (t *trace) after(name string) sip.Middleware {
	return func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			t.decided(ctx, name, r)
			return next.ServeSIP(ctx, w, r)
		})
	}
}

func (t *trace) decided(ctx context.Context, name string, r *sip.Request) {
	switch name {
	case "source":
		s, _ := permission.SourceFrom(ctx)
		if s.Trusted {
			t.add(name, "trusted %s:%d group %d (%s)", s.IP, s.Port, s.Group, s.ContextInfo)
		} else {
			t.add(name, "untrusted %s:%d: authentication required", s.IP, s.Port)
		}
	case "auth":
		if id, ok := registrar.IdentityFrom(ctx); ok {
			t.add(name, "caller %s@%s, classes %s", id.Username, id.Domain, strings.Join(id.Subscriber.Classes, ","))
		} else {
			t.add(name, "not needed (trusted source)")
		}
	case "enum":
		if d, ok := enum.DecisionFrom(ctx); ok {
			t.add(name, "%s %s", d.Outcome, d.E164)
		}
	case "alias":
		if res, ok := alias.ResultFrom(ctx); ok && res.Found {
			t.add(name, "%s is an alias of %s@%s", res.Alias, res.User, res.Domain)
		} else {
			t.add(name, "%s is no alias", r.Recipient.User)
		}
	case "dialplan":
		if res, ok := dialplan.ResultFrom(ctx); ok {
			t.add(name, "rule %d: %s -> %s, class %s", res.RuleID, res.Input, res.Output, res.Attrs)
		}
	case "class":
		if d, ok := permission.ClassFrom(ctx); ok && d.Direction != "" {
			t.add(name, "%s call needs %s; held %s: allowed", d.Direction, orNone(d.Class), strings.Join(d.Held, ","))
		} else {
			t.add(name, "nothing to check")
		}
	case "destination":
		// The destination stage's targets are read by final.
	}
}

func orNone(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

// final records what would be sent.
func (t *trace) final(ctx context.Context, r *sip.Request) {
	t.ruri = r.Recipient.String()
	t.targets = sip.TargetsFrom(ctx)
	if d, ok := routing.DecisionFrom(ctx); ok {
		t.decision = &d
	}
}

func (t *trace) print(out io.Writer) {
	for _, l := range t.lines {
		fmt.Fprintln(out, l)
	}
	if t.ruri != "" {
		fmt.Fprintf(out, "request\tINVITE %s\n", t.ruri)
	}
	for i, tg := range t.targets {
		gw := tg.Gateway
		if gw == "" {
			gw = "-"
		}
		fmt.Fprintf(out, "target\t%d\t%s\t%s\n", i+1, tg.String(), gw)
	}
}

// recorder is the ResponseWriter of a dry run.
type recorder struct {
	mu     sync.Mutex
	status int
	reason string
}

func (w *recorder) WriteResponse(res *sip.Response) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if res.StatusCode >= 200 && w.status == 0 {
		w.status, w.reason = res.StatusCode, res.Reason
	}
	return nil
}

func (w *recorder) Status() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}
