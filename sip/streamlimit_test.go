package sip_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// lockedBuffer is a log sink safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the logged lines containing s.
func (b *lockedBuffer) lines(s string) []string {
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// limitServer is a Server with stream limits, its metrics and its log.
type limitServer struct {
	srv *sip.Server
	reg *prometheus.Registry
	log *lockedBuffer
}

// startLimited serves networks on 127.0.0.1 with limits and h (nil: every
// request gets 200; a REGISTER's 200 lists a contact for 60 s).
func startLimited(t *testing.T, limits sip.StreamLimits, h sip.Handler, networks ...string) *limitServer {
	t.Helper()
	ls := &limitServer{reg: prometheus.NewRegistry(), log: &lockedBuffer{}}
	var listen []sip.Listen
	for _, n := range networks {
		l := sip.Listen{Network: n, Addr: "127.0.0.1:0"}
		if n == "tls" {
			l.CertFile, l.KeyFile = selfSigned(t, t.TempDir())
		}
		listen = append(listen, l)
	}
	log := slog.New(slog.NewTextHandler(ls.log, nil))
	srv, err := sip.NewServer(sip.Config{Listen: listen, Streams: limits}, sip.WithLogger(log), sip.WithRegisterer(ls.reg))
	if err != nil {
		t.Fatal(err)
	}
	if h == nil {
		h = sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			res := sip.NewResponse(r, 200, "OK")
			if r.Method == sip.REGISTER {
				res.AppendHeader(sipmsg.NewHeader("Contact", "<sip:alice@127.0.0.1:5090;transport=tcp>;expires=60"))
			}
			return w.WriteResponse(res)
		})
	}
	if err := srv.Start(h); err != nil {
		srv.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ls.srv = srv
	return ls
}

// metric returns the value of the series name{labels}, or 0.
func (ls *limitServer) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := ls.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// waitMetric waits (at most 5 s) until name{labels} is want.
func (ls *limitServer) waitMetric(t *testing.T, want float64, name string, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := ls.metric(t, name, labels...)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v: got %v, want %v", name, labels, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dialFrom connects to addr from the local IP from (127.0.0.2 is another
// source on Linux's loopback).
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ping sends an RFC 5626 keepalive (CRLFCRLF) and waits for its pong.
func ping(c net.Conn) error {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte("\r\n\r\n")); err != nil {
		return err
	}
	var b [2]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return err
	}
	if string(b[:]) != "\r\n" {
		return fmt.Errorf("pong %q, want CRLF", b[:])
	}
	return nil
}

// closedWithin reads from c until the server closes it; it reports an
// error if c is still open after d.
func closedWithin(c net.Conn, d time.Duration) error {
	c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("still open after %v", d)
		}
		return nil // EOF or reset
	}
}

// openFor reports an error if the server closes c within d.
func openFor(c net.Conn, d time.Duration) error {
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return fmt.Errorf("closed within %v: %v", d, err)
	}
}

// request is a minimal request over TCP with Content-Length.
func request(method, addr string, cseq int) string {
	return fmt.Sprintf("%s sip:%s SIP/2.0\r\n"+
		"Via: SIP/2.0/TCP 127.0.0.1:5090;branch=z9hG4bK-%s-%d\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:alice@%s>;tag=a%d\r\n"+
		"To: <sip:alice@%s>\r\n"+
		"Call-ID: limits-%s-%d\r\n"+
		"CSeq: %d %s\r\n"+
		"Contact: <sip:alice@127.0.0.1:5090;transport=tcp>\r\n"+
		"Content-Length: 0\r\n\r\n", method, addr, method, cseq, addr, cseq, addr, method, cseq, cseq, method)
}

// readResponse reads one response's status line and header from r.
func readResponse(t *testing.T, c net.Conn, r *bufio.Reader) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	var sb strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading response: %v (so far %q)", err, sb.String())
		}
		if line == "\r\n" && sb.Len() == 0 {
			continue // a pong
		}
		sb.WriteString(line)
		if line == "\r\n" {
			return sb.String()
		}
	}
}

