package sip

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"sync"
)

// routeParam is the Record-Route URI parameter that carries the proxy's
// signature of the dialog (see routeSigner).
const routeParam = "pr"

// routeMACLen is how many bytes of the HMAC the signature keeps: 96 bits,
// 16 characters of base64url.
const routeMACLen = 12

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

// sign returns the signature for a dialog, base64url without padding.
func (s *routeSigner) sign(callID, callerTag string) string {
	var out [routeMACLen]byte
	s.sum(out[:0], callID, callerTag)
	return base64.RawURLEncoding.EncodeToString(out[:])
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
// and callerTag.
func (s *routeSigner) verify(sig, callID, callerTag string) bool {
	if base64.RawURLEncoding.DecodedLen(len(sig)) != routeMACLen {
		return false
	}
	var got [routeMACLen]byte
	if _, err := base64.RawURLEncoding.Decode(got[:], []byte(sig)); err != nil {
		return false
	}
	var want [routeMACLen]byte
	s.sum(want[:0], callID, callerTag)
	return hmac.Equal(got[:], want[:])
}
