package sip

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// Call is the router's record of one call: created by the Server when an
// initial INVITE arrives, reachable by every stage of the pipeline through
// CallFrom, filled by the stages as they decide, adopted by the dialog
// table when the Forwarder takes the call, and carried by every
// DialogEvent. The services that watch calls (accounting, presence, trunk
// limits, the live calls list, the dry run) read it instead of re-parsing
// SIP or asking another stage.
//
// It holds three kinds of things:
//
//   - facts the stages share, typed (CallInfo: who called from where,
//     what was dialled and what it became, the class, the callee's AOR,
//     the routing rule, the features applied, the media session);
//   - a trace, in order, of each stage's decision (Trace), which
//     `route NUMBER -from USER` prints;
//   - hooks: filters that see every message of the call before it is sent
//     (AddFilter: the RTP relay rewrites SDP there), functions run once
//     when it ends (OnEnd), and values a package keeps on the call for
//     itself (SetValue: routing's channel reservations).
//
// The identifying fields are set at creation and never change; everything
// else is behind methods safe for concurrent use. Every method accepts a
// nil *Call and then does nothing (or returns zero values), so that stages
// serving requests without a record (a MESSAGE, a test) need not check.
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

	mu      sync.Mutex
	info    CallInfo
	trace   []TraceEntry
	values  map[any]any
	filters []MessageFilter
	onEnd   []func(Dialog)
	adopted bool // the dialog table has the call and will end it
	ended   bool
	abort   func(error)      // cancels the INVITE's handling (set by the edge)
	pending func(paced bool) // gives back the INVITE's overload slot (overload.go)
	media   func() MediaStats
}

// MediaStats are a call's media statistics, as the relay anchoring its
// RTP counts them (both directions, every stream).
type MediaStats struct {
	// Packets and Bytes count the RTP relayed; Lost the packets that never
	// arrived, from the sequence numbers.
	Packets, Bytes, Lost uint64
	// Jitter is the largest interarrival jitter of any direction.
	Jitter time.Duration
	// OneWay reports one-way audio: one side sent while the other stayed
	// silent.
	OneWay bool
}

