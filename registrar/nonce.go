package registrar

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"hash/maphash"
	"sync"
	"time"
)

// A nonce is base64url(issued ‖ salt ‖ mac): issued is the issue time in
// unix nanoseconds (8 bytes, big endian), salt 8 random bytes, and mac the
// first 16 bytes of HMAC-SHA-256(secret, issued ‖ salt ‖ realm). Any node
// holding the secret can check a nonce without state: that makes nonces
// portable across the nodes of a cluster and across restarts. What needs
// state is the nonce-count replay window, kept per node for the nonce's
// lifetime.
const (
	nonceTimeLen = 8
	nonceSaltLen = 8
	nonceMACLen  = 16
	nonceRawLen  = nonceTimeLen + nonceSaltLen + nonceMACLen
	nonceLen     = (nonceRawLen*8 + 5) / 6 // base64 without padding
)

// nonceSkew is how far in the future a nonce's issue time may be: the
// clocks of the nodes sharing a secret may disagree by that much.
const nonceSkew = 10 * time.Second

// nonceHorizon is how old the issue time of a well-formed nonce whose MAC
// fails may be for it to count as one of an earlier secret (foreign)
// rather than as garbage: phones keep the nonce of their last
// registration for as long as it lasts, hours or days. Eight random bytes
// land in [now-nonceHorizon, now+nonceSkew] about once in 580.
const nonceHorizon = 366 * 24 * time.Hour

// nonceState is the verdict on a nonce.
type nonceState int

const (
	nonceValid   nonceState = iota
	nonceStale              // ours, but older than the expiry
	nonceForeign            // well-formed and plausibly dated, but not signed with our secret for this realm
	nonceBad                // malformed, or dated implausibly (in the future, or before the horizon)
)

// ncVerdict is what the replay window says of a nonce count.
type ncVerdict int

const (
	ncNew            ncVerdict = iota // first use of the count
	ncReplayed                        // the count was used already
	ncRetransmission                  // used already, by an identical REGISTER moments ago
)

// nonces issues and checks nonces, and remembers which nonce counts were
// used (RFC 7616 §3.3: a server may reject a repeated nc).
type nonces struct {
	expiry time.Duration
	resend time.Duration // how long an identical REGISTER counts as a retransmission
	macs   sync.Pool     // of hash.Hash: HMAC-SHA-256 keyed with the secret

	seed   maphash.Seed
	shards [ncShards]ncShard
}

const ncShards = 16

type ncShard struct {
	mu sync.Mutex
	m  map[string]*ncWindow
}

// ncWindow is the replay window of one nonce, in the manner of IPsec's
// anti-replay window: the highest nc seen and a bitmap of the 64 counts at
// and below it. A count above the highest is new; one within the window is
// new if its bit is clear; an older one is refused. Clients that send
// several requests on one nonce in parallel (REGISTER and SUBSCRIBE) may
// reach us out of order: the window absorbs that.
//
// It also remembers the last REGISTER accepted on the nonce (its count, a
// fingerprint of its source, Call-ID, CSeq and credentials, and when), so
// that a retransmission of it (its 200 was lost) is told apart from a
// replay.
type ncWindow struct {
	issued time.Time
	max    uint32
	seen   uint64
	used   bool

	fp     uint64 // 0: no REGISTER recorded
	fpNC   uint32
	fpTime time.Time
}

// newNonces returns the nonce issuer for secret; nonces live expiry, and a
// REGISTER repeated within resend of its first acceptance may be a
// retransmission.
func newNonces(secret []byte, expiry, resend time.Duration) *nonces {
	key := append([]byte(nil), secret...)
	n := &nonces{expiry: expiry, resend: resend, seed: maphash.MakeSeed()}
	n.macs.New = func() any { return hmac.New(sha256.New, key) }
	for i := range n.shards {
		n.shards[i].m = map[string]*ncWindow{}
	}
	return n
}

// sign writes the MAC of raw's time and salt, for realm, into raw.
func (n *nonces) sign(raw *[nonceRawLen]byte, realm string) {
	h := n.macs.Get().(hash.Hash)
	h.Reset()
	h.Write(raw[:nonceTimeLen+nonceSaltLen])
	h.Write([]byte(realm))
	var sum [sha256.Size]byte
	copy(raw[nonceTimeLen+nonceSaltLen:], h.Sum(sum[:0]))
	n.macs.Put(h)
}

