package sip

import "context"

// Handler handles one SIP request. Every stage of a Palio pipeline, the
// local responders (registrar, presence) and the Forwarder are Handlers.
//
// # The outcome contract
//
// What ServeSIP returns says what happened upstream:
//
//  1. nil: a final response has gone upstream through w, or none was due
//     (an ACK, or a request whose final answer the transaction layer sent
//     itself, such as the 487 that follows the caller's CANCEL).
//
//  2. non-nil: nothing final was sent. The error says what the outcome was.
//     A *StatusError carries a SIP status (Code, Reason) and, when the
//     outcome came from downstream, the Response to relay (the 503 a
//     gateway returned, the 486 of a busy phone, with their headers). A
//     caller up the chain may try an alternative (serial failover to the
//     next gateway, forward-on-busy to the secretary) or return the error
//     as it is. At the edge, the Server answers with StatusError.Response
//     when it is set, else with Code and Reason; any other error becomes a
//     500 and is logged once, there.
//
//  3. Provisional responses (1xx) may be written to w at any time, by any
//     stage. Final responses are written only by the Forwarder (relaying a
//     2xx at once, as RFC 3261 §16.7 requires), by local responders
//     (registrar, presence, OPTIONS to us) and by the edge. A stage that
//     rejects a request returns a StatusError (see Reject) instead of
//     writing the response itself, so that the stages around it see the
//     outcome.
//
//  4. A middleware calls next zero times (it rejects), once (it rewrites
//     the request and passes it on) or several times in sequence, each time
//     with a clone of the request (serial failover, call forward on busy).
//     It never calls next concurrently with the same ResponseWriter, and it
//     stops trying alternatives when next returns nil or the context is done
//     (the caller cancelled).
//
//  5. next is never nil: the innermost handler is the Forwarder or a
//     handler that answers, such as NotFound.
//
// The request belongs to the chain: a stage may rewrite its Request-URI
// and its list of header fields before calling next (the Server hands the
// chain a private copy of every INVITE). The fields themselves are shared
// with the server transaction's request and with the copies the Forwarder
// has sent: a stage replaces a field (ReplaceHeader, or RemoveHeader and
// AppendHeader) rather than editing it in place, or edits a Clone. Facts a
// stage learns for the stages after it travel in ctx, behind
// NewContext/FromContext functions in the package that produces them; the
// target set for the Forwarder travels under WithTargets.
//
// ctx is cancelled when the caller CANCELs the request (context.Cause is
// then ErrCanceled) or when the server transaction ends.
//
// Why not net/http's shape (handlers write the response, return nothing)?
// In SIP the outcome has to flow back up the chain: a 503 from gateway A
// must not reach the caller before gateway B was tried, and a stateful
// proxy must pick the best of several final responses (RFC 3261 §16.7).
// Errors that carry a status, as in caddy and coredns, do that without
// buffering writers.
type Handler interface {
	ServeSIP(ctx context.Context, w ResponseWriter, r *Request) error
}

// HandlerFunc adapts an ordinary function to a Handler.
type HandlerFunc func(ctx context.Context, w ResponseWriter, r *Request) error

// ServeSIP calls f(ctx, w, r).
func (f HandlerFunc) ServeSIP(ctx context.Context, w ResponseWriter, r *Request) error {
	return f(ctx, w, r)
}

// Middleware is a stage of the pipeline: it wraps the handler that comes
// after it.
type Middleware func(next Handler) Handler

// Chain composes middlewares into one; the first listed runs first, so
// Chain(a, b, c)(h) serves a request through a, then b, then c, then h.
// Build chains once at start-up.
func Chain(mw ...Middleware) Middleware {
	return func(next Handler) Handler {
		for i := len(mw) - 1; i >= 0; i-- {
			next = mw[i](next)
		}
		return next
	}
}

// ResponseWriter sends responses upstream, on the server transaction of the
// request being handled. It is safe for use by several goroutines (the
// branches of a fork relay their provisional responses through it).
type ResponseWriter interface {
	// WriteResponse sends res upstream. Provisional responses may be sent
	// any number of times. For an INVITE, 2xx responses may be sent more
	// than once (the answers of several forked branches, and their
	// retransmissions, RFC 3261 §16.7 and RFC 6026); any other final
	// response is sent once, and a second one fails with ErrFinalSent.
	WriteResponse(res *Response) error

	// Status reports the final status sent upstream so far, or 0 if none.
	Status() int
}

// NotFound is a Handler that rejects every request with 404 Not Found: the
// innermost handler of a chain that must never forward.
var NotFound Handler = HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
	return Reject(404, "Not Found")
})
