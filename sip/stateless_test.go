package sip_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
)

// rawUDP is a UDP socket that sends hand-written requests and reads the
// responses.
type rawUDP struct {
	t    *testing.T
	conn *net.UDPConn
	to   *net.UDPAddr
}

func newRawUDP(t *testing.T, to string) *rawUDP {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawUDP{t: t, conn: conn, to: raddr}
}

func (u *rawUDP) port() int { return u.conn.LocalAddr().(*net.UDPAddr).Port }

func (u *rawUDP) send(msg string) {
	u.t.Helper()
	if _, err := u.conn.WriteToUDP([]byte(strings.ReplaceAll(msg, "\n", "\r\n")), u.to); err != nil {
		u.t.Fatal(err)
	}
}

// read returns the next datagram, or "" after wait.
func (u *rawUDP) read(wait time.Duration) string {
	buf := make([]byte, 65535)
	u.conn.SetReadDeadline(time.Now().Add(wait))
	n, _, err := u.conn.ReadFromUDP(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

func (u *rawUDP) register(branch string, cseq int, via string) string {
	return fmt.Sprintf("REGISTER sip:127.0.0.1 SIP/2.0\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s%s\n"+
		"Max-Forwards: 70\n"+
		"From: <sip:5001@127.0.0.1>;tag=a1\n"+
		"To: <sip:5001@127.0.0.1>\n"+
		"Call-ID: stateless-%s\n"+
		"CSeq: %d REGISTER\n"+
		"Contact: <sip:5001@127.0.0.1:%d>\n"+
		"Expires: 60\n"+
		"Content-Length: 0\n\n", u.port(), branch, via, branch, cseq, u.port())
}

// TestStatelessRegister checks that REGISTER over UDP is answered without
// a server transaction: every copy reaches the handler (a transaction
// would absorb the retransmission), the response goes to the source with
// rport filled in, an invalid REGISTER gets 400, and a draining server
// 503. Over TCP, and with Stateless turned off, REGISTER keeps its
// transaction. Served inline on the read loop, the requests a handler
// saw stay intact once the socket's buffer has been read into again.
func TestStatelessRegister(t *testing.T) {
	leakCheck(t)
	tests := []struct {
		name      string
		stateless []sip.Method
		inline    bool
		wantCalls int64
	}{
		{"default", nil, false, 2},
		{"inline", nil, true, 2},
		{"off", []sip.Method{}, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			var mu sync.Mutex
			seen := map[*sip.Request]string{}
			srv, err := sip.NewServer(sip.Config{
				Listen:          []sip.Listen{{Network: "udp", Addr: "127.0.0.1:0"}},
				Stateless:       tt.stateless,
				InlineStateless: tt.inline,
			}, sip.WithLogger(testLogger()))
			if err != nil {
				t.Fatal(err)
			}
			h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
				calls.Add(1)
				mu.Lock()
				seen[r] = r.String()
				mu.Unlock()
				return w.WriteResponse(sip.NewResponse(r, 200, "OK"))
			})
			if err := srv.Start(h); err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			u := newRawUDP(t, srv.Local().Addr("udp"))

			reg := u.register("r1", 1, ";rport")
			u.send(reg)
			res := u.read(2 * time.Second)
			if !strings.HasPrefix(res, "SIP/2.0 200 ") {
				t.Fatalf("REGISTER: got %q, want 200", res)
			}
			if want := fmt.Sprintf("rport=%d", u.port()); !strings.Contains(res, want) || !strings.Contains(res, "received=127.0.0.1") {
				t.Errorf("response Via lacks %s and received: %q", want, res)
			}
			u.send(reg) // a retransmission
			if res := u.read(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200 ") {
				t.Fatalf("retransmitted REGISTER: got %q, want 200 again", res)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("handler calls: got %d, want %d", got, tt.wantCalls)
			}

			// A REGISTER whose CSeq names another method is malformed.
			bad := strings.Replace(u.register("r2", 2, ""), "CSeq: 2 REGISTER", "CSeq: 2 INVITE", 1)
			u.send(bad)
			if res := u.read(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 400 ") {
				t.Errorf("CSeq method mismatch: got %q, want 400", res)
			}
			mu.Lock()
			defer mu.Unlock()
			for r, was := range seen {
				if now := r.String(); now != was {
					t.Errorf("a request changed after its handler saw it:\nwas %q\nnow %q", was, now)
				}
			}
		})
	}
}

// TestStatelessDraining checks that a REGISTER reaching a draining server
// over UDP gets 503 with Retry-After, as requests with a transaction do.
func TestStatelessDraining(t *testing.T) {
	leakCheck(t)
	srv, err := sip.NewServer(sip.Config{Listen: []sip.Listen{{Network: "udp", Addr: "127.0.0.1:0"}}}, sip.WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		if r.Method == sip.OPTIONS {
			started <- struct{}{}
			<-release
		}
		return w.WriteResponse(sip.NewResponse(r, 200, "OK"))
	})
	if err := srv.Start(h); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	u := newRawUDP(t, srv.Local().Addr("udp"))
	// An OPTIONS held by the handler keeps Shutdown draining.
	u.send(strings.ReplaceAll(strings.ReplaceAll(u.register("o1", 1, ""), "REGISTER", "OPTIONS"), "Expires: 60\n", ""))
	<-started
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	deadline := time.Now().Add(2 * time.Second)
	var res string
	for time.Now().Before(deadline) {
		u.send(u.register("d1", 1, ""))
		res = u.read(200 * time.Millisecond)
		if strings.HasPrefix(res, "SIP/2.0 503 ") {
			break
		}
	}
	if !strings.HasPrefix(res, "SIP/2.0 503 ") || !strings.Contains(res, "Retry-After: 30") {
		t.Errorf("REGISTER while draining: got %q, want 503 with Retry-After", res)
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}
