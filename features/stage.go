package features

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/palio-voip/palio/destination"
	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
)

// Wrap is the call services' stage: put it in destination.Config.Stages,
// after the class check, so that a forward runs the sub-pipeline again
// (destination.Redirect) and is classified, checked against the
// forwarding account's classes and routed as if that account had dialled
// it. In order, for an INVITE:
//
//  1. blacklists: the dialled number against the caller's own list and
//     the global list (Outgoing), the caller's number against the
//     callee's list and the global list (Incoming): 603 Decline;
//  2. anonymous-call blocking: 433 Anonymity Disallowed;
//  3. do not disturb: 480, 486 or the voicemail;
//  4. unconditional forward;
//  5. boss–secretary: the secretary rings first;
//  6. the account rings, with its forwards on busy, no answer and
//     unreachable.
//
// Steps 2 to 6 apply to calls to local accounts (Config.LocalClasses).
// Other requests pass through.
func (f *Features) Wrap(next sip.Handler) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		if !r.IsInvite() {
			return next.ServeSIP(ctx, w, r)
		}
		return f.serve(ctx, w, r, next)
	})
}

// chain is what the services did to a call so far, through its
// redirects: the accounts it reached and the forwards it followed.
type chain struct {
	visited []string
	hops    int
}

type chainKey struct{}

func chainFrom(ctx context.Context) *chain {
	if c, ok := ctx.Value(chainKey{}).(*chain); ok {
		return c
	}
	return &chain{}
}

// errNotFollowed says a forward was not followed (the chain is at its
// limit): the account reached rings instead.
var errNotFollowed = errors.New("features: forward not followed")

// errNoAnswer is the cause that ends a leg at its no-answer timer.
var errNoAnswer = errors.New("features: no answer")

func (f *Features) serve(ctx context.Context, w sip.ResponseWriter, r *sip.Request, next sip.Handler) error {
	t := f.snap.Load()
	call := sip.CallFrom(ctx)
	number := r.Recipient.User
	id, authed := registrar.IdentityFrom(ctx)

	if authed {
		if f.cfg.UserLists&Outgoing != 0 {
			if err := f.decline(call, t.user[id.Username], number, id.Username+"'s blacklist", "dialled"); err != nil {
				return err
			}
		}
		if f.cfg.GlobalList&Outgoing != 0 {
			if err := f.decline(call, t.global, number, "the global blacklist", "dialled"); err != nil {
				return err
			}
		}
	}
	res, _ := dialplan.ResultFrom(ctx)
	if !slices.Contains(f.cfg.LocalClasses, res.Attrs) {
		return next.ServeSIP(ctx, w, r)
	}
	callee := number
	caller := callerNumber(r)
	if f.cfg.UserLists&Incoming != 0 {
		if err := f.decline(call, t.user[callee], caller, callee+"'s blacklist", "caller"); err != nil {
			return err
		}
	}
	if f.cfg.GlobalList&Incoming != 0 {
		if err := f.decline(call, t.global, caller, "the global blacklist", "caller"); err != nil {
			return err
		}
	}
	s := t.settings[callee]
	if s == nil {
		return next.ServeSIP(ctx, w, r)
	}
	if s.AnonymousBlock && anonymous(r) {
		f.applied(call, "anonymous", "%s refuses anonymous calls", callee)
		return sip.Reject(433, "Anonymity Disallowed")
	}
	ch := chainFrom(ctx)
	if slices.Contains(ch.visited, callee) {
		f.applied(call, "loop", "forward loop back to %s (%s): stopped", callee, strings.Join(ch.visited, " → "))
		return sip.Reject(482, "Loop Detected")
	}
	ch = &chain{visited: append(slices.Clone(ch.visited), callee), hops: ch.hops}
	ctx = context.WithValue(ctx, chainKey{}, ch)

	if s.DND {
		switch s.DNDAction {
		case DNDBusy:
			f.applied(call, "dnd", "%s: do not disturb: 486", callee)
			return sip.Reject(486, "Busy Here")
		case DNDVoicemail:
			err := f.forward(ctx, w, r, s, f.cfg.Voicemail(callee), "do-not-disturb", "dnd")
			if !errors.Is(err, errNotFollowed) {
				return err
			}
			fallthrough
		default:
			f.applied(call, "dnd", "%s: do not disturb: 480", callee)
			return sip.Reject(480, "Temporarily Unavailable")
		}
	}
	if s.ForwardAlways != "" {
		err := f.forward(ctx, w, r, s, s.ForwardAlways, "unconditional", "forward-always")
		if !errors.Is(err, errNotFollowed) {
			return err
		}
	}
	if s.Secretary != "" && caller != s.Secretary && (!authed || id.Username != s.Secretary) &&
		!slices.Contains(s.SecretaryAllow, caller) && !(authed && slices.Contains(s.SecretaryAllow, id.Username)) {
		return f.secretary(ctx, w, r, next, s)
	}
	return f.ring(ctx, w, r, next, s)
}

