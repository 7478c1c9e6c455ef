package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/permission"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
)

// routeSetup is `route NUMBER -from USER`: a dry run of the pipeline the
// server runs. A synthetic INVITE from USER to NUMBER goes through the very
// same stages (app.pipeline) with two stand-ins: authentication takes the
// caller as USER (its account is read from the store, so blocked accounts
// and classes count), and the Forwarder is replaced by a recorder that
// keeps the request and its targets instead of sending. Each stage writes
// its decision into the call's record, as it does on the server, and the
// dry run prints that record's trace: the explanation cannot drift from
// what the server does, and this command knows no stage.
//
// The dry run routes with the operator's gateway states only: a gateway
// the store has as inactive (a server's failed probes or calls, perhaps of
// a run long gone) is tried as active, and a note says so; one an
// operator disabled is skipped. The store is left as it is.
func routeSetup(fs *flag.FlagSet) runner {
	from := fs.String("from", "", "the calling account (required)")
	src := fs.String("src", defaultRouteSource, "the source address of the INVITE, ip:port (default: a campus phone, in no trusted group)")
	return func(ctx context.Context, e *env, args []string) error {
		if *from == "" {
			return usagef("-from USER is required")
		}
		if _, _, err := net.SplitHostPort(*src); err != nil {
			return usagef("-src %q is not ip:port", *src)
		}
		a, err := e.app(ctx)
		if err != nil {
			return err
		}
		defer a.close()
		return dryRun(ctx, a, args[0], *from, *src, e.out)
	}
}

// defaultRouteSource is the source of route's INVITE: an address on the
// campus network of the seed talk (its phones' 172.20.0.0/16) that is in
// no trusted group, so that the caller's account decides.
const defaultRouteSource = "172.20.1.26:5060"

// dryRun runs the INVITE of `route` through the pipeline and prints its
// trace, targets and answer.
func dryRun(ctx context.Context, a *app, number, from, src string, out io.Writer) error {
	var sent *sip.Request
	var targets []sip.Target
	term := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		sent, targets = r, sip.TargetsFrom(ctx)
		return w.WriteResponse(sip.NewResponse(r, 200, "OK (dry run: would forward)"))
	})
	h := a.pipeline(a.asCaller(from), term)
	// Probe state is a running server's view, stale once it stops: route
	// as the operator set the gateways, and say which states were set
	// aside.
	inactive, err := a.router.ClearInactive(ctx, false)
	if err != nil {
		return err
	}
	for _, gw := range inactive {
		fmt.Fprintf(out, "note	%s is inactive in the store (failed probes or calls of a server); tried as active here\n", gw)
	}

	req := syntheticInvite(number, from, a.domain, src)
	call := sip.NewCall(req)
	w := &recorder{}
	err = h.ServeSIP(sip.WithCall(ctx, call), w, req)
	for _, e := range call.TraceEntries() {
		fmt.Fprintln(out, e.String())
	}
	if sent != nil {
		fmt.Fprintf(out, "request\tINVITE %s\n", sent.Recipient.String())
	}
	for i, tg := range targets {
		gw := tg.Gateway
		if gw == "" {
			gw = "-"
		}
		fmt.Fprintf(out, "target\t%d\t%s\t%s\n", i+1, tg.String(), gw)
	}
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

// asCaller stands in for authentication in a dry run: the caller is the
// account user, as the store has it, and goes into the call's record as
// the registrar would put it.
func (a *app) asCaller(user string) sip.Middleware {
	return func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			call := sip.CallFrom(ctx)
			if permission.TrustedSource(ctx, r) {
				call.Trace("auth", sip.Note("not needed (trusted source)"))
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
			call.SetCaller(sip.CallerIdentity{User: id.Username, Domain: id.Domain})
			call.Trace("auth", id)
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
