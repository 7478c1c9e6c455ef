package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	sipmsg "github.com/emiago/sipgo/sip"
)

// handle is the entry point of every request sipgo receives.
func (s *Server) handle(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if s.closing.Load() {
		return
	}
	growStack()
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	s.metrics.request(req.Method)

	if req.IsAck() {
		s.serveAck(req)
		return
	}
	s.trackInvite(req, tx)
	if !supportedVersion(req) {
		s.rejectAtEdge(tx, req, NewResponse(req, 505, "Version Not Supported"))
		return
	}
	if s.draining.Load() && toTag(req) == "" {
		res := NewResponse(req, 503, "Shutting Down")
		res.AppendHeader(sipmsg.NewHeader("Retry-After", "30"))
		s.rejectAtEdge(tx, req, res)
		return
	}

	if err := validate(req); err != nil {
		s.rejectAtEdge(tx, req, NewResponse(req, 400, err.Error()))
		return
	}
	if req.IsInvite() && toTag(req) == "" && s.dialogs.retransmission(req) {
		// The INVITE of a call already answered, retransmitted after its
		// transaction ended: the 2xx already went (and is retransmitted by
		// the callee); nothing is due.
		s.metrics.absorbed.Inc()
		return
	}
	w := newTxWriter(s, req, tx)
	if sheddable(req) {
		at, ok := s.overload.admit()
		if !ok {
			s.overload.refused(req.Method)
			s.rejectAtEdge(tx, req, s.overload.response(req))
			return
		}
		w.admitted = at
		w.pending.Store(true)
		defer w.release()
	}
	ctx, cancel := context.WithCancelCause(s.baseCtx)
	defer cancel(nil)
	if p := s.streams.peer(req); p != nil {
		ctx = WithPeer(ctx, p)
	}
	var call *Call
	if req.IsInvite() && toTag(req) == "" {
		call = NewCall(req)
		call.setAbort(cancel)
		if w.pending.Load() {
			call.pending = w.releaseSlot
		}
		ctx = WithCall(ctx, call)
		if s.callLog {
			call.OnEnd(func(d Dialog) {
				if d.Code != 401 && d.Code != 407 { // a challenge: the call goes on with credentials
					LogCall(s.baseCtx, s.log, d)
				}
			})
		}
	}
	r := req
	if req.IsInvite() {
		// The transaction layer reads tx.Origin() when the caller's CANCEL
		// arrives (to build the 487); give the chain its own copy to edit
		// (a relay copy: its own header list, the fields shared).
		r = relayCopy(req, &req.Recipient)
		if !tx.OnCancel(func(*sipmsg.Request) {
			w.cancelled()
			cancel(ErrCanceled)
		}) {
			if errors.Is(tx.Err(), sipmsg.ErrTransactionCanceled) {
				w.cancelled()
				cancel(ErrCanceled)
			} else {
				cancel(ErrTransactionEnded)
			}
		}
	}
	tx.OnTerminate(func(string, error) {
		if !w.answered.Load() { // not ended by its own 2xx (txWriter.answer)
			cancel(ErrTransactionEnded)
		}
	})

	err := s.serve(ctx, w, r)
	local := s.finish(w, req, err)
	st := w.Status()
	// A call the Forwarder never took ends with its final response.
	call.setAbort(nil)
	call.endUnadopted(st, req)
	s.logRequest(req, st)
	switch {
	case !w.invite && toTag(req) != "" && st >= 200:
		// An in-dialog request other than INVITE (a BYE, mostly) is
		// relayed with a stable branch or refused (481, 483): a
		// retransmission that finds no transaction is relayed or refused
		// again, and the next hop's transaction answers it. Keeping ours
		// for Timer J would hold every BYE of every call for 5 s.
		tx.Terminate()
	case w.invite && st >= 200 && st < 300:
		// The 2xx is relayed; its retransmissions and the ACK travel end
		// to end (forwarded statelessly), and a retransmitted INVITE is
		// absorbed by the dialog table. txWriter.answer ended a sipgo
		// transaction as it sent the 2xx; this ends any other kind.
		tx.Terminate()
	case w.invite && st >= 300 && local && !call.KnownPeer():
		// Our own rejection of an INVITE from a sender no stage vouched
		// for (the 407 challenge, a 403, an in-dialog INVITE of no dialog
		// we routed): sent once, as OpenSIPS's sl_send_reply does, not
		// retransmitted for Timer H to a source that may never ACK (a
		// reflection amplifier under a flood, holding a transaction
		// each). A retransmitted INVITE is answered again; the ACK carries
		// our local tag (or the To tag it came with) and goes nowhere.
		tx.Terminate()
	}
}

