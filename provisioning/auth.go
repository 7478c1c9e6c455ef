package provisioning

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// authRealm is the realm of the per-device HTTP authentication.
const authRealm = "palio-provisioning"

// nonceLife is how long a digest nonce is good for.
const nonceLife = 5 * time.Minute

// authResult is what a request's credentials say.
type authResult int

const (
	authMissing authResult = iota // none given (or a nonce gone stale): challenge
	authOK
	authWrong // given and wrong: a failure held against the source
)

// digester issues and checks the nonces of the HTTP digest challenge
// (RFC 7616, MD5, qop auth): a nonce is its issue time signed with a
// key of the process, so that none is stored.
type digester struct{ key [32]byte }

func newDigester() *digester {
	d := &digester{}
	rand.Read(d.key[:])
	return d
}

func (d *digester) nonce(now time.Time) string {
	var b [8 + 16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	m := hmac.New(sha256.New, d.key[:])
	m.Write(b[:8])
	copy(b[8:], m.Sum(nil))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// fresh reports whether nonce is one of ours and younger than nonceLife.
func (d *digester) fresh(nonce string, now time.Time) bool {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 24 {
		return false
	}
	m := hmac.New(sha256.New, d.key[:])
	m.Write(b[:8])
	if !hmac.Equal(m.Sum(nil)[:16], b[8:]) {
		return false
	}
	age := now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(b[:8]))))
	return age >= 0 && age < nonceLife
}

// challenge sets the WWW-Authenticate headers of a 401: digest, and
// basic over TLS only (it would send the secret in the clear).
func (d *digester) challenge(w http.ResponseWriter, r *http.Request, now time.Time) {
	w.Header().Add("WWW-Authenticate", `Digest realm="`+authRealm+`", qop="auth", algorithm=MD5, nonce="`+d.nonce(now)+`"`)
	if r.TLS != nil {
		w.Header().Add("WWW-Authenticate", `Basic realm="`+authRealm+`", charset="UTF-8"`)
	}
}

// check checks r's credentials for the device mac with its secret: the
// user name must be the MAC (in any spelling ParseMAC reads).
func (d *digester) check(r *http.Request, mac MAC, secret string, now time.Time) authResult {
	h := r.Header.Get("Authorization")
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	switch {
	case h == "":
		return authMissing
	case strings.EqualFold(scheme, "basic"):
		if r.TLS == nil {
			return authMissing // not accepted in the clear: ask for digest
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
		if err != nil {
			return authWrong
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if m, err := ParseMAC(user); !ok || err != nil || m != mac {
			return authWrong
		}
		if subtle.ConstantTimeCompare([]byte(pass), []byte(secret)) != 1 {
			return authWrong
		}
		return authOK
	case strings.EqualFold(scheme, "digest"):
		p, ok := parseAuthParams(rest)
		if !ok {
			return authWrong
		}
		if m, err := ParseMAC(p["username"]); err != nil || m != mac || p["realm"] != authRealm {
			return authWrong
		}
		if alg := p["algorithm"]; alg != "" && !strings.EqualFold(alg, "MD5") {
			return authWrong
		}
		if p["uri"] != r.RequestURI {
			return authWrong
		}
		if !d.fresh(p["nonce"], now) {
			return authMissing // stale: a new challenge
		}
		ha1 := md5hex(p["username"] + ":" + authRealm + ":" + secret)
		ha2 := md5hex(r.Method + ":" + p["uri"])
		var want string
		switch p["qop"] {
		case "auth":
			want = md5hex(ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + ha2)
		case "":
			want = md5hex(ha1 + ":" + p["nonce"] + ":" + ha2)
		default:
			return authWrong
		}
		if subtle.ConstantTimeCompare([]byte(strings.ToLower(p["response"])), []byte(want)) != 1 {
			return authWrong
		}
		return authOK
	}
	return authWrong
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// parseAuthParams parses the comma-separated name=value pairs of a
// digest Authorization header (values quoted or tokens); names are
// lower-cased. It refuses a malformed list and more than 16 pairs.
func parseAuthParams(s string) (map[string]string, bool) {
	out := map[string]string{}
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',') {
			i++
		}
		if i == len(s) {
			return out, true
		}
		if len(out) == 16 {
			return nil, false
		}
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ',' && s[i] != ' ' {
			i++
		}
		name := strings.ToLower(s[start:i])
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if name == "" || i == len(s) || s[i] != '=' {
			return nil, false
		}
		i++
		for i < len(s) && s[i] == ' ' {
			i++
		}
		var val strings.Builder
		if i < len(s) && s[i] == '"' {
			i++
			for i < len(s) && s[i] != '"' {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
				i++
			}
			if i == len(s) {
				return nil, false
			}
			i++
		} else {
			for i < len(s) && s[i] != ',' && s[i] != ' ' {
				val.WriteByte(s[i])
				i++
			}
		}
		out[name] = val.String()
	}
}
