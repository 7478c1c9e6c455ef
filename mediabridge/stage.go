package mediabridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/palio-voip/palio/sip"
)

// StageConfig configures a Stage.
type StageConfig struct {
	// Policy decides which calls are anchored (default DefaultPolicy).
	Policy Policy
	// KeepICE keeps ICE attributes in rewritten SDP (see RewriteOptions).
	KeepICE bool
	// Hangup, when set, ends a call whose media the relay timed out (no
	// media, a hold or an offer that outlived its timeout): the
	// sip.Server's Hangup. Without it such a call goes on without media.
	Hangup func(ctx context.Context, callID, fromTag, reason string) error
}

// Stage is the pipeline stage that anchors calls' media on a Relay. Put it
// last before the Forwarder, after the stages that choose the targets (the
// policy sees them). For each initial INVITE it asks the Policy, traces
// the decision on the call record (`route` prints it), and for an anchored
// call adds a filter to the call that rewrites the SDP of every message of
// the call, in both directions: the INVITE's offer and the answers in 18x
// and 2xx (their retransmissions too), re-INVITEs and UPDATEs, a late
// offer in a 2xx and its answer in the ACK, PRACK bodies. The relay
// session is created with the first SDP, named on the call record
// (CallInfo.Media), reports the call's MediaStats, and is closed when the
// call ends, however it ends (BYE, CANCEL, a final failure, a branch
// timeout, dialog expiry).
//
// An SDP that cannot be anchored (unparsable, a host name in c=, the port
// range full) refuses the request when anchoring is mandatory: 488 Not
// Acceptable Here, or 503 Service Unavailable for a full port range. When
// it is optional, the message goes on unchanged with a warning and the
// call's media flows directly. A response can never be refused: its SDP
// goes on as it came, with a warning.
type Stage struct {
	r      *Relay
	policy Policy
	cfg    StageConfig
	log    *slog.Logger
}

// NewStage returns the stage anchoring calls on r; it logs and counts
// through r's logger and registerer. With a nil r the stage only decides
// and traces, anchoring nothing: the stage of a dry run (`route`), which
// must not open sockets.
func NewStage(r *Relay, cfg StageConfig) *Stage {
	if cfg.Policy == nil {
		cfg.Policy = DefaultPolicy
	}
	log := slog.New(slog.DiscardHandler)
	if r != nil {
		log = r.log
	}
	return &Stage{r: r, policy: cfg.Policy, cfg: cfg, log: log}
}

// Wrap returns the stage in front of next (a sip.Middleware).
func (s *Stage) Wrap(next sip.Handler) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		call := sip.CallFrom(ctx)
		if call != nil && r.IsInvite() {
			s.decide(ctx, r, call)
		}
		return next.ServeSIP(ctx, w, r)
	})
}

type anchorKey struct{}

// decide runs the policy once per call (a serial failover passes here
// again with the next gateway: a call anchored for the first keeps its
// anchor; one not anchored yet is asked again).
func (s *Stage) decide(ctx context.Context, r *sip.Request, call *sip.Call) {
	if _, ok := call.Value(anchorKey{}).(*anchored); ok {
		return
	}
	d := s.policy(r, call, sip.TargetsFrom(ctx))
	call.Trace("media", d)
	label := "direct"
	switch {
	case d.Anchor && d.Mandatory:
		label = "mandatory"
	case d.Anchor:
		label = "anchor"
	}
	if s.r == nil {
		return
	}
	s.r.m.calls.WithLabelValues(label).Inc()
	if !d.Anchor {
		return
	}
	a := &anchored{s: s, call: call, d: d}
	call.SetValue(anchorKey{}, a)
	call.AddFilter(a.filter)
	call.OnEnd(func(sip.Dialog) { a.end() })
}

// anchored is the media state of one anchored call.
type anchored struct {
	s    *Stage
	call *sip.Call
	d    Decision

	mu      sync.Mutex
	sess    *Session
	direct  bool // an optional anchor failed: the call's media flows directly
	ended   bool
	rewrote bool // an SDP of the call was anchored
}

