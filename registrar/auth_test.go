package registrar_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// reasonLogged reports whether the log holds an auth failure with reason.
func reasonLogged(logs, reason string) bool {
	return strings.Contains(logs, `msg="registrar: auth failed"`) && strings.Contains(logs, " reason="+reason+" ")
}

func TestDigest(t *testing.T) {
	both := []string{registrar.MD5, registrar.SHA256}
	tests := []struct {
		name      string
		cfg       registrar.Config
		user, pw  string
		to        string // the AOR user; default user
		algorithm string // the challenge the phone answers; "" the first
		want      int
		wantAlg   string // the algorithm the phone ended up using
		reason    string // the failure logged, if any
	}{
		{name: "MD5", user: "5002", pw: "secret", want: 200, wantAlg: "MD5"},
		{name: "SHA-256 is offered first and chosen", cfg: registrar.Config{Algorithms: both},
			user: "5002", pw: "secret", want: 200, wantAlg: "SHA-256"},
		{name: "MD5 answered to a challenge offering both", cfg: registrar.Config{Algorithms: both},
			user: "5002", pw: "secret", algorithm: "MD5", want: 200, wantAlg: "MD5"},
		{name: "SHA-256 only", cfg: registrar.Config{Algorithms: []string{"sha-256"}},
			user: "5002", pw: "secret", want: 200, wantAlg: "SHA-256"},
		{name: "plaintext password with AllowPlaintext", cfg: registrar.Config{AllowPlaintext: true, Algorithms: both},
			user: "5004", pw: "plain", want: 200, wantAlg: "SHA-256"},
		{name: "plaintext password without AllowPlaintext", user: "5004", pw: "plain", want: 401, reason: registrar.ReasonNoHA1},
		{name: "wrong password", user: "5002", pw: "guess", want: 401, reason: registrar.ReasonWrongPassword},
		{name: "wrong password with SHA-256", cfg: registrar.Config{Algorithms: both},
			user: "5002", pw: "guess", want: 401, reason: registrar.ReasonWrongPassword},
		{name: "unknown user", user: "5999", pw: "secret", want: 401, reason: registrar.ReasonUnknownUser},
		{name: "blocked account", user: "5003", pw: "secret", want: 403, reason: registrar.ReasonBlocked},
		{name: "authenticating for another AOR", user: "5001", pw: "secret", to: "5002", want: 403,
			reason: registrar.ReasonIdentityMismatch},
		{name: "another AOR with SkipIdentityMatch", cfg: registrar.Config{SkipIdentityMatch: true},
			user: "5001", pw: "secret", to: "5002", want: 200, wantAlg: "MD5"},
		{name: "an explicit realm", cfg: registrar.Config{Realm: "unisi", AllowPlaintext: true},
			user: "5004", pw: "plain", want: 200, wantAlg: "MD5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			p := newPhone(t, e.reg, tt.user, tt.pw)
			p.algorithm = tt.algorithm
			to := tt.to
			if to == "" {
				to = tt.user
			}
			rec, err := p.send(registerReq(t, to, "c1", 1, "Contact: <sip:"+to+"@10.0.0.5>"))
			if got := siptest.Code(rec, err); got != tt.want {
				t.Fatalf("got %d (%v), want %d", got, err, tt.want)
			}
			if tt.wantAlg != "" && (p.chal == nil || !strings.EqualFold(p.chal.Algorithm, tt.wantAlg)) {
				t.Errorf("algorithm: got %+v, want %s", p.chal, tt.wantAlg)
			}
			logs := e.logs.String()
			if tt.reason != "" && !reasonLogged(logs, tt.reason) {
				t.Errorf("log: got %q, want an auth failure with reason=%s", logs, tt.reason)
			}
			if tt.reason == "" && strings.Contains(logs, "auth failed") {
				t.Errorf("log: got %q, want no auth failure", logs)
			}
		})
	}
}

