package registrar

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/palio-voip/palio/sip"
)

// Lookup is the stage that sends a request for a registered AOR to its
// contacts (OpenSIPS's lookup("location") followed by t_relay): it looks up
// the Request-URI's AOR and hands the Forwarder one sip.Target per live
// binding, best first (highest q, then the most recently refreshed);
// several targets are forked in parallel. A binding whose REGISTER came
// from another address than its contact's (a NAT, or a TCP/TLS connection
// from an ephemeral port) gets that received address as the next hop, and
// the transport it registered over, so that the request reaches the phone
// through the hole or connection it opened. An AOR without a live binding
// is answered Config.NotRegistered (404, or 480), or Config.UnknownUser
// when that is set and the AOR has no account either. Put it where the
// dialplan has classified the call as one to a registered user.
func (r *Registrar) Lookup(next sip.Handler) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) error {
		targets, err := r.targets(ctx, req.Recipient)
		if err != nil {
			return err
		}
		call := sip.CallFrom(ctx)
		// The callee's canonical AOR: the account's user at the realm (the
		// Request-URI's host may be the proxy's address).
		aor := r.AOR(req.Recipient)
		if !strings.Contains(aor, "@") {
			domain := r.cfg.Realm
			if domain == "" {
				domain = req.Recipient.Host
			}
			aor += "@" + domain
		}
		call.SetCallee(aor)
		if len(targets) == 0 {
			if r.cfg.UnknownUser != 0 {
				known, err := r.hasAccount(ctx, req.Recipient)
				if err != nil {
					return err
				}
				if !known {
					r.metrics.lookups.WithLabelValues("unknown-user").Inc()
					call.Tracef("destination", "registrar lookup of %s: no such account", aor)
					return sip.Reject(r.cfg.UnknownUser, "")
				}
			}
			r.metrics.lookups.WithLabelValues("not-registered").Inc()
			call.Tracef("destination", "registrar lookup of %s: not registered", aor)
			return sip.Reject(r.cfg.NotRegistered, "")
		}
		r.metrics.lookups.WithLabelValues("found").Inc()
		call.Trace("destination", lookupNote{aor, len(targets)})
		err = next.ServeSIP(sip.WithTargets(ctx, targets...), w, req)
		se, ok := sip.AsStatus(err)
		switch {
		case !ok:
		case se.Code == 430:
			// The flow the phone registered over is gone (RFC 5626 §5.3:
			// 430 is between proxies, never for an endpoint): the phone is
			// registered but cannot be reached until it registers again.
			call.Tracef("destination", "registrar lookup of %s: the phone's flow failed (430)", aor)
			return &sip.StatusError{Code: 480, Reason: "Temporarily Unavailable", Err: err}
		case (se.Code == 503 || se.Code == 408) && se.Response == nil && allRouted(targets):
			// Nothing answered at the start of the Path: the node holding
			// the phones' connections is down, and them with it.
			call.Tracef("destination", "registrar lookup of %s: the Path's first hop did not answer (%d)", aor, se.Code)
			return &sip.StatusError{Code: 480, Reason: "Temporarily Unavailable", Err: err}
		}
		return err
	})
}

// allRouted reports whether every target goes through a Path.
func allRouted(targets []sip.Target) bool {
	for _, t := range targets {
		if len(t.Route) == 0 {
			return false
		}
	}
	return len(targets) > 0
}

// hasAccount reports whether the Request-URI u names an account: its user
// alone, or with Config.UseDomain its user at the realm (the host when no
// realm is set), as the registrar authenticates it.
func (r *Registrar) hasAccount(ctx context.Context, u sip.URI) (bool, error) {
	if u.User == "" {
		return false, nil
	}
	domain := ""
	if r.cfg.UseDomain {
		domain = r.cfg.Realm
		if domain == "" {
			domain = strings.ToLower(u.Host)
		}
	}
	_, err := r.subs.Subscriber(ctx, u.User, domain)
	switch {
	case errors.Is(err, ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("registrar: subscriber %q: %w", u.User, err)
	}
	return true, nil
}

// Targets returns where a request for uri would be sent: the live
// bindings of its AOR as targets, best first; none when it is not
// registered. It is the Lookup stage without the request (the `route`
// dry run, the features package).
func (r *Registrar) Targets(ctx context.Context, uri sip.URI) ([]sip.Target, error) {
	return r.targets(ctx, uri)
}

func (r *Registrar) targets(ctx context.Context, uri sip.URI) ([]sip.Target, error) {
	if uri.User == "" {
		return nil, nil
	}
	list, err := r.Bindings(ctx, r.AOR(uri))
	if err != nil {
		return nil, err
	}
	targets := make([]sip.Target, 0, len(list))
	for _, b := range list {
		t, err := target(b)
		if err != nil {
			r.log.Warn("registrar: unusable contact skipped", "aor", b.AOR, "contact", b.Contact, "error", err)
			continue
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// target turns a binding into the Forwarder's target. Its Path becomes
// the target's route set (RFC 3327 §5.3): the request goes through the
// proxies, or the cluster node, the phone registered through; the
// received address and transport apply where the Path ends (the node that
// took the REGISTER, when it routes the call itself).
func target(b Binding) (sip.Target, error) {
	u, err := sip.ParseURI(b.Contact)
	if err != nil {
		return sip.Target{}, fmt.Errorf("registrar: contact %q: %w", b.Contact, err)
	}
	t := sip.Target{URI: u, Transport: b.Transport}
	if b.Received != "" && b.Received != contactAddr(&u, b.Transport) {
		t.NextHop = b.Received
	}
	if b.Path != "" {
		if t.Route, err = sip.ParseRouteSet(b.Path); err != nil {
			return sip.Target{}, fmt.Errorf("registrar: path %q: %w", b.Path, err)
		}
	}
	return t, nil
}

// contactAddr is the "ip:port" a contact URI points at: its transport
// parameter (or sips) wins over the transport it registered over.
func contactAddr(u *sip.URI, transport string) string {
	if _, ok := u.UriParams.Get("transport"); ok || u.Scheme == "sips" {
		transport = ""
	}
	return sip.URIAddr(u, transport)
}

// lookupNote is the Lookup stage's decision, for the call's trace.
type lookupNote struct {
	aor      string
	contacts int
}

func (n lookupNote) String() string {
	return "registrar lookup of " + n.aor + ": " + strconv.Itoa(n.contacts) + " contacts"
}
