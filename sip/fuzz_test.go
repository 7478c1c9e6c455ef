package sip

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// tortureMessages returns the RFC 4475 torture messages that sipgo ships
// in its module (valid and invalid), read from the module cache.
func tortureMessages(t testing.TB) map[string][]byte {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/emiago/sipgo").Output()
	if err != nil {
		t.Skipf("cannot locate the sipgo module: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "sip", "testdata", "torture")
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.dat"))
	if len(files) == 0 {
		t.Skipf("no torture messages under %s", dir)
	}
	msgs := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msgs[filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f)] = b
	}
	return msgs
}

var fuzzSeeds = []string{
	inviteMsg,
	"BYE sip:5002@127.0.0.1:5090 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-b\r\n" +
		"Route: <sip:127.0.0.1:5060;transport=udp;lr>\r\nMax-Forwards: 70\r\nFrom: <sip:5001@127.0.0.1>;tag=caller\r\n" +
		"To: <sip:5002@127.0.0.1>;tag=callee\r\nCall-ID: offline-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
	"ACK sip:5002@127.0.0.1:5090 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-a\r\n" +
		"Route: <sip:127.0.0.1:5060;lr>\r\nMax-Forwards: 70\r\nFrom: <sip:5001@127.0.0.1>;tag=caller\r\n" +
		"To: <sip:5002@127.0.0.1>;tag=callee\r\nCall-ID: offline-1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
	"CANCEL sip:5002@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-c\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:5001@127.0.0.1>;tag=caller\r\nTo: <sip:5002@127.0.0.1>\r\nCall-ID: x\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n",
	"OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-o\r\n" +
		"Max-Forwards: 0\r\nFrom: <sip:ping@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1>\r\nCall-ID: o\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
	"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 10.1.1.1:5060;branch=z9hG4bK-r\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:5001@unisi>;tag=r\r\nTo: <sip:5001@unisi>\r\nCall-ID: r\r\nCSeq: 1 REGISTER\r\n" +
		"Contact: *\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n",
	"INVITE sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKpl1.2\r\nVia: SIP/2.0/UDP x\r\n" +
		"Route: <sip:127.0.0.1:5060;lr>, <sip:127.0.0.1;lr>\r\nMax-Forwards: 1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\n" +
		"Call-ID: l\r\nCSeq: 9 INVITE\r\nContent-Length: 0\r\n\r\n",
}

// FuzzServeRequest feeds arbitrary bytes through the server's request path:
// sipgo's parser, then the edge, the mux, the pipeline, the Forwarder and
// the DialogRelay against a scripted downstream. Whatever the input, the
// server must not panic or hang, and every request but an ACK must get
// exactly one final response, unless the server absorbed it as the
// retransmission of an INVITE it answered in an earlier iteration (the
// server lives across them, as it does across real requests).
func FuzzServeRequest(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, b := range tortureMessages(f) {
		f.Add(b)
	}
	uas, _ := ParseURI("sip:5002@127.0.0.1:5090")
	down := &scripted{codes: []int{100, 180, 200}}
	s := newOfflineServer(f, down, Target{URI: uas})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := requestFrom(data)
		if err != nil {
			return
		}
		vias := len(r.GetHeaders("Via"))
		down.mu.Lock()
		before := len(down.sent)
		down.mu.Unlock()
		tx := newFakeServerTx()
		absorbed := counterValue(s.metrics.absorbed)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.handle(r, tx)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("request hung:\n%s", data)
		}
		finals := 0
		for _, c := range tx.codes() {
			if c >= 200 {
				finals++
			}
		}
		want := 1
		if r.IsAck() || counterValue(s.metrics.absorbed) > absorbed {
			want = 0
		}
		if finals != want {
			t.Fatalf("%s got %d final responses %v, want %d", r.Method, finals, tx.codes(), want)
		}
		// What went downstream carries, on the wire, the request's Vias
		// under ours, each once and in long form (sipgo's parser is
		// lenient with other fields, whose oddities pass through).
		down.mu.Lock()
		sent := append([]*Request(nil), down.sent[before:]...)
		down.mu.Unlock()
		for _, b := range sent {
			wire := b.String()
			if got := strings.Count(wire, "\r\nVia: "); got != vias+1 {
				t.Fatalf("the forwarded %s has %d Vias, want %d:\n%s", b.Method, got, vias+1, wire)
			}
		}
	})
}

// counterValue reads a counter's current value.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// FuzzServeStateless feeds arbitrary datagrams to the read filter of a
// server that serves REGISTER inline on its UDP read loop, as the example
// does with a write-back location store. A panic there would take the
// socket's read loop down, so whatever the input, the filter must return
// without an error, consume exactly the datagrams that start with the
// stateless method, serve them before it returns (an ACK it takes, on a
// worker soon after), and give the handler only requests that parsed and
// validated.
func FuzzServeStateless(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
		if i := strings.IndexByte(s, ' '); i > 0 {
			f.Add([]byte("REGISTER" + s[i:]))
		}
	}
	for _, b := range tortureMessages(f) {
		f.Add(b)
		if i := bytes.IndexByte(b, ' '); i > 0 {
			f.Add(append([]byte("REGISTER"), b[i:]...))
		}
	}
	srv, err := NewServer(Config{
		Listen:          []Listen{{Network: "udp", Addr: "127.0.0.1:0"}},
		InlineStateless: true,
	}, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		f.Fatal(err)
	}
	var served, invalid atomic.Int64
	h := HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
		served.Add(1)
		if validate(r) != nil {
			invalid.Add(1)
		}
		return w.WriteResponse(NewResponse(r, 200, "OK"))
	})
	if err := srv.Start(h); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	// Responses go to the source address (or the top Via's port there):
	// a socket of the test's own, drained by nobody.
	sink, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { sink.Close() })
	props := sipmsg.TransportReadProps{
		Transport:  "UDP",
		LocalAddr:  srv.packetConns[0].LocalAddr(),
		RemoteAddr: sink.LocalAddr(),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := append([]byte(nil), data...)
		before := served.Load()
		out, err := srv.readFilter(props, data)
		if err != nil {
			t.Fatalf("read filter error %v: the listener would stop", err)
		}
		stateless := bytes.HasPrefix(in, []byte("REGISTER "))
		ack := bytes.HasPrefix(in, []byte("ACK ")) && len(in) > 4
		if stateless && out != nil {
			t.Fatalf("a REGISTER datagram was passed on to sipgo:\n%q", in)
		}
		switch {
		case ack && out == nil:
			// Taken for a worker (ackpath.go): served once the worker
			// gets to it.
			deadline := time.Now().Add(5 * time.Second)
			for srv.inflight.Load() != 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		case !stateless && !bytes.Equal(out, in):
			t.Fatalf("a datagram of another method was changed:\n%q\n%q", in, out)
		}
		if n := srv.inflight.Load(); n != 0 {
			t.Fatalf("%d requests still in flight after the filter returned", n)
		}
		if served.Load() > before+1 {
			t.Fatalf("one datagram reached the handler %d times", served.Load()-before)
		}
		if invalid.Load() != 0 {
			t.Fatalf("the handler got a request that does not validate:\n%q", in)
		}
	})
}
