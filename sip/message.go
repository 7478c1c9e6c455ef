package sip

import (
	"net"
	"strconv"
	"strings"
	"unsafe"

	sipmsg "github.com/emiago/sipgo/sip"
)

// The message types of Palio's API are sipgo's, re-exported so that programs
// built on Palio rarely need to import sipgo themselves.
type (
	// Request is a SIP request (RFC 3261 §7.1).
	Request = sipmsg.Request
	// Response is a SIP response (RFC 3261 §7.2).
	Response = sipmsg.Response
	// URI is a SIP, SIPS or other URI (RFC 3261 §19.1).
	URI = sipmsg.Uri
	// Header is one SIP header field value.
	Header = sipmsg.Header
	// Method is a SIP request method such as INVITE.
	Method = sipmsg.RequestMethod
)

// The request methods Palio routes.
const (
	INVITE    = sipmsg.INVITE
	ACK       = sipmsg.ACK
	CANCEL    = sipmsg.CANCEL
	BYE       = sipmsg.BYE
	REGISTER  = sipmsg.REGISTER
	OPTIONS   = sipmsg.OPTIONS
	SUBSCRIBE = sipmsg.SUBSCRIBE
	NOTIFY    = sipmsg.NOTIFY
	REFER     = sipmsg.REFER
	INFO      = sipmsg.INFO
	MESSAGE   = sipmsg.MESSAGE
	PRACK     = sipmsg.PRACK
	UPDATE    = sipmsg.UPDATE
	PUBLISH   = sipmsg.PUBLISH
)

// NewResponse builds a response to r with the given status (RFC 3261 §8.2.6):
// Via, From, To, Call-ID and CSeq are copied, a To tag is added to anything
// but a 100, and Record-Route is copied where §12.1.1 wants it. An empty
// reason takes the standard phrase for the code. The status line always
// says SIP/2.0, whatever version r claimed.
//
// The To tag added is the proxy's local tag for r: derived from the
// request, so that a retransmission answered again gets the same tag (as
// OpenSIPS's sl module does), and marked as ours, so that the ACK of a
// rejection whose transaction already ended is recognised and absorbed.
func NewResponse(r *Request, code int, reason string) *Response {
	if reason == "" {
		reason = ReasonPhrase(code)
	}
	res := sipmsg.NewResponse(code, reason)
	// Built here rather than by sipgo's NewResponseFromRequest, which the
	// headers and the status line follow: that one draws a random UUID for
	// a To tag we replace at once, and finds each header it copies by
	// lower-casing the name of every field of r, allocating for most of
	// them (6 % of the CPU of a REGISTER answered from memory).
	hs := r.Headers()
	// RFC 3261 §12.1.1 (and §20's Table 3): Record-Route goes into the
	// dialog-creating responses of requests other than REGISTER.
	if r.Method != REGISTER && r.Method != ACK &&
		(code >= 180 && code < 190 || code >= 200 && code < 300 || r.Method == INVITE && code > 100 && code < 200) {
		for _, h := range hs {
			if _, ok := h.(*sipmsg.RecordRouteHeader); ok {
				res.AppendHeader(sipmsg.HeaderClone(h))
			}
		}
	}
	first := true
	for _, h := range hs {
		v, ok := h.(*sipmsg.ViaHeader)
		if !ok {
			continue
		}
		v = v.Clone()
		if first {
			first = false
			// RFC 3581 §4: an empty rport is filled in, with received.
			if p, ok := v.Params.Get("rport"); ok && p == "" {
				host, port, _ := net.SplitHostPort(r.Source())
				v.Params.Add("rport", port)
				v.Params.Add("received", host)
			}
		}
		res.AppendHeader(v)
	}
	if h := r.From(); h != nil {
		res.AppendHeader(sipmsg.HeaderClone(h))
	}
	var to *sipmsg.ToHeader
	if h := r.To(); h != nil {
		to = sipmsg.HeaderClone(h).(*sipmsg.ToHeader)
		res.AppendHeader(to)
	}
	if h := r.CallID(); h != nil {
		res.AppendHeader(sipmsg.HeaderClone(h))
	}
	if h := r.CSeq(); h != nil {
		res.AppendHeader(sipmsg.HeaderClone(h))
	}
	if code == 100 {
		// RFC 3261 §8.2.6.1: a 100 echoes the request's Timestamp.
		for _, h := range hs {
			if asciiFold(h.Name(), "Timestamp") {
				res.AppendHeader(sipmsg.HeaderClone(h))
			}
		}
	} else if to != nil && toTag(r) == "" {
		// An empty tag parameter is no tag: it is replaced.
		to.Params.Add("tag", localTag(r))
	}
	res.SetBody(nil)
	res.SetTransport(r.Transport())
	res.SetDestination(r.Source())
	return res
}

