package registrar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/sip"
)

// ServeSIP handles a REGISTER (RFC 3261 §10.3, OpenSIPS's www_authorize
// followed by save()): it authenticates the request (401 with a challenge,
// 403 for a blocked account or a foreign AOR), applies its contacts to the
// location store, and answers 200 OK listing every current contact of the
// AOR with its remaining expires. It writes the 200 itself, as a local
// responder; every rejection is returned as a *sip.StatusError (its
// Response set when headers go with it: WWW-Authenticate, Min-Expires), so
// that a middleware around the registrar sees each outcome. A store
// failure is returned as a plain error: the edge answers 500 and logs it.
//
// A REGISTER sent again because its 200 was lost (over UDP the sip.Server
// answers REGISTER statelessly, so the registrar sees it) repeats a nonce
// count already used. When it repeats the accepted request exactly (same
// source, Call-ID, CSeq and credentials, within CSeqWindow) it is a
// retransmission, answered like the original (RFC 3261 §10.3 step 7: 200
// with the current bindings) on one condition: it changes nothing. If the
// bindings have moved on since (a newer request, an operator), it is
// refused as a replayed nonce, as any other repeated count is.
func (r *Registrar) ServeSIP(ctx context.Context, w sip.ResponseWriter, req *sip.Request) error {
	if req.Method != sip.REGISTER {
		return sip.Reject(405, "Method Not Allowed")
	}
	id, retransmission, err := r.authenticate(ctx, req, wwwAuth)
	if err != nil {
		r.metrics.registration(authResult(err))
		return err
	}
	reg, err := r.parseRegister(req)
	if err != nil {
		r.metrics.registration(resultBadRequest)
		return sip.Reject(400, err.Error())
	}
	if reg.tooBrief {
		r.metrics.registration(resultIntervalTooBrief)
		res := sip.NewResponse(req, 423, "Interval Too Brief")
		res.AppendHeader(sipmsg.NewHeader("Min-Expires", strconv.FormatInt(int64(r.cfg.MinExpires/time.Second), 10)))
		return &sip.StatusError{Code: 423, Response: res}
	}
	now := r.now()
	current, result, err := r.save(ctx, req, reg, now, retransmission)
	if errors.Is(err, errNotRetransmission) {
		r.authFailed(req, id.Username, id.Realm, ReasonReplayedNonce)
		err = r.challenge(req, wwwAuth, id.Realm, true)
	}
	r.metrics.registration(result)
	if r.log.Enabled(ctx, slog.LevelDebug) {
		status := 200 // written below
		if err != nil {
			status = sip.StatusOf(err)
		}
		r.log.Debug("registrar: REGISTER", "aor", reg.aor, "src", req.Source(), "callid", reg.callID,
			"result", result, "contacts", len(current), "status", status)
	}
	if err != nil {
		return err
	}
	return w.WriteResponse(r.okResponse(req, current, now))
}

// authResult is the registrations_total result of a failed authentication.
func authResult(err error) string {
	switch sip.StatusOf(err) {
	case 401:
		return resultUnauthorized
	case 403:
		return resultForbidden
	case 400:
		return resultBadRequest
	}
	return resultError
}

// change is one write a REGISTER makes to the store.
type change struct {
	del  bool
	b    Binding
	kind EventKind
}

// errNotRetransmission is save's refusal of a request authenticated as a
// retransmission that would change a binding: its credentials are then a
// replay.
var errNotRetransmission = errors.New("registrar: not a retransmission")

