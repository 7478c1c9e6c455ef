package registrar

import (
	"time"

	"github.com/palio-voip/palio/sip"
)

// EventKind says what happened to a binding.
type EventKind int

// The binding events (OpenSIPS's E_UL_CONTACT_INSERT, _UPDATE/_REFRESH and
// _DELETE, with the cause of a delete told apart).
const (
	// EventRegistered: a new binding (a REGISTER or AddBinding).
	EventRegistered EventKind = iota + 1
	// EventRefreshed: a REGISTER renewed or changed an existing binding.
	EventRefreshed
	// EventUnregistered: the phone removed the binding (expires=0, or
	// Contact: *), or an operator did (RemoveBinding).
	EventUnregistered
	// EventExpired: the sweeper removed a binding that was not refreshed.
	EventExpired
	// EventEvicted: the binding was dropped to make room for a newer one
	// (Config.EvictOldest with MaxContacts).
	EventEvicted
	// EventFlowFailed: a call for the binding met 430 (Flow Failed): the
	// connection the phone registered over is gone (RFC 5626 §7), so the
	// Lookup stage removed it.
	EventFlowFailed
)

var eventNames = [...]string{
	EventRegistered:   "registered",
	EventRefreshed:    "refreshed",
	EventUnregistered: "unregistered",
	EventExpired:      "expired",
	EventEvicted:      "evicted",
	EventFlowFailed:   "flow-failed",
}

// String returns the kind's name: "registered", "expired"...
func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Event is a change to the location service, for presence (is the phone
// reachable?) and the admin page.
type Event struct {
	Kind EventKind
	// Binding is the binding as it is now (registered, refreshed) or as it
	// was when it went (unregistered, expired, evicted).
	Binding Binding
	// Time is when the registrar made the change.
	Time time.Time
}

// Subscribe registers fn for every binding event from now on and returns a
// function that removes it. By default fn runs synchronously on the
// goroutine that made the change (a REGISTER's, or the sweeper's), after
// the change is in the store; events of one AOR arrive in order: it must
// be quick and must not call back into the registrar's write methods.
// sip.Async(n) gives fn a goroutine and a bounded queue of its own (see
// sip.Feed): for a subscriber that waits (presence sending NOTIFYs).
func (r *Registrar) Subscribe(fn func(Event), opts ...sip.SubscribeOption) (unsubscribe func()) {
	return r.events.Subscribe(fn, opts...)
}

func (r *Registrar) publish(evs []Event) {
	for _, ev := range evs {
		r.metrics.event(ev.Kind)
		r.events.Publish(ev)
	}
}