// TestStreamIdleTimeout: a connection that says nothing is closed after
// IdleTimeout; one that sends RFC 5626 keepalives is not, until it stops.
func TestStreamIdleTimeout(t *testing.T) {
	leakCheck(t)
	ls := startLimited(t, sip.StreamLimits{IdleTimeout: 300 * time.Millisecond}, nil, "tcp")
	addr := ls.srv.Local().Addr("tcp")

	silent := dialFrom(t, "127.0.0.1", addr)
	chatty := dialFrom(t, "127.0.0.1", addr)
	ls.waitMetric(t, 2, "palio_sip_stream_connections", "transport", "tcp")
	for i := 0; i < 10; i++ { // 1 s, three idle periods
		if err := ping(chatty); err != nil {
			t.Fatalf("keepalive %d: %v", i, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := closedWithin(silent, 5*time.Second); err != nil {
		t.Fatalf("silent connection: %v", err)
	}
	if err := closedWithin(chatty, 5*time.Second); err != nil {
		t.Fatalf("connection after its keepalives stopped: %v", err)
	}
	ls.waitMetric(t, 0, "palio_sip_stream_connections", "transport", "tcp")
	ls.waitMetric(t, 2, "palio_sip_stream_closed_total", "reason", "idle")
}

// TestStreamRegisteredOutlivesIdle: a connection over which a REGISTER was
// answered 2xx stays open as long as the registration lasts, while one
// that only sent an OPTIONS is closed when idle.
func TestStreamRegisteredOutlivesIdle(t *testing.T) {
	leakCheck(t)
	ls := startLimited(t, sip.StreamLimits{IdleTimeout: 300 * time.Millisecond}, nil, "tcp")
	addr := ls.srv.Local().Addr("tcp")

	reg := dialFrom(t, "127.0.0.1", addr)
	opt := dialFrom(t, "127.0.0.1", addr)
	for _, tc := range []struct {
		c      net.Conn
		method string
	}{{reg, "REGISTER"}, {opt, "OPTIONS"}} {
		if _, err := tc.c.Write([]byte(request(tc.method, addr, 1))); err != nil {
			t.Fatal(err)
		}
		if res := readResponse(t, tc.c, bufio.NewReader(tc.c)); !strings.HasPrefix(res, "SIP/2.0 200") {
			t.Fatalf("%s: got %q, want 200", tc.method, res)
		}
	}
	if err := closedWithin(opt, 5*time.Second); err != nil {
		t.Fatalf("connection of the OPTIONS: %v", err)
	}
	if err := openFor(reg, 1500*time.Millisecond); err != nil {
		t.Fatalf("registered connection (5 idle periods): %v", err)
	}
	if err := ping(reg); err != nil {
		t.Fatalf("registered connection: keepalive: %v", err)
	}
	if got := ls.metric(t, "palio_sip_stream_closed_total", "reason", "idle"); got != 1 {
		t.Errorf("closed idle: got %v, want 1", got)
	}
}

// TestStreamBusyNotIdle: a connection whose INVITE is still being handled
// (ringing) is not idle, however long the handler takes; it is once the
// final response went.
func TestStreamBusyNotIdle(t *testing.T) {
	leakCheck(t)
	answer := make(chan struct{})
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		if r.Method == sip.INVITE {
			select {
			case <-answer:
			case <-ctx.Done():
				return ctx.Err()
			}
			return &sip.StatusError{Code: 486, Reason: "Busy Here"}
		}
		return w.WriteResponse(sip.NewResponse(r, 200, "OK"))
	})
	ls := startLimited(t, sip.StreamLimits{IdleTimeout: 300 * time.Millisecond}, h, "tcp")
	addr := ls.srv.Local().Addr("tcp")

	c := dialFrom(t, "127.0.0.1", addr)
	if _, err := c.Write([]byte(request("INVITE", addr, 1))); err != nil {
		t.Fatal(err)
	}
	if err := openFor(c, 1500*time.Millisecond); err != nil {
		t.Fatalf("connection with a ringing INVITE: %v", err)
	}
	close(answer)
	if err := closedWithin(c, 5*time.Second); err != nil {
		t.Fatalf("connection after the final response: %v", err)
	}
}

// wsUpgrade performs a WebSocket handshake on c.
func wsUpgrade(t *testing.T, c net.Conn, addr string) {
	t.Helper()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n", addr)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	c.SetReadDeadline(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 101 {
		t.Fatalf("upgrade: got %d, want 101", res.StatusCode)
	}
}

