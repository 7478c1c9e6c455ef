package mediabridge

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ErrNoSDP is returned by ParseBody for a body that carries no session
// description: an empty body, another content type (application/isup,
// application/dtmf-relay...), or a multipart body without an
// application/sdp part. There is nothing to anchor; the body passes as it is.
var ErrNoSDP = errors.New("mediabridge: no SDP in the body")

// SyntaxError is returned by ParseBody for an SDP body, or a multipart
// envelope around one, that cannot be read. Err says why. A caller that
// anchors media optionally passes the body through unchanged; one that must
// anchor answers 488 Not Acceptable Here (RFC 3261 §21.4.26).
type SyntaxError struct {
	// Line is the 1-based number of the offending SDP line (blank lines not
	// counted), 0 when the problem is not on one line: a missing v=, a
	// broken multipart envelope.
	Line int
	// Err is the reason.
	Err error
}

// Error returns "mediabridge: SDP line N: reason".
func (e *SyntaxError) Error() string {
	if e.Line > 0 {
		return "mediabridge: SDP line " + strconv.Itoa(e.Line) + ": " + e.Err.Error()
	}
	return "mediabridge: SDP: " + e.Err.Error()
}

// Unwrap returns the reason.
func (e *SyntaxError) Unwrap() error { return e.Err }

// Description is one SDP session description taken from a SIP body: a
// plain application/sdp body or the application/sdp part of a multipart
// body (multipart/mixed, multipart/alternative; RFC 5621), with the rest of
// the body kept verbatim.
//
// The SDP is read line by line (RFC 8866 §5): every line Rewrite has no
// reason to touch is written back byte for byte, so codecs, fmtp, crypto,
// fingerprints and attributes nobody here knows survive. LF-only line ends
// are accepted and CRLF is written. Blank lines are dropped, and so are NUL,
// space and line-break padding after the last line; any other line that is
// not "<letter>=<value>" is a syntax error, as is a type letter RFC 8866
// does not define, or one out of place (RFC 8866 §5 says to ignore such a
// description, not to guess).
//
// A missing t= line is tolerated: some user agents omit it, and Rewrite
// inserts "t=0 0" (an unbounded session, RFC 8866 §5.9) where it belongs,
// so the SDP sent on is valid even for strict parsers such as pion/sdp.
// A missing v=, o= or s= line is a syntax error.
//
// A Description does not change after ParseBody: Rewrite may be called
// any number of times, with different relays. It keeps a reference to the
// body passed to ParseBody, which must not be modified while it is in use.
type Description struct {
	contentType string
	body        []byte
	loc         sdpLocation

	lines []string   // the SDP lines, without line ends or blank lines
	kinds []lineKind // what each line is to Rewrite
	num   []int      // 1-based line number of each line in the input, blank lines not counted

	timeAt   int // index in lines before which "t=0 0" goes; -1 when t= is present
	sessionC int // index of the session-level c= line, -1 when absent
	conn     conn
	origin   origin
	dir      string // session-level direction attribute, "" when absent
	media    []media
}

// lineKind tells Rewrite what a line is.
type lineKind uint8

const (
	kindOther    lineKind = iota
	kindSessionC          // the session-level c= line
	kindMediaM            // an m= line
	kindMediaC            // a media-level c= line
	kindRTCPAttr          // a media-level a=rtcp line
	kindICE               // an ICE attribute, session or media level
)

// conn is a parsed c= line (RFC 8866 §5.7).
type conn struct {
	value   string     // the line after "c=", verbatim
	addr    netip.Addr // invalid for a host name
	present bool
}

// origin is the parsed o= line (RFC 8866 §5.2).
type origin struct {
	username, sessID, version, addrType, addr string
}

// media is one media section.
type media struct {
	line      int    // index of the m= line
	insertC   int    // index of the line after which a media-level c= is inserted
	connLine  int    // index of the media-level c= line, -1 when absent
	conn      conn   // the media-level c=
	name      string // media type
	portEnd   int    // offset in the m= line just past the port
	port      int
	proto     string
	rtcp      rtcpAttr // the first a=rtcp
	mux       bool
	dir       string
	hasRTCPAt bool
	firstPT   string // the first format of the m= line
	clock     int    // its a=rtpmap clock rate, 0 when not given
}

