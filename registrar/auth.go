package registrar

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"slices"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/sip"
)

// The reasons of an authentication failure, as logged (reason=...) and
// counted (palio_registrar_auth_failures_total{reason}). They are part of
// the package's API: fail2ban filters match on them.
const (
	// ReasonBadCredentials: the credentials could not be parsed (400), or
	// use an algorithm, qop or parameter we do not support (401).
	ReasonBadCredentials = "bad-credentials"
	// ReasonBadNonce: the nonce is not one of ours at all: not of our
	// nonces' length or alphabet, or dated in the future, or dated before
	// any nonce still in a phone's memory. Scanners and broken clients
	// send these; no working phone does.
	ReasonBadNonce = "bad-nonce"
	// ReasonUnknownUser: no account has the digest username.
	ReasonUnknownUser = "unknown-user"
	// ReasonNoHA1: the account has no HA1 for the algorithm the client
	// chose (and no usable plaintext password).
	ReasonNoHA1 = "no-ha1"
	// ReasonWrongPassword: the digest response is wrong.
	ReasonWrongPassword = "wrong-password"
	// ReasonStaleNonce: the response is right but the nonce expired, or
	// was signed with a secret we no longer use (before a restart that
	// changed it, or by a node with another secret); the client gets a
	// new one with stale=true. Routine for phones that reuse the nonce of
	// their last registration.
	ReasonStaleNonce = "stale-nonce"
	// ReasonReplayedNonce: the response is right but its nonce count was
	// used already, by another request: a replay, or a client that
	// reuses nc. (A REGISTER retransmitted because its 200 was lost is
	// not one: it gets the 200 again.)
	ReasonReplayedNonce = "replayed-nonce"
	// ReasonBlocked: the account is blocked (403).
	ReasonBlocked = "blocked"
	// ReasonIdentityMismatch: the digest username is not the To user of
	// the REGISTER or the From user of the request (403).
	ReasonIdentityMismatch = "identity-mismatch"
)

// authHeaders names the headers of one kind of challenge.
type authHeaders struct {
	code        int
	challenge   string // WWW-Authenticate or Proxy-Authenticate
	credentials string // Authorization or Proxy-Authorization
}

var (
	wwwAuth   = authHeaders{401, "WWW-Authenticate", "Authorization"}
	proxyAuth = authHeaders{407, "Proxy-Authenticate", "Proxy-Authorization"}
)

// Authenticate is the stage that authenticates requests from local users
// (OpenSIPS's proxy_authorize/proxy_challenge): a request whose method is
// in Config.AuthMethods, and that Config.TrustedSource does not vouch for,
// must carry Proxy-Authorization digest credentials of an account, else it
// is answered 407 with a challenge (a *sip.StatusError whose Response
// carries the Proxy-Authenticate headers). A blocked account, or one
// authenticating for another user, gets 403. On success the Identity goes
// into the context for the stages after it, and the credentials of our
// realm are removed from the request before it is relayed (OpenSIPS's
// consume_credentials). ACK and CANCEL are never challenged (RFC 3261
// §22.1). SUBSCRIBE and PUBLISH that a sip.ServeMux hands to its Presence
// handler do not go through the Initial chain: wrap that handler too.
//
// Caller identity (RFC 3325): only trusted sources may assert who the
// caller is. A trusted source's P-Asserted-Identity, P-Preferred-Identity
// and Remote-Party-ID pass unchanged; an authenticated request leaves
// with exactly one P-Asserted-Identity, the identity it preferred when
// the account owns it (Config.Owns) or else the account's AOR, and
// without its own P-Asserted-Identity, P-Preferred-Identity or
// Remote-Party-ID; any other request (a method not challenged) loses all
// three.
func (r *Registrar) Authenticate(next sip.Handler) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) error {
		if req.Method == sip.ACK || req.Method == sip.CANCEL {
			return next.ServeSIP(ctx, w, req)
		}
		if r.cfg.TrustedSource != nil && r.cfg.TrustedSource(ctx, req) {
			sip.CallFrom(ctx).Trace("auth", sip.Note("not needed (trusted source)"))
			return next.ServeSIP(ctx, w, req)
		}
		if !slices.Contains(r.auth, req.Method) {
			stripIdentity(req)
			return next.ServeSIP(ctx, w, req)
		}
		id, _, err := r.authenticate(ctx, req, proxyAuth)
		if err != nil {
			return err
		}
		consumeCredentials(req, proxyAuth.credentials, id.Realm)
		r.assertIdentity(ctx, req, id)
		call := sip.CallFrom(ctx)
		call.SetCaller(sip.CallerIdentity{User: id.Username, Domain: id.Domain})
		call.Trace("auth", id)
		return next.ServeSIP(NewContext(ctx, id), w, req)
	})
}

// realmOf returns the realm to challenge req with.
func (r *Registrar) realmOf(req *sip.Request) string {
	if r.cfg.Realm != "" {
		return r.cfg.Realm
	}
	if u := claimed(req); u != nil {
		return strings.ToLower(u.Host)
	}
	return ""
}

