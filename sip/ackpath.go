package sip

import (
	"bytes"
	"sync"

	sipmsg "github.com/emiago/sipgo/sip"
)

// An ACK that acknowledges a 2xx is a request of its own (RFC 3261 §13.2.2.4,
// with a branch of its own) that a proxy forwards without a transaction
// (§16.10 has no ACK server transaction for it). sipgo gives it one anyway,
// on a goroutine of its own, and ends it as soon as the handler returns.
// The read filter takes such ACKs out of sipgo's path and hands them to
// the stateless workers instead; only an ACK whose branch is that of an
// INVITE server transaction still alive (the ACK of a non-2xx final
// response, which that transaction absorbs, §17.2.1) goes on to sipgo.
// Measured with bench/ab.sh (see the commit that added this file).

// branchSet counts the top-Via branches of the INVITE server transactions
// alive on UDP.
type branchSet struct {
	mu sync.Mutex
	m  map[string]int
}

func (b *branchSet) add(branch string) {
	b.mu.Lock()
	if b.m == nil {
		b.m = make(map[string]int)
	}
	b.m[branch]++
	b.mu.Unlock()
}

func (b *branchSet) remove(branch string) {
	b.mu.Lock()
	if n := b.m[branch]; n > 1 {
		b.m[branch] = n - 1
	} else {
		delete(b.m, branch)
	}
	b.mu.Unlock()
}

// has reports whether branch (the bytes of a datagram) is in the set.
func (b *branchSet) has(branch []byte) bool {
	b.mu.Lock()
	_, ok := b.m[string(branch)] // no allocation: the compiler looks up in place
	b.mu.Unlock()
	return ok
}

func (b *branchSet) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

// trackInvite records the branch of an INVITE that came over UDP until
// its server transaction ends, so that the read filter passes the ACK of
// a non-2xx response to that transaction.
func (s *Server) trackInvite(req *Request, tx sipmsg.ServerTransaction) {
	v := req.Via()
	if v == nil || !req.IsInvite() || req.Transport() != "UDP" {
		return
	}
	branch, _ := v.Params.Get("branch")
	s.invites.add(branch)
	if !tx.OnTerminate(func(string, error) { s.invites.remove(branch) }) {
		s.invites.remove(branch) // it ended already
	}
}

// filterAck decides where an ACK datagram goes: to a stateless worker
// when it can belong to no INVITE server transaction, to sipgo (data
// returned) otherwise, or whenever in doubt: a top Via the scan below
// cannot read, every worker busy.
func (s *Server) filterAck(props sipmsg.TransportReadProps, data []byte) []byte {
	if s.statelessQ == nil {
		return data
	}
	branch, ok := topViaBranch(data)
	if !ok || s.invites.has(branch) {
		return data
	}
	buf := make([]byte, len(data))
	copy(buf, data)
	s.inflight.Add(1)
	select {
	case s.statelessQ <- statelessJob{buf, props.RemoteAddr, props.LocalAddr}:
		return nil
	default:
		s.inflight.Add(-1)
		return data
	}
}

// serveAck handles an ACK that no transaction absorbed: one for a 2xx,
// or for a rejection of ours whose transaction already ended (see
// rejectAtEdge). It is never answered.
func (s *Server) serveAck(req *Request) {
	if isLocalTag(toTag(req)) {
		if e, _ := s.dialogs.match(req); e == nil {
			s.metrics.absorbed.Inc()
			return
		}
	}
	if validate(req) == nil && supportedVersion(req) {
		_ = s.serve(s.baseCtx, discardWriter{}, req)
		s.logRequest(req, 0)
	}
}

// isACK reports whether a datagram starts with an ACK request line.
func isACK(data []byte) bool {
	return len(data) > 4 && string(data[:4]) == "ACK "
}

// topViaBranch returns the branch parameter of the first Via of a SIP
// message without parsing the rest of it. It reports false for anything it
// does not read exactly as sipgo's parser would: a folded Via line, a
// quoted string, no Via, no branch. The branch aliases data.
func topViaBranch(data []byte) ([]byte, bool) {
	// Lines end with CRLF, as sipgo's parser reads them; a lone CR or LF
	// in a line leaves the message to it.
	i := bytes.Index(data, []byte("\r\n"))
	if i < 0 {
		return nil, false
	}
	rest := data[i+2:]
	for len(rest) > 0 {
		j := bytes.Index(rest, []byte("\r\n"))
		if j < 0 {
			return nil, false
		}
		line := rest[:j]
		rest = rest[j+2:]
		if bytes.ContainsAny(line, "\r\n") {
			return nil, false
		}
		if len(line) == 0 {
			return nil, false // end of the headers: no Via
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, false // a folded line: leave it to the parser
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			return nil, false
		}
		name := line[:colon]
		if !isViaName(name) {
			if isViaName(bytes.TrimRight(name, " \t")) {
				return nil, false // "Via :": leave it to the parser
			}
			continue
		}
		if len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
			return nil, false // the Via goes on on a folded line
		}
		return viaBranch(line[colon+1:])
	}
	return nil, false
}

