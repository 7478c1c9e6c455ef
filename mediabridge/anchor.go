package mediabridge

import (
	"fmt"
	"net/netip"
)

// Anchor applies to the session an SDP that leg from sent (an offer or an
// answer, in any message) and returns the body to send on to the other
// leg: every stream's c= and m= now name the relay's ports on the other
// leg, and the relay sends what it relays towards from to the addresses
// the SDP announced (until it latches onto where from's media really comes
// from).
//
//   - Disabled streams (port 0) stay as they are and get no ports.
//   - A stream whose direction is sendonly, recvonly or inactive, or
//     whose address is 0.0.0.0, marks from's leg as held (the longer hold
//     timeout applies); sendrecv resumes it.
//   - The o= line the other leg receives keeps RFC 3264's rule: its
//     version goes up exactly when the SDP that leg receives changes (one
//     Origin per direction, kept on the session; the early dialogs of a
//     forked call share the callee's).
//   - ICE attributes are removed unless keepICE.
//
// Applying the same SDP again (a retransmitted 2xx, a session refresh)
// gives the same body and leaves latching alone; a changed address (a
// re-INVITE moving a phone) makes the relay learn the leg again. It fails
// with ErrNoPorts when the port range is exhausted, ErrClosed once the
// session has ended, and an error naming the stream for an address the
// relay cannot send to (a host name in c=).
func (s *Session) Anchor(from Leg, d *Description, keepICE bool) ([]byte, error) {
	if !from.valid() {
		return nil, fmt.Errorf("mediabridge: %v: no such leg", from)
	}
	to := 1 - from
	streams := d.Streams()
	var buf [4]netip.AddrPort
	relay := buf[:0]
	for _, ss := range streams {
		if ss.Disabled {
			relay = append(relay, netip.AddrPort{})
			continue
		}
		if !ss.RTP.Addr().IsValid() {
			return nil, fmt.Errorf("mediabridge: stream %d: no IP address to relay to", ss.Index)
		}
		st, err := s.Stream(ss.Index)
		if err != nil {
			return nil, err
		}
		if err := st.SetPeer(from, ss.RTP, ss.RTCP); err != nil {
			return nil, fmt.Errorf("mediabridge: stream %d: %w", ss.Index, err)
		}
		st.Hold(from, ss.Hold || (ss.Direction != "" && ss.Direction != "sendrecv"))
		if ss.ClockRate > 0 {
			st.SetClockRate(ss.ClockRate)
		}
		relay = append(relay, st.Local(to))
	}
	return d.Rewrite(relay, RewriteOptions{KeepICE: keepICE, Origin: &s.origins[to]})
}