// claimed returns the URI whose user the credentials must belong to: the
// To URI of a REGISTER, the From URI of anything else.
func claimed(req *sip.Request) *sip.URI {
	if req.Method == sip.REGISTER {
		if to := req.To(); to != nil {
			return &to.Address
		}
		return nil
	}
	if from := req.From(); from != nil {
		return &from.Address
	}
	return nil
}

// authenticate checks req's digest credentials (RFC 7616 §3.4, RFC 3261
// §22) and returns the identity they prove, or the outcome to answer with:
// a challenge (401/407), 400 for unparsable credentials, 403 for a blocked
// account or a foreign identity, or a plain error when the subscriber
// store fails. The order of the checks decides what a client learns:
// unknown users and wrong passwords look alike (a new challenge), and
// stale=true is said only to clients whose response was right.
//
// retransmission is true for a REGISTER identical to one accepted moments
// ago on the same nonce count (same source, Call-ID, CSeq and
// credentials): the caller must then change nothing, or refuse it as a
// replay (see ServeSIP).
func (r *Registrar) authenticate(ctx context.Context, req *sip.Request, kind authHeaders) (id Identity, retransmission bool, err error) {
	realm := r.realmOf(req)
	cr, raw, malformed := findCredentials(req, kind.credentials, realm)
	if cr == nil {
		if malformed {
			r.authFailed(req, claimedUser(req), realm, ReasonBadCredentials)
			return Identity{}, false, sip.Reject(400, "Bad Credentials")
		}
		// The usual first request: no credentials yet.
		return Identity{}, false, r.challenge(req, kind, realm, false)
	}
	alg := strings.ToUpper(cr.Algorithm)
	if alg == "" {
		alg = MD5
	}
	if !slices.Contains(r.algs, alg) || cr.Userhash || cr.Username == "" || cr.Nonce == "" ||
		cr.Response == "" || cr.URI == "" ||
		(cr.QOP != "" && (cr.QOP != "auth" || cr.Cnonce == "" || cr.Nc <= 0)) {
		r.authFailed(req, cr.Username, realm, ReasonBadCredentials)
		return Identity{}, false, r.challenge(req, kind, realm, false)
	}
	now := r.now()
	// A nonce of an earlier secret goes on like an expired one: stale=true
	// if, and only if, the password proves right.
	issued, state := r.nonce.check(cr.Nonce, realm, now)
	if state == nonceBad {
		r.authFailed(req, cr.Username, realm, ReasonBadNonce)
		return Identity{}, false, r.challenge(req, kind, realm, false)
	}
	domain := ""
	if r.cfg.UseDomain {
		domain = realm
	}
	sub, err := r.subs.Subscriber(ctx, cr.Username, domain)
	if errors.Is(err, ErrNotFound) {
		r.authFailed(req, cr.Username, realm, ReasonUnknownUser)
		return Identity{}, false, r.challenge(req, kind, realm, false)
	}
	if err != nil {
		return Identity{}, false, fmt.Errorf("registrar: subscriber %q: %w", cr.Username, err)
	}
	ha1 := sub.HA1
	if alg == SHA256 {
		ha1 = sub.HA1SHA256
	}
	if ha1 == "" && r.cfg.AllowPlaintext && sub.Password != "" {
		ha1, _ = HA1(cr.Username, cr.Realm, sub.Password, alg)
	}
	if ha1 == "" {
		r.authFailed(req, cr.Username, realm, ReasonNoHA1)
		return Identity{}, false, r.challenge(req, kind, realm, false)
	}
	if !responseMatches(cr, alg, ha1, string(req.Method)) {
		r.authFailed(req, cr.Username, realm, ReasonWrongPassword)
		return Identity{}, false, r.challenge(req, kind, realm, false)
	}
	if state == nonceStale || state == nonceForeign {
		r.authFailed(req, cr.Username, realm, ReasonStaleNonce)
		return Identity{}, false, r.challenge(req, kind, realm, true)
	}
	nc := uint32(0)
	if cr.QOP != "" {
		nc = uint32(cr.Nc)
	}
	var fp uint64
	if req.Method == sip.REGISTER {
		fp = r.fingerprint(req, raw)
	}
	switch r.nonce.use(cr.Nonce, issued, nc, fp, now) {
	case ncReplayed:
		r.authFailed(req, cr.Username, realm, ReasonReplayedNonce)
		return Identity{}, false, r.challenge(req, kind, realm, true)
	case ncRetransmission:
		retransmission = true
	}
	if sub.Blocked {
		r.authFailed(req, cr.Username, realm, ReasonBlocked)
		return Identity{}, false, sip.Reject(403, "Account Blocked")
	}
	if !r.cfg.SkipIdentityMatch && !r.identityMatches(req, cr.Username, sub) {
		r.authFailed(req, cr.Username, realm, ReasonIdentityMismatch)
		return Identity{}, false, sip.Reject(403, "Forbidden Auth ID")
	}
	r.metrics.authOK.Inc()
	id = Identity{Username: sub.Username, Domain: sub.Domain, Realm: realm, Subscriber: sub}
	if id.Domain == "" {
		id.Domain = realm
	}
	return id, retransmission, nil
}

