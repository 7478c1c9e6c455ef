package sip

import (
	"errors"
	"strconv"
)

var (
	// ErrCanceled is the cause of a request context cancelled because the
	// caller sent CANCEL (RFC 3261 §9.2). Test it with
	// errors.Is(context.Cause(ctx), sip.ErrCanceled).
	ErrCanceled = errors.New("sip: request cancelled by the caller")

	// ErrTransactionEnded is the cause of a request context cancelled
	// because its server transaction ended (timeout, transport error,
	// server shutdown) while the request was still being handled.
	ErrTransactionEnded = errors.New("sip: server transaction ended")

	// ErrFinalSent is returned by ResponseWriter.WriteResponse when a final
	// response was already sent upstream and res may not follow it.
	ErrFinalSent = errors.New("sip: a final response was already sent")
)

// StatusError is the outcome of a request that ended without a final
// response going upstream (see the outcome contract on Handler).
type StatusError struct {
	// Code is the SIP status code, 300..699.
	Code int
	// Reason is the reason phrase; empty means the standard phrase.
	Reason string
	// Response, when set, is the response to relay upstream as it is: a
	// downstream final response with our Via already removed, or a local
	// response that needs headers of its own (Allow, WWW-Authenticate).
	Response *Response
	// Err is the underlying cause, if any (a transport error, a timeout).
	Err error

	// relayed marks a Response that came from downstream (the edge turns a
	// relayed 503 into a 500, RFC 3261 §16.7).
	relayed bool
}

// Error returns "sip: CODE REASON[: cause]".
func (e *StatusError) Error() string {
	s := "sip: " + strconv.Itoa(e.Code) + " " + e.reason()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *StatusError) Unwrap() error { return e.Err }

func (e *StatusError) reason() string {
	if e.Reason != "" {
		return e.Reason
	}
	if e.Response != nil && e.Response.Reason != "" {
		return e.Response.Reason
	}
	return ReasonPhrase(e.Code)
}

// Reject returns the outcome "answer the caller with code and reason": the
// way a stage refuses a request.
func Reject(code int, reason string) *StatusError {
	return &StatusError{Code: code, Reason: reason}
}

// Rejectf is Reject with an underlying cause, for the logs.
func Rejectf(code int, reason string, cause error) *StatusError {
	return &StatusError{Code: code, Reason: reason, Err: cause}
}

// StatusOf returns the SIP status an outcome stands for: 0 for nil (the
// final response was sent), the code of a *StatusError anywhere in err's
// chain, and 500 for any other error.
func StatusOf(err error) int {
	if err == nil {
		return 0
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 500
}

// AsStatus returns the *StatusError in err's chain, if there is one.
func AsStatus(err error) (*StatusError, bool) {
	var se *StatusError
	ok := errors.As(err, &se)
	return se, ok
}
