package accounting

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/palio-voip/palio/sip"
)

// Direction says which way a call went, seen from the organisation.
type Direction string

// The directions of a call (see Config.InternalClasses and
// Config.InternalSources for what is inside).
const (
	// In: from outside (a gateway, a trunk, an unauthenticated caller) to
	// inside (a local account, an internal number).
	In Direction = "in"
	// Out: from inside (an account, an internal source) to an external
	// number.
	Out Direction = "out"
	// Internal: from inside to inside.
	Internal Direction = "internal"
	// Transit: from outside to outside, such as an incoming call an
	// account forwards to a mobile: it costs as an outgoing call.
	Transit Direction = "transit"
)

// The hang-up sides of a CDR (CDR.Hangup).
const (
	HangupCaller = "caller" // the caller hung up or cancelled
	HangupCallee = "callee" // the callee hung up, or refused the call
	HangupProxy  = "proxy"  // the proxy ended it: an operator, the maximum duration, a shutdown
)

// CDR is the record of one call: OpenSIPS's acc columns (as its
// do_accounting("db", "cdr|missed|failed") writes them) and Palio's own.
// The JSON names are the SQL column names without Palio's palio_ prefix.
type CDR struct {
	// ID is Palio's unique identifier of the record (32 hex digits),
	// which makes writing it again harmless (a retry after a timeout
	// whose write went through, a spool replayed after a crash).
	ID string `json:"id"`

	// Method is the initial request's method: INVITE.
	Method string `json:"method"`
	// FromTag and ToTag are the caller's and callee's tags, CallID the
	// Call-ID.
	FromTag string `json:"from_tag"`
	ToTag   string `json:"to_tag"`
	CallID  string `json:"callid"`
	// Code and Reason are the final status sent to the caller: 200 for
	// an answered call. Reason is the standard phrase of Code.
	Code   int    `json:"sip_code"`
	Reason string `json:"sip_reason"`
	// Time is when the call was answered (acc's "time", the start of the
	// CDR), or when it failed for an unanswered one.
	Time time.Time `json:"time"`
	// Created is when the INVITE arrived.
	Created time.Time `json:"created"`
	// SetupTime is Time − Created in whole seconds (acc's setuptime).
	SetupTime int `json:"setuptime"`
	// MSDuration is the talk time in milliseconds, Duration the same in
	// seconds rounded up (acc's ms_duration and duration); 0 when the
	// call was not answered.
	MSDuration int64 `json:"ms_duration"`
	Duration   int   `json:"duration"`

	// Caller is the account the caller authenticated as
	// ("5002@voip.unisi.it"), empty when it did not (a gateway, the media
	// box, a caller refused before authenticating).
	Caller string `json:"caller"`
	// From is the caller as the From header presents it: user@host.
	From string `json:"from"`
	// Callee is the local account the call was for, when it was for one
	// ("5003@voip.unisi.it").
	Callee string `json:"callee"`
	// Dialled is the Request-URI's user as it arrived, Number what alias,
	// ENUM and the dialplan made of it.
	Dialled string `json:"dialled"`
	Number  string `json:"number"`
	// Class is the class the dialplan gave the number.
	Class string `json:"class"`
	// Gateway is the gateway of the branch that answered (or of the last
	// one tried), Carrier the carrier it belongs to.
	Gateway string `json:"gateway"`
	Carrier string `json:"carrier"`
	// Direction is which way the call went.
	Direction Direction `json:"direction"`
	// Hangup says which side ended the call (HangupCaller, HangupCallee,
	// HangupProxy) and Cause how (sip.Cause: "bye-caller", "rejected"...).
	Hangup string `json:"hangup"`
	Cause  string `json:"cause"`
	// Cost is what the call cost by the rate table, and Rate the ID of
	// the rate that priced it (0: none matched, or the call is not
	// priced).
	Cost Money `json:"cost"`
	Rate int   `json:"rate"`
}

// Answered reports whether the call was answered (a 2xx).
func (c CDR) Answered() bool { return c.Code >= 200 && c.Code < 300 }

// Talk returns the talk time.
func (c CDR) Talk() time.Duration { return time.Duration(c.MSDuration) * time.Millisecond }

// Ended returns when the call ended: the answer time plus the talk time,
// or Time for an unanswered call.
func (c CDR) Ended() time.Time { return c.Time.Add(c.Talk()) }

// Users returns the local accounts the call involves: its caller's and
// its callee's (user@domain), once each.
func (c CDR) Users() []string {
	var out []string
	if c.Caller != "" {
		out = append(out, c.Caller)
	}
	if c.Callee != "" && c.Callee != c.Caller {
		out = append(out, c.Callee)
	}
	return out
}

