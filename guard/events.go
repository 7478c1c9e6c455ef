package guard

import (
	"fmt"
	"time"

	"github.com/palio-voip/palio/sip"
)

// EventKind says what happened.
type EventKind int

// The guard's events (OpenSIPS raises E_PIKE_BLOCKED, E_FRD_WARNING and
// E_FRD_CRITICAL).
const (
	// EventBanned: a source or an account was banned or blocked
	// (Event.Ban says which, why and until when).
	EventBanned EventKind = iota + 1
	// EventUnbanned: a ban ended (Event.Why: "expired", "flood over",
	// "cleared" by an operator).
	EventUnbanned
	// EventFraudWarning: a call reached a warning threshold (Event.Fraud).
	EventFraudWarning
	// EventFraudCritical: a call reached a critical threshold; with
	// FraudConfig.Block the caller's outbound calls are blocked (an
	// EventBanned of kind BanFraud follows).
	EventFraudCritical
)

var eventNames = [...]string{EventBanned: "banned", EventUnbanned: "unbanned", EventFraudWarning: "fraud-warning", EventFraudCritical: "fraud-critical"}

// String returns the kind's name: "banned", "fraud-critical"...
func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Origins of an event.
const (
	// OriginLocal: this node decided (it saw the flood, counted the
	// failures, checked the call).
	OriginLocal = "local"
	// OriginStore: this node learned it from the store (an operator's
	// command, another node's ban), on a reload. In a cluster every node
	// reports such an event: a notifier may keep the local ones only.
	OriginStore = "store"
)

// Event is what the guard tells its subscribers: alert notifiers, the
// admin page.
type Event struct {
	Kind   EventKind
	Time   time.Time
	Origin string
	// Ban is the ban of an EventBanned or EventUnbanned.
	Ban Ban
	// Why says why a ban ended.
	Why string
	// Fraud is the alert of an EventFraudWarning or EventFraudCritical.
	Fraud FraudAlert
}

// String is the event in one line, for a log or a chat message.
func (e Event) String() string {
	switch e.Kind {
	case EventBanned:
		until := "until cleared"
		switch {
		case e.Ban.Kind == BanFlood:
			until = "while the flood lasts"
		case !e.Ban.Until.IsZero():
			until = "until " + e.Ban.Until.UTC().Format(time.RFC3339)
		}
		return fmt.Sprintf("banned %s %s: %s, %s", e.Ban.Kind, e.Ban.Subject, e.Ban.Reason, until)
	case EventUnbanned:
		return fmt.Sprintf("unbanned %s %s: %s", e.Ban.Kind, e.Ban.Subject, e.Why)
	case EventFraudWarning, EventFraudCritical:
		return e.Kind.String() + " " + e.Fraud.String()
	}
	return e.Kind.String()
}

// FraudAlert is a threshold a user's call reached.
type FraudAlert struct {
	// User and Domain are the caller's account.
	User, Domain string
	// Number is the number called, Prefix the rule's prefix it matched.
	Number, Prefix string
	// RuleID and Profile name the rule.
	RuleID, Profile int
	// Param is the figure (Param* constants), Value its value and
	// Threshold the level it reached.
	Param            string
	Value, Threshold int
	// Blocked is set when the alert blocked the user's outbound calls.
	Blocked bool
}

// String is "5002 total-calls 100 >= 100 (rule 3, prefix 000, calling
// 000442079460000)".
func (a FraudAlert) String() string {
	s := fmt.Sprintf("%s %s %d >= %d (rule %d, prefix %q, calling %s)", a.User, a.Param, a.Value, a.Threshold, a.RuleID, a.Prefix, a.Number)
	if a.Blocked {
		s += ": outbound calls blocked"
	}
	return s
}

// Subscribe registers fn for every event from now on and returns the
// function that removes it. By default fn runs synchronously where the
// event happened (a packet's read loop for a flood, a request's goroutine
// for a ban or an alert): it must be quick. sip.Async(n) gives it a
// goroutine and a bounded queue of its own, as a notifier that sends
// messages needs (see sip.Feed).
func (g *Guard) Subscribe(fn func(Event), opts ...sip.SubscribeOption) (unsubscribe func()) {
	return g.events.Subscribe(fn, opts...)
}

func (g *Guard) publish(e Event) { g.events.Publish(e) }
