package sip

import (
	"strings"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

func TestURIString(t *testing.T) {
	for _, s := range []string{
		"sip:5002@127.0.0.1:5090",
		"sip:127.0.0.1:5060;transport=tcp;lr",
		"sips:alice:secret@voip.unisi.it;user=phone?subject=x&priority=urgent",
		"sip:FAX_5500@voip.unisi.it",
		"sip:[2001:db8::1]:5060",
		"tel:+390577232111",
		"sip:host",
	} {
		u, err := ParseURI(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if got, want := uriString(&u), u.String(); got != want {
			t.Errorf("uriString(%s): got %q, want %q", s, got, want)
		}
	}
}

// FuzzURIString: the one-allocation formatter agrees with sipgo's.
func FuzzURIString(f *testing.F) {
	f.Add("sip:5002@127.0.0.1:5090;transport=udp")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			return
		}
		if got, want := uriString(&u), u.String(); got != want {
			t.Fatalf("uriString(%q): got %q, want %q", s, got, want)
		}
	})
}

func TestStableBranch(t *testing.T) {
	bye := func(branch string, cseq uint32) *Request {
		r := parseRequest(t, inviteMsg)
		r.Method = BYE
		r.CSeq().MethodName = BYE
		r.CSeq().SeqNo = cseq
		r.Via().Params.Add("branch", branch)
		return r
	}
	next, _ := ParseURI("sip:5002@127.0.0.1:5090")
	other, _ := ParseURI("sip:5002@127.0.0.1:5091")
	base := stableBranch(bye("z9hG4bKa", 2), &next, "")
	if !strings.HasPrefix(base, branchPrefix) {
		t.Errorf("%q lacks our prefix %q", base, branchPrefix)
	}
	tests := []struct {
		name string
		got  string
		same bool
	}{
		{"the same request again", stableBranch(bye("z9hG4bKa", 2), &next, ""), true},
		{"another branch", stableBranch(bye("z9hG4bKb", 2), &next, ""), false},
		{"another CSeq", stableBranch(bye("z9hG4bKa", 3), &next, ""), false},
		{"another next hop", stableBranch(bye("z9hG4bKa", 2), &other, ""), false},
	}
	for _, tt := range tests {
		if (tt.got == base) != tt.same {
			t.Errorf("%s: %q vs %q, want same=%v", tt.name, tt.got, base, tt.same)
		}
	}
}

// TestNewResponseAsSipgo checks NewResponse against sipgo's
// NewResponseFromRequest, which it replaced on the hot path: the same
// status line and headers in the same order, the To tag aside (ours is
// the local tag, sipgo's a random UUID), for requests and codes that take
// each of its branches (Record-Route copied or not, rport filled in, the
// Timestamp of a 100, a To tag present already).
func TestNewResponseAsSipgo(t *testing.T) {
	const (
		rr   = "Record-Route: <sip:10.0.0.1;lr>\r\nRecord-Route: <sip:10.0.0.2;lr>\r\n"
		vias = "Via: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK-a;rport\r\nv: SIP/2.0/TCP 10.0.0.8;branch=z9hG4bK-b\r\n"
	)
	req := func(method, extra, toTag string) string {
		return method + " sip:5002@127.0.0.1 SIP/2.0\r\n" + vias + rr + extra +
			"From: \"Ann\" <sip:5001@127.0.0.1>;tag=f1\r\nTo: <sip:5002@127.0.0.1>" + toTag + "\r\n" +
			"Call-ID: c1@x\r\nCSeq: 7 " + method + "\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	}
	cases := []struct {
		name, raw string
		code      int
	}{
		{"100 echoes Timestamp", req("INVITE", "Timestamp: 54.2\r\n", ""), 100},
		{"180 of INVITE copies Record-Route", req("INVITE", "", ""), 180},
		{"183 of INVITE copies Record-Route", req("INVITE", "", ""), 183},
		{"200 of INVITE", req("INVITE", "", ""), 200},
		{"486 of INVITE drops Record-Route", req("INVITE", "", ""), 486},
		{"200 of REGISTER drops Record-Route", req("REGISTER", "", ""), 200},
		{"401 of REGISTER", req("REGISTER", "", ""), 401},
		{"200 of in-dialog BYE keeps the To tag", req("BYE", "", ";tag=t9"), 200},
		{"an empty To tag is replaced", req("INVITE", "", ";tag"), 486},
		{"202 of SUBSCRIBE", req("SUBSCRIBE", "", ""), 202},
		{"180 of OPTIONS copies Record-Route", req("OPTIONS", "", ""), 180},
		{"199 of OPTIONS drops Record-Route", req("OPTIONS", "", ""), 199},
		{"404 without Timestamp echo", req("MESSAGE", "Timestamp: 1\r\n", ""), 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := parseRequest(t, c.raw)
			got := NewResponse(r, c.code, "")
			want := sipmsg.NewResponseFromRequest(r, c.code, ReasonPhrase(c.code), nil)
			if tag := toTag(r); tag == "" && c.code != 100 {
				want.To().Params.Add("tag", localTag(r))
			}
			if got.String() != want.String() {
				t.Errorf("NewResponse:\n%s\nsipgo:\n%s", got, want)
			}
			if got.Destination() != r.Source() || got.Transport() != r.Transport() {
				t.Errorf("destination %q transport %q, want %q %q", got.Destination(), got.Transport(), r.Source(), r.Transport())
			}
			if c.code != 100 && !isLocalTag(toTag(got)) && toTag(r) == "" {
				t.Errorf("To tag %q is not a local tag", toTag(got))
			}
		})
	}
	// The request is left as it was: the response has copies.
	r := parseRequest(t, req("INVITE", "", ""))
	before := r.String()
	res := NewResponse(r, 180, "")
	res.Via().Params.Add("branch", "changed")
	res.To().Params.Add("tag", "changed")
	if r.String() != before {
		t.Errorf("request changed:\n%s\nwas:\n%s", r, before)
	}
}

