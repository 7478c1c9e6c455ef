package sip

import (
	"context"
	"errors"
	"hash/maphash"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

const framerMsg = "INVITE sip:bob@example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK-1\r\n" +
	"X-Long: " + "0123456789012345678901234567890123456789012345678901234567890123456789\r\n" +
	"Content-Length : 5\r\n" +
	"\r\n" +
	"v=0\r\n"

// TestFramerSIP feeds SIP streams in chunks and checks after each whether
// the framer thinks a message is half-read.
func TestFramerSIP(t *testing.T) {
	bare := "OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n"
	tests := []struct {
		name    string
		chunks  []string
		inMsg   []bool
		started []bool
	}{
		{"whole", []string{framerMsg}, []bool{false}, []bool{true}},
		{"keepalive", []string{"\r\n\r\n"}, []bool{false}, []bool{false}},
		{"keepalive then message", []string{"\r\n\r\n" + bare}, []bool{false}, []bool{true}},
		{"header split", []string{framerMsg[:20], framerMsg[20:]}, []bool{true, false}, []bool{true, false}},
		{"in the body", []string{framerMsg[:len(framerMsg)-3], framerMsg[len(framerMsg)-3:]}, []bool{true, false}, []bool{true, false}},
		{"CR and LF apart", []string{framerMsg[:len(framerMsg)-8], framerMsg[len(framerMsg)-8:]}, []bool{true, false}, []bool{true, false}},
		{"two, second partial", []string{bare + framerMsg[:30], framerMsg[30:]}, []bool{true, false}, []bool{true, false}},
		{"two whole", []string{bare + bare}, []bool{false}, []bool{true}},
		{"no Content-Length", []string{"OPTIONS sip:a@b SIP/2.0\r\n\r\n"}, []bool{false}, []bool{true}},
		{"Content-Length cut by a long line", []string{"SIP/2.0 200 OK\r\nContent-Length:" + strings.Repeat(" ", 70) + "4\r\n\r\n", "abcd"}, []bool{false, true}, []bool{true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f framer
			for i, c := range tt.chunks {
				in, st := f.feed([]byte(c))
				if in != tt.inMsg[i] || st != tt.started[i] {
					t.Errorf("chunk %d: got inMsg %v started %v, want %v %v", i, in, st, tt.inMsg[i], tt.started[i])
				}
			}
		})
	}
}

// TestFramerByteByByte: a message fed one byte at a time is half-read
// until its last byte, whatever the chunking.
func TestFramerByteByByte(t *testing.T) {
	var f framer
	for round := 0; round < 2; round++ {
		for i := 0; i < len(framerMsg); i++ {
			in, st := f.feed([]byte{framerMsg[i]})
			if last := i == len(framerMsg)-1; in == last {
				t.Fatalf("round %d byte %d (%q): got inMsg %v, want %v", round, i, framerMsg[i], in, !last)
			}
			if st != (i == 0) {
				t.Fatalf("round %d byte %d: got started %v", round, i, st)
			}
		}
	}
}

// wsFrame is a masked client frame.
func wsFrame(fin bool, op byte, payload string) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	f := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n < 1<<16:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	default:
		f = append(f, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	f = append(f, 9, 8, 7, 6)
	for i := 0; i < len(payload); i++ {
		f = append(f, payload[i]^[]byte{9, 8, 7, 6}[i%4])
	}
	return f
}

func TestFramerWebSocket(t *testing.T) {
	upgrade := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n"
	long := strings.Repeat("a", 300)
	huge := strings.Repeat("b", 70000)
	join := func(parts ...[]byte) string {
		var s []byte
		for _, p := range parts {
			s = append(s, p...)
		}
		return string(s)
	}
	tests := []struct {
		name   string
		chunks []string
		inMsg  []bool
	}{
		{"upgrade split", []string{upgrade[:10], upgrade[10:]}, []bool{true, false}},
		{"frame", []string{upgrade, string(wsFrame(true, 1, framerMsg))}, []bool{false, false}},
		{"frame header split", []string{upgrade, string(wsFrame(true, 1, long)[:3]), string(wsFrame(true, 1, long)[3:])}, []bool{false, true, false}},
		{"payload split", []string{upgrade, string(wsFrame(true, 1, long)[:100]), string(wsFrame(true, 1, long)[100:])}, []bool{false, true, false}},
		{"64-bit length", []string{upgrade, string(wsFrame(true, 1, huge)[:70000]), string(wsFrame(true, 1, huge)[70000:])}, []bool{false, true, false}},
		{"fragments", []string{upgrade, join(wsFrame(false, 1, "INVITE"), wsFrame(true, 9, "p")), string(wsFrame(true, 0, " sip"))}, []bool{false, true, false}},
		{"empty frame", []string{upgrade + string(wsFrame(true, 1, ""))}, []bool{false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := framer{ws: true}
			for i, c := range tt.chunks {
				if in, _ := f.feed([]byte(c)); in != tt.inMsg[i] {
					t.Errorf("chunk %d: got inMsg %v, want %v", i, in, tt.inMsg[i])
				}
			}
		})
	}
}

func TestFramerAllocs(t *testing.T) {
	msg := []byte(framerMsg)
	var f framer
	if n := testing.AllocsPerRun(100, func() {
		f.feed(msg[:40])
		f.feed(msg[40:])
	}); n != 0 {
		t.Errorf("got %v allocations per message, want 0", n)
	}
	res := []byte("SIP/2.0 200 OK\r\nCSeq: 2 REGISTER\r\nContact: <sip:a@b>;expires=60\r\nContent-Length: 0\r\n\r\n")
	if n := testing.AllocsPerRun(100, func() { registrationLifetime(res) }); n != 0 {
		t.Errorf("registrationLifetime: got %v allocations, want 0", n)
	}
}

// BenchmarkFramerFeed measures the framing cost per message read over TCP
// (budget: 0 allocations).
func BenchmarkFramerFeed(b *testing.B) {
	msg := []byte(framerMsg)
	var f framer
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		f.feed(msg)
	}
}