// rtcpAttr is a parsed a=rtcp attribute (RFC 3605).
type rtcpAttr struct {
	port     int
	addr     netip.Addr
	withAddr bool
}

// ParseBody parses body given the Content-Type header value. Errors:
// ErrNoSDP (no SDP part), or a *SyntaxError wrapping the reason
// (unparsable SDP) — callers pass it through or answer 488.
//
// Multipart bodies are searched part by part, nested ones too (up to 4
// levels); the part whose Content-Type is application/sdp is the SDP. Two
// such parts are a syntax error: the receiver of a multipart/alternative
// picks one, and rewriting one of two would let media bypass the relay.
// A base64 or quoted-printable SDP part is a syntax error too.
func ParseBody(contentType string, body []byte) (*Description, error) {
	d := &Description{contentType: contentType, body: body}
	if err := locate(contentType, body, 0, 0, nil, &d.loc); err != nil {
		return nil, err
	}
	if !d.loc.found {
		return nil, ErrNoSDP
	}
	if err := d.parse(string(body[d.loc.start:d.loc.end])); err != nil {
		return nil, err
	}
	return d, nil
}

// ContentType returns the Content-Type the body was parsed with: Rewrite
// never changes it.
func (d *Description) ContentType() string { return d.contentType }

// syntaxErr returns a *SyntaxError for line i (an index in d.lines).
func (d *Description) syntaxErr(i int, format string, args ...any) error {
	n := 0
	if i >= 0 && i < len(d.num) {
		n = d.num[i]
	}
	return &SyntaxError{Line: n, Err: fmt.Errorf(format, args...)}
}