func TestHeadersNamed(t *testing.T) {
	r := parseRequest(t, "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK-1\r\n"+
		"From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n"+
		"X-Thing: one\r\nx-thing: two\r\nX-THING: three\r\nX-Thin: no\r\nContent-Length: 0\r\n\r\n")
	var vals []string
	for _, h := range HeadersNamed(r, "x-Thing") {
		vals = append(vals, h.Value())
	}
	if strings.Join(vals, ",") != "one,two,three" {
		t.Errorf("HeadersNamed = %v", vals)
	}
	if h := FirstHeader(r, "X-THING"); h == nil || h.Value() != "one" {
		t.Errorf("FirstHeader = %v", h)
	}
	if FirstHeader(r, "X-Missing") != nil || HeadersNamed(r, "X-Missing") != nil {
		t.Error("a missing header was found")
	}
	for _, c := range []struct {
		a, b string
		eq   bool
	}{{"Call-ID", "call-id", true}, {"CSEQ", "cseq", true}, {"Via", "Vib", false}, {"to", "To ", false}, {"[", "{", false}, {"@", "`", false}} {
		if got := asciiFold(c.a, c.b); got != c.eq {
			t.Errorf("asciiFold(%q, %q) = %v", c.a, c.b, got)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = FirstHeader(r, "x-thing") }); n != 0 {
		t.Errorf("FirstHeader allocates %v times", n)
	}
}

// FuzzNewResponse checks NewResponse against sipgo's builder on any
// request sipgo parses: no panic, and the same response but for the To
// tag and the version (always SIP/2.0), for a provisional, a success and a
// failure.
func FuzzNewResponse(f *testing.F) {
	f.Add([]byte(inviteMsg))
	f.Add([]byte("REGISTER sip:b SIP/2.0\r\nv: SIP/2.0/UDP h;rport;branch=z9hG4bK-1\r\nRecord-Route: <sip:p;lr>\r\n" +
		"f: <sip:a@b>;tag=1\r\nt: <sip:a@b>\r\ni: c\r\nCSeq: 1 REGISTER\r\nTimestamp: 2\r\nl: 0\r\n\r\n"))
	f.Add([]byte("BYE sip:b SIP/2.0\r\nVia: SIP/2.0/TCP [::1]:5;branch=z9hG4bK-2\r\nFrom: <sip:a@b>;tag=1\r\n" +
		"To: <sip:b@c>;tag=2\r\nCall-ID: d\r\nCSeq: 9 BYE\r\nContent-Length: 0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := requestFrom(data)
		if err != nil {
			return
		}
		for _, code := range []int{100, 183, 200, 486} {
			got := NewResponse(r, code, "")
			want := sipmsg.NewResponseFromRequest(r, code, ReasonPhrase(code), nil)
			want.SipVersion = "SIP/2.0" // ours always says 2.0, as it did before
			if to := want.To(); to != nil && toTag(r) == "" && code != 100 {
				to.Params.Add("tag", localTag(r))
			}
			if got.String() != want.String() {
				t.Fatalf("%d to %q:\nNewResponse:\n%s\nsipgo:\n%s", code, data, got, want)
			}
		}
	})
}