// CallInfo is what the stages learned of a call.
type CallInfo struct {
	// Source is what the source check found of the sender.
	Source SourceCheck
	// Caller is the account the caller authenticated as, if it did.
	Caller CallerIdentity
	// Dialled is the Request-URI's user as it arrived; Number what alias,
	// ENUM and the dialplan made of it.
	Dialled, Number string
	// Class is the call class the dialplan gave the number ("voip",
	// "national", "international", "media"...).
	Class string
	// Callee is the canonical AOR of the local account the call is for
	// ("5002@voip.unisi.it"), when it is for one.
	Callee string
	// Rule names the routing rule that chose the destinations.
	Rule string
	// Features lists the call services applied, in order ("forward-busy").
	Features []string
	// Media names the media session anchoring the call's RTP, if any.
	Media string
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

// TraceEntry is one stage's decision about a call.
type TraceEntry struct {
	// Stage names the stage ("source", "alias", "routing").
	Stage string
	// Decision says what it decided; formatted only when read.
	Decision fmt.Stringer
}

// String returns "stage<TAB>decision".
func (e TraceEntry) String() string {
	if e.Decision == nil {
		return e.Stage
	}
	return e.Stage + "\t" + e.Decision.String()
}

// Note is a Decision made of a fixed sentence.
type Note string

// String returns the sentence.
func (n Note) String() string { return string(n) }

// Side is one end of a call.
type Side int

// The two ends of a call.
const (
	// CallerSide is the end that sent the INVITE.
	CallerSide Side = iota
	// CalleeSide is the end that answered it (or a branch being tried).
	CalleeSide
)

// String returns "caller" or "callee".
func (s Side) String() string {
	if s == CalleeSide {
		return "callee"
	}
	return "caller"
}

// Other returns the other end.
func (s Side) Other() Side { return 1 - s }

// Message is a SIP request or response.
type Message = sipmsg.Message

// A MessageFilter sees a message of a call, sent by the end from, just
// before the proxy sends it on: every branch of the INVITE, every
// provisional and final response relayed back, 2xx retransmissions
// (including those relayed after the INVITE transaction ended), the ACK,
// and every in-dialog request and its responses, in both directions. It
// may change the message (rewrite its SDP body). A request whose filter
// fails is not sent: the error is its outcome (return a *StatusError, such
// as 488 for an offer that cannot be anchored). A response whose filter
// fails is logged and sent as the filter left it.
//
// Filters run on the goroutines that handle the messages, possibly
// several at once for the branches of a fork; they must be quick and safe
// for concurrent use, and should give the same result for a retransmitted
// message as for the original.
type MessageFilter func(m Message, from Side) error

// NewCall returns the record of the call the initial INVITE r starts. The
// Server makes one for every initial INVITE; tests and dry runs make their
// own.
func NewCall(r *Request) *Call {
	c := &callWithTrace{Call: Call{
		CallID:    callID(r),
		FromTag:   fromTag(r),
		Received:  time.Now(),
		Source:    r.Source(),
		Transport: r.Transport(),
		info:      CallInfo{Dialled: r.Recipient.User},
	}}
	// The trace of a routed call has about ten lines: one allocation
	// for the record and the room for them.
	c.trace = c.room[:0]
	return &c.Call
}

// callWithTrace is a Call with room for its trace in the same
// allocation.
type callWithTrace struct {
	Call
	room [12]TraceEntry
}

type callKey struct{}

// WithCall returns a context carrying the call record c.
func WithCall(ctx context.Context, c *Call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// CallFrom returns the call record in ctx, or nil when the request being
// handled is not an initial INVITE.
func CallFrom(ctx context.Context) *Call {
	c, _ := ctx.Value(callKey{}).(*Call)
	return c
}

// Info returns a copy of what the stages learned of the call.
func (c *Call) Info() CallInfo {
	if c == nil {
		return CallInfo{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	info := c.info
	info.Features = slices.Clone(info.Features)
	return info
}

// SetSourceCheck records what the source check found.
func (c *Call) SetSourceCheck(s SourceCheck) {
	if c == nil {
		return
	}
	s.Checked = true
	c.mu.Lock()
	c.info.Source = s
	c.mu.Unlock()
}

// SourceCheck returns what the source check found.
func (c *Call) SourceCheck() SourceCheck {
	if c == nil {
		return SourceCheck{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.info.Source
}

// SetCaller records the account the caller authenticated as.
func (c *Call) SetCaller(id CallerIdentity) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.info.Caller = id
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
	return c.info.Caller
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
	return c.info.Source.Trusted || c.info.Caller.User != ""
}

// SetDialled records the number as dialled, for a record not made from
// the INVITE (NewCall takes it from the Request-URI): another node's call
// rebuilt from its dialog event.
func (c *Call) SetDialled(n string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.info.Dialled = n
	c.mu.Unlock()
}

// SetNumber records what the number became (after alias, ENUM, dialplan).
func (c *Call) SetNumber(n string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.info.Number = n
	c.mu.Unlock()
}

// SetClass records the call's class and the number it was given for.
func (c *Call) SetClass(number, class string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.info.Number, c.info.Class = number, class
	c.mu.Unlock()
}

// SetCallee records the canonical AOR of the local account called.
func (c *Call) SetCallee(aor string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.info.Callee = aor
	c.mu.Unlock()
}

// SetRule records the routing rule that chose the destinations.
func (c *Call) SetRule(rule string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.info.Rule = rule
	c.mu.Unlock()
}

// AddFeature records a call service applied to the call.
func (c *Call) AddFeature(name string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.info.Features = append(c.info.Features, name)
	c.mu.Unlock()
}

// SetMedia records the media session that anchors the call's RTP.
func (c *Call) SetMedia(session string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.info.Media = session
	c.mu.Unlock()
}

// SetMediaStats sets the function that reports the call's media
// statistics: the relay anchoring the call sets it, and the services that
// watch calls (CDRs, the live calls list, the metrics) read them through
// MediaStats, live during the call and final once it ended.
func (c *Call) SetMediaStats(fn func() MediaStats) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.media = fn
	c.mu.Unlock()
}

// MediaStats returns the call's media statistics, and false when no relay
// anchors its media.
func (c *Call) MediaStats() (MediaStats, bool) {
	if c == nil {
		return MediaStats{}, false
	}
	c.mu.Lock()
	fn := c.media
	c.mu.Unlock()
	if fn == nil {
		return MediaStats{}, false
	}
	return fn(), true
}

// Trace appends a stage's decision to the call's trace. The decision is
// formatted only when the trace is read, so stages may trace on every
// call.
func (c *Call) Trace(stage string, decision fmt.Stringer) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.trace = append(c.trace, TraceEntry{Stage: stage, Decision: decision})
	c.mu.Unlock()
}

// Tracef appends a decision formatted now, for the rarer paths.
func (c *Call) Tracef(stage, format string, args ...any) {
	if c == nil {
		return
	}
	c.Trace(stage, Note(fmt.Sprintf(format, args...)))
}

// TraceEntries returns the trace so far, in order.
func (c *Call) TraceEntries() []TraceEntry {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.trace)
}

// TraceString returns the trace, one "stage<TAB>decision" line each.
func (c *Call) TraceString() string {
	var b strings.Builder
	for _, e := range c.TraceEntries() {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// SetValue keeps v on the call under key, for the package that owns key
// (an unexported type, as for context values); a nil v removes it.
func (c *Call) SetValue(key, v any) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v == nil {
		delete(c.values, key)
		return
	}
	if c.values == nil {
		c.values = map[any]any{}
	}
	c.values[key] = v
}

// Value returns what SetValue kept under key, or nil.
func (c *Call) Value(key any) any {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.values[key]
}

// AddFilter adds f to the filters that see the call's messages (see
// MessageFilter); filters run in the order they were added.
func (c *Call) AddFilter(f MessageFilter) {
	if c == nil || f == nil {
		return
	}
	c.mu.Lock()
	c.filters = append(c.filters, f)
	c.mu.Unlock()
}

// OnEnd adds fn to the functions run once when the call ends: when its
// dialog terminates, or, for a call that never reached the Forwarder (a
// rejection), when its final response is sent. fn gets the dialog as it
// ended (for an unforwarded call, a Dialog with the Call-ID, tags, From,
// To, Request-URI, times and final status). If the call has ended
// already, fn runs at once.
func (c *Call) OnEnd(fn func(Dialog)) {
	if c == nil || fn == nil {
		return
	}
	c.mu.Lock()
	if !c.ended {
		c.onEnd = append(c.onEnd, fn)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	fn(Dialog{CallID: c.CallID, FromTag: c.FromTag, State: DialogTerminated, Call: c})
}

// Ended reports whether the call has ended.
func (c *Call) Ended() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended
}

// filter runs the call's filters on m, sent by from.
func (c *Call) filter(m Message, from Side) error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	fs := c.filters
	c.mu.Unlock()
	for _, f := range fs {
		if err := f(m, from); err != nil {
			return err
		}
	}
	return nil
}

// hasFilters reports whether any filter is set (a fast path for the
// messages of calls nobody filters).
func (c *Call) hasFilters() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.filters) > 0
}