// fingerprint is a keyed hash of what makes a REGISTER the same request
// again: its source address, Call-ID, CSeq and credentials (raw, the
// header value as sent; it holds the nonce, nc, cnonce and response). A
// retransmission repeats all of them; nothing else may claim one.
func (r *Registrar) fingerprint(req *sip.Request, raw string) uint64 {
	var h maphash.Hash
	h.SetSeed(r.seed)
	h.WriteString(req.Source())
	h.WriteByte(0)
	if c := req.CallID(); c != nil {
		h.WriteString(string(*c))
	}
	h.WriteByte(0)
	if c := req.CSeq(); c != nil {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], c.SeqNo)
		h.Write(b[:])
	}
	h.WriteString(raw)
	if fp := h.Sum64(); fp != 0 {
		return fp
	}
	return 1 // 0 means "no fingerprint"
}

// identityMatches reports whether the account may act for the user the
// request claims to be (OpenSIPS scripts' $au == $tU / $fU, and with
// use_domain the domain too).
func (r *Registrar) identityMatches(req *sip.Request, username string, sub Subscriber) bool {
	u := claimed(req)
	if u == nil || u.User != username {
		return false
	}
	if r.cfg.UseDomain && sub.Domain != "" && !strings.EqualFold(sub.Domain, u.Host) {
		return false
	}
	return true
}

func claimedUser(req *sip.Request) string {
	if u := claimed(req); u != nil {
		return u.User
	}
	return ""
}

// findCredentials returns the digest credentials of req for realm (a
// request may carry credentials for several proxies) with the header
// value they were parsed from, and whether some header of the kind could
// not be parsed.
func findCredentials(req *sip.Request, name, realm string) (*credentials, string, bool) {
	malformed := false
	for _, h := range sip.HeadersNamed(req, name) {
		v := h.Value()
		if !isDigest(v) {
			continue
		}
		cr, err := parseCredentials(v)
		if err != nil {
			malformed = true
			continue
		}
		if strings.EqualFold(cr.Realm, realm) {
			return &cr, v, false
		}
	}
	return nil, "", malformed
}

// challenge returns the 401/407 outcome with a fresh nonce: one header per
// algorithm, strongest first (RFC 8760 §2.4), qop=auth.
func (r *Registrar) challenge(req *sip.Request, kind authHeaders, realm string, stale bool) error {
	res := sip.NewResponse(req, kind.code, "")
	nonce := r.nonce.issue(r.now(), realm)
	for _, alg := range r.algs {
		res.AppendHeader(sipmsg.NewHeader(kind.challenge, challengeValue(realm, nonce, alg, stale)))
	}
	r.metrics.challenge(kind.code)
	return &sip.StatusError{Code: kind.code, Response: res}
}

// authFailed logs an authentication failure in the one line shape fail2ban
// filters rely on (see the package documentation) and counts it. A stale
// nonce is logged at Debug: the credentials were right, and phones that
// reuse their last nonce hit it at every refresh.
func (r *Registrar) authFailed(req *sip.Request, user, realm, reason string) {
	r.metrics.authFailures.WithLabelValues(reason).Inc()
	if r.failed != nil {
		r.failed(authFailure(req, user, realm, reason))
	}
	level := slog.LevelWarn
	if reason == ReasonStaleNonce {
		level = slog.LevelDebug
	}
	if !r.log.Enabled(context.Background(), level) {
		return
	}
	r.log.Log(context.Background(), level, "registrar: auth failed",
		"src", sourceIP(req),
		"user", user,
		"realm", realm,
		"method", string(req.Method),
		"reason", reason,
		"callid", callID(req),
	)
}

// sourceIP is the IP address req came from, without the port.
func sourceIP(req *sip.Request) string {
	src := req.Source()
	if host, _, err := net.SplitHostPort(src); err == nil {
		return host
	}
	return src
}

func callID(req *sip.Request) string {
	if c := req.CallID(); c != nil {
		return string(*c)
	}
	return ""
}

// consumeCredentials removes the credentials for realm from req, keeping
// those meant for other proxies (OpenSIPS's consume_credentials).
func consumeCredentials(req *sip.Request, name, realm string) {
	hs := sip.HeadersNamed(req, name)
	if len(hs) == 0 {
		return
	}
	var keep []sip.Header
	for _, h := range hs {
		if cr, err := parseCredentials(h.Value()); err != nil || !strings.EqualFold(cr.Realm, realm) {
			keep = append(keep, h)
		}
	}
	if len(keep) == len(hs) {
		return
	}
	for _, h := range hs {
		req.RemoveHeader(h.Name())
	}
	for _, h := range keep {
		req.AppendHeader(h)
	}
}
