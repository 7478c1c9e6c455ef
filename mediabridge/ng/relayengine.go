package ng

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/palio-voip/palio/mediabridge"
)

// RelayEngine is the Engine over Palio's relay: each call-id is one
// mediabridge.Session, each offer or answer one Session.Anchor. Its zero
// value needs only Relay; its methods are safe for concurrent use.
//
// Legs follow the tags, as rtpengine's monologues do: the from-tag of a
// call's first offer is leg A (the caller). An offer whose from-tag is the
// other end's (a re-INVITE from the callee: from-tag the callee's, to-tag
// the caller's) is applied from leg B; an offer from A's tag again is a
// re-offer from A. An answer comes from the end the offer went to: from
// leg B when its from-tag is A's, from leg A when it answers B's re-offer.
// The callee's tag is learnt from the first answer (or the first offer
// from B); a later answer with another to-tag (a forked call's other
// early dialog) replaces it, and B's addresses with it.
type RelayEngine struct {
	// Relay carries the media. It may be shared with other users, whose
	// call-ids must not collide with the controller's.
	Relay *mediabridge.Relay
	// Log receives a line per call created and ended (nil: discarded).
	Log *slog.Logger

	mu      sync.Mutex
	calls   map[string]*call
	pruneAt int
}

// Interface guard.
var _ Engine = (*RelayEngine)(nil)

// call is the engine's view of one call-id.
type call struct {
	s    *mediabridge.Session
	tags [2]string // by leg: A's from-tag, B's tag once known
}

// ErrSDP wraps an SDP the relay cannot read; the reply reads "Failed to
// parse SDP: ..." (rtpengine's words, followed by the line and reason).
var ErrSDP = errors.New("Failed to parse SDP")

// ErrUnsupported wraps a request for something this relay does not do
// (an ICE mode it has no agent for, a tag that names neither end).
var ErrUnsupported = errors.New("ng: unsupported")

func (e *RelayEngine) logger() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.New(slog.DiscardHandler)
}

// keepICE maps the ICE key to Anchor's keepICE. The relay has no ICE
// agent, so it can only remove the phones' candidates (its own address
// then being the only path, which is what "remove", "force" and
// "force-relay" all achieve for a non-ICE-only peer) or, when the
// controller asks to pass them through, keep them.
func keepICE(ice string) (bool, error) {
	switch ice {
	case "", "remove", "default", "optional", "force", "force-relay":
		return false, nil
	case "passthrough", "pass-through", "keep":
		return true, nil
	}
	return false, fmt.Errorf("%w: ICE %q", ErrUnsupported, ice)
}

// live returns the call of callID if its session has not ended (a
// timeout in the relay ends it); an ended one is forgotten. e.mu is held.
func (e *RelayEngine) live(callID string) *call {
	c := e.calls[callID]
	if c == nil {
		return nil
	}
	if c.s.Ended() {
		// Ended, perhaps still releasing its ports: the relay no longer
		// counts it, and neither does ng.
		delete(e.calls, callID)
		return nil
	}
	return c
}

// prune forgets the calls whose sessions the relay ended, once the table
// has doubled since the last time: amortised O(1) a call. e.mu is held.
func (e *RelayEngine) prune() {
	if len(e.calls) < e.pruneAt {
		return
	}
	for id := range e.calls {
		e.live(id)
	}
	e.pruneAt = 2*len(e.calls) + 64
}

// prepare reads what an offer or answer carries: the ICE choice and the
// parsed SDP.
func prepare(ctx context.Context, cmd Command) (keep bool, d *mediabridge.Description, err error) {
	if err := ctx.Err(); err != nil {
		return false, nil, err
	}
	if keep, err = keepICE(cmd.ICE); err != nil {
		return false, nil, err
	}
	if d, err = parseSDP(cmd.SDP); err != nil {
		return false, nil, err
	}
	return keep, d, nil
}

func parseSDP(sdp []byte) (*mediabridge.Description, error) {
	d, err := mediabridge.ParseBody("application/sdp", sdp)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSDP, err)
	}
	return d, nil
}

