package sip

import (
	"bytes"
	"time"
)

// framer follows the framing of a stream just enough to know whether a
// message is half-read: SIP over TCP/TLS (RFC 3261 §18.3: the header ends
// at an empty line, the body is Content-Length bytes), or WebSocket (an
// HTTP upgrade request, then frames; a SIP message is frames up to one with
// FIN, RFC 7118 §5.2). It allocates nothing and looks at each header line
// once.
type framer struct {
	ws       bool
	upgraded bool // WebSocket: the upgrade request is over
	state    uint8
	// SIP and HTTP header lines.
	line    [64]byte // the start of the current line
	lineLen int      // its length so far (may exceed len(line))
	first   bool     // the current line is the start line
	clen    int64    // Content-Length seen (-1: none)
	// Body or WebSocket payload still to come.
	remaining uint64
	// WebSocket frame header.
	hdr      [14]byte
	hdrLen   int
	hdrNeed  int
	fragment bool // a data frame without FIN was read: the message goes on
	// begun counts the messages begun since the reader last took it (a
	// SourceGate is asked once per message).
	begun int
}

const (
	fIdle   uint8 = iota // between messages (CRLF keepalives allowed)
	fHeader              // in a SIP header, or the upgrade request
	fBody                // in a SIP body
	fWSHead              // in a frame header
	fWSData              // in a frame's payload
)

// feed advances the framer over p. It reports whether a message is
// unfinished at the end of p, and whether one began within p.
func (f *framer) feed(p []byte) (inMsg, started bool) {
	for len(p) > 0 {
		switch f.state {
		case fIdle:
			if f.ws && f.upgraded {
				if !f.fragment {
					started = true
					f.begun++
				}
				f.state, f.hdrLen, f.hdrNeed = fWSHead, 0, 2
				continue
			}
			i := 0
			for i < len(p) && (p[i] == '\r' || p[i] == '\n') {
				i++
			}
			p = p[i:]
			if len(p) == 0 {
				break
			}
			started = true
			f.begun++
			f.state, f.lineLen, f.first, f.clen = fHeader, 0, true, -1
		case fHeader:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				f.addLine(p)
				p = nil
				break
			}
			f.addLine(p[:i])
			p = p[i+1:]
			f.endLine()
		case fBody, fWSData:
			n := min(uint64(len(p)), f.remaining)
			f.remaining -= n
			p = p[n:]
			if f.remaining == 0 {
				f.state = fIdle
			}
		case fWSHead:
			n := copy(f.hdr[f.hdrLen:f.hdrNeed], p)
			f.hdrLen += n
			p = p[n:]
			if f.hdrLen < f.hdrNeed {
				break
			}
			if f.hdrLen == 2 {
				if f.hdrNeed = 2 + wsExtra(f.hdr[1]); f.hdrNeed > 2 {
					continue
				}
			}
			f.endFrameHeader()
		}
	}
	return f.state != fIdle || f.fragment, started
}

func (f *framer) addLine(p []byte) {
	if f.lineLen < len(f.line) {
		copy(f.line[f.lineLen:], p)
	}
	f.lineLen += len(p)
}

// endLine handles a header line just ended (its LF consumed).
func (f *framer) endLine() {
	full := f.lineLen
	f.lineLen = 0
	if full == 0 || (full == 1 && f.line[0] == '\r') {
		// The empty line: the header is over.
		switch {
		case f.ws:
			f.state, f.upgraded = fIdle, true
		case f.clen > 0:
			f.state, f.remaining = fBody, uint64(f.clen)
		default:
			f.state = fIdle
		}
		return
	}
	if f.first {
		f.first = false
		return
	}
	if !f.ws && full <= len(f.line) {
		if v, ok := contentLength(f.line[:full]); ok {
			f.clen = v
		}
	}
}

// wsExtra is how many header bytes follow the first two of a WebSocket
// frame (RFC 6455 §5.2): an extended length and the masking key.
func wsExtra(b1 byte) int {
	n := 0
	switch b1 & 0x7f {
	case 126:
		n = 2
	case 127:
		n = 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

func (f *framer) endFrameHeader() {
	h := f.hdr[:f.hdrLen]
	var length uint64
	switch h[1] & 0x7f {
	case 126:
		length = uint64(h[2])<<8 | uint64(h[3])
	case 127:
		for _, b := range h[2:10] {
			length = length<<8 | uint64(b)
		}
	default:
		length = uint64(h[1] & 0x7f)
	}
	fin := h[0]&0x80 != 0
	if control := h[0]&0x08 != 0; !control {
		f.fragment = !fin
	}
	f.remaining = length
	if length == 0 {
		f.state = fIdle
	} else {
		f.state = fWSData
	}
}

// contentLength parses a Content-Length (or compact "l") header line.
func contentLength(line []byte) (int64, bool) {
	if len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
		return 0, false // a continuation line
	}
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return 0, false
	}
	name := trimSpace(line[:colon])
	if !equalFold(name, "content-length") && !equalFold(name, "l") {
		return 0, false
	}
	return parseDigits(trimSpace(line[colon+1:]))
}

// parseDigits parses a non-negative decimal of at most 9 digits.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares b with the lower-case ASCII s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// registrationLifetime reports how long the registration a response grants
// lasts, when b is a whole 2xx to a REGISTER listing contacts: the largest
// expires of its Contacts (RFC 3261 §10.3 step 8), the Expires header for
// those without one, 3600 s without either.
func registrationLifetime(b []byte) (time.Duration, bool) {
	const prefix = "SIP/2.0 2"
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return 0, false
	}
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return 0, false
	}
	b = b[i+1:]
	register := false
	contacts := 0
	best, header := int64(-1), int64(-1)
	without := false
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			i = len(b)
		}
		line := trimSpace(b[:i])
		b = b[min(i+1, len(b)):]
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		name, value := trimSpace(line[:colon]), trimSpace(line[colon+1:])
		switch {
		case equalFold(name, "cseq"):
			register = len(value) >= 8 && string(value[len(value)-8:]) == "REGISTER"
		case equalFold(name, "expires"):
			if v, ok := parseDigits(value); ok {
				header = v
			}
		case equalFold(name, "contact") || equalFold(name, "m"):
			forEachContact(value, func(exp int64, ok bool) {
				contacts++
				if ok {
					best = max(best, exp)
				} else {
					without = true
				}
			})
		}
	}
	if !register || contacts == 0 {
		return 0, false
	}
	if without {
		if header < 0 {
			header = 3600
		}
		best = max(best, header)
	}
	if best <= 0 {
		return 0, false
	}
	return time.Duration(best) * time.Second, true
}

// forEachContact calls fn with the expires parameter of each contact in a
// Contact header value, skipping what is quoted or inside <>.
func forEachContact(v []byte, fn func(exp int64, ok bool)) {
	const param = ";expires="
	quoted, angle := false, false
	exp, ok := int64(0), false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case quoted:
			if c == '\\' {
				i++
			} else if c == '"' {
				quoted = false
			}
		case c == '"':
			quoted = true
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case angle:
		case c == ',':
			fn(exp, ok)
			exp, ok = 0, false
		case c == ';' && i+len(param) <= len(v) && equalFold(v[i:i+len(param)], param):
			j := i + len(param)
			k := j
			for k < len(v) && v[k] >= '0' && v[k] <= '9' {
				k++
			}
			if n, good := parseDigits(v[j:k]); good {
				exp, ok = n, true
			}
			i = k - 1
		}
	}
	fn(exp, ok)
}