// TestRelayCopy: the edits a relay makes to its copy (Request-URI, received
// and rport in the caller's Via, Max-Forwards, the caller's Vias hidden,
// our Via, a Route popped, a new body, a field added) leave the request it
// was copied from as it was, on the wire and in its parsed fields.
func TestRelayCopy(t *testing.T) {
	raw := "INVITE sip:5002@voip.unisi.it SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK-caller-1;rport\r\n" +
		"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-before\r\n" +
		"Route: <sip:127.0.0.1:5060;lr>\r\n" +
		"Route: <sip:gw.example;lr>\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: \"Alice\" <sip:5001@voip.unisi.it>;tag=caller\r\n" +
		"To: <sip:5002@voip.unisi.it>\r\n" +
		"Call-ID: relay-copy-1\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Contact: <sip:5001@10.0.0.9:5070>\r\n" +
		"Content-Type: application/sdp\r\n" +
		"Content-Length: 4\r\n\r\n" +
		"v=0\n"
	r := parseRequest(t, raw)
	r.SetSource("192.0.2.7:40000")
	before := r.String()
	target, _ := ParseURI("sip:5002@10.0.0.2:5090;transport=udp")

	b := relayCopy(r, &target)
	target.UriParams.Add("transport", "tcp")
	if got := b.Recipient.String(); got != "sip:5002@10.0.0.2:5090;transport=udp" {
		t.Errorf("copy's Request-URI %s: changed with the target's", got)
	}
	if rt := topRoute(b); rt == nil || rt.Address.Host != "127.0.0.1" {
		t.Fatalf("copy's top Route %v", rt)
	}
	b.RemoveHeader("Route")
	if rt := topRoute(b); rt == nil || rt.Address.Host != "gw.example" {
		t.Errorf("after popping one Route: %v, want gw.example", rt)
	}
	markReceived(b, r)
	decMaxForwards(b, r)
	hideCallerVias(b)
	b.PrependHeader(&sipmsg.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "127.0.0.1", Port: 5060,
		Params: sipmsg.HeaderParams{{K: "branch", V: "z9hG4bK-ours"}}})
	b.SetBody([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"))
	b.AppendHeader(sipmsg.NewHeader("Diversion", "<sip:5002@voip.unisi.it>"))

	if after := r.String(); after != before {
		t.Errorf("the original changed:\n%s\nwas:\n%s", after, before)
	}
	if v := r.Via(); v.Params.Has("received") || v.Host != "10.0.0.9" {
		t.Errorf("the original's top Via: %v", v)
	}
	if mf := r.MaxForwards(); mf == nil || mf.Val() != 70 {
		t.Errorf("the original's Max-Forwards: %v", mf)
	}
	if cl := r.ContentLength(); cl == nil || *cl != 4 {
		t.Errorf("the original's Content-Length: %v", cl)
	}
	wire := b.String()
	for _, want := range []string{
		"received=192.0.2.7", "rport=40000", "Max-Forwards: 69", "branch=z9hG4bK-ours",
		"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-before", "Content-Length: 31", "Diversion: <sip:5002@voip.unisi.it>",
	} {
		if !strings.Contains(wire, want) {
			t.Errorf("the copy lacks %q:\n%s", want, wire)
		}
	}
	if strings.Contains(wire, "127.0.0.1:5060;lr") {
		t.Errorf("the popped Route is still in the copy:\n%s", wire)
	}
}

// TestTopRoute: the first Route, or nil without allocating when there is
// none (sipgo's Request.Route allocates a header on each such call).
func TestTopRoute(t *testing.T) {
	r := parseRequest(t, inviteMsg)
	if topRoute(r) != nil {
		t.Fatal("a Route in a request with none")
	}
	if n := testing.AllocsPerRun(100, func() { _ = topRoute(r) }); n != 0 {
		t.Errorf("topRoute of a request without Route allocates %v times", n)
	}
	r.AppendHeader(sipmsg.NewHeader("route", "<sip:edge.example;lr>"))
	if rt := topRoute(r); rt == nil || rt.Address.Host != "edge.example" {
		t.Errorf("topRoute = %v, want edge.example (the name in any case)", rt)
	}
}

// FuzzRelayCopy compares relayCopy with sipgo's deep Clone on any request
// sipgo parses: the same message on the wire, and the edits a relay makes
// to the copy (received/rport, Max-Forwards, the caller's Vias hidden, a
// Route popped, a new body) leave the original as it was.
func FuzzRelayCopy(f *testing.F) {
	f.Add([]byte(inviteMsg))
	f.Add([]byte("BYE sip:b SIP/2.0\r\nVia: SIP/2.0/UDP h:5;rport;branch=z9hG4bK-2\r\nv: SIP/2.0/TCP [::1]:5;branch=z9hG4bK-1\r\n" +
		"Route: <sip:p;lr>, <sip:q;lr>\r\nf: <sip:a@b>;tag=1\r\nTo: <sip:b@c>;tag=2\r\ni: d\r\nCSeq: 9 BYE\r\nl: 3\r\n\r\nabc"))
	f.Add([]byte("ACK sip:b;transport=tcp SIP/2.0\r\nMax-Forwards: 0\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>;tag=2\r\nCall-ID: d\r\nCSeq: 9 ACK\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := requestFrom(data)
		if err != nil {
			return
		}
		r.SetSource("192.0.2.7:40000")
		before := r.String()
		b := relayCopy(r, &r.Recipient)
		if got, want := b.String(), r.Clone().String(); got != want {
			t.Fatalf("%q:\nrelayCopy:\n%s\nClone:\n%s", data, got, want)
		}
		markReceived(b, r)
		decMaxForwards(b, r)
		hideCallerVias(b)
		b.RemoveHeader("Route")
		b.SetBody([]byte("v=0\r\n"))
		b.Recipient.User = "changed"
		if after := r.String(); after != before {
			t.Fatalf("%q: the original changed:\n%s\nwas:\n%s", data, after, before)
		}
	})
}
