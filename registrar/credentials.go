package registrar

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"hash"
	"strconv"
	"strings"
)

// credentials are the fields of a Digest Authorization or
// Proxy-Authorization header value (RFC 3261 §25.1, RFC 7616 §3.4).
type credentials struct {
	Username, Realm, Nonce, URI, Response string
	Algorithm, Cnonce, Opaque, QOP        string
	// NC is the nonce count as sent (8 hex digits) and Nc its value.
	NC       string
	Nc       int
	Userhash bool
}

// isDigest reports whether v holds Digest credentials (the scheme is case
// insensitive).
func isDigest(v string) bool {
	v = strings.TrimLeft(v, " \t")
	return len(v) > 6 && strings.EqualFold(v[:6], "digest") && (v[6] == ' ' || v[6] == '\t')
}

var (
	errNotDigest   = errors.New("registrar: not Digest credentials")
	errCredentials = errors.New("registrar: malformed Digest credentials")
)

// parseCredentials parses a Digest credentials header value:
// `Digest name=value, name="quoted \"value\"", ...`. Parameter names are
// case insensitive; unknown ones are ignored; a repeated one keeps its last
// value. It allocates only the unescaped copy of a quoted value that had
// backslashes: the fields are substrings of v.
func parseCredentials(v string) (credentials, error) {
	var c credentials
	v = strings.TrimLeft(v, " \t")
	if !isDigest(v) {
		return c, errNotDigest
	}
	i := 6
	for {
		// Separators: linear white space and commas.
		for i < len(v) && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n' || v[i] == ',') {
			i++
		}
		if i == len(v) {
			return c, nil
		}
		start := i
		for i < len(v) && isTokenChar(v[i]) {
			i++
		}
		name := v[start:i]
		if name == "" {
			return c, errCredentials
		}
		for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
			i++
		}
		if i == len(v) || v[i] != '=' {
			return c, errCredentials
		}
		i++
		for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
			i++
		}
		var value string
		if i < len(v) && v[i] == '"' {
			i++
			start = i
			escaped := false
			for i < len(v) && v[i] != '"' {
				if v[i] == '\\' {
					escaped = true
					i++ // the escaped character, whatever it is
				}
				i++
			}
			if i >= len(v) {
				return c, errCredentials // unterminated
			}
			value = v[start:i]
			if escaped {
				value = unescapeQuoted(value)
			}
			i++ // the closing quote
		} else {
			start = i
			for i < len(v) && isTokenChar(v[i]) {
				i++
			}
			value = v[start:i]
		}
		if i < len(v) && v[i] != ',' && v[i] != ' ' && v[i] != '\t' && v[i] != '\r' && v[i] != '\n' {
			return c, errCredentials // garbage after the value
		}
		if err := c.set(name, value); err != nil {
			return c, err
		}
	}
}

func (c *credentials) set(name, value string) error {
	switch strings.ToLower(name) {
	case "username":
		c.Username = value
	case "realm":
		c.Realm = value
	case "nonce":
		c.Nonce = value
	case "uri":
		c.URI = value
	case "response":
		c.Response = value
	case "algorithm":
		c.Algorithm = value
	case "cnonce":
		c.Cnonce = value
	case "opaque":
		c.Opaque = value
	case "qop":
		c.QOP = value
	case "nc":
		n, err := strconv.ParseUint(value, 16, 32)
		if err != nil || n > 1<<31-1 {
			return errCredentials
		}
		c.NC, c.Nc = value, int(n)
	case "userhash":
		c.Userhash = strings.EqualFold(value, "true")
	}
	return nil
}

// isTokenChar reports whether b may appear in a token (RFC 3261 §25.1).
func isTokenChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("-.!%*_+`'~/:@;?&$[]", b) >= 0
}

// unescapeQuoted removes the backslashes of quoted-pairs.
func unescapeQuoted(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// digestResponse computes the request-digest a client sends for the
// credentials c with the account's ha1 under alg (RFC 2617 §3.2.2.1,
// RFC 7616 §3.4.1): H(ha1:nonce:nc:cnonce:qop:H(method:uri)) with
// qop=auth, H(ha1:nonce:H(method:uri)) without qop. The nonce count is
// hashed as the client wrote it.
func digestResponse(h hash.Hash, c *credentials, ha1, method string) string {
	var sum [sha256.Size]byte
	h.Reset()
	h.Write([]byte(method))
	h.Write([]byte{':'})
	h.Write([]byte(c.URI))
	ha2 := hex.EncodeToString(h.Sum(sum[:0]))
	h.Reset()
	h.Write([]byte(ha1))
	h.Write([]byte{':'})
	h.Write([]byte(c.Nonce))
	h.Write([]byte{':'})
	if c.QOP != "" {
		h.Write([]byte(c.NC))
		h.Write([]byte{':'})
		h.Write([]byte(c.Cnonce))
		h.Write([]byte{':'})
		h.Write([]byte(c.QOP))
		h.Write([]byte{':'})
	}
	h.Write([]byte(ha2))
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// responseMatches computes the response the client should have sent from
// the stored HA1 and compares it with the one it sent, in constant time.
func responseMatches(c *credentials, alg, ha1, method string) bool {
	var h hash.Hash
	switch alg {
	case MD5:
		h = md5.New()
	case SHA256:
		h = sha256.New()
	default:
		return false
	}
	want := digestResponse(h, c, strings.ToLower(ha1), method)
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(c.Response))) == 1
}

// challengeValue is a WWW-Authenticate or Proxy-Authenticate value
// (RFC 7616 §3.3): realm, nonce, algorithm, qop=auth, and stale=true when
// the nonce the client used had expired.
func challengeValue(realm, nonce, alg string, stale bool) string {
	var b strings.Builder
	b.Grow(64 + len(realm) + len(nonce))
	b.WriteString(`Digest realm="`)
	writeQuoted(&b, realm)
	b.WriteString(`", nonce="`)
	writeQuoted(&b, nonce)
	b.WriteString(`", algorithm=`)
	b.WriteString(alg)
	b.WriteString(`, qop="auth"`)
	if stale {
		b.WriteString(", stale=true")
	}
	return b.String()
}

// writeQuoted writes s as the inside of a quoted-string.
func writeQuoted(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
}