func TestRegistrationLifetime(t *testing.T) {
	head := "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP x;branch=z9hG4bK1\r\nCSeq: 7 REGISTER\r\n"
	tests := []struct {
		name string
		res  string
		want time.Duration
		ok   bool
	}{
		{"contact expires", head + "Contact: <sip:a@10.0.0.1;transport=tcp>;expires=600\r\n\r\n", 600 * time.Second, true},
		{"largest of several", head + "Contact: <sip:a@1>;expires=60, <sip:a@2>;q=0.5;EXPIRES=3600\r\nm: <sip:a@3>;expires=120\r\n\r\n", time.Hour, true},
		{"Expires header", head + "Expires: 300\r\nContact: <sip:a@1>\r\n\r\n", 300 * time.Second, true},
		{"default", head + "Contact: <sip:a@1>\r\n\r\n", time.Hour, true},
		{"uri parameter is not the contact's", head + "Contact: <sip:a@1;expires=9999>;expires=30\r\n\r\n", 30 * time.Second, true},
		{"quoted comma", head + "Contact: \"a, b\" <sip:a@1>;expires=30\r\n\r\n", 30 * time.Second, true},
		{"removed", head + "Contact: <sip:a@1>;expires=0\r\n\r\n", 0, false},
		{"no contact (query)", head + "Content-Length: 0\r\n\r\n", 0, false},
		{"not REGISTER", "SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\r\nContact: <sip:a@1>;expires=60\r\n\r\n", 0, false},
		{"not 2xx", "SIP/2.0 401 Unauthorized\r\nCSeq: 1 REGISTER\r\nContact: <sip:a@1>;expires=60\r\n\r\n", 0, false},
		{"request", "REGISTER sip:x SIP/2.0\r\nCSeq: 1 REGISTER\r\nContact: <sip:a@1>;expires=60\r\n\r\n", 0, false},
		{"contact in the body does not count", head + "Content-Length: 30\r\n\r\nContact: <sip:a@1>;expires=60\r\n", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := registrationLifetime([]byte(tt.res))
			if got != tt.want || ok != tt.ok {
				t.Errorf("got %v %v, want %v %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestStreamLimitsDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   StreamLimits
		want StreamLimits
	}{
		{"zero", StreamLimits{}, StreamLimits{DefaultIdleTimeout, DefaultMessageTimeout, DefaultMaxConns, DefaultMaxConnsPerIP}},
		{"off", StreamLimits{-1, -1, -1, -1}, StreamLimits{}},
		{"set", StreamLimits{time.Second, 2 * time.Second, 3, 4}, StreamLimits{time.Second, 2 * time.Second, 3, 4}},
	}
	for _, tt := range tests {
		if got := tt.in.withDefaults(); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestIPKey(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 5060}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 5060}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 5060}, "2001:db8:1:2::"},
	}
	for _, tt := range tests {
		if got := ipKey(tt.addr).String(); got != tt.want {
			t.Errorf("%v: got %s, want %s", tt.addr, got, tt.want)
		}
	}
}

