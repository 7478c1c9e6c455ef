package sip

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// ResponseRank orders final responses as RFC 3261 §16.7 step 6 wants the
// best one chosen when no branch answered: a 6xx first, then the lowest
// class, within 4xx the answers a caller can act on (401, 407, 415, 420,
// 484) first and 430 (Flow Failed) last (it says only that one flow to
// the callee is gone, RFC 5626 §7, not what the callee answered), and 503
// after every other 5xx (it says only that the hop that sent it cannot
// serve). Lower is better. The Forwarder picks among
// its parallel branches with it, and a stage that tries destinations in
// turn (routing, ENUM) picks what to answer when all failed.
func ResponseRank(code int) int {
	switch {
	case code >= 600:
		return 0
	case code >= 300 && code < 400:
		return 10
	case code >= 400 && code < 500:
		switch code {
		case 401, 407, 415, 420, 484:
			return 20
		case 430:
			return 22
		}
		return 21
	case code == 503:
		return 31
	default:
		return 30
	}
}

// Better reports whether the outcome a should be answered rather than b
// (ResponseRank; the first of equals wins). A nil b is always worse.
func Better(a, b *StatusError) bool {
	if b == nil {
		return a != nil
	}
	return a != nil && ResponseRank(a.Code) < ResponseRank(b.Code)
}

// StatusSet is a set of SIP status codes, 100 to 699.
type StatusSet struct{ bits [10]uint64 }

// NewStatusSet returns the set of codes; a code outside 100..699 is an
// error.
func NewStatusSet(codes ...int) (StatusSet, error) {
	var s StatusSet
	for _, c := range codes {
		if c < 100 || c > 699 {
			return s, fmt.Errorf("sip: status %d: want 100..699", c)
		}
		c -= 100
		s.bits[c/64] |= 1 << (c % 64)
	}
	return s, nil
}

// Has reports whether code is in the set.
func (s StatusSet) Has(code int) bool {
	code -= 100
	return code >= 0 && code < 600 && s.bits[code/64]&(1<<(code%64)) != 0
}

// Codes returns the codes of the set, in order.
func (s StatusSet) Codes() []int {
	var out []int
	for c := 100; c < 700; c++ {
		if s.Has(c) {
			out = append(out, c)
		}
	}
	return out
}

// FailsOver reports whether the outcome err of one destination lets the
// next be tried: a status in the set. A non-status error counts as 500;
// nil (answered) never fails over.
func (s StatusSet) FailsOver(err error) bool {
	return err != nil && s.Has(StatusOf(err))
}

// DefaultFailover is the failover rule of the stages that try destinations
// in turn (routing, ENUM) unless configured otherwise: a timeout (408, a
// silent gateway) and the server failures that say "try elsewhere" (500,
// 502, 503 — also a transport error — and 504). A 4xx, 6xx or another 5xx
// (501 Not Implemented, 505, 580) is an answer.
var DefaultFailover = func() StatusSet {
	s, _ := NewStatusSet(408, 500, 502, 503, 504)
	return s
}()

// URITransport is the transport a URI asks for, upper case: its transport
// parameter, UDP when it has none; a sips URI asks for TLS instead of UDP
// or TCP, and WSS instead of WS (RFC 3261 §19.1.2, RFC 7118).
func URITransport(u *URI) string {
	tp := "UDP"
	if v, ok := u.UriParams.Get("transport"); ok && v != "" {
		tp = strings.ToUpper(v)
	}
	if strings.EqualFold(u.Scheme, "sips") {
		switch tp {
		case "UDP", "TCP":
			tp = "TLS"
		case "WS":
			tp = "WSS"
		}
	}
	return tp
}

// URIAddr is the "host:port" a URI points at over transport (its own when
// transport is empty), with the transport's default port when it has
// none; the host's brackets of an IPv6 literal are put back as
// net.JoinHostPort wants.
func URIAddr(u *URI, transport string) string {
	port := u.Port
	if port == 0 {
		if transport == "" {
			transport = URITransport(u)
		}
		port = sipmsg.DefaultPort(strings.ToUpper(transport))
	}
	return net.JoinHostPort(strings.Trim(u.Host, "[]"), strconv.Itoa(port))
}