// rejectAtEdge answers req with res before any handler ran (a malformed
// request, an unsupported version, a server shutting down), and ends the
// transaction at once: the sender is unknown, so the response is sent
// once, as a stateless proxy would; a retransmission is answered again.
func (s *Server) rejectAtEdge(tx sipmsg.ServerTransaction, req *Request, res *Response) {
	s.metrics.response(res.StatusCode)
	_ = tx.Respond(res)
	tx.Terminate()
}

// validate checks what a proxy needs of a request before it routes it
// (RFC 3261 §16.3 step 1, §8.1.1): the mandatory headers, and a CSeq whose
// method is the request's. It returns the reason phrase of the 400.
func validate(r *Request) error {
	switch {
	case r.Via() == nil:
		return errors.New("Bad Request: missing Via")
	case r.From() == nil:
		return errors.New("Bad Request: missing From")
	case r.To() == nil:
		return errors.New("Bad Request: missing To")
	case r.CallID() == nil:
		return errors.New("Bad Request: missing Call-ID")
	case r.CSeq() == nil:
		return errors.New("Bad Request: missing CSeq")
	case !strings.EqualFold(string(r.CSeq().MethodName), string(r.Method)):
		// sipgo upper-cases the method of the request line (not the
		// CSeq's), so an extension method such as RFC 4475's intmeth.dat
		// compares equal only without case.
		return errors.New("Bad Request: CSeq method mismatch")
	}
	for _, h := range r.Headers() {
		if v, ok := h.(*sipmsg.ViaHeader); ok && !validVia(v) {
			// Responses find their way back by the Vias, and a forwarded
			// request carries them on: one whose sent-by is garbage
			// (sipgo keeps control bytes, even a line break, in a host)
			// is refused here rather than passed to the next hop.
			return errors.New("Bad Request: malformed Via")
		}
	}
	return nil
}

// validVia reports whether v's sent-protocol is SIP/2.0 over some
// transport and its sent-by host is well formed.
func validVia(v *sipmsg.ViaHeader) bool {
	return strings.EqualFold(v.ProtocolName, "SIP") && v.ProtocolVersion == "2.0" &&
		validToken(v.Transport) && validViaHost(v.Host)
}

// validToken reports whether s is a non-empty run of letters and digits
// (what a Via's transport is: UDP, TCP, TLS, SCTP, WS, WSS).
func validToken(s string) bool { return alnumOr(s, "") }

// validViaHost reports whether host can be a Via's sent-by host (RFC 3261
// §25.1: a host name, an IPv4 address or a bracketed IPv6 reference; '_'
// is let through, as some devices put it in their host names).
func validViaHost(host string) bool { return alnumOr(host, "-.:[]_") }

// alnumOr reports whether s is non-empty and each of its bytes a letter, a
// digit or one of extra.
func alnumOr(s, extra string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') && strings.IndexByte(extra, c) < 0 {
			return false
		}
	}
	return true
}

// supportedVersion reports whether r speaks SIP/2.0, the only version
// there is (RFC 3261 §8.2.1 wants 505 for any other).
func supportedVersion(r *Request) bool {
	return strings.EqualFold(r.SipVersion, "SIP/2.0")
}

var errPanic = &StatusError{Code: 500, Reason: "Server Internal Error", Err: errors.New("sip: handler panicked")}

// serve runs the handler, turning a panic into a logged 500.
func (s *Server) serve(ctx context.Context, w ResponseWriter, r *Request) error {
	return serveRecovered(ctx, s.handler, w, r, s.log, s.metrics.panics.Inc)
}

// Recover is a middleware that turns a panic in the handlers after it into
// a 500 outcome, logged once at Error with the stack. The Server recovers
// by itself; use Recover around code that runs handlers elsewhere.
func Recover(log *slog.Logger) Middleware {
	if log == nil {
		log = slog.Default()
	}
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
			return serveRecovered(ctx, next, w, r, log, nil)
		})
	}
}

func serveRecovered(ctx context.Context, h Handler, w ResponseWriter, r *Request, log *slog.Logger, counted func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if counted != nil {
				counted()
			}
			log.Error("sip: handler panic", "callid", callID(r), "method", string(r.Method), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = errPanic
		}
	}()
	return h.ServeSIP(ctx, w, r)
}