func TestSourceLimiter(t *testing.T) {
	l := sourceLimiter{seed: maphash.MakeSeed()}
	// Sources sharing a slot overwrite each other (by design): pick b so
	// that the three lines of the steps below have a slot each.
	a := netip.MustParseAddr("192.0.2.1")
	var b netip.Addr
	for i := 2; i < 255; i++ {
		b = netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		slots := map[uint64]bool{l.slot(a, kindUnparsable): true, l.slot(a, kindRefused): true, l.slot(b, kindUnparsable): true}
		if len(slots) == 3 {
			break
		}
	}
	sec := int64(time.Second)
	steps := []struct {
		ip         netip.Addr
		kind       uint8
		at         int64
		ok         bool
		suppressed int
	}{
		{a, kindUnparsable, 1, true, 0},
		{a, kindUnparsable, 2, false, 0},
		{a, kindUnparsable, 3, false, 0},
		{b, kindUnparsable, 4, true, 0},
		{a, kindRefused, 5, true, 0},
		{a, kindUnparsable, sec + 1, true, 2},
		{a, kindUnparsable, sec + 2, false, 0},
	}
	for i, st := range steps {
		ok, n := l.allow(st.ip, st.kind, st.at)
		if ok != st.ok || n != st.suppressed {
			t.Errorf("step %d: got %v %d, want %v %d", i, ok, n, st.ok, st.suppressed)
		}
	}
	// Many sources at once: globalRate lines, then none until tokens refill.
	g := sourceLimiter{seed: maphash.MakeSeed()}
	allowed := 0
	for i := range 200 {
		ip := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		if ok, _ := g.allow(ip, kindUnparsable, 1); ok {
			allowed++
		}
	}
	if allowed != globalRate {
		t.Errorf("200 sources at once: got %d lines, want %d", allowed, globalRate)
	}
}