// parse splits the SDP text into lines and reads the ones Rewrite needs.
func (d *Description) parse(text string) error {
	text = strings.TrimRight(text, "\x00 \t\r\n")
	if text == "" {
		return &SyntaxError{Err: errors.New("empty")}
	}
	n := strings.Count(text, "\n") + 1
	d.lines = make([]string, 0, n)
	d.num = make([]int, 0, n)
	for num := 0; text != ""; {
		line, rest, _ := strings.Cut(text, "\n")
		text = rest
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		num++
		d.lines = append(d.lines, line)
		d.num = append(d.num, num)
		if len(line) < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z' {
			return d.syntaxErr(len(d.lines)-1, "not a <type>=<value> line: %q", clip(line))
		}
		if strings.ContainsAny(line, "\x00\r") {
			return d.syntaxErr(len(d.lines)-1, "NUL or CR inside a line")
		}
	}
	d.kinds = make([]lineKind, len(d.lines))
	d.timeAt, d.sessionC = -1, -1

	for i, want := range []byte{'v', 'o', 's'} {
		if i >= len(d.lines) || d.lines[i][0] != want {
			return d.syntaxErr(min(i, len(d.lines)-1), "line %d is not %c=", i+1, want)
		}
	}
	if d.lines[0] != "v=0" {
		return d.syntaxErr(0, "unsupported version %q", clip(d.lines[0]))
	}
	if err := d.parseOrigin(); err != nil {
		return err
	}

	// Session level.
	i, hasTime := 3, false
	for ; i < len(d.lines); i++ {
		line := d.lines[i]
		switch line[0] {
		case 'm':
		case 'i', 'u', 'e', 'p', 'b':
			continue
		case 'c':
			if d.sessionC >= 0 {
				return d.syntaxErr(i, "more than one session-level c= line")
			}
			c, err := parseConn(line[2:])
			if err != nil {
				return d.syntaxErr(i, "%v", err)
			}
			d.sessionC, d.conn = i, c
			d.kinds[i] = kindSessionC
			continue
		case 't':
			hasTime = true
			continue
		case 'r':
			if !hasTime {
				return d.syntaxErr(i, "r= without t=")
			}
			continue
		case 'z', 'k', 'a':
			if !hasTime && d.timeAt < 0 {
				d.timeAt = i
			}
			if line[0] == 'a' {
				key, _, _ := strings.Cut(line[2:], ":")
				if isDirection(key) && d.dir == "" {
					d.dir = key
				}
				if iceAttributes[key] {
					d.kinds[i] = kindICE
				}
			}
			continue
		default:
			return d.syntaxErr(i, "%c= line at session level", line[0])
		}
		break
	}
	if !hasTime && d.timeAt < 0 {
		d.timeAt = i
	}

	// Media sections.
	for ; i < len(d.lines); i++ {
		line := d.lines[i]
		if line[0] == 'm' {
			m, err := parseMediaLine(line)
			if err != nil {
				return d.syntaxErr(i, "%v", err)
			}
			m.line, m.insertC, m.connLine = i, i, -1
			if i+1 < len(d.lines) && d.lines[i+1][0] == 'i' {
				m.insertC = i + 1
			}
			d.media = append(d.media, m)
			d.kinds[i] = kindMediaM
			continue
		}
		m := &d.media[len(d.media)-1]
		switch line[0] {
		case 'i', 'b', 'k':
		case 'c':
			if m.connLine >= 0 {
				return d.syntaxErr(i, "more than one c= line in a media section")
			}
			c, err := parseConn(line[2:])
			if err != nil {
				return d.syntaxErr(i, "%v", err)
			}
			m.connLine, m.conn = i, c
			d.kinds[i] = kindMediaC
		case 'a':
			key, value, _ := strings.Cut(line[2:], ":")
			switch {
			case isDirection(key):
				if m.dir == "" {
					m.dir = key
				}
			case key == "rtcp-mux":
				m.mux = true
			case key == "rtpmap" && m.clock == 0:
				// "96 opus/48000/2": the clock rate of the first format.
				pt, enc, _ := strings.Cut(value, " ")
				if pt == m.firstPT {
					_, rest, _ := strings.Cut(enc, "/")
					rate, _, _ := strings.Cut(rest, "/")
					if n, err := strconv.Atoi(rate); err == nil && n > 0 && n <= 1000000 {
						m.clock = n
					}
				}
			case key == "rtcp":
				r, err := parseRTCP(value)
				if err != nil {
					return d.syntaxErr(i, "a=rtcp: %v", err)
				}
				if !m.hasRTCPAt {
					m.rtcp, m.hasRTCPAt = r, true
				}
				d.kinds[i] = kindRTCPAttr
			case iceAttributes[key]:
				d.kinds[i] = kindICE
			}
		default:
			return d.syntaxErr(i, "%c= line in a media section", line[0])
		}
	}
	for _, m := range d.media {
		if m.port != 0 && !m.conn.present && !d.conn.present {
			return d.syntaxErr(m.line, "no c= line for this media or the session")
		}
	}
	return nil
}

// parseOrigin reads the o= line: six fields, the version a decimal number.
func (d *Description) parseOrigin() error {
	f := fields(d.lines[1][2:])
	if len(f) != 6 {
		return d.syntaxErr(1, "o= has %d fields, want 6", len(f))
	}
	if f[3] != "IN" || (f[4] != "IP4" && f[4] != "IP6") {
		return d.syntaxErr(1, "o= is not \"... IN IP4|IP6 address\"")
	}
	if !isDigits(f[2]) {
		return d.syntaxErr(1, "o= session version %q is not a number", clip(f[2]))
	}
	d.origin = origin{username: f[0], sessID: f[1], version: f[2], addrType: f[4], addr: f[5]}
	return nil
}