// save applies reg to the AOR's bindings under the AOR's lock and returns
// the bindings the AOR has afterwards, the metric result, and the outcome
// (nil, a StatusError to answer with, or a store error). Nothing is
// written unless the whole request is acceptable (RFC 3261 §10.3 step 7:
// a failed update changes no binding); events are published before the
// lock is released, so that the events of one AOR are in order.
//
// With retransmission (authenticate recognised the request), nothing may
// change: a request the CSeq rule does not see as a retransmission, or
// that would write or remove a binding, gets errNotRetransmission.
func (r *Registrar) save(ctx context.Context, req *sip.Request, reg *regRequest, now time.Time, retransmission bool) ([]Binding, string, error) {
	defer r.lock(reg.aor)()
	var evs []Event
	defer func() { r.publish(evs) }() // runs before the unlock

	stored, err := r.loc.Lookup(ctx, reg.aor)
	if err != nil {
		return nil, resultError, fmt.Errorf("registrar: lookup %s: %w", reg.aor, err)
	}
	// Bindings that lapsed but were not swept yet are gone for good: say
	// so before anything replaces them.
	next := stored[:0]
	for _, b := range stored {
		if !b.Expired(now) {
			next = append(next, b)
			continue
		}
		switch err := r.loc.Delete(ctx, reg.aor, b.Contact); {
		case err == nil:
			evs = append(evs, Event{Kind: EventExpired, Binding: b, Time: now})
		case !errors.Is(err, ErrNotFound):
			return nil, resultError, fmt.Errorf("registrar: delete %s: %w", reg.aor, err)
		}
	}

	invalidCSeq := func() ([]Binding, string, error) {
		if retransmission {
			return nil, resultUnauthorized, errNotRetransmission
		}
		return nil, resultInvalidCSeq, sip.Reject(400, "Invalid CSeq number")
	}
	var changes []change
	skipped := false // a contact was a retransmission
	if reg.star {
		for _, b := range next {
			switch r.checkCSeq(b, reg, now) {
			case cseqRetransmission:
				return next, resultRetransmission, nil
			case cseqInvalid:
				return invalidCSeq()
			}
		}
		for _, b := range next {
			changes = append(changes, change{del: true, b: b, kind: EventUnregistered})
		}
		next = next[:0]
	}
	var written []string // contacts this request writes: never evicted
	added := false
	for _, c := range reg.contacts {
		i := slices.IndexFunc(next, func(b Binding) bool { return b.Contact == c.uri })
		if i >= 0 {
			switch r.checkCSeq(next[i], reg, now) {
			case cseqRetransmission:
				// OpenSIPS skips the contact: no update, no event.
				skipped = true
				written = append(written, c.uri)
				continue
			case cseqInvalid:
				return invalidCSeq()
			}
		}
		if c.expires == 0 {
			if i >= 0 {
				changes = append(changes, change{del: true, b: next[i], kind: EventUnregistered})
				next = slices.Delete(next, i, i+1)
			}
			continue
		}
		b := r.newBinding(req, reg, c, now)
		written = append(written, c.uri)
		if i >= 0 {
			changes = append(changes, change{b: b, kind: EventRefreshed})
			next[i] = b
		} else {
			changes = append(changes, change{b: b, kind: EventRegistered})
			next = append(next, b)
			added = true
		}
	}

	if retransmission {
		if len(changes) > 0 {
			return nil, resultUnauthorized, errNotRetransmission
		}
		return next, resultRetransmission, nil
	}

	if lim := r.cfg.MaxContacts; lim > 0 && added && len(next) > lim {
		if !r.cfg.EvictOldest {
			return nil, resultTooManyContacts, sip.Reject(503, "Too many registered contacts")
		}
		for len(next) > lim {
			oldest := -1
			for i, b := range next {
				if slices.Contains(written, b.Contact) {
					continue
				}
				if oldest < 0 || b.Updated.Before(next[oldest].Updated) {
					oldest = i
				}
			}
			if oldest < 0 {
				// The request alone holds more contacts than allowed.
				return nil, resultTooManyContacts, sip.Reject(503, "Too many registered contacts")
			}
			changes = append(changes, change{del: true, b: next[oldest], kind: EventEvicted})
			next = slices.Delete(next, oldest, oldest+1)
		}
	}

	// Deletions first, so that a store with a row limit never sees more
	// than the final set.
	for _, ch := range changes {
		if !ch.del {
			continue
		}
		if err := r.loc.Delete(ctx, reg.aor, ch.b.Contact); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, resultError, fmt.Errorf("registrar: delete %s: %w", reg.aor, err)
		}
		evs = append(evs, Event{Kind: ch.kind, Binding: ch.b, Time: now})
	}
	for _, ch := range changes {
		if ch.del {
			continue
		}
		if err := r.loc.Put(ctx, ch.b); err != nil {
			return nil, resultError, fmt.Errorf("registrar: put %s: %w", reg.aor, err)
		}
		evs = append(evs, Event{Kind: ch.kind, Binding: ch.b, Time: now})
	}
	if skipped && len(changes) == 0 {
		return next, resultRetransmission, nil
	}
	return next, resultAccepted, nil
}

