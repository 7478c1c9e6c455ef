package sip

import (
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DialogState is the state of a call as the proxy sees it (RFC 3261 §12,
// the dialog states of RFC 4235).
type DialogState int

// The states a dialog goes through: Trying → Early → Confirmed → Terminated,
// skipping Early when the first answer is final.
const (
	DialogTrying DialogState = iota
	DialogEarly
	DialogConfirmed
	DialogTerminated
)

// String returns the RFC 4235 name of the state ("trying", "early",
// "confirmed", "terminated").
func (s DialogState) String() string {
	switch s {
	case DialogTrying:
		return "trying"
	case DialogEarly:
		return "early"
	case DialogConfirmed:
		return "confirmed"
	case DialogTerminated:
		return "terminated"
	}
	return "unknown"
}

// Cause says why a dialog ended.
type Cause string

// The termination causes.
const (
	CauseNone         Cause = ""
	CauseByeCaller    Cause = "bye-caller"    // the caller hung up
	CauseByeCallee    Cause = "bye-callee"    // the callee hung up
	CauseCanceled     Cause = "canceled"      // the caller cancelled before the answer
	CauseRejected     Cause = "rejected"      // a final response ≥ 300 went upstream
	CauseExpired      Cause = "expired"       // no BYE within the maximum duration
	CauseServerClosed Cause = "server-closed" // the server was closed during the call
	CauseHangup       Cause = "hangup"        // the proxy hung up (Server.Hangup)
)

// Dialog is a snapshot of one call routed through the proxy. The proxy
// record-routes every call, so it sees the whole dialog: this is what the
// real-time calls list, CDRs, BLF presence and trunk limits consume.
type Dialog struct {
	CallID  string
	FromTag string // the caller's tag
	ToTag   string // the callee's tag, once answered (or early)
	// From and To are the URIs of the From and To headers of the INVITE.
	From string
	To   string
	// RequestURI is the Request-URI of the INVITE as the proxy received it.
	RequestURI string
	// Destination is the Request-URI of the branch that answered, or of
	// the latest branch tried while the call is not answered.
	Destination string
	// Gateway is the gateway label of that branch's target (Target.Gateway).
	Gateway string
	State   DialogState
	// Created, Answered and Ended are the times of the INVITE, of the 2xx
	// and of the end; zero while not reached.
	Created, Answered, Ended time.Time
	// Cause and Code say how the call ended: the final status sent
	// upstream for unanswered calls, 200 for answered ones.
	Cause Cause
	Code  int
	// Call is the call's record: what the stages decided (caller,
	// class, callee, rule...), its trace and hooks. Never nil for a
	// dialog of the table.
	Call *Call
}

// Duration is the talk time: from answer to end (or to now while active).
func (d Dialog) Duration(now time.Time) time.Duration {
	if d.Answered.IsZero() {
		return 0
	}
	end := d.Ended
	if end.IsZero() {
		end = now
	}
	return end.Sub(d.Answered)
}

// EventKind says what happened to a dialog.
type EventKind int

// The dialog events, in the order a call produces them.
const (
	// EventCreated: the first INVITE of a call reached the Forwarder.
	EventCreated EventKind = iota
	// EventBranchStarted: a branch (a fork, or a serial failover attempt)
	// was sent to Leg.Destination / Leg.Gateway.
	EventBranchStarted
	// EventBranchEnded: a branch ended without being the answered one
	// (Leg.Code says how). The answered branch ends with the dialog.
	EventBranchEnded
	// EventEarly: the first provisional response with a To tag.
	EventEarly
	// EventConfirmed: a 2xx was relayed upstream.
	EventConfirmed
	// EventTerminated: the call ended (Dialog.Cause says why).
	EventTerminated
)

// String returns the event's name.
func (k EventKind) String() string {
	return [...]string{"created", "branch-started", "branch-ended", "early", "confirmed", "terminated"}[k]
}

// Leg describes the branch an EventBranchStarted/EventBranchEnded is about.
type Leg struct {
	Destination string
	Gateway     string
	Code        int
}

// DialogEvent is delivered to subscribers of a Dialogs table.
type DialogEvent struct {
	Kind   EventKind
	Dialog Dialog
	// Leg is the branch an EventBranchStarted or EventBranchEnded is about.
	// Every EventBranchStarted is matched by exactly one EventBranchEnded,
	// the answered branch's coming just before EventTerminated, so that a
	// consumer counting calls per gateway adds one and subtracts one.
	Leg Leg
}

// Dialogs is the proxy's table of calls in progress, fed by the Forwarder,
// the DialogRelay and the Server. Events for one dialog are delivered in
// order; subscribers run synchronously on the goroutine that caused the
// event, so they must be quick and must not call back into the table.
type Dialogs struct {
	seed        maphash.Seed
	shards      [dialogShards]dialogShard
	maxDuration time.Duration
	now         func() time.Time

	events *Feed[DialogEvent]
	// local tells the proxy's own Record-Route entries (route sets); nil
	// for a table without a server.
	local *Local

	stop chan struct{}
	done chan struct{}
}

const dialogShards = 32

type dialogShard struct {
	mu sync.Mutex
	m  map[dialogKey]*dialogEntry
}

type dialogKey struct{ callID, fromTag string }

// dialogEntry is one dialog. Lock order: an entry's mu before a shard's
// mu; code holding a shard lock never waits for an entry lock (it reads
// ended, or locks an entry nobody else can see yet).
type dialogEntry struct {
	mu   sync.Mutex
	d    Dialog
	call *Call // d.Call
	// cseq and branch identify the INVITE that created the dialog, so that
	// its retransmissions are recognised (see retransmission).
	cseq     uint32
	branch   string
	answered *Leg        // the branch that answered, ended with the dialog
	ended    atomic.Bool // d.State == DialogTerminated
	// ends is what the table knows of the two ends (dialogends.go).
	ends dialogEnds
}

// NewDialogs returns an empty table whose confirmed dialogs expire after
// maxDuration without a BYE (0 means 12 h, OpenSIPS's default_timeout). It
// runs a sweeper goroutine until Close.
func NewDialogs(maxDuration time.Duration) *Dialogs {
	if maxDuration <= 0 {
		maxDuration = 12 * time.Hour
	}
	t := &Dialogs{
		seed:        maphash.MakeSeed(),
		maxDuration: maxDuration,
		now:         time.Now,
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
		events:      NewFeed[DialogEvent](FeedConfig{Name: "dialogs"}),
	}
	for i := range t.shards {
		t.shards[i].m = map[dialogKey]*dialogEntry{}
	}
	go t.sweep()
	return t
}

// Close stops the sweeper and terminates every dialog still in the table
// with CauseServerClosed.
func (t *Dialogs) Close() {
	select {
	case <-t.stop:
		return
	default:
	}
	close(t.stop)
	<-t.done
	for _, e := range t.entries() {
		t.terminate(e, CauseServerClosed, 0, false)
	}
	t.events.Close()
}

// entries returns the entries of the table at one moment.
func (t *Dialogs) entries() []*dialogEntry {
	var out []*dialogEntry
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for _, e := range s.m {
			out = append(out, e)
		}
		s.mu.Unlock()
	}
	return out
}

// Subscribe registers fn for every dialog event from now on and returns a
// function that removes it. By default fn runs synchronously, on the
// goroutine that caused the event, with the dialog locked: it must be
// quick and must not call back into the table. Async(n) runs it on a
// goroutine of its own, in order, through a queue of n events (see Feed):
// for anything that waits (a database, the network).
func (t *Dialogs) Subscribe(fn func(DialogEvent), opts ...SubscribeOption) (unsubscribe func()) {
	return t.events.Subscribe(fn, opts...)
}

// Active returns a snapshot of the dialogs in the table (not yet
// terminated), oldest first.
func (t *Dialogs) Active() []Dialog {
	var out []Dialog
	for _, e := range t.entries() {
		e.mu.Lock()
		if e.d.State != DialogTerminated {
			out = append(out, e.d)
		}
		e.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Dialog) int { return a.Created.Compare(b.Created) })
	return out
}