func TestShorten(t *testing.T) {
	tests := []struct{ in, want string }{
		{"short", "short"},
		{strings.Repeat("a", 100), strings.Repeat("a", 80) + "…"},
		{"line\r\nbreak", "line??break"},
		{strings.Repeat("a", 79) + "é", strings.Repeat("a", 79) + "…"},
		{"bad \xff byte", "bad ? byte"},
	}
	for _, tt := range tests {
		if got := shorten(tt.in, 80); got != tt.want {
			t.Errorf("shorten(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// recordingHandler keeps the records it gets.
type recordingHandler struct{ records *[]slog.Record }

func (h recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordingHandler) Handle(_ context.Context, r slog.Record) error {
	*h.records = append(*h.records, r)
	return nil
}
func (h recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordingHandler) WithGroup(string) slog.Handler      { return h }

// TestLibHandler: sipgo's lines are kept at Warn and above, cut, without
// payloads, one a second per message; parse failures become counted,
// source-attributed lines.
func TestLibHandler(t *testing.T) {
	var recs []slog.Record
	m := newMetrics(nil)
	in := newInputLog(slog.New(recordingHandler{&recs}), m)
	log := slog.New(in.handler(recordingHandler{&recs})).With("caller", "Transport<UDP>")

	log.Info("routine")
	for range 5 {
		log.Error("Server tx failed to handle request", "error", errors.New(strings.Repeat("e", 5000)), "req", strings.Repeat("r", 5000), "data", "payload")
	}
	src := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 9), Port: 5062}
	data := strings.Repeat("x", 60000)
	in.reads.put([]byte(data), src, nil)
	for range 3 {
		log.Error("failed to parse", "error", errors.New("transmission beginning '"+data[:1000]+"' is not a SIP message"), "data", data)
	}

	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2 (one sipgo line, one unparsable)", len(recs))
	}
	lib := recs[0]
	lib.Attrs(func(a slog.Attr) bool {
		if a.Key == "data" {
			t.Error("data attribute kept")
		}
		if s := a.Value.String(); len(s) > attrLen+len("…") {
			t.Errorf("%s: %d bytes, want at most %d", a.Key, len(s), attrLen)
		}
		return true
	})
	got := map[string]string{}
	recs[1].Attrs(func(a slog.Attr) bool { got[a.Key] = a.Value.String(); return true })
	want := map[string]string{"src": "192.0.2.9:5062", "transport": "udp", "len": "60000", "suppressed": "0"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
	if len(got["reason"]) > reasonLen+len("…") {
		t.Errorf("reason of %d bytes", len(got["reason"]))
	}
	if recs[1].Level != slog.LevelWarn || recs[1].Message != "sip: unparsable message" {
		t.Errorf("got %v %q, want WARN sip: unparsable message", recs[1].Level, recs[1].Message)
	}
	if n := counterValue(m.unparsable.WithLabelValues("udp")); n != 3 {
		t.Errorf("unparsable: got %v, want 3", n)
	}
	if n := counterValue(m.logSuppressed); n != 6 {
		t.Errorf("suppressed: got %v, want 6 (4 sipgo lines, 2 unparsable)", n)
	}
}

// pipeConn returns a streamConn over one end of a pipe, and the other end.
func pipeConn(t *testing.T, limits StreamLimits) (*streamConn, net.Conn, *metrics) {
	t.Helper()
	m := newMetrics(nil)
	g := newStreamGuard(limits, newInputLog(slog.New(slog.DiscardHandler), m), m)
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return newStreamConn(g, a, "tcp", netip.MustParseAddr("192.0.2.1"), nil), b, m
}

// TestStreamConnWriteTimeout: a peer that stops reading loses its
// connection after MessageTimeout.
func TestStreamConnWriteTimeout(t *testing.T) {
	c, _, m := pipeConn(t, StreamLimits{MessageTimeout: 50 * time.Millisecond})
	_, err := c.Write([]byte("SIP/2.0 200 OK\r\n\r\n")) // nobody reads a pipe's other end
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %v, want a timeout", err)
	}
	if n := counterValue(m.streamClosed.WithLabelValues(closedWrite)); n != 1 {
		t.Errorf("closed by write timeout: got %v, want 1", n)
	}
}

// TestStreamConnCallerDeadline: a deadline the caller sets (sipgo's
// WebSocket handshake does) ends a Read with a timeout, not the
// connection; clearing it leaves the limits' own deadlines.
func TestStreamConnCallerDeadline(t *testing.T) {
	c, peer, m := pipeConn(t, StreamLimits{IdleTimeout: time.Hour})
	c.SetDeadline(time.Now().Add(30 * time.Millisecond))
	_, err := c.Read(make([]byte, 10))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %v, want the caller's timeout", err)
	}
	if c.closed.Load() {
		t.Fatal("connection closed by the caller's deadline")
	}
	c.SetDeadline(time.Time{})
	go peer.Write([]byte("\r\n\r\n"))
	if n, err := c.Read(make([]byte, 10)); n != 4 || err != nil {
		t.Fatalf("after clearing the deadline: got %d %v, want 4 bytes", n, err)
	}
	peer.Close()
	if _, err := c.Read(make([]byte, 10)); err != io.EOF {
		t.Fatalf("peer gone: got %v, want EOF", err)
	}
	if n := counterValue(m.streamClosed.WithLabelValues(closedPeer)); n != 1 {
		t.Errorf("closed by the peer: got %v, want 1", n)
	}
}