// HeadersNamed returns the header fields of m called name (compared
// without case), in their order, or nil. It finds them without
// allocating, where sipgo's GetHeaders lower-cases the name of each field
// it passes, allocating for every name outside its short list.
func HeadersNamed(m interface{ Headers() []Header }, name string) []Header {
	var out []Header
	for _, h := range m.Headers() {
		if asciiFold(h.Name(), name) {
			out = append(out, h)
		}
	}
	return out
}

// FirstHeader returns the first header field of m called name (compared
// without case), or nil; as HeadersNamed, without allocating.
func FirstHeader(m interface{ Headers() []Header }, name string) Header {
	for _, h := range m.Headers() {
		if asciiFold(h.Name(), name) {
			return h
		}
	}
	return nil
}

// relayCopy returns the copy of r that one attempt to relay it works on,
// with ruri as its Request-URI: a header list of its own, so that fields
// can be added, removed and replaced on the copy alone, and its own top
// Via, which markReceived writes into; the other header fields and the
// body are r's own, shared (about a quarter of the bytes a full clone
// allocates for a BYE or an ACK). So nothing may change a header field
// of a relay copy, or of the request it was copied from, in place:
// replace the field (ReplaceHeader, RemoveHeader and AppendHeader), or
// work on a Clone, as the stages that edit the caller's From do.
func relayCopy(r *Request, ruri *URI) *Request {
	b := sipmsg.NewRequest(r.Method, *ruri)
	b.SipVersion = r.SipVersion
	top := true
	for _, h := range r.Headers() {
		if v, ok := h.(*sipmsg.ViaHeader); ok && top {
			h, top = v.Clone(), false
		}
		b.AppendHeader(h)
	}
	b.SetBody(r.Body())
	b.SetTransport(r.Transport())
	b.SetSource(r.Source())
	b.SetDestination(r.MessageData.Destination())
	b.Laddr = r.Laddr
	return b
}

// topRoute returns r's first Route entry, nil when r has none. sipgo's
// Request.Route keeps only what it parsed, and allocates a header on each
// call that finds none: most requests a proxy relays have no Route, and
// those calls were 4 % of the bytes a call allocated.
func topRoute(r *Request) *sipmsg.RouteHeader {
	if FirstHeader(r, "Route") == nil {
		return nil
	}
	return r.Route()
}

// asciiFold reports whether a and b are equal but for the case of ASCII
// letters, as header field names compare (RFC 3261 §7.3.1).
func asciiFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// localTagPrefix starts the To tags of the responses the proxy makes
// itself.
const localTagPrefix = "pl-"

// localTag returns the To tag of the proxy's own responses to r: a digest
// of what identifies r's transaction (Call-ID, From tag, CSeq, top Via
// branch), so that it is the same for r's retransmissions.
func localTag(r *Request) string {
	h := newFNV()
	h.str(callID(r))
	h.byte(0)
	h.str(fromTag(r))
	h.byte(0)
	if cs := r.CSeq(); cs != nil {
		h.uint(uint64(cs.SeqNo))
	}
	h.byte(0)
	if v := r.Via(); v != nil {
		b, _ := v.Params.Get("branch")
		h.str(b)
	}
	var b [16]byte
	return localTagPrefix + string(strconv.AppendUint(b[:0], uint64(h), 36))
}

// isLocalTag reports whether tag is one of the proxy's local tags.
func isLocalTag(tag string) bool { return strings.HasPrefix(tag, localTagPrefix) }

// NewHeader returns a header field with a name and a raw value, for the
// headers Palio has no type of its own for ("Reason", "Event").
func NewHeader(name, value string) Header { return sipmsg.NewHeader(name, value) }

// ParseURI parses a SIP URI such as "sip:5002@127.0.0.1:5090;transport=tcp".
func ParseURI(s string) (URI, error) {
	var u URI
	err := sipmsg.ParseUri(s, &u)
	return u, err
}

// ReasonPhrase returns the RFC 3261 §21 reason phrase for a status code, or
// a generic phrase for its class when the code is not a registered one.
func ReasonPhrase(code int) string {
	if p, ok := reasonPhrases[code]; ok {
		return p
	}
	switch code / 100 {
	case 1:
		return "Session Progress"
	case 2:
		return "OK"
	case 3:
		return "Redirection"
	case 4:
		return "Client Error"
	case 5:
		return "Server Error"
	case 6:
		return "Global Failure"
	}
	return "Status " + strconv.Itoa(code)
}

