package sip

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// badCSeq is an INVITE sipgo cannot parse: its CSeq number is not one.
const badCSeq = "INVITE sip:5002@unisi.it SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK-bad1;rport\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: <sip:5001@unisi.it>;tag=f1\r\n" +
	"To: <sip:5002@unisi.it>\r\n" +
	"Call-ID: bad-cseq-1\r\n" +
	"CSeq: one INVITE\r\n" +
	"Content-Length: 0\r\n\r\n"

func TestMalformedReply(t *testing.T) {
	const want = "SIP/2.0 400 Bad Request\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK-bad1;rport\r\n" +
		"From: <sip:5001@unisi.it>;tag=f1\r\n" +
		"To: <sip:5002@unisi.it>;tag=T\r\n" +
		"Call-ID: bad-cseq-1\r\n" +
		"CSeq: one INVITE\r\n" +
		"Content-Length: 0\r\n\r\n"
	long := strings.Replace(badCSeq, "Via: ", strings.Repeat("Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-"+strings.Repeat("x", 40)+"\r\n", 80)+"Via: ", 1)
	tests := []struct {
		name string
		in   string
		want string // "" for no answer
	}{
		{"a bad CSeq number", badCSeq, want},
		{"bare LF line ends", strings.ReplaceAll(badCSeq, "\r\n", "\n"), want},
		{"compact names", strings.NewReplacer("Via:", "v:", "From:", "f:", "To:", "t:", "Call-ID:", "i:").Replace(badCSeq), want},
		{"names in any case", strings.NewReplacer("Via:", "VIA:", "Call-ID:", "call-id:", "CSeq:", "cseq:").Replace(badCSeq), want},
		{"the body is not read", strings.Replace(badCSeq, "Content-Length: 0\r\n\r\n", "Content-Length: 12\r\n\r\nTo: <sip:x>\r\n", 1), want},
		{"a folded Call-ID", strings.Replace(badCSeq, "Call-ID: bad-cseq-1", "Call-ID:\r\n bad-cseq-1", 1), want},
		{"two Vias, in order", strings.Replace(badCSeq, "Max-Forwards", "Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-2\r\nMax-Forwards", 1),
			strings.Replace(want, "rport\r\n", "rport\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-2\r\n", 1)},
		{"a To tag kept", strings.Replace(badCSeq, "To: <sip:5002@unisi.it>", "To: <sip:5002@unisi.it>;tag=callee", 1),
			strings.Replace(want, ";tag=T", ";tag=callee", 1)},
		{"a URI's tag parameter is not the To tag", strings.Replace(badCSeq, "To: <sip:5002@unisi.it>", "To: <sip:5002@unisi.it;tag=u>", 1),
			strings.Replace(want, "To: <sip:5002@unisi.it>;tag=T", "To: <sip:5002@unisi.it;tag=u>;tag=T", 1)},
		{"a CANCEL is answered", strings.NewReplacer("INVITE sip", "CANCEL sip", "one INVITE", "one CANCEL").Replace(badCSeq),
			strings.Replace(want, "one INVITE", "one CANCEL", 1)},
		{"an ACK never", strings.NewReplacer("INVITE sip", "ACK sip", "one INVITE", "one ACK").Replace(badCSeq), ""},
		{"a response", strings.Replace(badCSeq, "INVITE sip:5002@unisi.it SIP/2.0", "SIP/2.0 180 Ringing", 1), ""},
		{"another SIP version", strings.Replace(badCSeq, "SIP/2.0\r\n", "SIP/3.0\r\n", 1), ""},
		{"a request line of four parts", strings.Replace(badCSeq, "INVITE sip", "INVITE  sip", 1), ""},
		{"no Call-ID", strings.Replace(badCSeq, "Call-ID: bad-cseq-1\r\n", "", 1), ""},
		{"an empty Call-ID", strings.Replace(badCSeq, "Call-ID: bad-cseq-1", "Call-ID:", 1), ""},
		{"no Via", strings.Replace(badCSeq, "Via: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK-bad1;rport\r\n", "", 1), ""},
		{"a control byte in From", strings.Replace(badCSeq, "tag=f1", "tag=f\x001", 1), ""},
		{"a control byte in a Via", strings.Replace(badCSeq, "rport", "rp\x07ort", 1), ""},
		{"too many Vias to copy", long, ""},
		{"a keep-alive", "\r\n\r\n", ""},
		{"nothing", "", ""},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := malformedReply([]byte(tt.in), "T")
			if string(got) != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestHasTag(t *testing.T) {
	tests := []struct {
		to   string
		want bool
	}{
		{"<sip:a@b>;tag=1", true},
		{"<sip:a@b> ; TAG = 1", true},
		{"\"Tag;tag=x\" <sip:a@b>", false},
		{"<sip:a@b;tag=1>", false},
		{"sip:a@b;tag=1", true},
		{"sip:a@b;tagx=1", false},
		{"<sip:a@b>", false},
	}
	for _, tt := range tests {
		if got := hasTag([]byte(tt.to)); got != tt.want {
			t.Errorf("hasTag(%q) = %v, want %v", tt.to, got, tt.want)
		}
	}
}

// TestMalformedBudget: malformedRate answers a second, over all sources;
// the next second starts over.
func TestMalformedBudget(t *testing.T) {
	var b malformedBudget
	now := time.Unix(1000, 0)
	n := 0
	for range 3 * malformedRate {
		if b.allow(now) {
			n++
		}
	}
	if n != malformedRate {
		t.Errorf("%d answers in one second, want %d", n, malformedRate)
	}
	if !b.allow(now.Add(time.Second)) {
		t.Error("the next second: no answer allowed")
	}
}

// FuzzMalformedReply: whatever the datagram, the answer is nil or a 400
// that carries nothing a line end could split, no larger than the bound
// and than the request with a tag.
func FuzzMalformedReply(f *testing.F) {
	f.Add([]byte(badCSeq))
	f.Add([]byte(strings.ReplaceAll(badCSeq, "\r\n", "\n")))
	f.Add([]byte("OPTIONS sip:x SIP/2.0\nv: a\nf: b\nt: c\ni: d\nCSeq: e\n\n"))
	f.Add([]byte("INVITE sip:x SIP/2.0\r\nVia: a\r\n b\r\n\tc\r\nTo: <sip:x;tag=1>\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got := malformedReply(data, "T")
		if got == nil {
			return
		}
		if !bytes.HasPrefix(got, []byte("SIP/2.0 400 Bad Request\r\n")) || !bytes.HasSuffix(got, []byte("\r\nContent-Length: 0\r\n\r\n")) {
			t.Fatalf("not a 400 without a body: %q", got)
		}
		if len(got) > malformedReplyMax || len(got) > len(data)+64 {
			t.Fatalf("%d bytes answer %d", len(got), len(data))
		}
		for i, c := range got {
			switch {
			case c == '\n' && (i == 0 || got[i-1] != '\r'):
				t.Fatalf("a bare LF at %d: %q", i, got)
			case c == '\r' && (i+1 == len(got) || got[i+1] != '\n'):
				t.Fatalf("a bare CR at %d: %q", i, got)
			case (c < 0x20 && c != '\r' && c != '\n' && c != '\t') || c == 0x7f:
				t.Fatalf("control byte %#x at %d: %q", c, i, got)
			}
		}
		if bytes.Contains(got, []byte("\r\n\r\n")) && !bytes.HasSuffix(got, []byte("\r\n\r\n")) || bytes.Count(got, []byte("\r\n\r\n")) != 1 {
			t.Fatalf("a blank line inside the header: %q", got)
		}
	})
}
