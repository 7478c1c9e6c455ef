package guard

import "strings"

// DigestUsername returns the username parameter of a Digest credentials
// header value (Authorization, Proxy-Authorization: RFC 7616 §3.4, RFC
// 3261 §25.1): `Digest username="5002", realm="voip.unisi.it", ...`. It
// reads a quoted-string (with its backslash escapes) or a token, and
// reports false for a value that is not Digest or has no username. It
// parses no more than that and allocates only for an escaped name.
func DigestUsername(v string) (string, bool) {
	v = strings.TrimLeft(v, " \t")
	if len(v) < 7 || !strings.EqualFold(v[:6], "digest") || (v[6] != ' ' && v[6] != '\t') {
		return "", false
	}
	s := v[7:]
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return "", false
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return "", false
		}
		name := strings.TrimRight(s[:eq], " \t")
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		var ok bool
		if strings.HasPrefix(s, `"`) {
			val, s, ok = quoted(s)
			if !ok {
				return "", false
			}
		} else {
			end := strings.IndexAny(s, ", \t")
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		if strings.EqualFold(name, "username") {
			return val, val != ""
		}
	}
}

// quoted reads the quoted-string at the start of s and returns its value
// and the rest of s.
func quoted(s string) (val, rest string, ok bool) {
	esc := false
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			esc = true
			i++
		case '"':
			val = s[1:i]
			if esc {
				var b strings.Builder
				for j := 0; j < len(val); j++ {
					if val[j] == '\\' && j+1 < len(val) {
						j++
					}
					b.WriteByte(val[j])
				}
				val = b.String()
			}
			return val, s[i+1:], true
		}
	}
	return "", "", false
}
