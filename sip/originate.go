package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"

	sipmsg "github.com/emiago/sipgo/sip"
)

// ErrNoDialog is returned for a call the dialog table does not have.
var ErrNoDialog = errors.New("sip: no such dialog")

// ErrHungUp is the cause of the context of a call an operator hung up
// before it was answered (see Server.Hangup).
var ErrHungUp = errors.New("sip: call hung up by the proxy")

// NewRequest returns a request of the proxy's own, outside any dialog,
// for Send: method to the Request-URI ruri, From from (with a new tag),
// To to, a new Call-ID, CSeq 1 and Max-Forwards 70. Add headers and a
// body before sending it.
func (s *Server) NewRequest(method Method, ruri, from, to URI) *Request {
	req := sipmsg.NewRequest(method, *ruri.Clone())
	fh := &sipmsg.FromHeader{Address: *from.Clone()}
	fh.Params.Add("tag", newTag())
	req.AppendHeader(fh)
	req.AppendHeader(&sipmsg.ToHeader{Address: *to.Clone()})
	host := "palio"
	if ls, ok := s.local.listen("udp"); ok {
		host = ls.host
	} else if len(s.local.listens) > 0 {
		host = s.local.listens[0].host
	}
	cid := sipmsg.CallIDHeader(newTag() + newTag() + "@" + host)
	req.AppendHeader(&cid)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: 1, MethodName: method})
	mf := sipmsg.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.SetBody(nil)
	return req
}

// newTag returns a random tag.
func newTag() string {
	var b [16]byte
	return string(strconv.AppendUint(b[:0], rand.Uint64(), 36))
}