// Len returns the number of dialogs in the table.
func (t *Dialogs) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// Get returns the dialog of a call by Call-ID and the caller's From tag.
func (t *Dialogs) Get(callID, fromTag string) (Dialog, bool) {
	e := t.lookup(dialogKey{callID, fromTag})
	if e == nil {
		return Dialog{}, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.d, true
}

func (t *Dialogs) shard(k dialogKey) *dialogShard {
	var h maphash.Hash
	h.SetSeed(t.seed)
	h.WriteString(k.callID)
	h.WriteString(k.fromTag)
	return &t.shards[h.Sum64()%dialogShards]
}

func (t *Dialogs) lookup(k dialogKey) *dialogEntry {
	s := t.shard(k)
	s.mu.Lock()
	e := s.m[k]
	s.mu.Unlock()
	return e
}

// match finds the dialog an in-dialog request belongs to: requests from the
// caller carry its tag in From, requests from the callee in To. It returns
// the entry and whether the request came from the caller.
func (t *Dialogs) match(r *Request) (*dialogEntry, bool) {
	id := callID(r)
	if e := t.lookup(dialogKey{id, fromTag(r)}); e != nil {
		return e, true
	}
	if e := t.lookup(dialogKey{id, toTag(r)}); e != nil {
		return e, false
	}
	return nil, false
}

func (t *Dialogs) publish(ev DialogEvent) {
	t.events.Publish(ev)
}

// begin returns the dialog of an initial INVITE, creating it (and
// publishing EventCreated) on the first attempt. Later attempts of the same
// call (serial failover) find the same entry.
func (t *Dialogs) begin(r *Request, call *Call) *dialogEntry {
	k := dialogKey{callID(r), fromTag(r)}
	s := t.shard(k)
	s.mu.Lock()
	if e, ok := s.m[k]; ok && !e.ended.Load() {
		s.mu.Unlock()
		return e
	}
	if call == nil {
		call = NewCall(r)
	}
	call.adopt()
	e := &dialogEntry{call: call, d: Dialog{
		Call:       call,
		CallID:     k.callID,
		FromTag:    k.fromTag,
		RequestURI: uriString(&r.Recipient),
		State:      DialogTrying,
		Created:    t.now(),
	}}
	if f := r.From(); f != nil {
		e.d.From = uriString(&f.Address)
	}
	if to := r.To(); to != nil {
		e.d.To = uriString(&to.Address)
	}
	if cs := r.CSeq(); cs != nil {
		e.cseq = cs.SeqNo
	}
	if v := r.Via(); v != nil {
		e.branch, _ = v.Params.Get("branch")
	}
	e.ends.noteCaller(r)
	e.mu.Lock()
	s.m[k] = e
	s.mu.Unlock()
	t.publish(DialogEvent{Kind: EventCreated, Dialog: e.d})
	e.mu.Unlock()
	return e
}

func (t *Dialogs) legStarted(e *dialogEntry, target Target) {
	e.mu.Lock()
	defer e.mu.Unlock()
	dest := uriString(&target.URI)
	if e.d.State < DialogConfirmed {
		e.d.Destination = dest
		e.d.Gateway = target.Gateway
	}
	t.publish(DialogEvent{Kind: EventBranchStarted, Dialog: e.d, Leg: Leg{Destination: dest, Gateway: target.Gateway}})
}

// legEnded closes a branch that did not become the answered one.
func (t *Dialogs) legEnded(e *dialogEntry, target Target, code int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t.publish(DialogEvent{Kind: EventBranchEnded, Dialog: e.d, Leg: Leg{Destination: uriString(&target.URI), Gateway: target.Gateway, Code: code}})
}

func (t *Dialogs) early(e *dialogEntry, res *Response) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.d.State != DialogTrying {
		return
	}
	tag := toTag(res)
	if tag == "" {
		return
	}
	e.d.State = DialogEarly
	e.d.ToTag = tag
	t.publish(DialogEvent{Kind: EventEarly, Dialog: e.d})
}

