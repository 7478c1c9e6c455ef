package ng_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/mediabridge/ng"
)

func TestBencodeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"string", "spam", "4:spam"},
		{"empty string", "", "0:"},
		{"integer", int64(-42), "i-42e"},
		{"list", []any{"a", int64(1)}, "l1:ai1ee"},
		{"empty list", []any{}, "le"},
		{"dictionary sorted", ng.Dict{"sdp": "v=0", "command": "offer", "flags": []any{"trust-address"}},
			"d7:command5:offer5:flagsl13:trust-addresse3:sdp3:v=0e"},
		{"nested", ng.Dict{"totals": ng.Dict{"RTP": ng.Dict{"packets": int64(7)}}}, "d6:totalsd3:RTPd7:packetsi7eeee"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ng.Append(nil, tt.in)
			if err != nil || string(b) != tt.want {
				t.Fatalf("Append: got %q, %v; want %q", b, err, tt.want)
			}
			v, rest, err := ng.Decode(b)
			if err != nil || len(rest) != 0 {
				t.Fatalf("Decode(%q): %v, rest %q", b, err, rest)
			}
			if !reflect.DeepEqual(v, tt.in) {
				t.Errorf("Decode(%q): got %#v, want %#v", b, v, tt.in)
			}
		})
	}
}

func TestBencodeErrors(t *testing.T) {
	for _, in := range []string{"", "i12", "iabce", "l", "d3:key", "5:abc", "d i1e i2e e", "x", "d1:a" + strings.Repeat("l", 40) + strings.Repeat("e", 40) + "e", "99999999999:a"} {
		if _, _, err := ng.Decode([]byte(in)); !errors.Is(err, ng.ErrSyntax) {
			t.Errorf("Decode(%q): got %v, want ErrSyntax", in, err)
		}
	}
	if _, err := ng.Append(nil, 1.5); err == nil {
		t.Error("Append of a float: no error")
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"d7:command4:pinge", "li1e3:abce", "i-0e", "d3:sdpl0:ee", "4:spam"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, rest, err := ng.Decode(b)
		if err != nil {
			return
		}
		// What decodes encodes again into a value that decodes the same.
		out, err := ng.Append(nil, v)
		if err != nil {
			t.Fatalf("Append(%#v): %v", v, err)
		}
		w, rest2, err := ng.Decode(out)
		if err != nil || len(rest2) != 0 || !reflect.DeepEqual(v, w) {
			t.Fatalf("re-decode of %q: %#v %v, want %#v", out, w, err, v)
		}
		_ = rest
	})
}

// fakeEngine records what it was asked.
type fakeEngine struct {
	mu    sync.Mutex
	calls []ng.Command
	open  map[string]bool
}

func (e *fakeEngine) record(c ng.Command) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, c)
	if e.open == nil {
		e.open = map[string]bool{}
	}
}

func (e *fakeEngine) Offer(_ context.Context, c ng.Command) ([]byte, error) {
	e.record(c)
	e.mu.Lock()
	e.open[c.CallID] = true
	e.mu.Unlock()
	return bytes.ReplaceAll(c.SDP, []byte("10.0.0.1"), []byte("127.0.0.1")), nil
}

func (e *fakeEngine) Answer(_ context.Context, c ng.Command) ([]byte, error) {
	e.record(c)
	return c.SDP, nil
}

func (e *fakeEngine) Delete(_ context.Context, c ng.Command) (ng.Totals, error) {
	e.record(c)
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.open[c.CallID] {
		return ng.Totals{}, ng.ErrNotFound
	}
	delete(e.open, c.CallID)
	return ng.Totals{RTP: ng.Counters{Packets: 500, Bytes: 86000}}, nil
}

func (e *fakeEngine) Query(ctx context.Context, c ng.Command) (ng.Totals, error) {
	return ng.Totals{}, ng.ErrNotFound
}

func (e *fakeEngine) Statistics() ng.Statistics {
	return ng.Statistics{Sessions: 1, RelayedPackets: 1000}
}

func (e *fakeEngine) count(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range e.calls {
		if c.Name == name {
			n++
		}
	}
	return n
}