// filter rewrites the SDP of one message of the call.
func (a *anchored) filter(m sip.Message, from sip.Side) error {
	body := m.Body()
	if len(body) == 0 {
		return nil
	}
	res, isRes := m.(*sip.Response)
	if isRes && res.StatusCode >= 300 {
		return nil // no offer or answer in a failure
	}
	req, _ := m.(*sip.Request)
	refusable := req != nil && !req.IsAck() && a.d.Mandatory
	d, err := ParseBody(contentType(m), body)
	if errors.Is(err, ErrNoSDP) {
		return nil
	}
	if err != nil {
		return a.fail(m, refusable, 488, "Not Acceptable Here", err)
	}
	sess, err := a.session()
	if err != nil {
		return a.fail(m, refusable, statusFor(err), "", err)
	}
	if sess == nil {
		return nil // media flows directly, or the call has ended
	}
	leg := LegA
	if from == sip.CalleeSide {
		leg = LegB
	}
	out, err := sess.Anchor(leg, d, a.s.cfg.KeepICE)
	if err != nil {
		return a.fail(m, refusable, statusFor(err), "", err)
	}
	m.SetBody(out)
	a.mu.Lock()
	a.rewrote = true
	a.mu.Unlock()
	a.s.r.m.bodies.WithLabelValues("rewritten").Inc()
	return nil
}

// statusFor maps an anchoring error to the status refusing the request.
func statusFor(err error) int {
	if errors.Is(err, ErrNoPorts) {
		return 503
	}
	return 488
}

// fail handles an SDP the relay could not take: the request refused when
// anchoring is mandatory, else the message passed on unchanged; a call
// with no stream relayed yet then goes direct for good.
func (a *anchored) fail(m sip.Message, refuse bool, code int, reason string, err error) error {
	callID := a.call.CallID
	if refuse {
		a.s.r.m.bodies.WithLabelValues("refused").Inc()
		a.s.log.Info("mediabridge: request refused: media cannot be anchored", "callid", callID, "status", code, "error", err)
		return sip.Rejectf(code, reason, fmt.Errorf("mediabridge: %w", err))
	}
	a.s.r.m.bodies.WithLabelValues("passed").Inc()
	a.s.log.Warn("mediabridge: SDP sent on unchanged: media cannot be anchored", "callid", callID, "error", err)
	a.mu.Lock()
	var drop *Session
	if !a.rewrote {
		drop, a.sess, a.direct = a.sess, nil, true
	}
	a.mu.Unlock()
	if drop != nil {
		drop.Close()
		a.call.SetMedia("")
		a.call.SetMediaStats(nil)
	}
	return nil
}

// session returns the call's relay session, creating it with the first
// SDP; nil when the call's media flows directly or the call has ended.
func (a *anchored) session() (*Session, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sess != nil || a.direct || a.ended {
		return a.sess, nil
	}
	name := a.call.CallID + ";" + a.call.FromTag
	sess, err := a.s.r.NewSession(name)
	if err != nil {
		return nil, err
	}
	a.sess = sess
	a.call.SetMedia(name)
	a.call.SetMediaStats(func() sip.MediaStats { return callStats(sess.Stats()) })
	sess.OnEnd(func(reason error) { a.timedOut(reason) })
	return sess, nil
}

// callStats sums a session's statistics for the call record.
func callStats(st SessionStats) sip.MediaStats {
	return sip.MediaStats{Packets: st.Packets, Bytes: st.Bytes, Lost: st.Lost, Jitter: st.MaxJitter, OneWay: st.OneWay}
}

// end closes the session when the call ends.
func (a *anchored) end() {
	a.mu.Lock()
	a.ended = true
	sess := a.sess
	a.mu.Unlock()
	if sess != nil {
		sess.Close()
	}
}

// hangupTimeout bounds the BYEs of a call hung up for lack of media.
const hangupTimeout = 10 * time.Second

// timedOut hangs up a call whose session the relay ended by itself.
func (a *anchored) timedOut(reason error) {
	a.mu.Lock()
	ended := a.ended
	a.mu.Unlock()
	if reason == nil || errors.Is(reason, ErrClosed) || ended || a.s.cfg.Hangup == nil {
		return
	}
	callID, tag := a.call.CallID, a.call.FromTag
	a.s.log.Info("mediabridge: hanging up a call: its media timed out", "callid", callID, "error", reason)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), hangupTimeout)
		defer cancel()
		if err := a.s.cfg.Hangup(ctx, callID, tag, "media timeout"); err != nil && !errors.Is(err, sip.ErrNoDialog) {
			a.s.log.Warn("mediabridge: hanging up a call without media", "callid", callID, "error", err)
		}
	}()
}
