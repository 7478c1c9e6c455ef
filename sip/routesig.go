package sip

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"sync"
)

// routeParam is the Record-Route URI parameter that carries the proxy's
// signature of the dialog (see routeSigner).
const routeParam = "pr"

// routeMACLen is how many bytes of the HMAC the signature keeps: 96 bits,
// 24 characters of lowercase hex.
const routeMACLen = 12

// The signature is written in lowercase hex, not in the shorter base64url
// of earlier releases: a base64url token can spell a header name, and
// tools that find a header by searching the whole message for its name
// then read the parameter as the header. SIPp 3.6 does so for CSeq
// (strstr(msg, "CSeq")): about one call in 10^5 had a signature such as
// "XSvd5xxW1kCSeqhZ" in its Record-Route, and SIPp took the responses of
// that call for another transaction's and failed the call. Every SIP
// header name of more than one letter has a letter past f, so hex spells
// none; a one-letter compact form (c, f...) is found only with its colon,
// which no signature holds. verify still takes the base64url form, for
// the dialogs of an older node of a cluster or of the same node before an
// upgrade.

// routeSigner signs the Record-Route entries the proxy writes and checks
// them when in-dialog requests come back along them. The signature is an
// HMAC-SHA-256, keyed with Config.RouteSecret, over the Call-ID and the
// caller's tag of the dialog-creating request: the two dialog identifiers
// known when the request is forwarded. A request that carries a Route of
// ours can only be relayed if its Call-ID and one of its tags are those of
// a request we routed, so nobody can make the proxy relay a request of
// their own making by writing our address into a Route header. Any node
// holding the secret can check it, after a restart too.
type routeSigner struct {
	macs sync.Pool // of *signer
}

func newRouteSigner(secret []byte) *routeSigner {
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	key := append([]byte(nil), secret...)
	s := &routeSigner{}
	s.macs.New = func() any { return &signer{mac: hmac.New(sha256.New, key), buf: make([]byte, 0, 128)} }
	return s
}

// sign returns the signature for a dialog, in lowercase hex.
func (s *routeSigner) sign(callID, callerTag string) string {
	var out [routeMACLen]byte
	s.sum(out[:0], callID, callerTag)
	return hex.EncodeToString(out[:])
}

func (s *routeSigner) sum(dst []byte, callID, callerTag string) []byte {
	m := s.macs.Get().(*signer)
	m.mac.Reset()
	// One Write from the signer's own buffer: converting the strings
	// would allocate.
	m.buf = append(append(append(m.buf[:0], callID...), 0), callerTag...)
	m.mac.Write(m.buf)
	sum := m.mac.Sum(m.full[:0])
	dst = append(dst, sum[:routeMACLen]...)
	s.macs.Put(m)
	return dst
}

// signer is an HMAC with its buffers, pooled.
type signer struct {
	mac  hash.Hash
	buf  []byte
	full [sha256.Size]byte
}

// verify reports whether sig is our signature for the dialog of callID
// and callerTag, in hex or in the base64url of earlier releases.
func (s *routeSigner) verify(sig, callID, callerTag string) bool {
	var got [routeMACLen]byte
	switch len(sig) {
	case hex.EncodedLen(routeMACLen): // either case: the bytes are checked
		if _, err := hex.Decode(got[:], []byte(sig)); err != nil {
			return false
		}
	case base64.RawURLEncoding.EncodedLen(routeMACLen):
		if _, err := base64.RawURLEncoding.Decode(got[:], []byte(sig)); err != nil {
			return false
		}
	default:
		return false
	}
	var want [routeMACLen]byte
	s.sum(want[:0], callID, callerTag)
	return hmac.Equal(got[:], want[:])
}
