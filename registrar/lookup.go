package registrar

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

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
		bindings, targets, err := r.lookup(ctx, req.Recipient)
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
		err = r.forward(ctx, next, w, req, bindings, targets)
		se, ok := sip.AsStatus(err)
		switch {
		case !ok:
		case se.Code == 430:
			// Every flow tried had failed and no other binding was left
			// (RFC 5626 §11.5: 430 is between proxies, never for an
			// endpoint): the phone cannot be reached until it registers
			// again.
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

// forward hands the targets to next, one flow per UA instance at a time
// (RFC 5626 §7): bindings without a +sip.instance, and the best binding
// of each instance, are forked together; a binding whose branch failed
// with 430 (Flow Failed: the node holding the phone's connection found it
// gone) is removed from the location store, and when the call was not
// answered the next binding of the same instance, if any, is tried in its
// place. It returns the best outcome of all rounds (RFC 3261 §16.7,
// sip.ResponseRank: a 430 only when nothing else came).
func (r *Registrar) forward(ctx context.Context, next sip.Handler, w sip.ResponseWriter, req *sip.Request, bindings []Binding, targets []sip.Target) error {
	round, spare := firstFlows(bindings)
	var best error
	for len(round) > 0 {
		set := make([]sip.Target, len(round))
		for i, bi := range round {
			set[i] = targets[bi]
		}
		bctx, branches := sip.WithBranches(ctx)
		err := next.ServeSIP(sip.WithTargets(bctx, set...), w, req)
		var failed []int
		for _, res := range branches.Results() {
			if res.Code == 430 && res.Index >= 0 && res.Index < len(round) {
				failed = append(failed, round[res.Index])
			}
		}
		for _, bi := range failed {
			r.dropFailedFlow(ctx, bindings[bi])
		}
		se, ok := sip.AsStatus(err)
		if !ok {
			return err // answered (nil), or not a SIP outcome
		}
		if best == nil || sip.Better(se, mustStatus(best)) {
			best = err
		}
		if se.Code >= 600 || ctx.Err() != nil || w.Status() >= 200 {
			break
		}
		round = round[:0:0]
		for _, bi := range failed {
			inst := bindings[bi].Instance
			if inst == "" || len(spare[inst]) == 0 {
				continue
			}
			round = append(round, spare[inst][0])
			spare[inst] = spare[inst][1:]
		}
	}
	return best
}

// mustStatus returns err's StatusError; forward keeps only errors that
// have one.
func mustStatus(err error) *sip.StatusError {
	se, _ := sip.AsStatus(err)
	return se
}

// firstFlows splits bindings (best first) into those forked at once,
// every binding without an instance and the best of each instance, and
// the spare flows of each instance, in order, by instance.
func firstFlows(bindings []Binding) (first []int, spare map[string][]int) {
	seen := make(map[string]bool)
	for i, b := range bindings {
		switch {
		case b.Instance == "":
			first = append(first, i)
		case !seen[b.Instance]:
			seen[b.Instance] = true
			first = append(first, i)
		default:
			if spare == nil {
				spare = make(map[string][]int)
			}
			spare[b.Instance] = append(spare[b.Instance], i)
		}
	}
	return first, spare
}

// dropFailedFlow removes b from the location store because its flow
// failed (a 430 from the end of its Path, RFC 5626 §7): only if the
// stored binding is still that flow's (the same contact, Path and
// received address: a phone that registered again meanwhile keeps its
// new binding), and publishes EventFlowFailed. A store error is logged:
// the call goes on, and the binding expires in time.
func (r *Registrar) dropFailedFlow(ctx context.Context, b Binding) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	defer r.lock(b.AOR)()
	list, err := r.loc.Lookup(ctx, b.AOR)
	if err != nil {
		r.log.Warn("registrar: dropping a failed flow's binding", "aor", b.AOR, "contact", b.Contact, "error", err)
		return
	}
	i := slices.IndexFunc(list, func(o Binding) bool {
		return o.Contact == b.Contact && o.Path == b.Path && o.Received == b.Received
	})
	if i < 0 {
		return // gone already, or registered again over another flow
	}
	if err := r.loc.Delete(ctx, b.AOR, b.Contact); err != nil {
		if !errors.Is(err, ErrNotFound) {
			r.log.Warn("registrar: dropping a failed flow's binding", "aor", b.AOR, "contact", b.Contact, "error", err)
		}
		return
	}
	r.log.Info("registrar: binding dropped: its flow failed (430)", "aor", b.AOR, "contact", b.Contact)
	r.publish([]Event{{Kind: EventFlowFailed, Binding: list[i], Time: r.now()}})
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
	_, targets, err := r.lookup(ctx, uri)
	return targets, err
}

// lookup returns the live bindings of uri's AOR that make a target, best
// first, and their targets, one for one.
func (r *Registrar) lookup(ctx context.Context, uri sip.URI) ([]Binding, []sip.Target, error) {
	if uri.User == "" {
		return nil, nil, nil
	}
	list, err := r.Bindings(ctx, r.AOR(uri))
	if err != nil {
		return nil, nil, err
	}
	bindings := list[:0]
	targets := make([]sip.Target, 0, len(list))
	for _, b := range list {
		t, err := target(b)
		if err != nil {
			r.log.Warn("registrar: unusable contact skipped", "aor", b.AOR, "contact", b.Contact, "error", err)
			continue
		}
		bindings = append(bindings, b)
		targets = append(targets, t)
	}
	return bindings, targets, nil
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