// issue returns a fresh nonce for realm.
func (n *nonces) issue(now time.Time, realm string) string {
	var raw [nonceRawLen]byte
	binary.BigEndian.PutUint64(raw[:nonceTimeLen], uint64(now.UnixNano()))
	rand.Read(raw[nonceTimeLen : nonceTimeLen+nonceSaltLen])
	n.sign(&raw, realm)
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// check verifies that nonce was issued by a node with our secret for realm,
// and whether it is still fresh at now. It returns the issue time.
//
// A nonce of the right shape, dated between the horizon and now (give or
// take the skew), whose MAC fails is foreign, not bad: most likely signed
// with the secret of an earlier run or another node's old one (a tampered
// or forged nonce, or one of another realm, cannot be told apart from
// it). The caller treats it as stale, which grants nothing: stale=true is
// said only when the response proves the password.
func (n *nonces) check(nonce, realm string, now time.Time) (time.Time, nonceState) {
	var raw, want [nonceRawLen]byte
	if len(nonce) != nonceLen {
		return time.Time{}, nonceBad
	}
	if k, err := base64.RawURLEncoding.Decode(raw[:], []byte(nonce)); err != nil || k != nonceRawLen {
		return time.Time{}, nonceBad
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(raw[:nonceTimeLen])))
	age := now.Sub(issued)
	if age < -nonceSkew {
		return issued, nonceBad
	}
	want = raw
	n.sign(&want, realm)
	if !hmac.Equal(raw[nonceTimeLen+nonceSaltLen:], want[nonceTimeLen+nonceSaltLen:]) {
		if age > nonceHorizon {
			return issued, nonceBad
		}
		return issued, nonceForeign
	}
	if age > n.expiry {
		return issued, nonceStale
	}
	return issued, nonceValid
}

// use records that nc was used with nonce at now. A credential without qop
// carries no nc: it is recorded as 0, so that the nonce serves once.
//
// fp, when not 0, is the fingerprint of a REGISTER (see
// Registrar.fingerprint): a count first used by it is remembered with it,
// and the same count with the same fingerprint again within resend is a
// retransmission, not a replay. Only the last REGISTER of a nonce is
// remembered: a phone sends one at a time (RFC 3261 §10.2).
func (n *nonces) use(nonce string, issued time.Time, nc uint32, fp uint64, now time.Time) ncVerdict {
	sh := &n.shards[maphash.String(n.seed, nonce)%ncShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	w := sh.m[nonce]
	if w == nil {
		w = &ncWindow{issued: issued}
		sh.m[nonce] = w
	}
	if w.accept(nc) {
		if fp != 0 {
			w.fp, w.fpNC, w.fpTime = fp, nc, now
		}
		return ncNew
	}
	if fp != 0 && fp == w.fp && nc == w.fpNC && now.Sub(w.fpTime) <= n.resend {
		return ncRetransmission
	}
	return ncReplayed
}

func (w *ncWindow) accept(nc uint32) bool {
	if !w.used {
		w.used, w.max, w.seen = true, nc, 1
		return true
	}
	if nc > w.max {
		if shift := nc - w.max; shift >= 64 {
			w.seen = 1
		} else {
			w.seen = w.seen<<shift | 1
		}
		w.max = nc
		return true
	}
	d := w.max - nc
	if d >= 64 {
		return false
	}
	bit := uint64(1) << d
	if w.seen&bit != 0 {
		return false
	}
	w.seen |= bit
	return true
}

// forget drops the replay windows of nonces that can no longer be used.
func (n *nonces) forget(now time.Time) {
	limit := now.Add(-n.expiry - nonceSkew)
	for i := range n.shards {
		sh := &n.shards[i]
		sh.mu.Lock()
		for k, w := range sh.m {
			if w.issued.Before(limit) {
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
}

// windows returns how many nonces have a replay window (tests).
func (n *nonces) windows() int {
	c := 0
	for i := range n.shards {
		sh := &n.shards[i]
		sh.mu.Lock()
		c += len(sh.m)
		sh.mu.Unlock()
	}
	return c
}