// confirm marks the dialog answered by the branch to target. It reports
// false when that branch is not the answered one: the dialog was already
// confirmed by another branch of a fork, or it already ended.
func (t *Dialogs) confirm(e *dialogEntry, target Target, res *Response) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch e.d.State {
	case DialogTerminated, DialogConfirmed:
		return false
	}
	dest := uriString(&target.URI)
	e.d.State = DialogConfirmed
	e.d.ToTag = toTag(res)
	e.d.Answered = t.now()
	e.d.Destination = dest
	e.d.Gateway = target.Gateway
	e.d.Code = res.StatusCode
	e.answered = &Leg{Destination: dest, Gateway: target.Gateway, Code: res.StatusCode}
	e.ends.noteAnswer(t.local, target, res)
	t.publish(DialogEvent{Kind: EventConfirmed, Dialog: e.d})
	return true
}

// createdBy reports whether e is the dialog the initial INVITE r created
// (same CSeq and top Via branch).
func (e *dialogEntry) createdBy(r *Request) bool {
	cs, v := r.CSeq(), r.Via()
	if cs == nil || v == nil {
		return false
	}
	b, _ := v.Params.Get("branch")
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cseq == cs.SeqNo && e.branch == b
}

// retransmission reports whether the initial INVITE r repeats the one
// that created a dialog still in the table: same Call-ID, From tag, CSeq and
// top Via branch (RFC 3261 §17.2.3).
func (t *Dialogs) retransmission(r *Request) bool {
	e := t.lookup(dialogKey{callID(r), fromTag(r)})
	if e == nil || e.branch == "" || !e.createdBy(r) {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.d.State != DialogTerminated
}

// finish ends an unanswered dialog because a final response ≥ 300 (or the
// 487 that answers a CANCEL) went upstream for r. Only the dialog r
// created is ended: a phone answers a 407 challenge with a new INVITE of
// the same Call-ID and From tag (a new CSeq and branch), which may have
// created its dialog before the 407's writer gets here.
func (t *Dialogs) finish(r *Request, code int) {
	e := t.lookup(dialogKey{callID(r), fromTag(r)})
	if e == nil || !e.createdBy(r) {
		return
	}
	cause := CauseRejected
	if code == 487 {
		cause = CauseCanceled
	}
	t.terminate(e, cause, code, true)
}

// terminate ends e; with unansweredOnly it leaves a confirmed dialog alone.
func (t *Dialogs) terminate(e *dialogEntry, cause Cause, code int, unansweredOnly bool) {
	e.mu.Lock()
	if e.d.State == DialogTerminated || (unansweredOnly && e.d.State == DialogConfirmed) {
		e.mu.Unlock()
		return
	}
	answered := e.d.State == DialogConfirmed
	e.d.State = DialogTerminated
	e.ended.Store(true)
	e.d.Ended = t.now()
	e.d.Cause = cause
	if code != 0 && !answered {
		e.d.Code = code
	}
	k := dialogKey{e.d.CallID, e.d.FromTag}
	s := t.shard(k)
	s.mu.Lock()
	if s.m[k] == e {
		delete(s.m, k)
	}
	s.mu.Unlock()
	if e.answered != nil {
		t.publish(DialogEvent{Kind: EventBranchEnded, Dialog: e.d, Leg: *e.answered})
	}
	t.publish(DialogEvent{Kind: EventTerminated, Dialog: e.d})
	d := e.d
	e.mu.Unlock()
	// Outside the lock: an OnEnd function may look at the table.
	e.call.end(d)
}

// abandon ends a dialog confirmed by a 2xx that could not reach the
// caller (its CANCEL was answered first): for the caller the call was
// cancelled, so it ends as an unanswered 487.
func (t *Dialogs) abandon(e *dialogEntry) {
	e.mu.Lock()
	if e.d.State == DialogConfirmed {
		e.d.State = DialogEarly
		e.d.Answered = time.Time{}
		e.answered = nil
	}
	e.mu.Unlock()
	t.terminate(e, CauseCanceled, 487, false)
}

// bye ends a dialog because a BYE passed through the DialogRelay.
func (t *Dialogs) bye(r *Request) {
	e, fromCaller := t.match(r)
	if e == nil {
		return
	}
	// The other side's tag must be the answered one: a second answer of a
	// fork is another dialog, which the caller hangs up on its own.
	other := fromTag(r)
	if fromCaller {
		other = toTag(r)
	}
	e.mu.Lock()
	answered := e.d.ToTag
	e.mu.Unlock()
	if answered != "" && other != answered {
		return
	}
	cause := CauseByeCallee
	if fromCaller {
		cause = CauseByeCaller
	}
	t.terminate(e, cause, 0, false)
}

func (t *Dialogs) sweep() {
	defer close(t.done)
	tick := time.NewTicker(sweepInterval(t.maxDuration))
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			t.expire(t.now())
		}
	}
}

func sweepInterval(max time.Duration) time.Duration {
	iv := max / 10
	if iv > time.Minute {
		iv = time.Minute
	}
	if iv < 10*time.Millisecond {
		iv = 10 * time.Millisecond
	}
	return iv
}

// expire terminates confirmed dialogs older than the maximum duration.
func (t *Dialogs) expire(now time.Time) {
	for _, e := range t.entries() {
		e.mu.Lock()
		old := e.d.State == DialogConfirmed && now.Sub(e.d.Answered) > t.maxDuration
		e.mu.Unlock()
		if old {
			t.terminate(e, CauseExpired, 0, false)
		}
	}
}
