package cluster

import (
	"strings"
	"time"

	"github.com/palio-voip/palio/sip"
)

// The wire format: one JSON object per NATS message, with short keys.
// Version 1. A node ignores messages of another version (and counts them
// as malformed), so a rolling upgrade that changes the format degrades to
// per-node lamps instead of wrong ones.
const wireVersion = 1

// Message types.
const (
	typeEvent     = "ev"   // a dialog event of the sender's table
	typeHeartbeat = "hb"   // alive, with the sender's latest sequence number
	typeSnapshot  = "snap" // the sender's active dialogs, in parts
	typeSync      = "sync" // asks every node for a snapshot
)

// message is what goes over NATS.
type message struct {
	V    int    `json:"v"`
	Node string `json:"n"`
	// Inst tells one run of a node from the next: a restarted node starts
	// its sequence again.
	Inst uint64 `json:"i"`
	// Seq numbers the sender's events and snapshots (1, 2, ...), so that
	// a gap shows a lost one; a heartbeat carries the latest.
	Seq  uint64 `json:"s"`
	Type string `json:"y"`
	// Time is when the event happened on its node, Unix nanoseconds.
	Time  int64       `json:"t"`
	Event *wireDialog `json:"e,omitempty"`
	// Dialogs, Part and Parts: a snapshot, split in parts of at most
	// snapshotPart dialogs, numbered from 0.
	Dialogs []wireDialog `json:"d,omitempty"`
	Part    int          `json:"p,omitempty"`
	Parts   int          `json:"pp,omitempty"`
}

// snapshotPart bounds the dialogs of one snapshot message (a few hundred
// bytes each: well below NATS's default 1 MB payload; fewer when the
// server's limit is lower).
const snapshotPart = 500

// wireDialog is a dialog event, or a dialog of a snapshot: the fields of
// sip.Dialog and of its call record that the consumers of dialog events
// read (presence: the tags, From and To, the state and cause, the caller's
// identity and the callee's AOR).
type wireDialog struct {
	Kind        string `json:"k,omitempty"` // the event's kind (sip.EventKind.String); none in a snapshot
	CallID      string `json:"ci"`
	FromTag     string `json:"ft"`
	ToTag       string `json:"tt,omitempty"`
	From        string `json:"f,omitempty"`
	To          string `json:"to,omitempty"`
	RequestURI  string `json:"ru,omitempty"`
	Destination string `json:"ds,omitempty"`
	Gateway     string `json:"gw,omitempty"`
	State       string `json:"st"`
	Created     int64  `json:"cr,omitempty"` // Unix milliseconds
	Answered    int64  `json:"an,omitempty"`
	Ended       int64  `json:"en,omitempty"`
	Cause       string `json:"ca,omitempty"`
	Code        int    `json:"co,omitempty"`
	Caller      string `json:"u,omitempty"` // CallInfo.Caller as user@domain
	Callee      string `json:"ce,omitempty"`
	Class       string `json:"cl,omitempty"`
	Number      string `json:"nu,omitempty"`
	Dialled     string `json:"di,omitempty"` // CallInfo.Dialled, for the fraud figures
	Leg         *leg   `json:"l,omitempty"`
}

type leg struct {
	Destination string `json:"ds,omitempty"`
	Gateway     string `json:"gw,omitempty"`
	Code        int    `json:"co,omitempty"`
}

// dialogKey identifies a dialog of a node.
type dialogKey struct{ callID, fromTag string }

func (w *wireDialog) key() dialogKey { return dialogKey{w.CallID, w.FromTag} }

var kinds = map[string]sip.EventKind{}

var states = map[string]sip.DialogState{}

func init() {
	for k := sip.EventCreated; k <= sip.EventTerminated; k++ {
		kinds[k.String()] = k
	}
	for s := sip.DialogTrying; s <= sip.DialogTerminated; s++ {
		states[s.String()] = s
	}
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// encodeEvent copies what travels of ev. It runs on the call's goroutine.
func encodeEvent(ev sip.DialogEvent) wireDialog {
	d := ev.Dialog
	info := d.Call.Info()
	w := wireDialog{
		Kind: ev.Kind.String(), CallID: d.CallID, FromTag: d.FromTag, ToTag: d.ToTag,
		From: d.From, To: d.To, RequestURI: d.RequestURI, Destination: d.Destination, Gateway: d.Gateway,
		State: d.State.String(), Created: millis(d.Created), Answered: millis(d.Answered), Ended: millis(d.Ended),
		Cause: string(d.Cause), Code: d.Code,
		Caller: info.Caller.AOR(), Callee: info.Callee, Class: info.Class, Number: info.Number, Dialled: info.Dialled,
	}
	if ev.Kind == sip.EventBranchStarted || ev.Kind == sip.EventBranchEnded {
		w.Leg = &leg{Destination: ev.Leg.Destination, Gateway: ev.Leg.Gateway, Code: ev.Leg.Code}
	}
	return w
}

// decode rebuilds the event w describes, with a call record of its own
// holding what the stages of node learned (caller, callee, class,
// number, the number as dialled) and a trace line naming the node. kind overrides w.Kind (for
// the events a snapshot or a timeout implies). ok is false for a kind or
// state this version does not know.
func (w *wireDialog) decode(node string, kind sip.EventKind) (ev sip.DialogEvent, ok bool) {
	state, ok := states[w.State]
	if !ok {
		return ev, false
	}
	call := &sip.Call{CallID: w.CallID, FromTag: w.FromTag}
	if w.Caller != "" {
		i := strings.LastIndexByte(w.Caller, '@')
		if i < 0 {
			call.SetCaller(sip.CallerIdentity{User: w.Caller})
		} else {
			call.SetCaller(sip.CallerIdentity{User: w.Caller[:i], Domain: w.Caller[i+1:]})
		}
	}
	if w.Callee != "" {
		call.SetCallee(w.Callee)
	}
	if w.Class != "" || w.Number != "" {
		call.SetClass(w.Number, w.Class)
	}
	call.SetDialled(w.Dialled)
	call.Trace("cluster", sip.Note("node "+node))
	ev = sip.DialogEvent{Kind: kind, Dialog: sip.Dialog{
		CallID: w.CallID, FromTag: w.FromTag, ToTag: w.ToTag, From: w.From, To: w.To,
		RequestURI: w.RequestURI, Destination: w.Destination, Gateway: w.Gateway, State: state,
		Created: fromMillis(w.Created), Answered: fromMillis(w.Answered), Ended: fromMillis(w.Ended),
		Cause: sip.Cause(w.Cause), Code: w.Code, Call: call,
	}}
	if w.Leg != nil {
		ev.Leg = sip.Leg{Destination: w.Leg.Destination, Gateway: w.Leg.Gateway, Code: w.Leg.Code}
	}
	return ev, true
}

// stateKind is the event that brings a dialog to its state: what a
// snapshot implies for a dialog that was not known in that state.
func stateKind(s sip.DialogState) sip.EventKind {
	switch s {
	case sip.DialogEarly:
		return sip.EventEarly
	case sip.DialogConfirmed:
		return sip.EventConfirmed
	case sip.DialogTerminated:
		return sip.EventTerminated
	}
	return sip.EventCreated
}