// parseConn reads the value of a c= line: "IN IP4|IP6 address[/ttl[/n]]".
// The address may be a host name (RFC 8866 §5.7); an IP literal must
// match the address type.
func parseConn(value string) (conn, error) {
	f := fields(value)
	if len(f) != 3 || f[0] != "IN" || (f[1] != "IP4" && f[1] != "IP6") {
		return conn{}, fmt.Errorf("c= is not \"IN IP4|IP6 address\": %q", clip(value))
	}
	host, _, _ := strings.Cut(f[2], "/")
	c := conn{value: value, present: true}
	if a, err := netip.ParseAddr(host); err == nil {
		if (f[1] == "IP4") != a.Is4() || a.Zone() != "" {
			return conn{}, fmt.Errorf("c= address %s is not %s", host, f[1])
		}
		c.addr = a
	}
	return c, nil
}

// parseMediaLine reads "m=<media> <port> <proto> <fmt>...". A port count
// ("49170/2", RFC 8866 §5.14) is refused: a relay pair serves one port.
func parseMediaLine(line string) (media, error) {
	f := fields(line[2:])
	if len(f) < 3 {
		return media{}, fmt.Errorf("m= needs media, port and proto: %q", clip(line))
	}
	if strings.Contains(f[1], "/") {
		return media{}, fmt.Errorf("m= port count %q is not supported", clip(f[1]))
	}
	port, ok := parsePort(f[1])
	if !ok {
		return media{}, fmt.Errorf("m= port %q", clip(f[1]))
	}
	m := media{
		name:    f[0],
		port:    port,
		portEnd: fieldEnd(line, 2, 2),
		proto:   f[2],
	}
	if len(f) > 3 {
		m.firstPT = f[3]
	}
	return m, nil
}

// parseRTCP reads the value of a=rtcp: "port [IN IP4|IP6 address]"
// (RFC 3605 §2.1).
func parseRTCP(value string) (rtcpAttr, error) {
	f := fields(value)
	if len(f) != 1 && len(f) != 4 {
		return rtcpAttr{}, fmt.Errorf("want \"port [IN IP4|IP6 address]\", got %q", clip(value))
	}
	port, ok := parsePort(f[0])
	if !ok {
		return rtcpAttr{}, fmt.Errorf("port %q", clip(f[0]))
	}
	r := rtcpAttr{port: port}
	if len(f) == 4 {
		c, err := parseConn(strings.Join(f[1:], " "))
		if err != nil {
			return rtcpAttr{}, err
		}
		r.addr, r.withAddr = c.addr, true
	}
	return r, nil
}

// fields splits s on spaces and tabs, the only separators SDP knows.
func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' })
}

// fieldEnd returns the offset in s just past its n-th whitespace-separated
// field (1-based), reading from offset from.
func fieldEnd(s string, from, n int) int {
	i := from
	for ; n > 0; n-- {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		for i < len(s) && s[i] != ' ' && s[i] != '\t' {
			i++
		}
	}
	return i
}

