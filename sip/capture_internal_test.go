package sip

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

// recordCapture keeps what it is handed.
type recordCapture struct{ got []Captured }

func (r *recordCapture) CaptureSIP(m Captured) {
	m.Data = append([]byte(nil), m.Data...)
	r.got = append(r.got, m)
}

func (r *recordCapture) payloads() []string {
	var out []string
	for _, m := range r.got {
		out = append(out, string(m.Data))
	}
	return out
}

const (
	capMsg1 = "OPTIONS sip:a SIP/2.0\r\nCall-ID: one\r\nContent-Length: 0\r\n\r\n"
	capMsg2 = "MESSAGE sip:b SIP/2.0\r\nCall-ID: two\r\nl: 5\r\n\r\nhello"
)

// TestCaptureStreamReads: TCP reads are split into whole messages
// whatever their boundaries (several in one read, one over several reads,
// keepalives between), per connection.
func TestCaptureStreamReads(t *testing.T) {
	stream := "\r\n\r\n" + capMsg1 + capMsg2 + "\r\n" + capMsg1
	for _, size := range []int{1, 3, 17, 64, len(stream)} {
		rec := &recordCapture{}
		c := &capture{c: rec, partial: map[streamKey]*partialMsg{}}
		props := sipmsg.TransportReadProps{Transport: "TCP",
			LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060}, RemoteAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}}
		other := props
		other.RemoteAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40001}
		for i := 0; i < len(stream); i += size {
			c.streamRead("tcp", props, []byte(stream[i:min(i+size, len(stream))]))
			c.streamRead("tcp", other, []byte("INVITE sip:x SIP/2.0\r\n")) // never finished
		}
		if got, want := strings.Join(rec.payloads(), "|"), capMsg1+"|"+capMsg2+"|"+capMsg1; got != want {
			t.Errorf("reads of %d bytes: got %q, want %q", size, got, want)
		}
		for _, m := range rec.got {
			if m.Src.Port() != 40000 || m.Dst.Port() != 5060 || m.Sent || m.Network != "tcp" {
				t.Errorf("reads of %d bytes: %+v", size, m)
			}
		}
		if len(c.partial) != 1 {
			t.Errorf("reads of %d bytes: %d partial messages kept, want 1 (the unfinished one)", size, len(c.partial))
		}
	}
}

// wsFrameBytes builds a WebSocket frame (RFC 6455 §5.2).
func wsFrameBytes(fin bool, op byte, payload string, mask []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	m := byte(0)
	if mask != nil {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, m|byte(n))
	default:
		b = append(b, m|126, byte(n>>8), byte(n))
	}
	p := []byte(payload)
	if mask != nil {
		b = append(b, mask...)
		for i := range p {
			p[i] ^= mask[i%4]
		}
	}
	return append(b, p...)
}

// TestCaptureWebSocketWrites: what the server writes on a WebSocket
// connection is captured as the messages its frames carry: the upgrade
// answer and control frames skipped, a frame written as header then
// payload (as sipgo does), fragments joined, a masked frame unmasked.
func TestCaptureWebSocketWrites(t *testing.T) {
	rec := &recordCapture{}
	sc := &streamConnCapture{cap: &capture{c: rec}, network: "ws", ws: true,
		local: netip.MustParseAddrPort("127.0.0.1:8080"), remote: netip.MustParseAddrPort("127.0.0.1:40000")}
	sc.wrote([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"))
	f := wsFrameBytes(true, 1, capMsg1, nil)
	sc.wrote(f[:2])
	sc.wrote(f[2:])
	sc.wrote(wsFrameBytes(true, 9, "ping", nil))
	long := capMsg2
	sc.wrote(append(wsFrameBytes(false, 1, long[:10], nil), wsFrameBytes(true, 0, long[10:], nil)...))
	sc.wrote(wsFrameBytes(true, 1, capMsg1, []byte{1, 2, 3, 4}))
	big := "MESSAGE sip:b SIP/2.0\r\nContent-Length: 300\r\n\r\n" + strings.Repeat("y", 300)
	sc.wrote(wsFrameBytes(true, 2, big, nil))
	if got, want := strings.Join(rec.payloads(), "|"), capMsg1+"|"+capMsg2+"|"+capMsg1+"|"+big; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, m := range rec.got {
		if !m.Sent || m.Src.Port() != 8080 || m.Dst.Port() != 40000 || m.Network != "ws" {
			t.Errorf("%+v", m)
		}
	}
}

// TestCallIDOf finds the Call-ID in its long and compact forms, any case,
// and nothing in the body.
func TestCallIDOf(t *testing.T) {
	for _, tt := range []struct{ msg, want string }{
		{"INVITE sip:a SIP/2.0\r\nVia: x\r\nCall-ID: abc@h\r\n\r\n", "abc@h"},
		{"SIP/2.0 200 OK\r\ni:  compact \r\n\r\n", "compact"},
		{"BYE sip:a SIP/2.0\r\ncall-id:lower\r\n\r\n", "lower"},
		{"BYE sip:a SIP/2.0\r\nTo: x\r\n\r\nCall-ID: body\r\n", ""},
		{"BYE sip:a SIP/2.0\nCALL-ID: lf-only\n\n", "lf-only"},
		{"garbage", ""},
	} {
		if got := string(callIDOf([]byte(tt.msg))); got != tt.want {
			t.Errorf("callIDOf(%q) = %q, want %q", tt.msg, got, tt.want)
		}
	}
}
