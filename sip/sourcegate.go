package sip

import (
	"net/netip"

	sipmsg "github.com/emiago/sipgo/sip"
)

// SourceGate decides, before anything is parsed, whether the server hears a
// source at all: flood detection (OpenSIPS's pike) and address bans sit
// here, where a refused packet costs a map look-up instead of a parse, a
// transaction and a goroutine.
//
// The server asks it
//
//   - for every UDP datagram, on the socket's read loop, before sipgo
//     parses it (requests, responses and keepalives alike, as pike's
//     automatic mode monitors every packet);
//   - for every TCP, TLS and WebSocket connection as it is accepted;
//   - for every message a stream connection begins (the stream's framing
//     is followed without parsing; a message is counted when its first
//     byte arrives).
//
// Admit must be quick, must not block and must not allocate in the common
// case: it runs once per packet on the read loop. Connections the proxy
// dials itself (to a gateway) are not gated.
type SourceGate interface {
	Admit(src netip.AddrPort, network string) Verdict
}

// Verdict is a SourceGate's answer.
type Verdict uint8

// The verdicts.
const (
	// Pass: the packet goes on to the parser.
	Pass Verdict = iota
	// Drop: the packet is discarded, unanswered; a stream connection is
	// closed (refused at accept).
	Drop
	// Refuse: a UDP request is answered 503 Service Unavailable, once and
	// without a transaction (ACKs and responses are dropped); a stream
	// connection is closed as for Drop. Answering costs a parse per
	// refused request, which Drop does not.
	Refuse
)

// String returns "pass", "drop" or "refuse".
func (v Verdict) String() string {
	switch v {
	case Pass:
		return "pass"
	case Drop:
		return "drop"
	case Refuse:
		return "refuse"
	}
	return "unknown"
}

// WithSourceGate installs g in front of the parser (see SourceGate).
// Without it every source is heard.
func WithSourceGate(g SourceGate) Option { return func(s *Server) { s.gate = g } }

// gateDatagram applies the gate to a UDP datagram and reports whether it
// goes on to the parser.
func (s *Server) gateDatagram(props sipmsg.TransportReadProps, data []byte) bool {
	src := addrPortOf(props.RemoteAddr)
	switch s.gate.Admit(src, "udp") {
	case Pass:
		return true
	case Refuse:
		s.refuseDatagram(props, data)
	}
	return false
}

// refuseDatagram answers a refused UDP request 503 from the socket it came
// to, statelessly; anything else (a response, an ACK, garbage) goes
// unanswered.
func (s *Server) refuseDatagram(props sipmsg.TransportReadProps, data []byte) {
	if len(data) < 8 || string(data[:8]) == "SIP/2.0 " || string(data[:4]) == "ACK " {
		return
	}
	m, err := sipmsg.ParseMessage(data)
	if err != nil {
		return
	}
	req, ok := m.(*sipmsg.Request)
	if !ok || req.IsAck() || req.Via() == nil || req.From() == nil || req.To() == nil || req.CallID() == nil || req.CSeq() == nil {
		return
	}
	req.SetSource(props.RemoteAddr.String())
	pc := s.packetConnFor(props.LocalAddr)
	if pc == nil {
		return
	}
	res := NewResponse(req, 503, "Service Unavailable")
	s.metrics.response(503)
	_ = writeUDP(pc, responseAddr(req), res)
}