// maskedFrame is a client's text frame carrying payload.
func maskedFrame(payload []byte) []byte {
	key := [4]byte{1, 2, 3, 4}
	f := []byte{0x81, 0x80 | 126, byte(len(payload) >> 8), byte(len(payload))}
	f = append(f, key[:]...)
	for i, b := range payload {
		f = append(f, b^key[i%4])
	}
	return f
}

// TestStreamSlowloris: a sender dribbling a message one byte every 100 ms
// is cut off after MessageTimeout, over TCP, during a TLS handshake and in
// a WebSocket frame.
func TestStreamSlowloris(t *testing.T) {
	leakCheck(t)
	ls := startLimited(t, sip.StreamLimits{MessageTimeout: 500 * time.Millisecond}, nil, "tcp", "tls", "ws")
	tests := []struct {
		network string
		reason  string
		setup   func(c net.Conn, addr string)
		payload []byte
	}{
		{"tcp", "message-timeout", nil, []byte(request("OPTIONS", "127.0.0.1", 1))},
		// A TLS record header announcing 512 bytes, then the bytes.
		{"tls", "handshake", nil, append([]byte{0x16, 0x03, 0x01, 0x02, 0x00}, bytes.Repeat([]byte{1}, 512)...)},
		{"ws", "message-timeout", func(c net.Conn, addr string) { wsUpgrade(t, c, addr) }, maskedFrame([]byte(request("OPTIONS", "127.0.0.1", 1)))},
	}
	for _, tt := range tests {
		t.Run(tt.network, func(t *testing.T) {
			addr := ls.srv.Local().Addr(tt.network)
			before := ls.metric(t, "palio_sip_stream_closed_total", "reason", tt.reason)
			c := dialFrom(t, "127.0.0.1", addr)
			if tt.setup != nil {
				tt.setup(c, addr)
			}
			start := time.Now()
			closed := false
			for i := 0; i < len(tt.payload) && time.Since(start) < 5*time.Second; i++ {
				if _, err := c.Write(tt.payload[i : i+1]); err != nil {
					closed = true
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if !closed {
				t.Fatalf("connection still open after %v of one byte per 100 ms", time.Since(start).Round(time.Second))
			}
			ls.waitMetric(t, before+1, "palio_sip_stream_closed_total", "reason", tt.reason)
			if tt.reason == "message-timeout" {
				src := "src=" + c.LocalAddr().String()
				if lines := ls.log.lines(src); len(lines) != 1 || !strings.Contains(lines[0], "reason=message-timeout") {
					t.Errorf("log lines with %s: got %q, want one with reason=message-timeout", src, lines)
				}
			}
		})
	}
	if got := ls.metric(t, "palio_sip_stream_closed_total", "reason", "message-timeout"); got != 2 {
		t.Errorf("closed by message timeout: got %v, want 2 (tcp, ws)", got)
	}
}

// TestStreamCaps: the connection over MaxConnsPerIP from one address is
// refused, another address still gets in until MaxConns; closing one makes
// room again.
func TestStreamCaps(t *testing.T) {
	leakCheck(t)
	ls := startLimited(t, sip.StreamLimits{MaxConnsPerIP: 2, MaxConns: 3}, nil, "tcp")
	addr := ls.srv.Local().Addr("tcp")

	steps := []struct {
		from   string
		admit  bool
		reason string
	}{
		{"127.0.0.1", true, ""},
		{"127.0.0.1", true, ""},
		{"127.0.0.1", false, "per-ip"},
		{"127.0.0.2", true, ""},
		{"127.0.0.3", false, "total"},
	}
	var first net.Conn
	for i, st := range steps {
		if st.admit {
			c := dialFrom(t, st.from, addr)
			if i == 0 {
				first = c
			}
			if err := ping(c); err != nil {
				t.Fatalf("connection %d from %s: %v, want it served", i, st.from, err)
			}
			continue
		}
		// The reset may come before Dial returns.
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(st.from)}, Timeout: 2 * time.Second}
		if c, err := d.Dial("tcp", addr); err == nil {
			err = closedWithin(c, 5*time.Second)
			c.Close()
			if err != nil {
				t.Fatalf("connection %d from %s over the %s cap: %v", i, st.from, st.reason, err)
			}
		} else if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("connection %d from %s: %v", i, st.from, err)
		}
		ls.waitMetric(t, 1, "palio_sip_stream_refused_total", "reason", st.reason)
		// The counter moves just before the line is written: wait for it.
		var lines []string
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			lines = ls.log.lines("sip: connection refused")
			if len(lines) > 0 && strings.Contains(lines[len(lines)-1], "src="+st.from+":") || time.Now().After(deadline) {
				break
			}
		}
		if len(lines) == 0 || !strings.Contains(lines[len(lines)-1], "src="+st.from+":") {
			t.Errorf("refusal log: got %q, want a line with src=%s", lines, st.from)
		}
	}
	ls.waitMetric(t, 3, "palio_sip_stream_connections", "transport", "tcp")
	first.Close()
	ls.waitMetric(t, 2, "palio_sip_stream_connections", "transport", "tcp")
	if err := ping(dialFrom(t, "127.0.0.1", addr)); err != nil {
		t.Fatalf("connection after one closed: %v, want it served", err)
	}
}