// Send sends req, a request of the proxy's own, to t and returns its final
// response: req's Request-URI becomes t.URI, and it goes to t.NextHop when
// set (a phone's received address: for a phone registered over TCP, TLS
// or WebSocket, the connection it registered on is reused), else where its
// first Route or its Request-URI says, over t's transport. t.Route is
// pushed onto the request's Route headers as the Forwarder does (a
// binding's Path: a phone registered on another node is reached through
// it, one on a flow of this server over that flow). The proxy adds
// its Via (and Max-Forwards 70 when req has none); the transaction layer
// retransmits over UDP. It returns when a final response arrives, the
// transaction times out (a *StatusError 408), the next hop cannot be
// reached (503), or ctx ends.
//
// In-dialog requests (a NOTIFY of a subscription the caller keeps) carry
// their dialog's Route headers, tags and CSeq, set by the caller. INVITE
// and ACK are not sent this way: an INVITE of the proxy's own is a
// back-to-back user agent's job.
func (s *Server) Send(ctx context.Context, req *Request, t Target) (*Response, error) {
	if req.IsInvite() || req.IsAck() || req.Method == CANCEL {
		return nil, fmt.Errorf("sip: Send: %s is not sent this way", req.Method)
	}
	if s.closing.Load() {
		return nil, errServerClosed
	}
	req.Recipient = *t.URI.Clone()
	if req.MaxForwards() == nil {
		mf := sipmsg.MaxForwardsHeader(70)
		req.AppendHeader(&mf)
	}
	hop, err := s.routeTarget(req, nil, t)
	if err != nil {
		return nil, err
	}
	if err := s.addVia(req, hop.transport, newBranch("")); err != nil {
		return nil, err
	}
	req.SetDestination(hop.addr)
	s.detached.Add(1)
	defer s.detached.Add(-1)
	s.metrics.originated.WithLabelValues(methodLabel(req.Method)).Inc()
	tx, err := s.tr.request(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, Rejectf(503, "Service Unavailable", fmt.Errorf("sip: sending %s to %s: %w", req.Method, t, err))
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.StatusCode >= 200 {
				return res, nil
			}
		case <-tx.Done():
			o := txOutcome(tx.Err(), false)
			return nil, &StatusError{Code: o.code, Reason: o.reason, Err: fmt.Errorf("sip: %s to %s: %w", req.Method, t, o.err)}
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

// Hangup ends the call of callID and fromTag (the caller's tag) from the
// proxy, as an operator's "hang up" on the live calls page does. An
// answered call gets a BYE to each end, sent as if by the other end (its
// tags, the next CSeq of that end, the route set the dialog recorded, the
// end's NAT or connection), with a Reason header (RFC 3326) saying
// reason; both are sent at once and Hangup waits for their responses or
// ctx. A call not answered yet is cancelled, as if the caller had: its
// branches get a CANCEL and the caller a 487. Either way the dialog ends
// with CauseHangup. It returns ErrNoDialog for a call the table does not
// have, and the BYEs' failures, if any, joined.
func (s *Server) Hangup(ctx context.Context, callID, fromTag, reason string) error {
	e := s.dialogs.lookup(dialogKey{callID, fromTag})
	if e == nil {
		return ErrNoDialog
	}
	e.mu.Lock()
	state := e.d.State
	e.mu.Unlock()
	if state != DialogConfirmed {
		if !e.call.abortCall(ErrHungUp) {
			return fmt.Errorf("sip: hang up %s: the call's INVITE is not being handled here", callID)
		}
		s.dialogs.terminate(e, CauseHangup, 487, true)
		return nil
	}
	byes, err := s.dialogs.byes(e, reason)
	if err != nil {
		return err
	}
	s.dialogs.terminate(e, CauseHangup, 0, false)
	errs := make([]error, len(byes))
	var wg sync.WaitGroup
	for i, b := range byes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.Send(ctx, b.req, b.hop)
			switch {
			case err != nil:
				errs[i] = fmt.Errorf("sip: BYE to the %s: %w", b.to, err)
			case res.StatusCode >= 300 && res.StatusCode != 481:
				errs[i] = fmt.Errorf("sip: BYE to the %s: %d %s", b.to, res.StatusCode, res.Reason)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// bye is a BYE of the proxy's own to one end of a dialog.
type bye struct {
	to  Side
	req *Request
	hop Target
}

// byes builds the BYEs that end the answered dialog e at both ends.
func (t *Dialogs) byes(e *dialogEntry, reason string) ([]bye, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	en := &e.ends
	callerURI, err1 := ParseURI(e.d.From)
	calleeURI, err2 := ParseURI(e.d.To)
	if err := errors.Join(err1, err2); err != nil || en.calleeHop.target.host == "" || en.callerHop.target.host == "" {
		return nil, fmt.Errorf("sip: hang up %s: the dialog lacks a party's address (%v)", e.d.CallID, err)
	}
	build := func(to Side) bye {
		h, routes := en.calleeHop, en.toCallee
		fromURI, fromTag, toURI, toTag := callerURI, e.d.FromTag, calleeURI, e.d.ToTag
		if to == CallerSide {
			h, routes = en.callerHop, en.toCaller
			fromURI, fromTag, toURI, toTag = calleeURI, e.d.ToTag, callerURI, e.d.FromTag
		}
		ruri := URI{Scheme: "sip", User: h.target.user, Host: h.target.host, Port: h.target.port}
		if strings.Contains(ruri.Host, ":") {
			ruri.Host = "[" + ruri.Host + "]"
		}
		if h.transport != "" && h.transport != "UDP" {
			ruri.UriParams = sipmsg.HeaderParams{{K: "transport", V: strings.ToLower(h.transport)}}
		}
		req := sipmsg.NewRequest(BYE, ruri)
		fh := &sipmsg.FromHeader{Address: fromURI}
		fh.Params.Add("tag", fromTag)
		req.AppendHeader(fh)
		th := &sipmsg.ToHeader{Address: toURI}
		th.Params.Add("tag", toTag)
		req.AppendHeader(th)
		for _, r := range routes {
			req.AppendHeader(&sipmsg.RouteHeader{Address: *r.Clone()})
		}
		target := Target{URI: ruri, NextHop: h.nextHop, Transport: h.transport}
		if len(routes) > 0 {
			// The route set leads the way; the end's own next hop does not
			// apply past the first proxy.
			target.NextHop, target.Transport = "", ""
		}
		cid := sipmsg.CallIDHeader(e.d.CallID)
		req.AppendHeader(&cid)
		// The request comes, for the end that gets it, from the other end:
		// one more than the other end's highest CSeq.
		en.seq[to.Other()]++
		req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: en.seq[to.Other()], MethodName: BYE})
		if reason != "" {
			req.AppendHeader(sipmsg.NewHeader("Reason", `SIP;cause=200;text="`+quoteText(reason)+`"`))
		}
		req.SetBody(nil)
		return bye{to: to, req: req, hop: target}
	}
	return []bye{build(CalleeSide), build(CallerSide)}, nil
}

// quoteText makes s safe inside a quoted-string.
func quoteText(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			out = append(out, '\\', c)
		case c < 0x20 || c == 0x7f:
		default:
			out = append(out, c)
		}
	}
	return string(out)
}