// TestServer drives a Server over real UDP as a proxy's rtpengine module
// would.
func TestServer(t *testing.T) {
	eng := &fakeEngine{}
	srv := &ng.Server{Engine: eng}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, conn) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	cli, err := net.Dial("udp", conn.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	call := func(cookie string, req any) ng.Dict {
		t.Helper()
		b, err := ng.Append([]byte(cookie+" "), req)
		if err != nil {
			t.Fatal(err)
		}
		cli.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := cli.Write(b); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 65535)
		n, err := cli.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		ck, body, _ := strings.Cut(string(buf[:n]), " ")
		if ck != cookie {
			t.Fatalf("reply cookie %q, want %q", ck, cookie)
		}
		v, _, err := ng.Decode([]byte(body))
		if err != nil {
			t.Fatalf("reply %q: %v", body, err)
		}
		return v.(ng.Dict)
	}
	if r := call("c1", ng.Dict{"command": "ping"}); r.String("result") != "pong" {
		t.Errorf("ping: %v", r)
	}
	offer := ng.Dict{"command": "offer", "call-id": "a@b", "from-tag": "f1", "sdp": "v=0\r\nc=IN IP4 10.0.0.1\r\n",
		"replace": []any{"origin", "session-connection"}, "ICE": "remove", "flags": []any{}}
	r := call("c2", offer)
	if r.String("result") != "ok" || r.String("sdp") != "v=0\r\nc=IN IP4 127.0.0.1\r\n" {
		t.Errorf("offer: %v", r)
	}
	// The controller retransmits: the same reply, the offer not done twice.
	if r2 := call("c2", offer); !reflect.DeepEqual(r, r2) || eng.count("offer") != 1 {
		t.Errorf("retransmitted offer: got %v, %d offers; want the same reply, 1 offer", r2, eng.count("offer"))
	}
	eng.mu.Lock()
	got := eng.calls[0]
	eng.mu.Unlock()
	if got.CallID != "a@b" || got.FromTag != "f1" || got.ICE != "remove" || strings.Join(got.Replace, ",") != "origin,session-connection" {
		t.Errorf("the engine got %+v", got)
	}
	if r := call("c3", ng.Dict{"command": "answer", "call-id": "a@b", "from-tag": "f1", "sdp": "v=0\r\n"}); r.String("result") != "error" ||
		!strings.Contains(r.String("error-reason"), "to-tag") {
		t.Errorf("answer without to-tag: %v", r)
	}
	r = call("c4", ng.Dict{"command": "delete", "call-id": "a@b", "from-tag": "f1"})
	if tot, _ := r["totals"].(ng.Dict); r.String("result") != "ok" || tot["RTP"].(ng.Dict)["packets"] != int64(500) {
		t.Errorf("delete: %v", r)
	}
	if r := call("c5", ng.Dict{"command": "delete", "call-id": "a@b"}); r.String("error-reason") != "Unknown call-id" {
		t.Errorf("second delete: %v", r)
	}
	st := call("c6", ng.Dict{"command": "statistics"})
	if tot := st["statistics"].(ng.Dict)["totalstatistics"].(ng.Dict); tot["relayedpackets"] != int64(1000) {
		t.Errorf("statistics: %v", st)
	}
	if r := call("c7", ng.Dict{"command": "fork bomb"}); r.String("result") != "error" {
		t.Errorf("unknown command: %v", r)
	}
	b, _ := ng.Append(nil, "not a dictionary")
	if r := call("c8", string(b)); r.String("result") != "error" {
		t.Errorf("a string request: %v", r)
	}
}

// TestReplyCacheBounded: however many cookies arrive, at most MaxCached
// replies are kept, and the oldest go first.
func TestReplyCacheBounded(t *testing.T) {
	eng := &fakeEngine{}
	srv := &ng.Server{Engine: eng, MaxCached: 4}
	ping, _ := ng.Append(nil, ng.Dict{"command": "offer", "call-id": "x", "from-tag": "f", "sdp": "v=0"})
	for i := 0; i < 10; i++ {
		srv.Handle(context.Background(), append([]byte{byte('a' + i), ' '}, ping...))
	}
	srv.Handle(context.Background(), append([]byte("j "), ping...)) // the latest: cached
	if n := eng.count("offer"); n != 10 {
		t.Fatalf("after a retransmission of the latest: %d offers, want 10", n)
	}
	srv.Handle(context.Background(), append([]byte("a "), ping...)) // the oldest: evicted, done again
	if n := eng.count("offer"); n != 11 {
		t.Errorf("after a retransmission of an evicted cookie: %d offers, want 11", n)
	}
	if r := srv.Handle(context.Background(), []byte("nocookie")); r != nil {
		t.Errorf("a datagram without a cookie got %q", r)
	}
}