var reasonPhrases = map[int]string{
	100: "Trying",
	180: "Ringing",
	181: "Call Is Being Forwarded",
	182: "Queued",
	183: "Session Progress",
	200: "OK",
	202: "Accepted",
	300: "Multiple Choices",
	301: "Moved Permanently",
	302: "Moved Temporarily",
	305: "Use Proxy",
	380: "Alternative Service",
	400: "Bad Request",
	401: "Unauthorized",
	402: "Payment Required",
	403: "Forbidden",
	404: "Not Found",
	405: "Method Not Allowed",
	406: "Not Acceptable",
	407: "Proxy Authentication Required",
	408: "Request Timeout",
	410: "Gone",
	413: "Request Entity Too Large",
	414: "Request-URI Too Long",
	415: "Unsupported Media Type",
	416: "Unsupported URI Scheme",
	420: "Bad Extension",
	421: "Extension Required",
	423: "Interval Too Brief",
	480: "Temporarily Unavailable",
	481: "Call/Transaction Does Not Exist",
	482: "Loop Detected",
	483: "Too Many Hops",
	484: "Address Incomplete",
	485: "Ambiguous",
	486: "Busy Here",
	487: "Request Terminated",
	488: "Not Acceptable Here",
	491: "Request Pending",
	493: "Undecipherable",
	500: "Server Internal Error",
	501: "Not Implemented",
	502: "Bad Gateway",
	503: "Service Unavailable",
	504: "Server Time-out",
	505: "Version Not Supported",
	513: "Message Too Large",
	600: "Busy Everywhere",
	603: "Decline",
	604: "Does Not Exist Anywhere",
	606: "Not Acceptable",
}

// headerValue returns the value of the first header called name, or "".
func headerValue(m interface{ Headers() []Header }, name string) string {
	if h := FirstHeader(m, name); h != nil {
		return h.Value()
	}
	return ""
}

// tagOf returns the tag parameter of a From or To header value.
func fromTag(m interface{ From() *sipmsg.FromHeader }) string {
	if f := m.From(); f != nil {
		t, _ := f.Params.Get("tag")
		return t
	}
	return ""
}

func toTag(m interface{ To() *sipmsg.ToHeader }) string {
	if t := m.To(); t != nil {
		v, _ := t.Params.Get("tag")
		return v
	}
	return ""
}

func callID(m interface{ CallID() *sipmsg.CallIDHeader }) string {
	if c := m.CallID(); c != nil {
		return string(*c)
	}
	return ""
}

// uriString formats u as URI.String does, with one allocation: the
// dialog table formats a few URIs per call.
func uriString(u *URI) string {
	n := len(u.Scheme) + len(u.User) + len(u.Password) + len(u.Host) + 16
	for _, kv := range u.UriParams {
		n += len(kv.K) + len(kv.V) + 2
	}
	for _, kv := range u.Headers {
		n += len(kv.K) + len(kv.V) + 2
	}
	b := make([]byte, 0, n)
	b = appendURI(b, u)
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func appendURI(b []byte, u *URI) []byte {
	if u.Raw() != "" || u.Wildcard || u.HierarhicalSlashes || strings.ContainsAny(u.Host, ":") {
		return append(b, u.String()...)
	}
	scheme := u.Scheme
	if scheme == "" {
		scheme = "sip"
	}
	b = append(b, scheme...)
	b = append(b, ':')
	if u.User != "" {
		b = append(b, u.User...)
		if u.Password != "" {
			b = append(b, ':')
			b = append(b, u.Password...)
		}
		b = append(b, '@')
	}
	b = append(b, u.Host...)
	if u.Port > 0 {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(u.Port), 10)
	}
	for _, kv := range u.UriParams {
		b = append(b, ';')
		b = appendParam(b, kv.K, kv.V)
	}
	for i, kv := range u.Headers {
		if i == 0 {
			b = append(b, '?')
		} else {
			b = append(b, '&')
		}
		b = appendParam(b, kv.K, kv.V)
	}
	return b
}

// appendParam writes k=v, quoting a value with whitespace as sipgo does.
func appendParam(b []byte, k, v string) []byte {
	b = append(b, k...)
	if v == "" {
		return b
	}
	if strings.ContainsAny(v, " \t") {
		b = append(b, '=', '"')
		b = append(b, v...)
		return append(b, '"')
	}
	b = append(b, '=')
	return append(b, v...)
}