// userOf returns the user part of "user@host".
func userOf(aor string) string {
	u, _, _ := strings.Cut(aor, "@")
	return u
}

// newID returns a record ID: 32 hex digits, the first 12 the Unix time in
// milliseconds, the other 20 random (UUIDv7's layout, RFC 9562 §5.7,
// without its version bits). Unique across nodes as a random ID is, and
// in time order, so that the unique index on it takes each batch of CDRs
// at its right edge instead of at as many random leaf pages.
func newID() string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	rand.Read(b[6:])
	return hex.EncodeToString(b[:])
}

// classify says which way a call went: its caller is inside when it
// authenticated as an account or came from one of the internal source
// groups; its destination is inside when its class is one of the internal
// classes (or it has none: it was refused before the dialplan).
func classify(info sip.CallInfo, internalClasses []string, internalSources []int) Direction {
	fromInside := info.Caller.User != "" ||
		(info.Source.Trusted && slices.Contains(internalSources, info.Source.Group))
	toInside := info.Class == "" || slices.Contains(internalClasses, info.Class)
	switch {
	case fromInside && toInside:
		return Internal
	case fromInside:
		return Out
	case toInside:
		return In
	}
	return Transit
}

// hangupSide says which side ended a call that ended with cause.
func hangupSide(cause sip.Cause) string {
	switch cause {
	case sip.CauseByeCaller, sip.CauseCanceled:
		return HangupCaller
	case sip.CauseByeCallee, sip.CauseRejected:
		return HangupCallee
	case sip.CauseNone:
		return ""
	}
	return HangupProxy
}

// userHost returns "user@host" of a URI ("sip:5002@voip.unisi.it;x=y"),
// or the URI without its scheme when it has no user.
func userHost(uri string) string {
	s := strings.TrimPrefix(strings.TrimSpace(uri), "<")
	for _, p := range []string{"sip:", "sips:", "tel:"} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			s = s[len(p):]
			break
		}
	}
	if i := strings.IndexAny(s, ";?>"); i >= 0 {
		s = s[:i]
	}
	return s
}

// fromDialog builds the record of a call that ended as d. Carrier, Cost
// and Rate are the writer's to set, off the call's goroutine.
func fromDialog(d sip.Dialog, internalClasses []string, internalSources []int) CDR {
	info := d.Call.Info()
	c := CDR{
		ID:      newID(),
		Method:  "INVITE",
		FromTag: d.FromTag,
		ToTag:   d.ToTag,
		CallID:  d.CallID,
		Code:    d.Code,
		Created: d.Created,
		Caller:  info.Caller.AOR(),
		From:    userHost(d.From),
		Callee:  info.Callee,
		Dialled: info.Dialled,
		Number:  info.Number,
		Class:   info.Class,
		Gateway: d.Gateway,
		Cause:   string(d.Cause),
		Hangup:  hangupSide(d.Cause),
	}
	// The INVITE's arrival, which is before the dialog table took the
	// call (the stages ran in between).
	if d.Call != nil && !d.Call.Received.IsZero() && (c.Created.IsZero() || d.Call.Received.Before(c.Created)) {
		c.Created = d.Call.Received
	}
	if c.Dialled == "" {
		if u, err := sip.ParseURI(d.RequestURI); err == nil {
			c.Dialled = u.User
		}
	}
	if c.Number == "" {
		c.Number = c.Dialled
	}
	c.Direction = classify(info, internalClasses, internalSources)
	end := d.Ended
	if end.IsZero() {
		end = time.Now()
	}
	if c.Created.IsZero() {
		c.Created = end
	}
	if !d.Answered.IsZero() {
		c.Time = d.Answered
		if c.Code < 200 || c.Code >= 300 {
			c.Code = 200
		}
		c.MSDuration = max(end.Sub(d.Answered).Milliseconds(), 0)
		c.Duration = int((c.MSDuration + 999) / 1000)
	} else {
		c.Time = end
		if c.Code < 300 {
			// Ended before any final status: the server closing, or an
			// operator's hang-up of a ringing call.
			c.Code = 500
			switch d.Cause {
			case sip.CauseServerClosed:
				c.Code = 503
			case sip.CauseHangup, sip.CauseCanceled:
				c.Code = 487
			}
		}
	}
	// As OpenSIPS: the difference of the two times in whole seconds.
	c.SetupTime = max(int(c.Time.Unix()-c.Created.Unix()), 0)
	c.Reason = sip.ReasonPhrase(c.Code)
	return c
}
