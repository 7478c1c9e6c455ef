package sip

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// ForwarderConfig sets the Forwarder's timers.
type ForwarderConfig struct {
	// TimerC bounds how long an INVITE branch may ring: it starts with the
	// first provisional response and restarts with each one; when it fires
	// the branch is CANCELled and counts as 408 (RFC 3261 §16.6 step 11,
	// §16.8). Default 180 s (the RFC asks for more than 3 minutes; lower it
	// for failover that should not wait for an unanswered phone).
	TimerC time.Duration
	// FirstResponse bounds the wait for a branch's first response, after
	// which it counts as 408 without a CANCEL (Kamailio's fr_timer). Default
	// 32 s (64*T1, the transaction's own Timer B).
	FirstResponse time.Duration
}

// Forwarder is the terminal handler of the pipeline: it relays the request
// statefully to the targets the pipeline chose (WithTargets) or to its
// Request-URI, and is the only code that starts client transactions for
// initial requests. Per branch it adds Via and, for dialog-creating
// requests, Record-Route; relays provisional responses (not 100) and 2xx
// at once, and the 2xx retransmissions too; holds back responses ≥ 300 and
// returns them as a *StatusError; turns a timeout into 408 and a transport
// error into 503; CANCELs downstream when the caller cancels or Timer C
// fires; and ACKs and BYEs a 2xx that comes after the caller's CANCEL was
// answered. Several targets are forked in parallel: the first 2xx cancels
// the other branches, and with no answer the best final response wins
// (RFC 3261 §16.7).
type Forwarder struct {
	s             *Server
	timerC        time.Duration
	firstResponse time.Duration
}

var _ Handler = (*Forwarder)(nil)

// NewForwarder returns the Forwarder that sends through s.
func NewForwarder(s *Server, cfg ForwarderConfig) *Forwarder {
	f := &Forwarder{s: s, timerC: cfg.TimerC, firstResponse: cfg.FirstResponse}
	if f.timerC <= 0 {
		f.timerC = 180 * time.Second
	}
	if f.firstResponse <= 0 {
		f.firstResponse = 64 * sipmsg.T1
	}
	return f
}

var (
	errCompletedElsewhere = errors.New("sip: another branch answered")
	errGlobalFailure      = errors.New("sip: another branch returned a global failure")
	errTimerC             = errors.New("sip: no final response before Timer C")
	errNoResponse         = errors.New("sip: no response")
)

// ServeSIP forwards r. See Forwarder.
func (f *Forwarder) ServeSIP(ctx context.Context, w ResponseWriter, r *Request) error {
	if err := checkMaxForwards(r); err != nil {
		return err
	}
	if r.IsInvite() {
		sendTrying(w, r)
	}
	targets := TargetsFrom(ctx)
	if len(targets) == 0 {
		targets = []Target{{URI: r.Recipient}}
	}
	var d *dialogEntry
	if r.IsInvite() && toTag(r) == "" {
		d = f.s.dialogs.begin(r, CallFrom(ctx))
	}
	rr := createsDialog(r.Method)
	if len(targets) == 1 {
		return f.result(w, []outcome{f.branch(ctx, w, r, 0, targets[0], d, rr)})
	}
	return f.fork(ctx, w, r, targets, d, rr)
}

// sendTrying answers an INVITE about to be forwarded with 100 Trying (RFC
// 3261 §16.2 and §17.2.1: the next hop may take longer than 200 ms to
// answer). It stops the caller's INVITE retransmissions over UDP, and
// lets it CANCEL at once: without a provisional response a CANCEL must
// not be sent (§9.1), so a caller leaving before the callee rings would
// wait. A writer sends one 100 per request however many attempts
// (serial failover, forwarding) the pipeline makes.
func sendTrying(w ResponseWriter, r *Request) {
	if w.Status() != 0 {
		return
	}
	if err := w.WriteResponse(NewResponse(r, 100, "Trying")); err != nil && !errors.Is(err, ErrFinalSent) {
		// The INVITE goes on: the 100 is a courtesy, its loss costs a
		// retransmission at most.
		return
	}
}

// createsDialog reports whether a request of this method can create a
// dialog, and so is record-routed.
func createsDialog(m Method) bool {
	return m == INVITE || m == SUBSCRIBE || m == REFER
}