// finish turns the outcome of a request into its final response (the edge
// of the contract on Handler). It reports whether it sent a response of
// the proxy's own: a rejection by a stage or by the edge, rather than
// nothing (a final response already went) or one relayed from downstream.
func (s *Server) finish(w ResponseWriter, req *Request, err error) (local bool) {
	if w.Status() != 0 {
		// A final response is already upstream (relayed, or the 487 that
		// answered the caller's CANCEL): nothing more is due.
		return false
	}
	local = true
	var res *Response
	if err == nil {
		s.log.Error("sip: handler returned without a final response", "callid", callID(req), "method", string(req.Method))
		res = NewResponse(req, 500, "Server Internal Error")
	} else if se, ok := AsStatus(err); ok {
		switch {
		case se.Response != nil && se.relayed && se.Code == 503:
			// RFC 3261 §16.7 step 6: a 503 from downstream says that
			// downstream cannot serve; only we know about our other
			// destinations, so the caller gets a 500.
			res = NewResponse(req, 500, "Server Internal Error")
		case se.Response != nil:
			res = se.Response
			local = !se.relayed
		default:
			res = NewResponse(req, se.Code, se.reason())
		}
		if se.Err != nil && s.log.Enabled(context.Background(), slog.LevelDebug) {
			s.log.Debug("sip: request failed", "callid", callID(req), "method", string(req.Method), "status", se.Code, "error", se.Err)
		}
	} else {
		s.log.Error("sip: request failed", "callid", callID(req), "method", string(req.Method), "ruri", req.Recipient.String(), "error", err)
		res = NewResponse(req, 500, "Server Internal Error")
	}
	if werr := w.WriteResponse(res); werr != nil && !errors.Is(werr, ErrFinalSent) {
		s.log.Debug("sip: final response not sent", "callid", callID(req), "status", res.StatusCode, "error", werr)
	}
	return local
}

// txWriter is the ResponseWriter of a request received on a server
// transaction.
type txWriter struct {
	s      *Server
	req    *Request // as received: tx.Origin()
	tx     sipmsg.ServerTransaction
	dest   string
	invite bool

	mu       sync.Mutex // serializes writes
	status   atomic.Int32
	canceled atomic.Bool
	// pending holds one of the overload's slots until a response comes
	// from downstream (Call.progressed) or T1 passes without one
	// (Call.stalled), one other than 100 goes upstream, or the handler
	// returns.
	pending  atomic.Bool
	admitted int64 // when the slot was taken (unix nanoseconds)
	trying   bool  // a 100 Trying was sent (under mu): one is enough
	// answered is set when a 2xx to the INVITE ended its transaction
	// (answer): the handler goes on with its context.
	answered atomic.Bool
}

// release gives back the overload slot of the request, once: it has left
// the proxy's hands (answered, or handed to the next hop).
func (w *txWriter) release() { w.releaseSlot(true) }

// releaseSlot gives back the overload slot once; paced tells whether the
// time since admission is the proxy's pace (overload.release), not a
// caller's CANCEL or a next hop silent for T1.
func (w *txWriter) releaseSlot(paced bool) {
	if w.pending.Load() && w.pending.CompareAndSwap(true, false) {
		at := w.admitted
		if !paced {
			at = 0
		}
		w.s.overload.release(at)
	}
}

func newTxWriter(s *Server, req *Request, tx sipmsg.ServerTransaction) *txWriter {
	return &txWriter{s: s, req: req, tx: tx, dest: responseAddr(req), invite: req.IsInvite()}
}

// cancelled runs inside the transaction layer (under its lock) when the
// caller's CANCEL matched: the layer answers 487 by itself.
func (w *txWriter) cancelled() {
	w.canceled.Store(true)
	w.releaseSlot(false)
	if w.status.CompareAndSwap(0, 487) { // not answered in the meantime (answer)
		w.s.metrics.response(487)
		w.s.dialogs.finish(w.req, 487)
	}
}

func (w *txWriter) Status() int { return int(w.status.Load()) }

