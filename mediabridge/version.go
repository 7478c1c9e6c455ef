package mediabridge

import (
	"bytes"
	"net/netip"
	"strconv"
	"sync"
)

// Origin writes the o= line (RFC 8866 §5.2) of the SDP that one side of a
// call receives through Rewrite, so that RFC 3264 §8's rule holds for that
// side whatever the relay does: the session version goes up by one exactly
// when the SDP it receives changes, and stays the same when an identical
// SDP is sent again: a retransmitted 2xx, a re-INVITE or UPDATE with the
// same SDP, a session refresh.
//
// The sender's own version cannot be copied: the relay changes the SDP
// when it moves a stream to new ports with the sender's SDP unchanged, and
// the sender bumps its version for changes the rewrite removes (new ICE
// candidates). So Origin remembers the last SDP it emitted and its version.
// The first Rewrite takes the sender's username, session id and version;
// later ones keep that username and session id (the o= line must stay the
// same but for the version, RFC 3264 §8) and bump the version only when the
// rest of the SDP, or the o= address, differs from the last one emitted.
//
// Use one Origin per direction of a dialog (the caller's SDP to the callee
// and the callee's SDP to the caller; each early dialog of a forked call
// has its own), owned by the caller of Rewrite. The zero value is ready to
// use; Address must be set before first use. An Origin is safe for
// concurrent use and must not be copied after first use.
type Origin struct {
	// Address, when valid, replaces the o= unicast address (and address
	// type) of every SDP written, typically with the relay's advertised
	// address so that the phone's private address does not leak. When
	// invalid, the sender's o= address is kept.
	Address netip.Addr

	mu       sync.Mutex
	started  bool
	username string
	sessID   string
	version  uint64
	addr     string // "IP4 192.0.2.1": the o= address last written
	last     []byte // the SDP after the o= line last written
}

// Version returns the session version of the last o= line written, and
// false before the first.
func (o *Origin) Version() (uint64, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.version, o.started
}

// line returns the o= line for an SDP whose lines after o= are rest, given
// the sender's o= fields, and remembers rest.
func (o *Origin) line(sender origin, rest []byte) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	addr := sender.addrType + " " + sender.addr
	if a := o.Address.Unmap().WithZone(""); a.IsValid() {
		if a.Is4() {
			addr = "IP4 " + a.String()
		} else {
			addr = "IP6 " + a.String()
		}
	}
	switch {
	case !o.started:
		o.started = true
		o.username, o.sessID = sender.username, sender.sessID
		// A version too long for uint64 is legal but rare; start again at 0.
		v, err := strconv.ParseUint(sender.version, 10, 64)
		if err != nil {
			v = 0
		}
		o.version = v
	case addr != o.addr || !bytes.Equal(rest, o.last):
		o.version++
	default:
		return o.format(addr)
	}
	o.addr = addr
	o.last = append(o.last[:0], rest...)
	return o.format(addr)
}

func (o *Origin) format(addr string) string {
	b := make([]byte, 0, 2+len(o.username)+len(o.sessID)+len(addr)+26)
	b = append(b, "o="...)
	b = append(b, o.username...)
	b = append(b, ' ')
	b = append(b, o.sessID...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, o.version, 10)
	b = append(b, " IN "...)
	b = append(b, addr...)
	return string(b)
}