// A challenge carries one header per algorithm, strongest first, sharing
// one nonce, with qop="auth" and the To domain as realm.
func TestChallengeShape(t *testing.T) {
	e := newEnv(t, registrar.Config{Algorithms: []string{registrar.MD5, registrar.SHA256}})
	_, err := siptest.Serve(context.Background(), e.reg, registerReq(t, "5002", "c1", 1))
	se, ok := sip.AsStatus(err)
	if !ok || se.Code != 401 || se.Response == nil {
		t.Fatalf("got %v, want a 401 StatusError with a Response", err)
	}
	hs := se.Response.GetHeaders("WWW-Authenticate")
	if len(hs) != 2 {
		t.Fatalf("got %d WWW-Authenticate headers, want 2", len(hs))
	}
	var chals []*digest.Challenge
	for _, h := range hs {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil {
			t.Fatal(err)
		}
		chals = append(chals, c)
	}
	if chals[0].Algorithm != "SHA-256" || chals[1].Algorithm != "MD5" {
		t.Errorf("algorithms: got %s, %s; want SHA-256, MD5", chals[0].Algorithm, chals[1].Algorithm)
	}
	for _, c := range chals {
		if c.Realm != domain || c.Nonce != chals[0].Nonce || len(c.QOP) != 1 || c.QOP[0] != "auth" || c.Stale {
			t.Errorf("challenge: got %+v, want realm %s, the shared nonce, qop auth, not stale", c, domain)
		}
	}
	if !strings.Contains(hs[0].Value(), `qop="auth"`) {
		t.Errorf("got %q, want qop quoted", hs[0].Value())
	}
	if strings.Contains(e.logs.String(), "auth failed") {
		t.Errorf("a first challenge is not a failure: got log %q", e.logs.String())
	}
}