func parsePort(s string) (int, bool) {
	if !isDigits(s) || len(s) > 5 {
		return 0, false
	}
	p, _ := strconv.Atoi(s)
	return p, p <= 65535
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isDirection(key string) bool {
	return key == "sendrecv" || key == "sendonly" || key == "recvonly" || key == "inactive"
}

// iceAttributes are the attributes of ICE (RFC 8839 §5) that Rewrite
// removes unless RewriteOptions.KeepICE is set.
var iceAttributes = map[string]bool{
	"candidate":         true,
	"remote-candidates": true,
	"end-of-candidates": true,
	"ice-ufrag":         true,
	"ice-pwd":           true,
	"ice-options":       true,
	"ice-lite":          true,
	"ice-mismatch":      true,
	"ice-pacing":        true,
}

// clip shortens a quoted piece of input in an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// SDPStream is one m= line as the sender announced it.
type SDPStream struct {
	Index int            // position of the m= line
	Media string         // "audio", "video", "image"...
	Proto string         // "RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF", "udptl"...
	RTP   netip.AddrPort // where the sender wants to receive RTP: media c= (else session c=) and the m= port; the zero port when disabled
	// RTCP is a=rtcp (RFC 3605) if present, else RTP port+1 on the same
	// address; equal to RTP when rtcp-mux. It is the zero value for a
	// disabled stream and for a protocol without RTP (udptl, TCP/MSRP).
	RTCP      netip.AddrPort
	Disabled  bool   // port 0 (RFC 3264 §8.2): never relayed, left as it is
	Direction string // sendrecv (default), sendonly, recvonly, inactive: media level, else session level
	Hold      bool   // old-style hold: c=0.0.0.0 (or ::) — direction and hold meaning must survive a rewrite
	RTCPMux   bool   // a=rtcp-mux
	// ClockRate is the RTP clock rate of the stream's first format, from
	// its a=rtpmap (48000 for Opus); 0 when the SDP gives none (the
	// static G.711 and G.729 types are 8000 Hz).
	ClockRate int
}

// Streams returns the streams of the description, one per m= line, in
// order. An address given as a host name leaves RTP.Addr() invalid.
func (d *Description) Streams() []SDPStream {
	out := make([]SDPStream, len(d.media))
	for i := range d.media {
		out[i] = d.stream(i)
	}
	return out
}

func (d *Description) stream(i int) SDPStream {
	m := &d.media[i]
	c := d.conn
	if m.conn.present {
		c = m.conn
	}
	s := SDPStream{
		Index:     i,
		Media:     m.name,
		Proto:     m.proto,
		RTP:       netip.AddrPortFrom(c.addr, uint16(m.port)),
		Disabled:  m.port == 0,
		Direction: "sendrecv",
		Hold:      c.addr.IsValid() && c.addr.IsUnspecified(),
		RTCPMux:   m.mux,
		ClockRate: m.clock,
	}
	switch {
	case m.dir != "":
		s.Direction = m.dir
	case d.dir != "":
		s.Direction = d.dir
	}
	switch {
	case s.Disabled || !isRTP(m.proto):
	case m.mux:
		s.RTCP = s.RTP
	case m.hasRTCPAt:
		a := c.addr
		if m.rtcp.withAddr {
			a = m.rtcp.addr
		}
		s.RTCP = netip.AddrPortFrom(a, uint16(m.rtcp.port))
	case m.port < 65535:
		s.RTCP = netip.AddrPortFrom(c.addr, uint16(m.port+1))
	}
	return s
}

// isRTP reports whether a transport protocol carries RTP (and so RTCP).
func isRTP(proto string) bool {
	for p := range strings.SplitSeq(proto, "/") {
		if p == "RTP" {
			return true
		}
	}
	return false
}

// RewriteOptions tune Rewrite.
type RewriteOptions struct {
	// KeepICE keeps the ICE attributes (RFC 8839: candidate, ice-ufrag,
	// ice-pwd, ice-options, ice-lite, end-of-candidates, remote-candidates,
	// ice-mismatch, ice-pacing). By default they are removed whenever a
	// stream is relayed: the candidates name the phone's addresses, which
	// the relay hides, and an ICE agent that sees them would try to reach
	// the phone directly or declare ice-mismatch against the relay address.
	KeepICE bool
	// Origin, when set, writes the o= line so that the side receiving the
	// rewritten SDP sees RFC 3264 §8's rule kept: the version goes up by
	// one exactly when the SDP changes. Without it the sender's o= line is
	// copied unchanged.
	Origin *Origin
}

// Rewrite replaces, for each stream i with relay[i] valid, the c= address
// (session and media level, IPv4 or IPv6 — address type follows the relay
// address) and the m= port with relay[i], and returns the new body (the
// multipart envelope kept, only the SDP part replaced, its Content-Length
// if any fixed); the Content-Type stays as it was (ContentType).
//
//   - Streams whose relay[i] is the zero value, streams beyond relay, and
//     disabled streams (port 0) stay unchanged. relay may not be longer
//     than Streams(), and a non-zero relay[i] needs an address that is not
//     unspecified and a port other than 0. An IPv4-mapped IPv6 relay
//     address is written as IPv4, and a zone is dropped.
//   - a=rtcp (RFC 3605) gets the relay port+1, or the relay port itself
//     with rtcp-mux (RFC 5761 §5.1.3), whose a=rtcp-mux stays; an address
//     in it becomes the relay's. No a=rtcp is added: the relay listens on
//     an even/odd pair, which is the implicit RTCP port. So the relay must
//     take RTCP on port+1, and on the RTP port too when rtcp-mux is offered.
//   - Old-style hold (c=0.0.0.0 or c=::, RFC 3264 Appendix B) stays a hold:
//     the address is written as the unspecified address of the relay's
//     family, never the relay's own, so the peer still sends nothing; the
//     port becomes the relay's so that no phone port leaks. Direction
//     attributes are never touched, so sendonly, recvonly and inactive
//     holds and their resumes pass as they are.
//   - When a session-level c= serves several streams whose addresses now
//     differ (one relayed, one not, or two relays), the session-level c=
//     takes the address of the first relayed stream among them and the
//     others get a media-level c= line of their own, after the m= (and
//     i=) line. A session-level c= no stream relies on is rewritten to the
//     first relayed stream's address, so the phone's address is not left
//     there.
//   - ICE attributes are removed unless opts.KeepICE (see RewriteOptions).
//   - The o= line is kept, or written by opts.Origin.
//   - A missing t= line is written as "t=0 0"; every line ends in CRLF.
//
// When no stream is relayed the SDP is only normalised (line ends, t=)
// and the o= line follows opts.Origin. Rewrite does not modify d, and an
// error (a relay that does not fit) leaves opts.Origin untouched.
func (d *Description) Rewrite(relay []netip.AddrPort, opts RewriteOptions) ([]byte, error) {
	if len(relay) > len(d.media) {
		return nil, fmt.Errorf("mediabridge: %d relay addresses for %d streams", len(relay), len(d.media))
	}
	// want[i] is the c= value stream i must end up with; "" for a disabled
	// stream without a c= line of its own, which follows the session.
	var wantBuf [8]string
	var relayedBuf [8]bool
	want, relayed := wantBuf[:0], relayedBuf[:0]
	anyRelayed := false
	for i := range d.media {
		m := &d.media[i]
		var r netip.AddrPort
		if i < len(relay) {
			r = relay[i]
		}
		rel := false
		if r != (netip.AddrPort{}) && m.port != 0 {
			a := r.Addr().Unmap().WithZone("")
			if !a.IsValid() || a.IsUnspecified() || r.Port() == 0 {
				return nil, fmt.Errorf("mediabridge: stream %d: invalid relay address %v", i, r)
			}
			if !m.mux && m.hasRTCPAt && r.Port() == 65535 {
				return nil, fmt.Errorf("mediabridge: stream %d: relay port 65535 leaves no RTCP port", i)
			}
			rel, anyRelayed = true, true
		}
		relayed = append(relayed, rel)
		switch {
		case rel:
			want = append(want, d.relayConn(i, relay[i].Addr().Unmap()))
		case m.conn.present:
			want = append(want, m.conn.value)
		case m.port != 0:
			want = append(want, d.conn.value)
		default:
			want = append(want, "")
		}
	}

	// The session-level c=: the first relayed stream relying on it sets it,
	// else the first stream relying on it keeps it; with no stream relying
	// on it, the first relayed stream.
	sessionC := d.conn.value
	if d.conn.present {
		first, firstRelayed := -1, -1
		for i := range d.media {
			if d.media[i].conn.present || d.media[i].port == 0 {
				continue
			}
			if first < 0 {
				first = i
			}
			if relayed[i] && firstRelayed < 0 {
				firstRelayed = i
			}
		}
		switch {
		case firstRelayed >= 0:
			sessionC = want[firstRelayed]
		case first >= 0:
		default:
			for i := range d.media {
				if relayed[i] {
					sessionC = want[i]
					break
				}
			}
		}
	}

	sdp := d.render(relay, relayed, want, sessionC, anyRelayed && !opts.KeepICE, opts.Origin)
	if d.loc.start == 0 && d.loc.end == len(d.body) && len(d.loc.lengths) == 0 {
		return sdp, nil
	}
	delta := len(sdp) - (d.loc.end - d.loc.start)
	out := make([]byte, 0, len(d.body)+delta+8)
	prev := 0
	for _, l := range d.loc.lengths {
		out = append(out, d.body[prev:l.start]...)
		out = strconv.AppendInt(out, int64(l.partLen+delta), 10)
		prev = l.end
	}
	out = append(out, d.body[prev:d.loc.start]...)
	out = append(out, sdp...)
	out = append(out, d.body[d.loc.end:]...)
	return out, nil
}

// relayConn returns the c= value for relayed stream i: the relay address,
// or for an old-style hold the unspecified address of the relay's family.
func (d *Description) relayConn(i int, a netip.Addr) string {
	hold := d.stream(i).Hold
	switch {
	case a.Is4() && hold:
		return "IN IP4 0.0.0.0"
	case hold:
		return "IN IP6 ::"
	case a.Is4():
		return "IN IP4 " + a.String()
	}
	return "IN IP6 " + a.WithZone("").String()
}

// render writes the SDP.
func (d *Description) render(relay []netip.AddrPort, relayed []bool, want []string, sessionC string, stripICE bool, o *Origin) []byte {
	size := 96 // "t=0 0" and room for an o= line longer than the sender's
	for _, l := range d.lines {
		size += len(l) + 2
	}
	size += len(d.media) * 32
	out := make([]byte, 0, size)
	out = append(out, "v=0\r\n"...)
	oAt := len(out)
	cur := -1 // the media section being written
	for i := 2; i < len(d.lines); i++ {
		if i == d.timeAt {
			out = append(out, "t=0 0\r\n"...)
		}
		line := d.lines[i]
		switch d.kinds[i] {
		case kindSessionC:
			out = appendLine(out, "c=", sessionC)
		case kindMediaM:
			cur++
			if relayed[cur] {
				out = append(out, "m="...)
				out = append(out, d.media[cur].name...)
				out = append(out, ' ')
				out = strconv.AppendUint(out, uint64(relay[cur].Port()), 10)
				out = append(out, line[d.media[cur].portEnd:]...)
				out = append(out, "\r\n"...)
			} else {
				out = appendLine(out, line, "")
			}
		case kindMediaC:
			if relayed[cur] {
				out = appendLine(out, "c=", want[cur])
			} else {
				out = appendLine(out, line, "")
			}
		case kindRTCPAttr:
			if !relayed[cur] {
				out = appendLine(out, line, "")
				break
			}
			m := &d.media[cur]
			_, v, _ := strings.Cut(line, ":")
			port := int(relay[cur].Port())
			if !m.mux {
				port++
			}
			out = append(out, "a=rtcp:"...)
			out = strconv.AppendInt(out, int64(port), 10)
			if f := fields(v); len(f) == 4 {
				out = append(out, ' ')
				out = append(out, want[cur]...)
			}
			out = append(out, "\r\n"...)
		case kindICE:
			if !stripICE {
				out = appendLine(out, line, "")
			}
		default:
			out = appendLine(out, line, "")
		}
		if cur >= 0 && i == d.media[cur].insertC && !d.media[cur].conn.present && want[cur] != "" && want[cur] != sessionC {
			out = appendLine(out, "c=", want[cur])
		}
	}
	if d.timeAt == len(d.lines) {
		out = append(out, "t=0 0\r\n"...)
	}
	if o == nil {
		return insertAt(out, oAt, d.lines[1])
	}
	return insertAt(out, oAt, o.line(d.origin, out[oAt:]))
}

func appendLine(out []byte, a, b string) []byte {
	out = append(out, a...)
	out = append(out, b...)
	return append(out, "\r\n"...)
}

// insertAt inserts line and CRLF into out at offset at.
func insertAt(out []byte, at int, line string) []byte {
	n := len(line) + 2
	out = append(out, make([]byte, n)...)
	copy(out[at+n:], out[at:len(out)-n])
	copy(out[at:], line)
	copy(out[at+len(line):], "\r\n")
	return out
}