// adopt marks the call as the dialog table's to end.
func (c *Call) adopt() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.adopted = true
	c.mu.Unlock()
}

// end runs the OnEnd functions once.
func (c *Call) end(d Dialog) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	fns := c.onEnd
	c.onEnd = nil
	c.mu.Unlock()
	for _, fn := range fns {
		fn(d)
	}
}

// endUnadopted ends a call the dialog table never took, with the final
// status code sent upstream; r is its INVITE, whose From, To and
// Request-URI the ended Dialog carries.
func (c *Call) endUnadopted(code int, r *Request) {
	if c == nil {
		return
	}
	c.mu.Lock()
	adopted := c.adopted
	c.mu.Unlock()
	if adopted {
		return
	}
	now := time.Now()
	cause := CauseRejected
	if code == 487 {
		cause = CauseCanceled
	}
	d := Dialog{CallID: c.CallID, FromTag: c.FromTag, State: DialogTerminated,
		Created: c.Received, Ended: now, Cause: cause, Code: code, Call: c}
	if r != nil {
		d.RequestURI = uriString(&r.Recipient)
		if f := r.From(); f != nil {
			d.From = uriString(&f.Address)
		}
		if to := r.To(); to != nil {
			d.To = uriString(&to.Address)
		}
	}
	c.end(d)
}

// setAbort records how to cancel the handling of the call's INVITE.
func (c *Call) setAbort(fn func(error)) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.abort = fn
	c.mu.Unlock()
}

// abortCall cancels the handling of the call's INVITE with cause, as the
// caller's CANCEL would; false when it is not being handled here.
func (c *Call) abortCall(cause error) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	fn := c.abort
	c.mu.Unlock()
	if fn == nil {
		return false
	}
	fn(cause)
	return true
}