// fork runs one branch per target in parallel (RFC 3261 §16.7).
func (f *Forwarder) fork(ctx context.Context, w ResponseWriter, r *Request, targets []Target, d *dialogEntry, rr bool) error {
	bctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	results := make(chan outcome, len(targets))
	for i, t := range targets {
		go func() { results <- f.branch(bctx, w, r, i, t, d, rr) }()
	}
	outs := make([]outcome, 0, len(targets))
	for range targets {
		o := <-results
		outs = append(outs, o)
		switch {
		case o.answered:
			stop(errCompletedElsewhere)
		case o.code >= 600:
			stop(errGlobalFailure)
		}
	}
	return f.result(w, outs)
}

// outcome is how one branch ended.
type outcome struct {
	code     int
	reason   string
	res      *Response // the downstream final response, ready to relay; nil when ours
	err      error
	answered bool // a 2xx went upstream
}

// result turns the branches' outcomes into the Forwarder's return value.
func (f *Forwarder) result(w ResponseWriter, outs []outcome) error {
	for _, o := range outs {
		if o.answered {
			return nil
		}
	}
	if w.Status() != 0 {
		// The caller cancelled and the transaction answered 487 already.
		return nil
	}
	best := bestOutcome(outs)
	return &StatusError{Code: best.code, Reason: best.reason, Response: best.res, Err: best.err, relayed: best.res != nil}
}

// bestOutcome picks the response to send upstream (RFC 3261 §16.7 step 6,
// ResponseRank). Challenges of all 401/407 responses are merged into the
// chosen one (step 7).
func bestOutcome(outs []outcome) outcome {
	rank := ResponseRank
	bi := 0
	for i, o := range outs {
		if rank(o.code) < rank(outs[bi].code) {
			bi = i
		}
	}
	best := outs[bi]
	if (best.code == 401 || best.code == 407) && best.res != nil {
		for i, o := range outs {
			if i == bi || o.res == nil || (o.code != 401 && o.code != 407) {
				continue
			}
			for _, name := range [...]string{"WWW-Authenticate", "Proxy-Authenticate"} {
				for _, h := range HeadersNamed(o.res, name) {
					best.res.AppendHeader(sipmsg.HeaderClone(h))
				}
			}
		}
	}
	return best
}

// branch forwards r to one target, the index-th of the target set, and
// waits for the branch's outcome (recorded in the context's Branches).
func (f *Forwarder) branch(ctx context.Context, w ResponseWriter, r *Request, index int, t Target, d *dialogEntry, rr bool) (o outcome) {
	defer func() {
		if p := recover(); p != nil {
			f.s.metrics.panics.Inc()
			f.s.log.Error("sip: forwarding panic", "callid", callID(r), "panic", fmt.Sprint(p))
			o = outcome{code: 500, reason: "Server Internal Error", err: errPanic}
		}
		branchesFrom(ctx).record(index, o.code)
	}()
	req, err := f.s.prepare(r, t, rr)
	if err != nil {
		se, _ := AsStatus(err)
		return outcome{code: se.Code, reason: se.Reason, err: se.Err}
	}
	b := &branch{f: f, w: w, t: t, req: req, d: d, invite: r.IsInvite(), replier: CalleeSide}
	if d != nil {
		b.call = d.call
	} else {
		b.call = CallFrom(ctx)
	}
	return b.run(ctx)
}

// branch is one client transaction of a forwarded request.
type branch struct {
	f      *Forwarder
	w      ResponseWriter
	t      Target
	req    *Request // as sent
	d      *dialogEntry
	invite bool
	// refresh, when set, sees the 2xx of an in-dialog request (a target
	// refresh of the answering end).
	refresh func(*Response)
	// call is the record of the call the request belongs to, if any, and
	// replier the end that answers the request: the call's filters see
	// the request (sent by the other end) and the responses.
	call    *Call
	replier Side

	provisional   bool
	cancelPending bool
	cancelSent    bool
	reason        string // Reason header of our CANCEL (RFC 3326)

	mu  sync.Mutex
	ack *Request // our own ACK, once we hung up a 2xx that came too late
}