// Offer anchors an offer: the first for a call-id creates its session
// with the sender as leg A; later ones are re-offers from either end.
// A failed first offer leaves nothing behind.
func (e *RelayEngine) Offer(ctx context.Context, cmd Command) ([]byte, error) {
	keep, d, err := prepare(ctx, cmd)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.live(cmd.CallID); c != nil {
		var from mediabridge.Leg
		switch {
		case cmd.FromTag == c.tags[mediabridge.LegA]:
			from = mediabridge.LegA
		case cmd.FromTag == c.tags[mediabridge.LegB]:
			from = mediabridge.LegB
		case c.tags[mediabridge.LegB] == "" && cmd.ToTag == c.tags[mediabridge.LegA]:
			from = mediabridge.LegB
		default:
			return nil, fmt.Errorf("%w: from-tag %q is neither end of call %q", ErrUnsupported, cmd.FromTag, cmd.CallID)
		}
		body, err := c.s.Anchor(from, d, keep)
		if err != nil {
			return nil, err
		}
		c.tags[from] = cmd.FromTag
		return body, nil
	}
	if e.calls == nil {
		e.calls = make(map[string]*call)
	}
	e.prune()
	s, err := e.Relay.NewSession(cmd.CallID)
	if err != nil {
		return nil, err
	}
	body, err := s.Anchor(mediabridge.LegA, d, keep)
	if err != nil {
		s.Close()
		return nil, err
	}
	e.calls[cmd.CallID] = &call{s: s, tags: [2]string{cmd.FromTag, ""}}
	e.logger().Debug("ng: call anchored", "call_id", cmd.CallID, "from_tag", cmd.FromTag)
	return body, nil
}

// Answer anchors the answer to the last offer: from the end the offer
// went to.
func (e *RelayEngine) Answer(ctx context.Context, cmd Command) ([]byte, error) {
	keep, d, err := prepare(ctx, cmd)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.live(cmd.CallID)
	if c == nil {
		return nil, ErrNotFound
	}
	var from mediabridge.Leg
	switch {
	case cmd.FromTag == c.tags[mediabridge.LegA]:
		from = mediabridge.LegB // the caller's offer answered (a fork's to-tag replaces B's)
	case cmd.FromTag == c.tags[mediabridge.LegB]:
		from = mediabridge.LegA // the callee's re-offer answered by the caller
	default:
		return nil, fmt.Errorf("%w: from-tag %q is neither end of call %q", ErrUnsupported, cmd.FromTag, cmd.CallID)
	}
	body, err := c.s.Anchor(from, d, keep)
	if err != nil {
		return nil, err
	}
	if from == mediabridge.LegB {
		c.tags[mediabridge.LegB] = cmd.ToTag
	}
	return body, nil
}

// Delete ends the call (with or without a to-tag: both ends go) and
// returns what it relayed.
func (e *RelayEngine) Delete(ctx context.Context, cmd Command) (Totals, error) {
	e.mu.Lock()
	c := e.live(cmd.CallID)
	if c != nil {
		delete(e.calls, cmd.CallID)
	}
	e.mu.Unlock()
	if c == nil {
		return Totals{}, ErrNotFound
	}
	c.s.Close()
	t := totals(c.s.Stats())
	e.logger().Debug("ng: call deleted", "call_id", cmd.CallID, "rtp_packets", t.RTP.Packets)
	return t, nil
}

// Query returns what the call has relayed so far.
func (e *RelayEngine) Query(ctx context.Context, cmd Command) (Totals, error) {
	e.mu.Lock()
	c := e.live(cmd.CallID)
	e.mu.Unlock()
	if c == nil {
		return Totals{}, ErrNotFound
	}
	return totals(c.s.Stats()), nil
}

// Statistics reports the relay's live sessions and the packets it
// relayed (RTP and RTCP); errors are the packets it received and did not
// relay (mediabridge.Counters.Dropped).
func (e *RelayEngine) Statistics() Statistics {
	c := e.Relay.Counters()
	return Statistics{
		Sessions:            uint64(e.Relay.Sessions()),
		RelayedPackets:      c.Packets + c.RTCPPackets,
		RelayedPacketErrors: c.Dropped,
	}
}

// totals sums a session's statistics the way ng reports them: RTP and
// RTCP received from both legs of every stream; errors are the packets
// dropped.
func totals(ss mediabridge.SessionStats) Totals {
	t := Totals{RTP: Counters{Packets: ss.Packets, Bytes: ss.Bytes}}
	for _, st := range ss.Streams {
		for _, l := range [2]mediabridge.LegStats{st.A, st.B} {
			t.RTCP.Packets += l.RTCPPackets
			t.RTCP.Bytes += l.RTCPBytes
			t.RTP.Errors += l.Dropped
		}
	}
	return t
}