func (w *txWriter) WriteResponse(res *Response) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	code := res.StatusCode
	if code == 100 {
		if w.trying {
			return nil
		}
		w.trying = true
	}
	cur := int(w.status.Load())
	final := code >= 200
	if final && cur != 0 && !(w.invite && code < 300 && cur < 300) {
		return ErrFinalSent
	}
	if !final && cur >= 300 {
		return ErrFinalSent
	}
	res.SetDestination(w.dest)
	res.SetTransport(w.req.Transport())
	if final && w.canceled.Load() {
		return ErrFinalSent
	}
	if w.invite && final && code < 300 {
		if stx, ok := w.tx.(*sipmsg.ServerTx); ok {
			return w.answer(stx, res, cur)
		}
	}
	err := w.tx.Respond(res)
	if err != nil {
		if errors.Is(err, sipmsg.ErrTransactionCanceled) {
			// The caller's CANCEL won the race while we waited for the
			// transaction: it sent 487. Our res was stored as the
			// transaction's last response though; put the 487 back so that
			// its retransmissions stay right.
			if final {
				_ = w.tx.Respond(NewResponse(w.req, 487, "Request Terminated"))
			}
			return ErrFinalSent
		}
		if final && code < 300 && cur >= 200 {
			// A 2xx retransmission after the INVITE server transaction
			// ended: relay it statelessly (RFC 6026 §8.2).
			return w.s.ua.TransportLayer().WriteMsg(res)
		}
		return err
	}
	if code > 100 {
		w.release()
	}
	if final {
		if cur == 0 {
			w.status.Store(int32(code))
			w.s.metrics.response(code)
			if code >= 300 && w.invite {
				w.s.dialogs.finish(w.req, code)
			}
		}
	}
	return nil
}

// answer sends a 2xx to the INVITE around the transaction's state
// machine, under w.mu. Through it, sipgo v1.7.3 would put the transaction
// in RFC 6026's Accepted state and arm Timer L, a timer it does not stop
// when the transaction is terminated: the timer would hold the
// transaction, the INVITE and the 2xx for 64*T1 (32 s, 100 000
// transactions at 3000 calls/s), or, with Timer L shortened for every
// sipgo user in the process as this package did before, end the INVITE
// transaction of a user agent server in the same process (the media box's
// diago) under its 2xx retransmissions when the ACK is late. The proxy
// needs nothing of Accepted: the callee's 2xx retransmissions and the ACK
// travel end to end (forwarded statelessly), a retransmitted INVITE is
// absorbed by the dialog table.
//
// The first 2xx claims the final status, unless the caller's CANCEL has
// claimed it for its 487 (cancelled; ErrFinalSent, as before); takes the
// transaction out of the layer, so that a CANCEL from then on matches
// none (the edge answers it 481, as for any answered call); and leaves on
// the transaction's connection, held across the termination. A CANCEL
// that matched in the microseconds before still has sipgo send its 487,
// after the 2xx: the caller's INVITE client transaction, which had its
// 2xx, passes nothing but 2xx responses up any more; the call stays
// answered. A later 2xx (another fork's, or a retransmission) takes the
// same way.
func (w *txWriter) answer(tx *sipmsg.ServerTx, res *Response, cur int) error {
	code := res.StatusCode
	first := cur == 0
	if first {
		if !w.status.CompareAndSwap(0, int32(code)) {
			return ErrFinalSent
		}
		w.answered.Store(true)
	}
	conn := tx.Connection()
	if conn == nil {
		return errors.New("sip: the INVITE's transaction has no connection")
	}
	conn.Ref(1)
	defer conn.TryClose()
	tx.Terminate()
	if err := conn.WriteMsg(res); err != nil {
		if first {
			w.status.CompareAndSwap(int32(code), 0)
		}
		return err
	}
	w.release()
	if first {
		w.s.metrics.response(code)
	}
	return nil
}

// responseAddr is where responses to r go over UDP (RFC 3261 §18.2.2 and
// RFC 3581): the packet's source address, with the Via port unless the
// client asked for rport.
func responseAddr(r *Request) string {
	src := r.Source()
	host, port, err := net.SplitHostPort(src)
	if err != nil {
		return src
	}
	if v := r.Via(); v != nil && !v.Params.Has("rport") {
		if v.Port > 0 {
			port = strconv.Itoa(v.Port)
		} else {
			port = strconv.Itoa(sipmsg.DefaultPort(v.Transport))
		}
	}
	return net.JoinHostPort(host, port)
}

// discardWriter is the ResponseWriter of an ACK: nothing may answer it.
type discardWriter struct{}

func (discardWriter) WriteResponse(*Response) error { return ErrFinalSent }

func (discardWriter) Status() int { return 0 }