// TestUnparsableFlood: 200 unparsable datagrams of 60 KB from one source
// make one or two bounded log lines naming the source, and a counter of
// 200; an unparsable TCP message makes one line with its source too.
func TestUnparsableFlood(t *testing.T) {
	leakCheck(t)
	ls := startLimited(t, sip.StreamLimits{}, nil, "udp", "tcp")
	junk := append([]byte("NOT SIP AT ALL\r\n"), bytes.Repeat([]byte("x"), 60000-16)...)

	uc, err := net.Dial("udp", ls.srv.Local().Addr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	start := time.Now()
	for i := 1; i <= 200; i++ {
		if _, err := uc.Write(junk); err != nil {
			t.Fatal(err)
		}
		ls.waitMetric(t, float64(i), "palio_sip_unparsable_total", "transport", "udp")
	}
	elapsed := time.Since(start)

	lines := ls.log.lines("sip: unparsable message")
	if max := 1 + int(elapsed/time.Second); len(lines) < 1 || len(lines) > max {
		t.Fatalf("got %d log lines in %v, want 1..%d", len(lines), elapsed.Round(time.Millisecond), max)
	}
	src := "src=" + uc.LocalAddr().String()
	for _, l := range lines {
		if len(l) > 300 || !strings.Contains(l, src) || !strings.Contains(l, "transport=udp") || !strings.Contains(l, "len=60000") {
			t.Errorf("line %q (%d bytes): want at most 300 bytes with %s, transport=udp, len=60000", l, len(l), src)
		}
	}
	if n := len(ls.log.String()); n > 2000 {
		t.Errorf("log grew %d bytes, want < 2000", n)
	}
	if strings.Contains(ls.log.String(), "xxxxxxxx") {
		t.Error("the payload was logged")
	}

	// Another source: 127.0.0.1 had its line for this second.
	tc := dialFrom(t, "127.0.0.2", ls.srv.Local().Addr("tcp"))
	if _, err := tc.Write([]byte("NOT SIP AT ALL\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	ls.waitMetric(t, 1, "palio_sip_unparsable_total", "transport", "tcp")
	// The counter moves just before the line is written: wait for it.
	lines = nil
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if lines = ls.log.lines("src=" + tc.LocalAddr().String()); len(lines) > 0 {
			break
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "transport=tcp") {
		t.Errorf("TCP: got %q, want one line with transport=tcp", lines)
	}
}

// TestLibraryErrorsBounded: requests sipgo's transaction layer rejects (no
// Via) make it log an Error per packet with the request line; those lines
// are cut and limited to one a second.
func TestLibraryErrorsBounded(t *testing.T) {
	leakCheck(t)
	ls := startLimited(t, sip.StreamLimits{}, nil, "udp")
	user := strings.Repeat("u", 20000)
	msg := "OPTIONS sip:" + user + "@127.0.0.1 SIP/2.0\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	uc, err := net.Dial("udp", ls.srv.Local().Addr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	for range 50 {
		if _, err := uc.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ls.log.String() == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	out := ls.log.String()
	if out == "" {
		t.Fatal("nothing logged: the test no longer provokes sipgo")
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) > 6 {
		t.Errorf("got %d lines, want a few", len(lines))
	}
	for _, l := range lines {
		if len(l) > 1200 {
			t.Fatalf("line of %d bytes: %.300s…", len(l), l)
		}
	}
}
