package sip

import (
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

func TestTopViaBranch(t *testing.T) {
	const start = "ACK sip:5002@127.0.0.1 SIP/2.0\r\n"
	tests := []struct {
		name    string
		headers string
		want    string // "" means not read
	}{
		{"long form", "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport\r\n", "z9hG4bK1"},
		{"compact form", "v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK2\r\n", "z9hG4bK2"},
		{"header name case", "VIA: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK3\r\n", "z9hG4bK3"},
		{"parameter name case", "Via: SIP/2.0/UDP 10.0.0.1;BRANCH=z9hG4bK3\r\n", ""},
		{"space before colon", "Via : SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK4\r\n", ""},
		{"space around params", "Via: SIP/2.0/UDP 10.0.0.1 ; branch = z9hG4bK5 ;rport\r\n", ""},
		{"trailing space", "Via: SIP/2.0/UDP 10.0.0.1;rport;branch=z9hG4bK5 \r\n", "z9hG4bK5"},
		{"IPv6 sent-by", "Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK15\r\n", "z9hG4bK15"},
		{"no sent-by", "Via: SIP/2.0/UDP;branch=z9hG4bK16\r\n", ""},
		{"no protocol", "v:;branch=z9hG4bK17\r\n", ""},
		{"odd sent-by", "Via: SIP/2.0/UDP a/b;branch=z9hG4bK18\r\n", ""},
		{"empty port", "Via: SIP/2.0/UDP a:;branch=z9hG4bK19\r\n", ""},
		{"long port", "Via: SIP/2.0/UDP a:123456;branch=z9hG4bK20\r\n", ""},
		{"host and port", "Via: SIP/2.0/UDP pbx.unisi.it:5060;branch=z9hG4bK21\r\n", "z9hG4bK21"},
		{"empty parameter", "Via: SIP/2.0/UDP a;;branch=z9hG4bK22\r\n", ""},
		{"received IPv6", "Via: SIP/2.0/UDP a;received=[2001:db8::1];branch=z9hG4bK23\r\n", "z9hG4bK23"},
		{"two branches", "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx;branch=z9hG4bKy\r\n", ""},
		{"first of two values", "Via: SIP/2.0/UDP a;branch=z9hG4bKa, SIP/2.0/UDP b;branch=z9hG4bKb\r\n", "z9hG4bKa"},
		{"first of two lines", "Via: SIP/2.0/UDP a;branch=z9hG4bKa\r\nVia: SIP/2.0/UDP b;branch=z9hG4bKb\r\n", "z9hG4bKa"},
		{"after other headers", "From: <sip:a@b>;tag=1\r\nv: SIP/2.0/UDP a;branch=z9hG4bK6\r\n", "z9hG4bK6"},
		{"LF only", "Via: SIP/2.0/UDP a;branch=z9hG4bK7\n", ""},
		{"lone LF in the value", "Via: SIP/2.0/UDP a;branch=z9hG4bK7\nx\r\n", ""},
		{"no branch", "Via: SIP/2.0/UDP a;rport\r\n", ""},
		{"empty branch", "Via: SIP/2.0/UDP a;branch=\r\n", ""},
		{"branch of the second value only", "Via: SIP/2.0/UDP a, SIP/2.0/UDP b;branch=z9hG4bKb\r\n", ""},
		{"folded Via", "Via: SIP/2.0/UDP a\r\n ;branch=z9hG4bK8\r\n", ""},
		{"folded header before", "Subject: a\r\n b\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK9\r\n", ""},
		{"quoted string", "Via: SIP/2.0/UDP a;x=\"b\";branch=z9hG4bK10\r\n", ""},
		{"comment", "Via: SIP/2.0/UDP a (c);branch=z9hG4bK11\r\n", ""},
		{"no Via", "From: <sip:a@b>;tag=1\r\n", ""},
		{"Via in the body", "Content-Length: 40\r\n\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK12\r\n", ""},
		{"line without colon", "garbage\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK13\r\n", ""},
		{"Vias header is not Via", "Vias: SIP/2.0/UDP a;branch=z9hG4bK14\r\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := topViaBranch([]byte(start + tc.headers + "\r\n"))
			if tc.want == "" {
				if ok {
					t.Fatalf("read %q, want nothing", got)
				}
				return
			}
			if !ok || string(got) != tc.want {
				t.Fatalf("got %q %v, want %q", got, ok, tc.want)
			}
		})
	}
	if _, ok := topViaBranch([]byte("ACK sip:a@b SIP/2.0")); ok {
		t.Error("a start line alone gave a branch")
	}
}

// FuzzTopViaBranch checks the scan against sipgo's parser: whenever the
// scan reads a branch from a message in which sipgo finds a Via, it is the
// branch sipgo keys the message's transaction with. A wrong branch would take the ACK
// of a rejection away from the transaction that waits for it.
func FuzzTopViaBranch(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, b := range tortureMessages(f) {
		f.Add(b)
	}
	f.Add([]byte("ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP a ; branch = z9hG4bK5 ;rport\r\nCSeq: 1 ACK\r\n\r\n"))
	f.Add([]byte("ACK sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP a;branch=z9hG4bKa, SIP/2.0/UDP b;branch=z9hG4bKb\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := topViaBranch(data)
		if !ok {
			return
		}
		m, err := sipmsg.ParseMessage(append([]byte(nil), data...))
		if err != nil {
			return // sipgo drops it: no transaction to miss
		}
		v := m.Via()
		if v == nil {
			return // no transaction either: sipgo cannot key one
		}
		want, _ := v.Params.Get("branch")
		if string(got) != want {
			t.Fatalf("scan read branch %q, sipgo %q, in\n%q", got, want, data)
		}
	})
}

func TestBranchSet(t *testing.T) {
	var b branchSet
	if b.has([]byte("x")) {
		t.Fatal("an empty set has x")
	}
	b.add("x")
	b.add("x") // the same branch from two senders
	b.remove("x")
	if !b.has([]byte("x")) {
		t.Fatal("x went with the first of its two removals")
	}
	b.remove("x")
	if b.has([]byte("x")) || b.len() != 0 {
		t.Fatalf("x stayed after its last removal (%d left)", b.len())
	}
}