func isViaName(name []byte) bool {
	return bytes.EqualFold(name, []byte("via")) || bytes.EqualFold(name, []byte("v"))
}

// viaBranch returns the branch of the first via-parm of a Via header
// value: the value of its one parameter written exactly "branch=", in a
// via-parm with no white space in its parameters.
func viaBranch(v []byte) ([]byte, bool) {
	if bytes.ContainsAny(v, "\"()") {
		return nil, false
	}
	if k := bytes.IndexByte(v, ','); k >= 0 {
		v = v[:k]
	}
	i := bytes.IndexByte(v, ';')
	if i < 0 || !plainViaParm(v[:i]) {
		return nil, false
	}
	params := bytes.TrimRight(v[i+1:], " \t")
	if bytes.ContainsAny(params, " \t") {
		return nil, false
	}
	var branch []byte
	for len(params) > 0 {
		p := params
		if j := bytes.IndexByte(params, ';'); j >= 0 {
			p, params = params[:j], params[j+1:]
		} else {
			params = nil
		}
		if !plainParam(p) {
			return nil, false
		}
		value, ok := bytes.CutPrefix(p, []byte("branch="))
		if !ok {
			if len(p) >= 6 && bytes.EqualFold(p[:6], []byte("branch")) {
				return nil, false // BRANCH=, branch alone: not ours to read
			}
			continue
		}
		if branch != nil || len(value) == 0 {
			return nil, false // two branches, or an empty one
		}
		branch = value
	}
	return branch, branch != nil
}

// plainViaParm reports whether the part of a via-parm before its
// parameters is written the plain way: "SIP/2.0/" and a transport of
// letters, white space, and a sent-by of host characters and a port. A
// Via written otherwise may be one sipgo's parser rejects, taking the next
// Via for the top one.
func plainViaParm(v []byte) bool {
	v = bytes.Trim(v, " \t")
	if len(v) < 8 || !bytes.EqualFold(v[:8], []byte("SIP/2.0/")) {
		return false
	}
	v = v[8:]
	n := 0
	for n < len(v) && ('a' <= v[n]|0x20 && v[n]|0x20 <= 'z') {
		n++
	}
	if n == 0 || n == len(v) || (v[n] != ' ' && v[n] != '\t') {
		return false
	}
	return plainSentBy(bytes.TrimLeft(v[n:], " \t"))
}

// plainSentBy reports whether a sent-by is a host name, an IPv4 address
// or a bracketed IPv6 address, and then perhaps ":" and a port of one to
// five digits.
func plainSentBy(v []byte) bool {
	host, port := v, []byte(nil)
	if len(v) > 0 && v[0] == '[' {
		end := bytes.IndexByte(v, ']')
		if end < 2 {
			return false
		}
		for _, c := range v[1:end] {
			if !(c == ':' || c == '.' || '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f') {
				return false
			}
		}
		host, port = nil, v[end+1:]
	} else if i := bytes.IndexByte(v, ':'); i >= 0 {
		host, port = v[:i], v[i:]
	}
	if host != nil {
		if len(host) == 0 {
			return false
		}
		for _, c := range host {
			if !('a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
				return false
			}
		}
	}
	if len(port) == 0 {
		return true
	}
	if port[0] != ':' || len(port) < 2 || len(port) > 6 {
		return false
	}
	for _, c := range port[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// plainParam reports whether a Via parameter is a token, perhaps followed
// by "=" and a token (or an address: ':', '[' and ']' are allowed there).
func plainParam(p []byte) bool {
	name, value, hasValue := bytes.Cut(p, []byte{'='})
	if len(name) == 0 || !allToken(name, "") {
		return false
	}
	return !hasValue || (len(value) > 0 && allToken(value, ":[]"))
}

// allToken reports whether b holds only RFC 3261 token characters and
// those of extra.
func allToken(b []byte, extra string) bool {
	for _, c := range b {
		switch {
		case 'a' <= c|0x20 && c|0x20 <= 'z', '0' <= c && c <= '9':
		case bytes.IndexByte([]byte("-.!%*_+`'~"), c) >= 0:
		case bytes.IndexByte([]byte(extra), c) >= 0:
		default:
			return false
		}
	}
	return true
}
