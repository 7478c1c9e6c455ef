package sip

import (
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

func TestValidViaHost(t *testing.T) {
	for _, tt := range []struct {
		host string
		want bool
	}{
		{"pbx.unisi.it", true},
		{"192.0.2.5", true},
		{"[2001:db8::1]", true},
		{"2001:db8::1", true},
		{"host_1.example.com", true},
		{"", false},
		{"sip10.example.com\x80\x00Via: SIP/2.0/TCP sip9.example.com", false},
		{"a b", false},
		{"a\r\nVia: x", false},
		{"a;b", false},
	} {
		if got := validViaHost(tt.host); got != tt.want {
			t.Errorf("validViaHost(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

// A request with a Via whose host holds control bytes (a fuzzer found
// sipgo keeps them) is refused with a 400 before anything forwards it.
func TestValidateMalformedVia(t *testing.T) {
	raw := "INVITE sip:5002@127.0.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa\r\n" +
		"Via: SIP/2.0/TCP sip10.example.com\x80\x00Via: SIP/2.0/TCP sip9.example.com\r\n" +
		"From: <sip:5001@voip.unisi.it>;tag=a\r\nTo: <sip:5002@voip.unisi.it>\r\n" +
		"Call-ID: c\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	m, err := sipmsg.ParseMessage([]byte(raw))
	if err != nil {
		t.Skipf("sipgo refuses the message itself now: %v", err)
	}
	if err := validate(m.(*Request)); err == nil || err.Error() != "Bad Request: malformed Via" {
		t.Errorf("validate: got %v, want the malformed Via refused", err)
	}
	good := "INVITE sip:5002@127.0.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa\r\n" +
		"v: SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bKb\r\n" +
		"From: <sip:5001@voip.unisi.it>;tag=a\r\nTo: <sip:5002@voip.unisi.it>\r\n" +
		"Call-ID: c\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	m, err = sipmsg.ParseMessage([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(m.(*Request)); err != nil {
		t.Errorf("validate refused well-formed Vias: %v", err)
	}
}

func TestValidVia(t *testing.T) {
	for _, tt := range []struct {
		proto, version, transport, host string
		want                            bool
	}{
		{"SIP", "2.0", "UDP", "192.0.2.5", true},
		{"sip", "2.0", "wss", "pbx.unisi.it", true},
		{"", "", "", "00", false},
		{"SIP", "1.0", "UDP", "192.0.2.5", false},
		{"SIP", "2.0", "", "192.0.2.5", false},
		{"SIP", "2.0", "U DP", "192.0.2.5", false},
		{"SIP", "2.0", "UDP", "", false},
	} {
		v := &sipmsg.ViaHeader{ProtocolName: tt.proto, ProtocolVersion: tt.version, Transport: tt.transport, Host: tt.host}
		if got := validVia(v); got != tt.want {
			t.Errorf("validVia(%s/%s/%s %s) = %v, want %v", tt.proto, tt.version, tt.transport, tt.host, got, tt.want)
		}
	}
}
