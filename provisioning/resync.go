package provisioning

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
)

// Sender sends requests of the proxy's own: *sip.Server.
type Sender interface {
	NewRequest(method sip.Method, ruri, from, to sip.URI) *sip.Request
	Send(ctx context.Context, req *sip.Request, t sip.Target) (*sip.Response, error)
}

// Locator finds where accounts are registered: *registrar.Registrar.
type Locator interface {
	AOR(u sip.URI) string
	Bindings(ctx context.Context, aor string) ([]registrar.Binding, error)
}

// WithResync lets Resync send NOTIFYs through srv (the proxy, so that a
// phone behind NAT or on a TCP connection is reached where it
// registered) to the contacts loc knows.
func WithResync(srv Sender, loc Locator) Option {
	return func(p *Provisioner) { p.sender, p.locator = srv, loc }
}

// ErrNoResync is returned by Resync without WithResync.
var ErrNoResync = errors.New("provisioning: resync needs a SIP server (WithResync)")

// ErrNotRegistered is returned by Resync for a device none of whose
// lines is registered.
var ErrNotRegistered = errors.New("provisioning: the device is not registered")

// ResyncEvent returns the Event header of the NOTIFY that makes a phone
// of family f fetch its configuration again: "check-sync;reboot=false"
// for SNOM and Yealink (and generic phones), "resync" for Cisco.
func ResyncEvent(f Family) string {
	if f == Cisco {
		return "resync"
	}
	return "check-sync;reboot=false"
}

// ResyncResult is the outcome of one resync NOTIFY.
type ResyncResult struct {
	// Contact is the contact the NOTIFY went to; AOR its account.
	Contact, AOR string
	// Status is the phone's final response (0 when none came) and Err
	// why it failed.
	Status int
	Err    error
}

// Resync sends the vendor's resync NOTIFY (ResyncEvent) to the device's
// registered contact: among the bindings of its lines' accounts, those
// that name its MAC (in the User-Agent, +sip.instance or the contact),
// else those registered from the address it last fetched from, else the
// account's only binding. An account registered on several phones, none
// of which can be told to be this one, gets no NOTIFY: a check-sync makes
// some phones reboot. It returns a result per NOTIFY sent, or
// ErrNotRegistered.
func (p *Provisioner) Resync(ctx context.Context, mac MAC) ([]ResyncResult, error) {
	if p.sender == nil || p.locator == nil {
		return nil, ErrNoResync
	}
	d, err := p.store.Device(ctx, mac)
	if err != nil {
		return nil, err
	}
	event := ResyncEvent(familyOf(d.Model))
	var out []ResyncResult
	seen := map[string]bool{}
	for _, l := range d.Lines {
		dom := l.Domain
		if dom == "" {
			dom = p.cfg.Domain
		}
		aorURI := sip.URI{Scheme: "sip", User: l.User, Host: dom}
		aor := p.locator.AOR(aorURI)
		if seen[aor] {
			continue
		}
		seen[aor] = true
		bindings, err := p.locator.Bindings(ctx, aor)
		if err != nil {
			return out, err
		}
		for _, b := range deviceBindings(bindings, d) {
			if seen[b.Contact] {
				continue
			}
			seen[b.Contact] = true
			out = append(out, p.notify(ctx, b, aorURI, event))
		}
		if len(out) > 0 {
			break // one line's contact is the phone
		}
	}
	if len(out) == 0 {
		p.metrics.resyncs.WithLabelValues("unregistered").Inc()
		return nil, fmt.Errorf("%w: %s", ErrNotRegistered, mac)
	}
	return out, nil
}

// deviceBindings picks d's bindings among an account's.
func deviceBindings(list []registrar.Binding, d Device) []registrar.Binding {
	var byMAC, byIP []registrar.Binding
	hex, colon := d.MAC.String(), d.MAC.Colon()
	for _, b := range list {
		s := strings.ToLower(b.UserAgent + " " + b.Instance + " " + b.Contact)
		if strings.Contains(s, hex) || strings.Contains(s, colon) {
			byMAC = append(byMAC, b)
			continue
		}
		if d.LastIP != "" {
			if host, _, err := net.SplitHostPort(b.Received); err == nil && host == d.LastIP {
				byIP = append(byIP, b)
			}
		}
	}
	switch {
	case len(byMAC) > 0:
		return byMAC
	case len(byIP) > 0:
		return byIP
	case len(list) == 1:
		return list
	}
	return nil
}

// notify sends one resync NOTIFY to binding b of aor.
func (p *Provisioner) notify(ctx context.Context, b registrar.Binding, aor sip.URI, event string) ResyncResult {
	r := ResyncResult{Contact: b.Contact, AOR: aor.User + "@" + aor.Host}
	t, err := bindingTarget(b)
	if err != nil {
		r.Err = err
		p.metrics.resyncs.WithLabelValues("failed").Inc()
		return r
	}
	from := sip.URI{Scheme: "sip", User: "provisioning", Host: aor.Host}
	req := p.sender.NewRequest(sip.NOTIFY, t.URI, from, aor)
	req.AppendHeader(sip.NewHeader("Event", event))
	req.AppendHeader(sip.NewHeader("Subscription-State", "terminated"))
	res, err := p.sender.Send(ctx, req, t)
	switch {
	case err != nil:
		r.Err = err
		var se *sip.StatusError
		if errors.As(err, &se) {
			r.Status = se.Code
		}
		p.metrics.resyncs.WithLabelValues("failed").Inc()
	case res.StatusCode >= 300:
		r.Status, r.Err = res.StatusCode, fmt.Errorf("provisioning: resync of %s: %d %s", b.Contact, res.StatusCode, res.Reason)
		p.metrics.resyncs.WithLabelValues("rejected").Inc()
	default:
		r.Status = res.StatusCode
		p.metrics.resyncs.WithLabelValues("ok").Inc()
	}
	level := "ok"
	if r.Err != nil {
		level = r.Err.Error()
	}
	p.log.Info("provisioning: resync NOTIFY", "contact", b.Contact, "event", event, "status", r.Status, "result", level)
	return r
}

// bindingTarget is where a request for binding b goes: its contact, over
// the transport it registered on, to the address it registered from (a
// NATed phone's, a TCP phone's connection), through its Path if it has
// one (the node of a cluster that holds the phone's connection), as the
// registrar's lookup sends calls.
func bindingTarget(b registrar.Binding) (sip.Target, error) {
	u, err := sip.ParseURI(b.Contact)
	if err != nil {
		return sip.Target{}, fmt.Errorf("provisioning: contact %q: %w", b.Contact, err)
	}
	t := sip.Target{URI: u, Transport: b.Transport}
	if b.Received != "" && b.Received != sip.URIAddr(&u, b.Transport) {
		t.NextHop = b.Received
	}
	if b.Path != "" {
		if t.Route, err = sip.ParseRouteSet(b.Path); err != nil {
			return sip.Target{}, fmt.Errorf("provisioning: path %q: %w", b.Path, err)
		}
	}
	return t, nil
}

// ResyncPending sends the resyncs q holds (an operator's `device
// resync`, another process's request) and returns how many devices it
// took. A device that is not registered, or whose phone does not answer,
// is logged; it is not asked again.
func (p *Provisioner) ResyncPending(ctx context.Context, q ResyncQueue) (int, error) {
	macs, err := q.TakeResyncs(ctx)
	if err != nil {
		return 0, err
	}
	for _, m := range macs {
		if _, err := p.Resync(ctx, m); err != nil {
			p.log.Warn("provisioning: resync", "mac", m, "error", err)
		}
	}
	return len(macs), nil
}
