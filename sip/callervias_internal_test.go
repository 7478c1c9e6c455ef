package sip

import (
	"strings"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

// An INVITE that passed another proxy (another node of a cluster) goes on
// with each of its Vias once, in order, in long form, right under ours and
// above Max-Forwards, while sipgo sees our Via alone: the ACK it builds for
// a 3xx-6xx copies that one only.
func TestHideCallerVias(t *testing.T) {
	raw := "INVITE sip:5002@127.0.0.1:5062 SIP/2.0\r\n" +
		"Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKnode2\r\n" +
		"v: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKcaller\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKfirst\r\n" +
		"From: <sip:5001@voip.unisi.it>;tag=a\r\nTo: <sip:5002@voip.unisi.it>\r\n" +
		"Call-ID: c\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	msg, err := sipmsg.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	r := msg.(*Request)
	b := r.Clone()
	decMaxForwards(b, r)
	hideCallerVias(b)
	params := sipmsg.NewParams()
	params.Add("branch", "z9hG4bKpl1ours")
	ours := &sipmsg.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: "127.0.0.1", Port: 5060, Params: params}
	b.PrependHeader(ours)

	if vias := b.GetHeaders("Via"); len(vias) != 1 || vias[0] != ours {
		t.Errorf("sipgo sees %d Vias, want ours alone", len(vias))
	}
	// As sipgo builds the ACK of a 3xx-6xx (TestNon2xxAckHasOneVia sees
	// the real one on the wire).
	ack := sipmsg.NewRequest(ACK, b.Recipient)
	sipmsg.CopyHeaders("Via", b, ack)
	if vias := ack.GetHeaders("Via"); len(vias) != 1 || vias[0].Value() != ours.Value() {
		t.Errorf("the ACK of a 486 has %d Vias, want ours alone", len(vias))
	}
	if strings.Contains(ack.String(), "5080") {
		t.Errorf("the ACK carries the caller's Via:\n%s", ack)
	}

	wire := b.String()
	lines := strings.Split(wire, "\r\n")
	want := []string{
		"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKpl1ours",
		"Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKnode2",
		"Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKcaller",
		"Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKfirst",
		"Max-Forwards: 69",
	}
	if len(lines) < len(want)+1 {
		t.Fatalf("short message:\n%s", wire)
	}
	for i, w := range want {
		if lines[i+1] != w {
			t.Errorf("line %d: got %q, want %q", i+1, lines[i+1], w)
		}
	}
	// The next hop parses what it reads as the four Vias and the count.
	again, err := sipmsg.ParseMessage([]byte(wire))
	if err != nil {
		t.Fatalf("the forwarded INVITE does not parse: %v\n%s", err, wire)
	}
	if n := len(again.GetHeaders("Via")); n != 4 {
		t.Errorf("the next hop reads %d Vias, want 4", n)
	}
	if mf := again.(*Request).MaxForwards(); mf == nil || mf.Val() != 69 {
		t.Errorf("the next hop reads Max-Forwards %v, want 69", mf)
	}
}