func (b *branch) run(ctx context.Context) outcome {
	s := b.f.s
	if b.d != nil {
		s.dialogs.legStarted(b.d, b.t)
	}
	if err := b.call.filter(b.req, b.replier.Other()); err != nil {
		o := filterOutcome(err)
		s.metrics.filterErrors.WithLabelValues("request").Inc()
		b.legEnded(o.code)
		return o
	}
	tx, err := s.tr.request(ctx, b.req)
	if err != nil {
		o := outcome{code: 503, reason: "Service Unavailable", err: fmt.Errorf("sip: sending to %s: %w", b.t, err)}
		s.metrics.branch("transport")
		if ctx.Err() != nil {
			o = outcome{code: 487, reason: "Request Terminated", err: context.Cause(ctx)}
			s.metrics.branch("canceled")
		}
		b.legEnded(o.code)
		return o
	}
	if b.invite {
		tx.OnRetransmission(b.retransmitted)
	}

	// For an INVITE whose call holds an overload slot, the timer first
	// fires after T1 without a response: the call stops counting as
	// pending (overload.go), as when a response comes; then at
	// FirstResponse.
	waitPending := b.invite && b.call.hasSlot() && sipmsg.T1 < b.f.firstResponse
	first := b.f.firstResponse
	if waitPending {
		first = sipmsg.T1
	}
	timer := time.NewTimer(first)
	defer timer.Stop()
	done := ctx.Done()
	var giveUp <-chan time.Time
	timedOut := false
	responses, answers := tx.Responses(), answersOf(tx)
	for {
		var res *Response
		select {
		case res = <-responses:
		case res = <-answers:
		case <-tx.Done():
			if res = takeAnswer(answers); res != nil {
				break // ended after handing its 2xx around sipgo (answerTap)
			}
			o := txOutcome(tx.Err(), timedOut)
			b.legEnded(o.code)
			return o
		case <-done:
			done = nil
			b.cancel(context.Cause(ctx))
			giveUp = time.After(64 * sipmsg.T1)
		case <-timer.C:
			if waitPending {
				waitPending = false
				b.call.stalled() // a next hop silent for T1: not our queue either
				timer.Reset(b.f.firstResponse - sipmsg.T1)
				continue
			}
			if b.invite && b.provisional {
				timedOut = true
				b.reason = `SIP;cause=408;text="Timer C"`
				b.sendCancel()
				giveUp = time.After(64 * sipmsg.T1)
				continue
			}
			tx.Terminate()
			s.metrics.branch("timeout")
			b.legEnded(408)
			return outcome{code: 408, reason: "Request Timeout", err: errNoResponse}
		case <-giveUp:
			tx.Terminate()
			o := outcome{code: 487, reason: "Request Terminated", err: context.Cause(ctx)}
			if timedOut {
				o = outcome{code: 408, reason: "Request Timeout", err: errTimerC}
			}
			s.metrics.branch("timeout")
			b.legEnded(o.code)
			return o
		}
		if res == nil {
			continue
		}
		code := res.StatusCode
		if code < 200 {
			if !b.provisional {
				b.provisional = true
				waitPending = false
				b.call.progressed() // downstream has it: no longer our queue's
				if b.cancelPending {
					b.sendCancel()
				}
			}
			if !b.invite {
				timer.Stop() // non-INVITE: the transaction's Timer F bounds it
			} else if !timedOut && !b.cancelSent {
				timer.Reset(b.f.timerC)
			}
			if code > 100 && !b.cancelSent {
				if b.d != nil {
					s.dialogs.noteCallee(b.d, b.t, res)
				}
				_ = b.w.WriteResponse(b.filtered(upstream(res)))
				if b.d != nil {
					s.dialogs.early(b.d, res)
				}
			}
			continue
		}
		if code < 300 {
			o := b.answered(res)
			// The transaction ends with its 2xx. An INVITE's callee
			// retransmits its 2xx until the caller's ACK reaches it, end
			// to end: the stray-response path forwards those statelessly
			// (or repeats our ACK of an answer hung up, hungup.go), so the
			// transaction need not stay in Accepted for Timer M; over UDP
			// it never got there (answerTap). A non-INVITE's final
			// response is retransmitted only when its request is; the
			// request carries a stable branch (stableBranch), so a
			// retransmission forwarded again meets the next hop's
			// transaction: ours need not wait for Timer K holding the
			// messages.
			tx.Terminate()
			return o
		}
		if !b.invite {
			tx.Terminate() // as for a 2xx above
		}
		o := outcome{code: code, res: b.filtered(upstream(res))}
		if timedOut {
			o = outcome{code: 408, reason: "Request Timeout", err: errTimerC}
		}
		s.metrics.branch(outcomeLabel(code))
		b.legEnded(o.code)
		return o
	}
}

// txOutcome maps a client transaction that ended without a final response.
func txOutcome(err error, timedOut bool) outcome {
	switch {
	case timedOut:
		return outcome{code: 408, reason: "Request Timeout", err: errTimerC}
	case errors.Is(err, sipmsg.ErrTransactionTimeout):
		return outcome{code: 408, reason: "Request Timeout", err: err}
	case errors.Is(err, sipmsg.ErrTransactionTransport):
		return outcome{code: 503, reason: "Service Unavailable", err: err}
	default:
		return outcome{code: 500, reason: "Server Internal Error", err: err}
	}
}