// An expired nonce with the right password gets a new challenge with
// stale=true; the phone answers it without asking its user.
func TestStaleNonce(t *testing.T) {
	debug := &logBuffer{}
	e := newEnv(t, registrar.Config{NonceExpiry: 30 * time.Second},
		registrar.WithLogger(slog.New(slog.NewTextHandler(debug, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	p := newPhone(t, e.reg, "5002", "secret")
	if rec, err := p.send(registerReq(t, "5002", "c1", 1, "Contact: <sip:5002@10.0.0.5>")); siptest.Code(rec, err) != 200 {
		t.Fatalf("first REGISTER: got %d (%v), want 200", siptest.Code(rec, err), err)
	}
	old := p.chal
	e.clock.Advance(31 * time.Second)

	// By hand: the old nonce once more.
	req := registerReq(t, "5002", "c1", 2, "Contact: <sip:5002@10.0.0.5>")
	req.AppendHeader(sipmsg.NewHeader("Authorization", p.credentials(req)))
	_, err := siptest.Serve(context.Background(), e.reg, req)
	c := challengeOf(err, "")
	if c == nil || !c.Stale || c.Nonce == old.Nonce {
		t.Fatalf("got %v (%+v), want a fresh challenge with stale=true", err, c)
	}
	// Routine for phones: logged in the same shape, but at Debug.
	if logs := debug.String(); !reasonLogged(logs, registrar.ReasonStaleNonce) ||
		!strings.Contains(logs, `level=DEBUG msg="registrar: auth failed" src=10.0.0.5`) || strings.Contains(logs, "level=WARN") {
		t.Errorf("got log %q, want reason=stale-nonce at Debug only", logs)
	}
	// The phone's way: it retries on the new nonce.
	rec, err := p.send(registerReq(t, "5002", "c1", 3, "Contact: <sip:5002@10.0.0.5>"))
	if got := siptest.Code(rec, err); got != 200 {
		t.Errorf("after the stale challenge: got %d (%v), want 200", got, err)
	}
}

// stale=true is only for clients that know the password.
func TestStaleNonceWrongPassword(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	_, err := siptest.Serve(context.Background(), e.reg, registerReq(t, "5002", "c1", 1))
	p := newPhone(t, e.reg, "5002", "guess")
	p.chal = challengeOf(err, "")
	e.clock.Advance(time.Minute)
	req := registerReq(t, "5002", "c1", 2)
	req.AppendHeader(sipmsg.NewHeader("Authorization", p.credentials(req)))
	_, err = siptest.Serve(context.Background(), e.reg, req)
	if c := challengeOf(err, ""); c == nil || c.Stale {
		t.Errorf("got %+v, want a challenge without stale", c)
	}
	if !reasonLogged(e.logs.String(), registrar.ReasonWrongPassword) {
		t.Errorf("got log %q, want reason=wrong-password", e.logs.String())
	}
}

func TestReplayedNonceCount(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	_, err := siptest.Serve(context.Background(), e.reg, registerReq(t, "5002", "c1", 1))
	p := newPhone(t, e.reg, "5002", "secret")
	p.chal = challengeOf(err, "")

	send := func(nc int, cseq int) (int, *digest.Challenge) {
		req := registerReq(t, "5002", "c1", cseq, "Contact: <sip:5002@10.0.0.5>")
		p.nc = nc - 1
		req.AppendHeader(sipmsg.NewHeader("Authorization", p.credentials(req)))
		rec, err := siptest.Serve(context.Background(), e.reg, req)
		return siptest.Code(rec, err), challengeOf(err, "")
	}
	steps := []struct {
		nc, cseq int
		want     int
		stale    bool
	}{
		{nc: 1, cseq: 2, want: 200},
		{nc: 1, cseq: 3, want: 401, stale: true}, // replayed
		{nc: 3, cseq: 4, want: 200},
		{nc: 2, cseq: 5, want: 200},              // late but unused: within the window
		{nc: 3, cseq: 6, want: 401, stale: true}, // replayed
		{nc: 70, cseq: 7, want: 200},             // a jump forward
		{nc: 5, cseq: 8, want: 401, stale: true}, // fell out of the 64-count window
		{nc: 71, cseq: 9, want: 200},
	}
	for i, s := range steps {
		code, c := send(s.nc, s.cseq)
		if code != s.want || (s.stale && (c == nil || !c.Stale)) {
			t.Errorf("step %d (nc=%d): got %d %+v, want %d stale=%v", i, s.nc, code, c, s.want, s.stale)
		}
	}
	if !reasonLogged(e.logs.String(), registrar.ReasonReplayedNonce) {
		t.Errorf("got log %q, want reason=replayed-nonce", e.logs.String())
	}
}

// A client of RFC 2069 (no qop) may use a nonce once.
func TestNoQopUsesNonceOnce(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	_, err := siptest.Serve(context.Background(), e.reg, registerReq(t, "5002", "c1", 1))
	chal := challengeOf(err, "")
	chal.QOP = nil
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:" + domain, Username: "5002", Password: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{200, 401} {
		req := registerReq(t, "5002", "c1", 2+i, "Contact: <sip:5002@10.0.0.5>")
		req.AppendHeader(sipmsg.NewHeader("Authorization", cred.String()))
		rec, err := siptest.Serve(context.Background(), e.reg, req)
		if got := siptest.Code(rec, err); got != want {
			t.Errorf("use %d: got %d (%v), want %d", i+1, got, err, want)
		}
	}
}

// Nonces we cannot check. One of our shape and plausibly dated, but not
// signed with our secret (another node's, ours before a restart that
// changed the secret, or tampered with: they cannot be told apart) is
// treated as expired: stale=true when the password is right, logged as
// stale-nonce at Debug; with a wrong password it is a wrong password.
// Garbage is bad-nonce, at Warn: the line fail2ban bans on. Nodes sharing
// the secret accept each other's nonces.
func TestNonceOrigin(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	other := []byte("fedcba9876543210fedcba9876543210")
	same := registrar.Config{Secret: secret}
	// forged returns a nonce of our shape dated at, with a MAC of nobody's.
	forged := func(at time.Time) func(string) string {
		return func(string) string {
			var raw [32]byte
			binary.BigEndian.PutUint64(raw[:], uint64(at.UnixNano()))
			return base64.RawURLEncoding.EncodeToString(raw[:])
		}
	}
	now := newClock().Now()
	tests := []struct {
		name     string
		issuer   registrar.Config
		verifier registrar.Config
		password string
		mangle   func(string) string
		wantCode int
		stale    bool
		reason   string
		level    string
	}{
		{name: "shared secret: another node's nonce is good", issuer: same, verifier: same, wantCode: 200},
		{name: "another secret", issuer: registrar.Config{Secret: other}, verifier: same,
			wantCode: 401, stale: true, reason: registrar.ReasonStaleNonce, level: "DEBUG"},
		{name: "another secret, wrong password", issuer: registrar.Config{Secret: other}, verifier: same, password: "guess",
			wantCode: 401, reason: registrar.ReasonWrongPassword, level: "WARN"},
		{name: "tampered MAC", issuer: same, verifier: same,
			mangle: func(n string) string {
				b := []byte(n)
				b[30] = "AB"[b2i(b[30] == 'A')]
				return string(b)
			}, wantCode: 401, stale: true, reason: registrar.ReasonStaleNonce, level: "DEBUG"},
		{name: "forged, dated a minute ago", issuer: same, verifier: same, mangle: forged(now.Add(-time.Minute)),
			wantCode: 401, stale: true, reason: registrar.ReasonStaleNonce, level: "DEBUG"},
		{name: "forged, dated in the future", issuer: same, verifier: same, mangle: forged(now.Add(time.Hour)),
			wantCode: 401, reason: registrar.ReasonBadNonce, level: "WARN"},
		{name: "forged, dated in 1970", issuer: same, verifier: same, mangle: forged(time.Unix(0, 0)),
			wantCode: 401, reason: registrar.ReasonBadNonce, level: "WARN"},
		{name: "not a nonce of ours at all", issuer: same, verifier: same,
			mangle: func(string) string { return "deadbeef" }, wantCode: 401, reason: registrar.ReasonBadNonce, level: "WARN"},
		{name: "not base64", issuer: same, verifier: same,
			mangle: func(n string) string { return n[:20] + "!" + n[21:] }, wantCode: 401, reason: registrar.ReasonBadNonce, level: "WARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newEnv(t, tt.issuer)
			logs := &logBuffer{}
			b := newEnv(t, tt.verifier, registrar.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
			_, err := siptest.Serve(context.Background(), a.reg, registerReq(t, "5002", "c1", 1))
			chal := challengeOf(err, "")
			if tt.mangle != nil {
				chal.Nonce = tt.mangle(chal.Nonce)
			}
			pw := tt.password
			if pw == "" {
				pw = "secret"
			}
			p := newPhone(t, b.reg, "5002", pw)
			p.chal = chal
			req := registerReq(t, "5002", "c1", 2, "Contact: <sip:5002@10.0.0.5>")
			req.AppendHeader(sipmsg.NewHeader("Authorization", p.credentials(req)))
			rec, err := siptest.Serve(context.Background(), b.reg, req)
			if got := siptest.Code(rec, err); got != tt.wantCode {
				t.Fatalf("got %d (%v), want %d", got, err, tt.wantCode)
			}
			if c := challengeOf(err, ""); tt.wantCode == 401 && (c == nil || c.Stale != tt.stale || c.Nonce == chal.Nonce) {
				t.Errorf("got %+v, want a fresh challenge with stale=%v", c, tt.stale)
			}
			failures := 0
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "auth failed") {
					failures++
					if want := "level=" + tt.level + " "; !strings.Contains(l, want) || !reasonLogged(l+"\n", tt.reason) {
						t.Errorf("got log line %q, want %sreason=%s", l, want, tt.reason)
					}
				}
			}
			if want := b2i(tt.reason != ""); failures != want {
				t.Errorf("got %d auth failures logged, want %d:\n%s", failures, want, logs.String())
			}
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A nonce issued for one realm does not serve another (the HMAC covers
// the realm): the client that knows the password for the other realm gets
// a nonce of that realm, with stale=true, as for a nonce we cannot check.
func TestNonceBoundToRealm(t *testing.T) {
	e := newEnv(t, registrar.Config{AllowPlaintext: true})
	_, err := siptest.Serve(context.Background(), e.reg, registerReq(t, "5004", "c1", 1))
	chal := challengeOf(err, "")
	chal.Realm = "other.example" // the client lies about the realm of the nonce
	p := newPhone(t, e.reg, "5004", "plain")
	p.chal = chal
	req := request(t, "10.0.0.5:5060", "REGISTER sip:other.example SIP/2.0",
		"Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKrealm1", "From: <sip:5004@other.example>;tag=1",
		"To: <sip:5004@other.example>", "Call-ID: r1", "CSeq: 2 REGISTER", "Contact: <sip:5004@10.0.0.5>")
	req.AppendHeader(sipmsg.NewHeader("Authorization", p.credentials(req)))
	_, err = siptest.Serve(context.Background(), e.reg, req)
	if c := challengeOf(err, ""); c == nil || c.Realm != "other.example" || c.Nonce == chal.Nonce || !c.Stale {
		t.Errorf("got %v (%+v), want a fresh challenge for other.example with stale=true", err, c)
	}
}

func TestMalformedCredentials(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   int
	}{
		{"unparsable", `Digest username="5002", realm="voip.unisi.it", nonce="x", nc=zz`, 400},
		{"auth-int is not supported", `Digest username="5002", realm="voip.unisi.it", nonce="x", uri="sip:voip.unisi.it", response="00", qop=auth-int, nc=00000001, cnonce="c"`, 401},
		{"qop without cnonce", `Digest username="5002", realm="voip.unisi.it", nonce="x", uri="sip:voip.unisi.it", response="00", qop=auth, nc=00000001`, 401},
		{"unsupported algorithm", `Digest username="5002", realm="voip.unisi.it", nonce="x", uri="sip:voip.unisi.it", response="00", algorithm=SHA-512`, 401},
		{"no response", `Digest username="5002", realm="voip.unisi.it", nonce="x", uri="sip:voip.unisi.it"`, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, registrar.Config{})
			req := registerReq(t, "5002", "c1", 1, "Contact: <sip:5002@10.0.0.5>", "Authorization: "+tt.header)
			rec, err := siptest.Serve(context.Background(), e.reg, req)
			if got := siptest.Code(rec, err); got != tt.want {
				t.Fatalf("got %d (%v), want %d", got, err, tt.want)
			}
			if !reasonLogged(e.logs.String(), registrar.ReasonBadCredentials) {
				t.Errorf("got log %q, want reason=bad-credentials", e.logs.String())
			}
		})
	}
}

// Credentials for another proxy's realm are not ours: the request is
// challenged as if it had none, and no failure is logged.
func TestCredentialsForAnotherRealm(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	req := registerReq(t, "5002", "c1", 1, "Contact: <sip:5002@10.0.0.5>",
		`Authorization: Digest username="5002", realm="carrier.example", nonce="n", uri="sip:x", response="00"`)
	_, err := siptest.Serve(context.Background(), e.reg, req)
	if c := challengeOf(err, ""); c == nil || c.Realm != domain {
		t.Errorf("got %v, want a challenge for %s", err, domain)
	}
	if strings.Contains(e.logs.String(), "auth failed") {
		t.Errorf("got log %q, want no failure", e.logs.String())
	}
}

// The fail2ban line: one Warn record per failure, always the same keys in
// the same order, the source IP without its port. Its shape is documented
// in doc.go and README.md; this test pins it.
func TestAuthFailureLogLine(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	p := newPhone(t, e.reg, "5002", "guess")
	req := registerReq(t, "5002", "call-f2b", 1, "Contact: <sip:5002@10.0.0.5>")
	req.SetSource("203.0.113.9:5060")
	if rec, err := p.send(req); siptest.Code(rec, err) != 401 {
		t.Fatalf("got %d, want 401", siptest.Code(rec, err))
	}
	line := regexp.MustCompile(`^time=\S+ level=WARN msg="registrar: auth failed" src=(\S+) user=(\S+) realm=(\S+) method=(\S+) reason=(\S+) callid=(\S+)$`)
	var got [][]string
	for _, l := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		if m := line.FindStringSubmatch(l); m != nil {
			got = append(got, m[1:])
		} else {
			t.Errorf("log line %q does not have the documented shape", l)
		}
	}
	want := []string{"203.0.113.9", "5002", domain, "REGISTER", registrar.ReasonWrongPassword, "call-f2b"}
	if len(got) != 1 || strings.Join(got[0], " ") != strings.Join(want, " ") {
		t.Errorf("got %q, want one line with %q", got, want)
	}
	filter := readmeFilter(t)
	if m := filter.FindStringSubmatch(e.logs.String()); m == nil || m[1] != "203.0.113.9" {
		t.Errorf("the README's filter %s does not find the host in %q", filter, e.logs.String())
	}
}

// readmeFilter returns the fail2ban failregex of README.md (and doc.go,
// which must say the same) as a Go regexp, <HOST> as the first group.
func readmeFilter(t *testing.T) *regexp.Regexp {
	t.Helper()
	find := func(text, prefix string) string {
		for _, l := range strings.Split(text, "\n") {
			if l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "//")); strings.HasPrefix(l, prefix) {
				return strings.TrimSpace(strings.TrimPrefix(l, prefix))
			}
		}
		t.Fatalf("no %q line in %.40q...", prefix, text)
		return ""
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	re := find(string(readme), "failregex =")
	if d := find(string(doc), "failregex ="); d != re {
		t.Fatalf("doc.go's failregex %q differs from README.md's %q", d, re)
	}
	return regexp.MustCompile(strings.Replace(re, "<HOST>", `(\S+)`, 1))
}

// What the fail2ban filter bans: garbage nonces and wrong passwords, never
// a phone holding a nonce of an earlier secret (stale, at Debug).
func TestFail2banFilter(t *testing.T) {
	filter := readmeFilter(t)
	t0 := newClock().Now()
	tests := []struct {
		name  string
		nonce func(issued string) string
		pw    string
		ban   bool
	}{
		{"a nonce of an earlier secret", func(string) string {
			other := newEnv(t, registrar.Config{Secret: []byte("fedcba9876543210")})
			_, err := siptest.Serve(context.Background(), other.reg, registerReq(t, "5002", "x", 1))
			return challengeOf(err, "").Nonce
		}, "secret", false},
		{"a garbage nonce", func(string) string { return "deadbeef" }, "secret", true},
		{"a garbage nonce of our length", func(n string) string {
			var raw [32]byte
			binary.BigEndian.PutUint64(raw[:], uint64(t0.Add(48*time.Hour).UnixNano()))
			return base64.RawURLEncoding.EncodeToString(raw[:])
		}, "secret", true},
		{"a wrong password", func(n string) string { return n }, "guess", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, registrar.Config{}) // logs Info and above, as a production logger would
			_, err := siptest.Serve(context.Background(), e.reg, registerReq(t, "5002", "c1", 1))
			chal := challengeOf(err, "")
			chal.Nonce = tt.nonce(chal.Nonce)
			p := newPhone(t, e.reg, "5002", tt.pw)
			p.chal = chal
			req := registerReq(t, "5002", "c1", 2, "Contact: <sip:5002@10.0.0.5>")
			req.SetSource("203.0.113.9:5060")
			req.AppendHeader(sipmsg.NewHeader("Authorization", p.credentials(req)))
			if rec, err := siptest.Serve(context.Background(), e.reg, req); siptest.Code(rec, err) != 401 {
				t.Fatalf("got %d, want 401", siptest.Code(rec, err))
			}
			m := filter.FindStringSubmatch(e.logs.String())
			if banned := m != nil && m[1] == "203.0.113.9"; banned != tt.ban {
				t.Errorf("banned: got %v, want %v; log %q", banned, tt.ban, e.logs.String())
			}
		})
	}
}
