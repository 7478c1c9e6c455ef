package sip

import (
	"bytes"
	"net"
	"sync/atomic"
	"time"
)

// A request that the parser refuses (a CSeq whose number is not one, a
// Call-ID with no value, a header line without a colon) gets 400 Bad
// Request when the datagram still names what routes and matches an
// answer: RFC 3261 §8.2 and §16.3 have a server answer a malformed
// request 400 rather than leave its sender retransmitting for 32 s, and
// Kamailio's sanity module and OpenSIPS's do the same. The parser has
// thrown the message away, so the answer is built from the raw bytes:
// the request's Via, From, To, Call-ID and CSeq lines as they came, a To
// tag of ours, no body. Only UDP is answered (a stream that cannot be
// parsed has lost its framing and is closed); an ACK never is; and the
// answers are bounded in number and size, since a spoofed source would
// otherwise turn the proxy into a reflector.

// malformedReplyMax bounds the size of a 400 built from a malformed
// request: no larger than the request, and never more than this.
const malformedReplyMax = 4096

// malformedRate is how many malformed requests are answered a second in
// all; beyond it they are counted and dropped, as before.
const malformedRate = 100

// malformedReply builds the 400 for the unparsable request data, with
// toTag as the To tag when the request's To has none. It returns nil when
// data is not a request (a response, a keep-alive, anything without a SIP
// request line), is an ACK, lacks one of the headers an answer needs,
// holds control characters in them, or would answer with more than
// malformedReplyMax bytes.
func malformedReply(data []byte, toTag string) []byte {
	head := data
	if i := bytes.Index(head, []byte("\n\r\n")); i >= 0 {
		head = head[:i+1]
	} else if i := bytes.Index(head, []byte("\n\n")); i >= 0 {
		head = head[:i+1]
	}
	lines := unfoldLines(head)
	if len(lines) < 2 || !requestLine(lines[0]) {
		return nil
	}
	var vias [][]byte
	var from, to, callID, cseq []byte
	for _, l := range lines[1:] {
		colon := bytes.IndexByte(l, ':')
		if colon <= 0 {
			continue // the parser's complaint, perhaps: nothing to copy
		}
		name := string(bytes.ToLower(bytes.TrimSpace(l[:colon])))
		var slot *[]byte
		switch name {
		case "via", "v":
			if !printable(l) {
				return nil
			}
			v := bytes.TrimSpace(l[colon+1:])
			if len(v) == 0 {
				return nil
			}
			vias = append(vias, v)
			continue
		case "from", "f":
			slot = &from
		case "to", "t":
			slot = &to
		case "call-id", "i":
			slot = &callID
		case "cseq":
			slot = &cseq
		default:
			continue
		}
		if *slot == nil { // the first of each, as a parser would
			if !printable(l) {
				return nil
			}
			*slot = bytes.TrimSpace(l[colon+1:])
		}
	}
	if len(vias) == 0 || len(from) == 0 || len(to) == 0 || len(callID) == 0 || len(cseq) == 0 {
		return nil
	}
	b := make([]byte, 0, 256)
	b = append(b, "SIP/2.0 400 Bad Request\r\n"...)
	for _, v := range vias {
		b = append(b, "Via: "...)
		b = append(b, v...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "From: "...)
	b = append(b, from...)
	b = append(b, "\r\nTo: "...)
	b = append(b, to...)
	if !hasTag(to) {
		b = append(b, ";tag="...)
		b = append(b, toTag...)
	}
	b = append(b, "\r\nCall-ID: "...)
	b = append(b, callID...)
	b = append(b, "\r\nCSeq: "...)
	b = append(b, cseq...)
	b = append(b, "\r\nContent-Length: 0\r\n\r\n"...)
	if len(b) > malformedReplyMax || len(b) > len(data)+64 {
		return nil
	}
	return b
}

// unfoldLines splits a header section into lines without their line
// ends, a continuation line (one that starts with a space or a tab)
// joined to the line before it.
func unfoldLines(head []byte) [][]byte {
	var out [][]byte
	for len(head) > 0 {
		var l []byte
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			l, head = head[:i], head[i+1:]
		} else {
			l, head = head, nil
		}
		l = bytes.TrimSuffix(l, []byte("\r"))
		if len(l) == 0 {
			break
		}
		if (l[0] == ' ' || l[0] == '\t') && len(out) > 0 {
			prev := out[len(out)-1]
			joined := make([]byte, 0, len(prev)+1+len(l))
			joined = append(append(append(joined, prev...), ' '), bytes.TrimLeft(l, " \t")...)
			out[len(out)-1] = joined
			continue
		}
		out = append(out, l)
	}
	return out
}

// requestLine reports whether l is "METHOD SP Request-URI SP SIP/2.0"
// with a method other than ACK (RFC 3261 §17.2.1: an ACK is never
// answered).
func requestLine(l []byte) bool {
	parts := bytes.Split(l, []byte(" "))
	if len(parts) != 3 || len(parts[1]) == 0 || !bytes.EqualFold(parts[2], []byte("SIP/2.0")) {
		return false
	}
	if len(parts[0]) == 0 || bytes.EqualFold(parts[0], []byte("ACK")) {
		return false
	}
	for _, c := range parts[0] {
		if !isTokenChar(c) {
			return false
		}
	}
	return printable(parts[1])
}

// isTokenChar reports whether c may appear in a SIP token (RFC 3261 §25.1).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return bytes.IndexByte([]byte("-.!%*_+`'~"), c) >= 0
}

// printable reports whether l holds no control character but the tab.
func printable(l []byte) bool {
	for _, c := range l {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// hasTag reports whether a To header's value carries a tag parameter:
// after the name-addr's closing '>' when there is one (a URI's own
// parameters are inside it), else anywhere after the address.
func hasTag(to []byte) bool {
	params := to
	if i := bytes.LastIndexByte(to, '>'); i >= 0 {
		params = to[i+1:]
	}
	for _, p := range bytes.Split(params, []byte(";"))[1:] {
		name, _, _ := bytes.Cut(p, []byte("="))
		if bytes.EqualFold(bytes.TrimSpace(name), []byte("tag")) {
			return true
		}
	}
	return false
}

// malformedBudget lets malformedRate answers a second through, over all
// sources (spoofed UDP sources are free, so a per-source bound would not
// bound the reflection).
type malformedBudget struct {
	second atomic.Int64 // the unix second the count is for
	count  atomic.Int64
}

func (b *malformedBudget) allow(now time.Time) bool {
	s := now.Unix()
	if cur := b.second.Load(); cur != s && b.second.CompareAndSwap(cur, s) {
		b.count.Store(0)
	}
	return b.count.Add(1) <= malformedRate
}

// answerMalformed sends the 400 for the unparsable request data that came
// from src to the UDP listener at local (see malformedReply), within the
// budget. It reports whether it sent one.
func (s *Server) answerMalformed(data []byte, src, local net.Addr) bool {
	ap := addrPortOf(src)
	if !ap.IsValid() || local == nil {
		return false
	}
	reply := malformedReply(data, newTag())
	if reply == nil || !s.malformed.allow(time.Now()) {
		return false
	}
	pc := s.packetConnFor(local)
	if pc == nil {
		return false
	}
	if writeDatagram(pc, reply, ap) != nil {
		return false
	}
	s.metrics.response(400)
	s.metrics.malformedAnswered.Inc()
	return true
}