// decline answers 603 when number's longest prefix in l is a blacklist
// row (a whitelist row lets it through).
func (f *Features) decline(call *sip.Call, l prefixList, number, list, what string) error {
	e, ok := l.match(number)
	if !ok {
		return nil
	}
	if e.Whitelist {
		call.Tracef("features", "%s %s allowed by %s (prefix %s)", what, number, list, e.Prefix)
		return nil
	}
	f.applied(call, "blacklist", "%s %s refused by %s (prefix %s)", what, number, list, e.Prefix)
	return sip.Reject(603, "Decline")
}

// applied counts and traces a service.
func (f *Features) applied(call *sip.Call, service, format string, args ...any) {
	f.metrics.applied.WithLabelValues(service).Inc()
	call.AddFeature(service)
	call.Tracef("features", format, args...)
}

// ring rings the account s, and follows its forwards on busy, no answer
// and unreachable.
func (f *Features) ring(ctx context.Context, w sip.ResponseWriter, r *sip.Request, next sip.Handler, s *Settings) error {
	call := sip.CallFrom(ctx)
	var plan []string
	after := s.NoAnswerAfter
	if after == 0 {
		after = f.cfg.NoAnswerAfter
	}
	if s.ForwardBusy != "" {
		plan = append(plan, "on busy to "+s.ForwardBusy)
	}
	if s.ForwardNoAnswer != "" {
		plan = append(plan, fmt.Sprintf("on no answer after %v to %s", after, s.ForwardNoAnswer))
	}
	if s.ForwardUnreachable != "" {
		plan = append(plan, "when unreachable to "+s.ForwardUnreachable)
	}
	if len(plan) > 0 {
		call.Tracef("features", "%s rings; forwards %s", s.User, strings.Join(plan, ", "))
	}
	leg := ctx
	if s.ForwardNoAnswer != "" {
		var cancel context.CancelCauseFunc
		leg, cancel = context.WithCancelCause(ctx)
		timer := time.AfterFunc(after, func() { cancel(errNoAnswer) })
		defer timer.Stop()
		defer cancel(nil)
	}
	err := next.ServeSIP(leg, w, r)
	if err == nil || ctx.Err() != nil {
		return err
	}
	var target, reason, service string
	code := sip.StatusOf(err)
	switch {
	case s.ForwardNoAnswer != "" && errors.Is(context.Cause(leg), errNoAnswer):
		target, reason, service = s.ForwardNoAnswer, "no-answer", "forward-noanswer"
	case (code == 486 || code == 600) && s.ForwardBusy != "":
		target, reason, service = s.ForwardBusy, "user-busy", "forward-busy"
	case unreachable(code) && s.ForwardUnreachable != "":
		target, reason, service = s.ForwardUnreachable, "unavailable", "forward-unreachable"
	default:
		return err
	}
	if ferr := f.forward(ctx, w, r, s, target, reason, service); !errors.Is(ferr, errNotFollowed) {
		return ferr
	}
	if errors.Is(context.Cause(leg), errNoAnswer) {
		return sip.Reject(480, "Temporarily Unavailable")
	}
	return err
}

// unreachable reports the answers that mean the account cannot take the
// call: no phone registered (404, 480), no answer from them (408), a
// failure on the way (503).
func unreachable(code int) bool {
	return code == 404 || code == 408 || code == 480 || code == 503
}