type cseqVerdict int

const (
	cseqNewer          cseqVerdict = iota // apply the request
	cseqRetransmission                    // same CSeq within the window: 200, no update
	cseqInvalid                           // lower CSeq, or the same one too late: 400
)

// checkCSeq orders reg against the request that wrote b (RFC 3261 §10.3
// step 7, OpenSIPS's cseq_delay): only a binding written under the same
// Call-ID is compared.
func (r *Registrar) checkCSeq(b Binding, reg *regRequest, now time.Time) cseqVerdict {
	switch {
	case b.CallID != reg.callID || reg.cseq > b.CSeq:
		return cseqNewer
	case reg.cseq == b.CSeq && now.Sub(b.Updated) <= r.cfg.CSeqWindow:
		return cseqRetransmission
	}
	return cseqInvalid
}

// newBinding builds the binding contact c of reg asks for.
func (r *Registrar) newBinding(req *sip.Request, reg *regRequest, c regContact, now time.Time) Binding {
	b := Binding{
		AOR:       reg.aor,
		Contact:   c.uri,
		Received:  req.Source(),
		Transport: strings.ToUpper(req.Transport()),
		Expires:   now.Add(c.expires),
		Q:         c.q,
		CallID:    reg.callID,
		CSeq:      reg.cseq,
		Instance:  c.instance,
		Updated:   now,
	}
	if h := sip.FirstHeader(req, "User-Agent"); h != nil {
		b.UserAgent = h.Value()
	}
	if hs := sip.HeadersNamed(req, "Path"); len(hs) > 0 {
		vals := make([]string, len(hs))
		for i, h := range hs {
			vals[i] = h.Value()
		}
		b.Path = strings.Join(vals, ",")
	}
	for _, h := range sip.HeadersNamed(req, "Allow") {
		for m := range strings.SplitSeq(h.Value(), ",") {
			if m = strings.TrimSpace(m); m != "" {
				b.Methods = append(b.Methods, sip.Method(strings.ToUpper(m)))
			}
		}
	}
	return b
}

// dateFormat is the SIP-date of RFC 3261 §20.17 (RFC 1123, always GMT).
const dateFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// okResponse is the 200 to a REGISTER: every current contact of the AOR
// with its remaining lifetime (a permanent binding shows 2^32-1), and the
// registrar's Date (RFC 3261 §10.3 step 8).
func (r *Registrar) okResponse(req *sip.Request, list []Binding, now time.Time) *sip.Response {
	res := sip.NewResponse(req, 200, "OK")
	var sb strings.Builder
	for _, b := range live(list, now) {
		sb.Reset()
		sb.WriteByte('<')
		sb.WriteString(b.Contact)
		sb.WriteString(">;expires=")
		sb.WriteString(strconv.FormatInt(remaining(b, now), 10))
		if b.Q != 1 {
			sb.WriteString(";q=")
			sb.WriteString(strconv.FormatFloat(math.Round(b.Q*1000)/1000, 'f', -1, 64))
		}
		res.AppendHeader(sipmsg.NewHeader("Contact", sb.String()))
	}
	res.AppendHeader(sipmsg.NewHeader("Date", sipDate(now)))
	return res
}

// sipDate is now as a SIP-date, formatted once a second: at thousands of
// REGISTERs a second, formatting each 200's Date cost 1 % of the CPU.
func sipDate(now time.Time) string {
	sec := now.Unix()
	if d := lastDate.Load(); d != nil && d.sec == sec {
		return d.text
	}
	d := &formattedDate{sec: sec, text: now.UTC().Format(dateFormat)}
	lastDate.Store(d)
	return d.text
}

// formattedDate is a second and its SIP-date.
type formattedDate struct {
	sec  int64
	text string
}

// lastDate is the last SIP-date sipDate formatted.
var lastDate atomic.Pointer[formattedDate]

// remaining is b's remaining lifetime in whole seconds, rounded up.
func remaining(b Binding, now time.Time) int64 {
	if b.Permanent() {
		return maxDelta
	}
	return int64((b.Expires.Sub(now) + time.Second - 1) / time.Second)
}
