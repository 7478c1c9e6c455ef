package main

import (
	"context"
	"flag"
	"io"
	"net"
	"strings"

	"github.com/palio-voip/palio/sip"
)

// routeSetup is `route NUMBER -from USER`: a dry run of the pipeline the
// server runs. A synthetic INVITE from USER to NUMBER goes through the very
// same stages (app.pipeline) with two stand-ins: authentication takes the
// caller as USER (registrar.AsCaller: its account is read from the store,
// so blocked accounts and classes count), and the Forwarder is replaced by
// sip.RunDry's recorder that keeps the request and its targets instead of
// sending, and the guard's stages check without counting (app.DryRun).
// Each stage writes
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

// dryRun runs the INVITE of `route` through the pipeline (app.DryRun)
// and prints its trace, targets and answer; a refused call exits 1.
func dryRun(ctx context.Context, a *app, number, from, src string, out io.Writer) error {
	// Probe state is a running server's view, stale once it stops: route
	// as the operator set the gateways, and say which states were set
	// aside.
	inactive, err := a.router.ClearInactive(ctx, false)
	if err != nil {
		return err
	}
	d, err := a.DryRun(ctx, number, from, src)
	for _, gw := range inactive {
		d.Notes = append(d.Notes, gw+" is inactive in the store (failed probes or calls of a server); tried as active here")
	}
	if err != nil {
		// What the stages decided before the failure; no result.
		text := d.String()
		io.WriteString(out, text[:strings.LastIndex(text, "result\t")])
		return err
	}
	if _, err := d.WriteTo(out); err != nil {
		return err
	}
	if d.Refused {
		return exitError{code: 1}
	}
	return nil
}

// DryRun runs a synthetic INVITE from the account from to number, received
// from src (ip:port; empty: defaultRouteSource), through the pipeline the
// server runs, with the registrar's dry-run stand-in for authentication
// (registrar.AsCaller) and sip.RunDry's recorder for the Forwarder. It is
// the admin API's route dry run (admin.Pipeline) as well as `route`'s.
//
// The guard's stages are in their places as on the server, checking
// only (guard.CheckBans, guard.CheckFraud): a banned source, a locked or
// fraud-blocked account, a call that would reach a critical fraud
// threshold are refused as the server would refuse them, and the dry run
// counts nothing. The guard is the running server's (its fraud figures
// of the day) or, for the command, one read from the store.
func (a *app) DryRun(ctx context.Context, number, from, src string) (sip.DryRun, error) {
	if src == "" {
		src = defaultRouteSource
	}
	req, err := sip.NewDryRunInvite(number, from, a.domain, src)
	if err != nil {
		return sip.DryRun{}, err
	}
	g, done, err := a.dryGuard()
	if err != nil {
		return sip.DryRun{}, err
	}
	defer done()
	return sip.RunDry(ctx, func(next sip.Handler) sip.Handler {
		return g.CheckBans(from)(a.pipeline(sip.Chain(a.regr.AsCaller(from), g.CheckFraud), next))
	}, req)
}