// forward sends the call of account s to target, as s's outbound call,
// with the history of the diversion. errNotFollowed when the chain is at
// its limit.
func (f *Features) forward(ctx context.Context, w sip.ResponseWriter, r *sip.Request, s *Settings, target, reason, service string) error {
	call := sip.CallFrom(ctx)
	ch := chainFrom(ctx)
	if ch.hops >= f.cfg.MaxForwards {
		call.Tracef("features", "%s: %s to %s not followed: %d forwards already", s.User, service, target, ch.hops)
		return errNotFollowed
	}
	domain := s.Domain
	if domain == "" {
		domain = f.cfg.Domain
	}
	id, err := f.cfg.Account(ctx, s.User, domain)
	if err != nil {
		f.log.Warn("features: forward not followed: the account cannot be read", "callid", call.CallID, "user", s.User, "error", err)
		return errNotFollowed
	}
	f.applied(call, service, "%s: %s to %s", s.User, service, target)
	req := r.Clone()
	f.addHistory(req, s.User, domain, target, reason)
	next := &chain{visited: ch.visited, hops: ch.hops + 1}
	return destination.Redirect(context.WithValue(ctx, chainKey{}, next), w, req, target, id)
}

// addHistory writes where req was diverted from (RFC 5806 Diversion,
// RFC 7044 History-Info), as Config.Diversion says.
func (f *Features) addHistory(req *sip.Request, user, domain, target, reason string) {
	from := "<sip:" + user + "@" + domain + ">"
	if f.cfg.Diversion == Diversion || f.cfg.Diversion == DiversionAndHistoryInfo {
		counter := len(sip.HeadersNamed(req, "Diversion")) + 1
		// The newest diversion first (RFC 5806 §4).
		req.PrependHeader(sipmsg.NewHeader("Diversion", from+";reason="+reason+";counter="+strconv.Itoa(counter)))
	}
	if f.cfg.Diversion == HistoryInfo || f.cfg.Diversion == DiversionAndHistoryInfo {
		n := len(sip.HeadersNamed(req, "History-Info"))
		if n == 0 {
			req.AppendHeader(sipmsg.NewHeader("History-Info", "<sip:"+user+"@"+domain+"?Reason=SIP%3Bcause%3D"+causeOf(reason)+">;index=1"))
			n = 1
		}
		req.AppendHeader(sipmsg.NewHeader("History-Info", "<sip:"+target+"@"+domain+">;index=1."+strconv.Itoa(n)+";rc=1"))
	}
}

// causeOf is the SIP cause of a diversion reason (RFC 4458's mapping).
func causeOf(reason string) string {
	switch reason {
	case "user-busy":
		return "486"
	case "no-answer":
		return "408"
	case "unavailable", "do-not-disturb":
		return "480"
	}
	return "302"
}

// secretary rings the boss s's secretary first: the secretary's phone
// shows whom the call was for (the caller's display name gets "for
// BOSS", and a Diversion names the boss). With RingBossAfter the boss
// rings too once the secretary has rung that long; with
// BossWhenSecretaryFails a busy or unreachable secretary sends the call
// to the boss.
func (f *Features) secretary(ctx context.Context, w sip.ResponseWriter, r *sip.Request, next sip.Handler, s *Settings) error {
	req := r.Clone()
	if from := req.From(); from != nil {
		name := from.DisplayName
		if name == "" {
			name = from.Address.User
		}
		from.DisplayName = name + " for " + s.User
	}
	if s.RingBossAfter > 0 {
		return f.ringBoth(ctx, w, req, r, next, s)
	}
	err := f.forward(ctx, w, req, s, s.Secretary, "deflection", "secretary")
	switch {
	case errors.Is(err, errNotFollowed):
		return f.ring(ctx, w, r, next, s)
	case err == nil || ctx.Err() != nil:
		return err
	}
	code := sip.StatusOf(err)
	if s.BossWhenSecretaryFails && (code == 486 || code == 600 || unreachable(code)) {
		f.applied(sip.CallFrom(ctx), "boss", "%s: the secretary %s answered %d: the boss rings", s.User, s.Secretary, code)
		return f.ring(ctx, w, r, next, s)
	}
	return err
}

