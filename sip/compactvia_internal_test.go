package sip

import (
	"strconv"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

// An INVITE that passed another proxy (another node of a cluster) keeps
// each of its Vias once, in order, when they are compacted.
func TestCompactViasSeveral(t *testing.T) {
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
	b := msg.(*Request).Clone()
	compactVias(b)
	var got []string
	for _, h := range b.Headers() {
		if v, ok := h.(*sipmsg.ViaHeader); ok {
			got = append(got, v.Host+":"+strconv.Itoa(v.Port))
			continue
		}
		if h.Name() == "v" {
			got = append(got, "v "+h.Value())
		}
	}
	want := []string{
		"v SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKnode2",
		"v SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKcaller",
		"v SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKfirst",
	}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Via %d: got %q, want %q", i, got[i], want[i])
		}
	}
}
