package sip

import (
	"context"
	"slices"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// ServeMux dispatches requests by what they are, not by their URI:
//
//   - CANCEL: a CANCEL that matched a transaction never reaches the mux
//     (the transaction layer answers it and cancels the request's context);
//     the ones that get here match nothing: 481.
//   - requests with a To tag (in-dialog), ACK included: InDialog, except
//     SUBSCRIBE and PUBLISH refreshes when Presence is set.
//   - REGISTER: Register.
//   - SUBSCRIBE and PUBLISH: Presence when set, else like other initial
//     requests.
//   - OPTIONS addressed to this proxy (a Request-URI of ours without a
//     user): answered 200 here, with Allow.
//   - BYE, PRACK and UPDATE without a To tag: 481 (they only make sense in
//     a dialog).
//   - a request for InDialog or Initial with Max-Forwards 0: 483, before
//     any stage looks at it (RFC 3261 §16.3 step 3); REGISTER, presence
//     and OPTIONS to the proxy are for us, not forwarded, and are served.
//   - any other request: Initial (the pipeline), when its method is in
//     Methods.
//
// A request nobody handles gets 405 with an Allow header listing what the
// mux does handle (RFC 3261 §8.2.1). Set the fields before serving.
type ServeMux struct {
	// Local tells which Request-URIs are this proxy (OPTIONS pings).
	Local *Local
	// Register handles REGISTER (the registrar).
	Register Handler
	// Presence handles SUBSCRIBE and PUBLISH (the presence server).
	Presence Handler
	// InDialog handles requests with a To tag (usually a *DialogRelay).
	InDialog Handler
	// Initial handles the other requests that start something: the
	// pipeline, ending in the Forwarder.
	Initial Handler
	// Methods lists the methods Initial accepts; nil means INVITE,
	// MESSAGE, OPTIONS, INFO, REFER, NOTIFY, SUBSCRIBE and PUBLISH.
	Methods []Method
}

var _ Handler = (*ServeMux)(nil)

var defaultInitialMethods = []Method{INVITE, MESSAGE, OPTIONS, INFO, REFER, NOTIFY, SUBSCRIBE, PUBLISH}

// ServeSIP dispatches r. See ServeMux.
func (m *ServeMux) ServeSIP(ctx context.Context, w ResponseWriter, r *Request) error {
	inDialog := toTag(r) != ""
	switch {
	case r.Method == CANCEL:
		return Reject(481, "Call/Transaction Does Not Exist")
	case r.IsAck():
		if inDialog && m.InDialog != nil {
			return m.InDialog.ServeSIP(ctx, w, r)
		}
		return nil // an ACK is never answered
	case (r.Method == SUBSCRIBE || r.Method == PUBLISH) && m.Presence != nil:
		return m.Presence.ServeSIP(ctx, w, r)
	case inDialog:
		if m.InDialog != nil {
			if err := checkMaxForwards(r); err != nil {
				return err
			}
			return m.InDialog.ServeSIP(ctx, w, r)
		}
	case r.Method == REGISTER:
		if m.Register != nil {
			return m.Register.ServeSIP(ctx, w, r)
		}
	case r.Method == OPTIONS && r.Recipient.User == "" && m.Local != nil && m.Local.IsLocal(&r.Recipient):
		res := NewResponse(r, 200, "OK")
		res.AppendHeader(sipmsg.NewHeader("Allow", m.allow()))
		res.AppendHeader(sipmsg.NewHeader("Accept", "application/sdp"))
		return w.WriteResponse(res)
	case r.Method == BYE || r.Method == PRACK || r.Method == UPDATE:
		return Reject(481, "Call/Transaction Does Not Exist")
	default:
		if m.Initial != nil && slices.Contains(m.methods(), r.Method) {
			// RFC 3261 §16.3 step 3: a request that may not be forwarded
			// gets 483 before routing looks at it (the dialplan would
			// answer 420 to a number it does not know, for one).
			if err := checkMaxForwards(r); err != nil {
				return err
			}
			return m.Initial.ServeSIP(ctx, w, r)
		}
	}
	res := NewResponse(r, 405, "Method Not Allowed")
	res.AppendHeader(sipmsg.NewHeader("Allow", m.allow()))
	return &StatusError{Code: 405, Response: res}
}

func (m *ServeMux) methods() []Method {
	if m.Methods != nil {
		return m.Methods
	}
	return defaultInitialMethods
}

// allow lists the methods the mux handles, for the Allow header.
func (m *ServeMux) allow() string {
	set := []Method{ACK, CANCEL, OPTIONS}
	if m.InDialog != nil {
		set = append(set, BYE, PRACK, UPDATE, INFO, NOTIFY, REFER, MESSAGE, INVITE)
	}
	if m.Register != nil {
		set = append(set, REGISTER)
	}
	if m.Presence != nil {
		set = append(set, SUBSCRIBE, PUBLISH)
	}
	if m.Initial != nil {
		set = append(set, m.methods()...)
	}
	order := []Method{INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, REFER, INFO, MESSAGE, PRACK, UPDATE}
	var out []string
	for _, x := range order {
		if slices.Contains(set, x) {
			out = append(out, string(x))
		}
	}
	for _, x := range set {
		if !slices.Contains(order, x) && !slices.Contains(out, string(x)) {
			out = append(out, string(x))
		}
	}
	return strings.Join(out, ", ")
}