// ringBoth rings the secretary, then the boss as well after
// RingBossAfter (at once if the secretary fails first): the first to
// answer takes the call, the other leg is cancelled.
func (f *Features) ringBoth(ctx context.Context, w sip.ResponseWriter, secReq, bossReq *sip.Request, next sip.Handler, s *Settings) error {
	call := sip.CallFrom(ctx)
	fw := &forkWriter{w: w}
	secCtx, cancelSec := context.WithCancelCause(ctx)
	bossCtx, cancelBoss := context.WithCancelCause(ctx)
	defer cancelSec(nil)
	defer cancelBoss(nil)
	type result struct {
		boss bool
		err  error
	}
	results := make(chan result, 2)
	go func() {
		err := f.forward(secCtx, fw.leg(cancelBoss), secReq, s, s.Secretary, "deflection", "secretary")
		results <- result{false, err}
	}()
	bossStarted := false
	startBoss := func(why string) {
		bossStarted = true
		f.applied(call, "boss", "%s: the boss rings too (%s)", s.User, why)
		go func() { results <- result{true, f.ring(bossCtx, fw.leg(cancelSec), bossReq, next, s)} }()
	}
	timer := time.NewTimer(s.RingBossAfter)
	defer timer.Stop()
	var secErr, bossErr error
	for pending := 1; pending > 0; {
		select {
		case <-timer.C:
			if !bossStarted {
				startBoss(fmt.Sprintf("after %v", s.RingBossAfter))
				pending++
			}
		case res := <-results:
			pending--
			if res.boss {
				bossErr = res.err
			} else {
				secErr = res.err
			}
			if res.err == nil {
				// One leg answered: the other is cancelled (and a late
				// answer of its hung up by the Forwarder).
				cancelSec(errCompletedElsewhere)
				cancelBoss(errCompletedElsewhere)
				continue
			}
			if !res.boss && !bossStarted && ctx.Err() == nil && !fw.answered() {
				startBoss("the secretary's leg ended " + strconv.Itoa(sip.StatusOf(res.err)))
				pending++
			}
		}
	}
	switch {
	case secErr == nil || bossErr == nil && bossStarted:
		return nil
	case bossStarted:
		return bossErr
	}
	return secErr
}

// errCompletedElsewhere cancels the leg of a boss–secretary call that did
// not answer.
var errCompletedElsewhere = errors.New("features: answered by the other leg")

// forkWriter lets two legs of one call answer the caller: provisional
// responses of both go upstream, the first 2xx wins, a later 2xx is
// refused (the Forwarder then hangs that leg up). Writes are serialized:
// the caller's ResponseWriter sees one writer.
type forkWriter struct {
	w      sip.ResponseWriter
	mu     sync.Mutex
	winner *legWriter // the leg that answered
}

func (f *forkWriter) answered() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.winner != nil
}

// leg returns the writer of one leg; cancelOther cancels the other leg
// when this one answers.
func (f *forkWriter) leg(cancelOther context.CancelCauseFunc) sip.ResponseWriter {
	return &legWriter{f: f, cancelOther: cancelOther}
}

type legWriter struct {
	f           *forkWriter
	cancelOther context.CancelCauseFunc
}

// errAnsweredElsewhere refuses a second answer.
var errAnsweredElsewhere = errors.New("features: the call was answered by the other leg")

// WriteResponse passes res upstream unless the other leg answered.
func (l *legWriter) WriteResponse(res *sip.Response) error {
	f := l.f
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.winner != nil && f.winner != l:
		return errAnsweredElsewhere
	case f.winner == nil && res.StatusCode >= 200 && res.StatusCode < 300:
		f.winner = l
		l.cancelOther(errCompletedElsewhere)
	}
	return f.w.WriteResponse(res)
}

// Status reports the final status sent upstream.
func (l *legWriter) Status() int {
	l.f.mu.Lock()
	defer l.f.mu.Unlock()
	return l.f.w.Status()
}

// callerNumber is the user part of the From URI: the caller's number.
func callerNumber(r *sip.Request) string {
	if from := r.From(); from != nil {
		return from.Address.User
	}
	return ""
}

// anonymous reports an anonymous caller (RFC 3323, RFC 5079): From
// anonymous (or the anonymous.invalid host), or Privacy asking to hide
// the identity (id, user).
func anonymous(r *sip.Request) bool {
	if from := r.From(); from != nil {
		if strings.EqualFold(from.Address.User, "anonymous") || strings.EqualFold(from.Address.Host, "anonymous.invalid") {
			return true
		}
	}
	for _, h := range sip.HeadersNamed(r, "Privacy") {
		for v := range strings.SplitSeq(h.Value(), ";") {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "id", "user":
				return true
			}
		}
	}
	return false
}