func (b *branch) legEnded(code int) {
	if b.d != nil {
		b.f.s.dialogs.legEnded(b.d, b.t, code)
	}
}

// answered relays a 2xx upstream.
func (b *branch) answered(res *Response) outcome {
	s := b.f.s
	s.metrics.branch("2xx")
	if b.d != nil {
		s.dialogs.noteCallee(b.d, b.t, res)
	}
	if b.refresh != nil {
		b.refresh(res)
	}
	// The table records the answer before the 2xx leaves: once the caller
	// has it, its ACK or BYE may come back at once, and must find the
	// dialog confirmed.
	confirmed := b.d != nil && s.dialogs.confirm(b.d, b.t, res)
	if err := b.w.WriteResponse(b.filtered(upstream(res))); err != nil {
		if !b.invite {
			return outcome{code: res.StatusCode, answered: true}
		}
		// The caller is gone: its CANCEL was answered before this 2xx came.
		// The callee's side of the call exists; end it ourselves.
		b.hangup(res)
		if confirmed {
			s.dialogs.abandon(b.d)
		}
		b.legEnded(487)
		return outcome{code: 487, reason: "Request Terminated", err: err}
	}
	if b.d != nil && !confirmed {
		// A second answer of a fork: the caller gets it and will hang up
		// that dialog itself; the table keeps the first one.
		b.legEnded(res.StatusCode)
	}
	return outcome{code: res.StatusCode, answered: true}
}

// retransmitted handles a 2xx retransmission (RFC 6026): relay it, or
// repeat our ACK when we hung that answer up.
func (b *branch) retransmitted(res *Response) {
	b.mu.Lock()
	ack := b.ack
	b.mu.Unlock()
	if ack != nil {
		_ = b.f.s.tr.write(ack.Clone())
		return
	}
	_ = b.w.WriteResponse(b.filtered(upstream(res)))
}

// filtered runs the call's filters on a response to relay upstream. A
// failing filter is logged and counted; the response goes on as the
// filter left it.
func (b *branch) filtered(res *Response) *Response {
	if err := b.call.filter(res, b.replier); err != nil {
		s := b.f.s
		s.metrics.filterErrors.WithLabelValues("response").Inc()
		s.log.Warn("sip: call filter failed on a response", "callid", callID(res), "status", res.StatusCode, "error", err)
	}
	return res
}

// filterOutcome is the outcome of a request a call's filter refused.
func filterOutcome(err error) outcome {
	if se, ok := AsStatus(err); ok {
		return outcome{code: se.Code, reason: se.reason(), err: se.Err}
	}
	return outcome{code: 500, reason: "Server Internal Error", err: err}
}

// cancel reacts to the branch's context ending: the caller cancelled, or
// another branch answered or failed globally.
func (b *branch) cancel(cause error) {
	switch {
	case errors.Is(cause, errCompletedElsewhere):
		b.reason = `SIP;cause=200;text="Call completed elsewhere"`
	case errors.Is(cause, errGlobalFailure):
		b.reason = `SIP;cause=600;text="Busy Everywhere"`
	}
	if !b.invite {
		return // a non-INVITE cannot be cancelled: wait for its final response
	}
	if b.provisional {
		b.sendCancel()
		return
	}
	// RFC 3261 §9.1: no CANCEL before a provisional response.
	b.cancelPending = true
}

// sendCancel sends a CANCEL for the branch (in the background).
func (b *branch) sendCancel() {
	if b.cancelSent {
		return
	}
	b.cancelSent = true
	s := b.f.s
	s.sendDetached(cancelRequest(b.req, b.reason))
}

// hangup ACKs and BYEs a 2xx that the caller can no longer receive.
func (b *branch) hangup(res *Response) {
	s := b.f.s
	seq := uint32(1)
	if cs := b.req.CSeq(); cs != nil {
		seq = cs.SeqNo
	}
	ack, err := s.dialogRequest(ACK, b.req, res, seq, b.t.NextHop)
	if err != nil {
		s.log.Warn("sip: cannot hang up a late answer", "callid", callID(res), "error", err)
		return
	}
	b.mu.Lock()
	b.ack = ack
	b.mu.Unlock()
	s.hungUp.add(topBranch(b.req), ack, time.Now())
	_ = s.tr.write(ack.Clone())
	bye, err := s.dialogRequest(BYE, b.req, res, seq+1, b.t.NextHop)
	if err != nil {
		return
	}
	s.log.Debug("sip: hanging up an answer that came after CANCEL", "callid", callID(res))
	s.sendDetached(bye)
}
