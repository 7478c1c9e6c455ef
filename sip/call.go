package sip

import (
	"context"
	"sync"
	"time"
)

// Call is the router's record of one call: created by the Server when an
// initial INVITE arrives, reachable by every stage of the pipeline through
// CallFrom, and filled by the stages as they decide. The stages after them,
// and the services that watch calls, read it instead of re-parsing SIP or
// asking another stage.
//
// The identifying fields are set at creation and never change; the facts
// the stages learn are behind methods, safe for concurrent use.
type Call struct {
	// CallID and FromTag identify the call (the caller's side of the
	// dialog).
	CallID, FromTag string
	// Received is when the INVITE arrived; Source its packet's source
	// ("ip:port") and Transport the transport it came over ("UDP", "TCP",
	// "TLS", "WS", "WSS").
	Received  time.Time
	Source    string
	Transport string

	mu     sync.Mutex
	source SourceCheck
	caller CallerIdentity
}

// SourceCheck is what the source check found of the INVITE's sender.
type SourceCheck struct {
	// Checked is set once a source check ran.
	Checked bool
	// Trusted is set when the sender belongs to a trusted group (a
	// gateway, a trunk, the media box): RFC 3325's trust domain.
	Trusted bool
	// Group and Info are the matching address group and its context
	// information.
	Group int
	Info  string
}

// CallerIdentity is the account the caller authenticated as.
type CallerIdentity struct {
	// User and Domain name the account; empty when the caller did not
	// authenticate.
	User, Domain string
}

// AOR returns the identity as "user@domain", or "" when there is none.
func (id CallerIdentity) AOR() string {
	if id.User == "" {
		return ""
	}
	return id.User + "@" + id.Domain
}

// NewCall returns the record of the call the initial INVITE r starts. The
// Server makes one for every initial INVITE; tests and dry runs make their
// own.
func NewCall(r *Request) *Call {
	return &Call{
		CallID:    callID(r),
		FromTag:   fromTag(r),
		Received:  time.Now(),
		Source:    r.Source(),
		Transport: r.Transport(),
	}
}

type callKey struct{}

// WithCall returns a context carrying the call record c.
func WithCall(ctx context.Context, c *Call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// CallFrom returns the call record in ctx, or nil when the request being
// handled is not an initial INVITE. Every method of *Call accepts a nil
// receiver (setters do nothing, getters return zero values), so stages
// need not check.
func CallFrom(ctx context.Context) *Call {
	c, _ := ctx.Value(callKey{}).(*Call)
	return c
}

// SetSourceCheck records what the source check found.
func (c *Call) SetSourceCheck(s SourceCheck) {
	if c == nil {
		return
	}
	s.Checked = true
	c.mu.Lock()
	c.source = s
	c.mu.Unlock()
}

// SourceCheck returns what the source check found.
func (c *Call) SourceCheck() SourceCheck {
	if c == nil {
		return SourceCheck{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.source
}

// SetCaller records the account the caller authenticated as.
func (c *Call) SetCaller(id CallerIdentity) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.caller = id
	c.mu.Unlock()
}

// Caller returns the account the caller authenticated as; zero when the
// caller did not authenticate (a trusted source, or not yet).
func (c *Call) Caller() CallerIdentity {
	if c == nil {
		return CallerIdentity{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.caller
}

// KnownPeer reports whether a stage vouched for the sender: its source is
// trusted, or it authenticated. The Server sends its own rejections of an
// INVITE from anyone else without keeping a transaction (see Server).
func (c *Call) KnownPeer() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.source.Trusted || c.caller.User != ""
}
