package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip/siptest"
)

// freePort returns a port free on 127.0.0.1 for both UDP and TCP, above
// the kernel's ephemeral range (32768–60999 on Linux) and the tests' media
// ports (baresip's 10000–19999, the relay's and media box's 20000–32399):
// a port the kernel had just handed out and taken
// back could be given again, between the check and the server's bind, as
// the local port of another test's outgoing connection ("bind: address
// already in use", seen in CI).
func freePort(t *testing.T, network string) int {
	t.Helper()
	for range 1000 {
		n := testPortMin + rand.IntN(testPortMax-testPortMin)
		handedMu.Lock()
		seen := handed[n]
		handedMu.Unlock()
		if seen || !portFree(n) {
			continue
		}
		handedMu.Lock()
		seen = handed[n]
		handed[n] = true
		handedMu.Unlock()
		if !seen {
			return n
		}
	}
	t.Fatalf("no free %s port in %d-%d", network, testPortMin, testPortMax-1)
	return 0
}

// The ports freePort chooses from.
const testPortMin, testPortMax = 61000, 65536

// handed are the ports freePort returned in this test binary: two servers
// of one test (a cluster's nodes) must not be told the same one; the first
// would answer the second's readiness check while the second fails to bind.
var (
	handedMu sync.Mutex
	handed   = map[int]bool{}
)

// portFree reports whether port n can be bound on 127.0.0.1 over UDP and
// TCP (a SIP listener takes both).
func portFree(n int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(n))
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	defer pc.Close()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// syncBuffer is a goroutine-safe bytes.Buffer for the server's stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// example is one example server (a node) run in-process.
type example struct {
	t      *testing.T
	dir    string
	cfg    string
	addr   string
	http   string // the -http address: 127.0.0.1:0 unless a test needs to know it
	stderr *syncBuffer
	stop   func()
}

// newExample prepares a node in its own directory with the given config
// file contents (the database is dir/unisi.db unless the config says
// otherwise), initialised and seeded as `unisi init` does; cli and start
// act on it.
func newExample(t *testing.T, config string) *example {
	t.Helper()
	e := newBareExample(t, config)
	e.cli(0, "init")
	return e
}

// newBareExample is newExample without the database: the first serve (or
// init) creates it.
func newBareExample(t *testing.T, config string) *example {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "unisi.toml")
	if !strings.Contains(config, "[mediabox]") {
		// One media box per machine answers on the seed's 127.0.0.1:5080:
		// the tests that call it start theirs on a port of their own
		// (startMediaBox).
		config += "\n[mediabox]\nenabled = false\n"
	}
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return &example{t: t, dir: dir, cfg: cfg, addr: "127.0.0.1:" + strconv.Itoa(freePort(t, "udp")), stderr: &syncBuffer{}}
}

func (e *example) globals() []string {
	http := e.http
	if http == "" {
		http = "127.0.0.1:0"
	}
	return []string{"-sip", e.addr, "-http", http, "-db", filepath.Join(e.dir, "unisi.db"), "-config", e.cfg}
}

// cli runs an operator command against the node's database and returns
// its output; want is the exit status expected.
func (e *example) cli(want int, args ...string) string {
	e.t.Helper()
	return e.cliT(e.t, want, args...)
}

// cliErr runs a command like cli and returns what it wrote to stderr.
func (e *example) cliErr(want int, args ...string) string {
	e.t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), append(e.globals(), args...), &out, &errb); code != want {
		e.t.Fatalf("unisi %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out.String(), errb.String())
	}
	return errb.String()
}

// cliT is cli reporting to t (a subtest).
func (e *example) cliT(t *testing.T, want int, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append(e.globals(), args...), &out, &errb)
	if code != want {
		t.Fatalf("unisi %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out.String(), errb.String())
	}
	return out.String()
}

// start runs the server until the test ends (or stop), waiting until it
// answers OPTIONS. The SIP and HTTP ports were free when they were picked;
// if another process took one since, start picks another for it and tries
// again.
func (e *example) start() {
	e.t.Helper()
	for attempt := 1; ; attempt++ {
		before := len(e.stderr.String())
		code, up := e.try()
		if up {
			return
		}
		failed := e.stderr.String()[before:]
		if attempt < 5 && strings.Contains(failed, "address already in use") {
			if e.http != "" && strings.Contains(failed, "http: listen tcp "+e.http) {
				e.http = "127.0.0.1:" + strconv.Itoa(freePort(e.t, "tcp"))
			} else {
				e.addr = "127.0.0.1:" + strconv.Itoa(freePort(e.t, "udp"))
			}
			continue
		}
		e.t.Fatalf("server exited %d:\n%s", code, e.stderr.String())
	}
}

// try starts the server and waits until it answers OPTIONS (up) or exits
// (its exit status).
func (e *example) try() (code int, up bool) {
	e.t.Helper()
	// The pinger binds first: had it taken the server's port as its own,
	// it would answer its own OPTIONS while the server fails to bind.
	pinger := siptest.NewUA(e.t, siptest.WithUser("ping"))
	defer pinger.Close()
	if pinger.Addr() == e.addr {
		e.addr = "127.0.0.1:" + strconv.Itoa(freePort(e.t, "udp"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, e.globals(), e.stderr, e.stderr) }()
	for range 200 {
		pctx, pcancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		res, err := pinger.Options(pctx, "sip:"+e.addr)
		pcancel()
		if err == nil && res.StatusCode == 200 {
			select {
			case code := <-done: // someone else answered on the port
				cancel()
				return code, false
			default:
			}
			if !ownsUDP(e.t, e.addr) {
				// Another process answered on the port (a test binary
				// of another package took it) while this server is
				// still starting: it will fail to bind and exit.
				time.Sleep(20 * time.Millisecond)
				continue
			}
			stopped := false
			e.stop = func() {
				if stopped {
					return
				}
				stopped = true
				cancel()
				if code := <-done; code != 0 {
					e.t.Errorf("server exited %d:\n%s", code, e.stderr.String())
				}
			}
			e.t.Cleanup(e.stop)
			return 0, true
		}
		select {
		case code := <-done:
			cancel()
			return code, false
		default:
		}
	}
	cancel()
	<-done
	e.t.Fatalf("server not answering:\n%s", e.stderr.String())
	return 0, false
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// phone registers a UA as user through the node.
func (e *example) phone(user string) *siptest.UA {
	e.t.Helper()
	ua := siptest.NewUA(e.t, siptest.WithUser(user), siptest.WithProxy(e.addr), siptest.WithCredentials(user, "unisi"+user))
	res, err := ua.Register(ctxT(e.t, 5*time.Second), e.addr, "sip:"+user+"@voip.unisi.it", "unisi"+user, 3600)
	if err != nil || res.StatusCode != 200 {
		e.t.Fatalf("REGISTER %s: %v %v\n%s", user, res, err, e.stderr.String())
	}
	return ua
}

func finalCode(t *testing.T, c *siptest.Call, err error) int {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.WaitFinal(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode
}

// TestUniSICalls places the calls of issues #4 and #6 through the
// example: phones register with digest and call each other; 5500 reaches
// the media box as FAX_5500; an international call needs the class; a
// gateway's call needs no authentication; a blocked account cannot
// register.
func TestUniSICalls(t *testing.T) {
	gwPort := freePort(t, "udp")
	e := newExample(t, "[routing]\nprobe_interval = \"0s\"\n")
	gws := e.gateways(nil)
	media := gws["media-asterisk"]
	e.cli(0, "address", "add", "1", "127.0.0.1", "-port", strconv.Itoa(gwPort), "-tag", "test-gateway")
	e.start()

	callee := e.phone("5003")
	caller := e.phone("5002")
	ctx := ctxT(t, 10*time.Second)

	t.Run("phone to phone", func(t *testing.T) {
		call, err := caller.Invite(ctx, "sip:5003@"+e.addr)
		if code := finalCode(t, call, err); code != 200 {
			t.Fatalf("got %d, want 200", code)
		}
		if codes := call.Codes(); codes[0] != 407 {
			t.Errorf("the first answer was %v, want a 407 challenge", codes)
		}
		if res, err := call.Bye(ctx); err != nil || res.StatusCode != 200 {
			t.Fatalf("BYE: %v %v", res, err)
		}
	})
	t.Run("fax number to the media box", func(t *testing.T) {
		call, err := caller.Invite(ctx, "sip:5500@"+e.addr)
		if code := finalCode(t, call, err); code != 200 {
			t.Fatalf("got %d, want 200", code)
		}
		in, err := media.WaitIncoming(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if u := in.Invite.Recipient.User; u != "FAX_5500" {
			t.Errorf("the media box got %q, want FAX_5500", u)
		}
		call.Bye(ctx)
	})
	t.Run("international without the class", func(t *testing.T) {
		local := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(e.addr), siptest.WithCredentials("5001", "unisi5001"))
		call, err := local.Invite(ctx, "sip:000442079460000@"+e.addr)
		if code := finalCode(t, call, err); code != 403 {
			t.Fatalf("got %d, want 403", code)
		}
		if n := invites(gws, sienaPRIs...); n != 0 {
			t.Errorf("the PSTN gateways got %d INVITEs", n)
		}
	})
	t.Run("international with the class", func(t *testing.T) {
		call, err := caller.Invite(ctx, "sip:000442079460000@"+e.addr)
		if code := finalCode(t, call, err); code != 200 {
			t.Fatalf("got %d, want 200", code)
		}
		if n := invites(gws, sienaPRIs...); n != 1 {
			t.Errorf("the Siena PRIs got %d INVITEs, want 1", n)
		}
		call.Bye(ctx)
	})
	t.Run("trusted gateway needs no authentication", func(t *testing.T) {
		gwua := siptest.NewUA(t, siptest.WithListen("127.0.0.1:"+strconv.Itoa(gwPort)), siptest.WithUser("0577232111"), siptest.WithProxy(e.addr))
		call, err := gwua.Invite(ctx, "sip:5003@"+e.addr)
		if code := finalCode(t, call, err); code != 200 {
			t.Fatalf("got %d, want 200", code)
		}
		for _, c := range call.Codes() {
			if c == 401 || c == 407 {
				t.Errorf("the gateway was challenged: %v", call.Codes())
			}
		}
		call.Bye(ctx)
	})
	t.Run("blocked account", func(t *testing.T) {
		ua := siptest.NewUA(t, siptest.WithUser("5009"))
		res, err := ua.Register(ctx, e.addr, "sip:5009@voip.unisi.it", "unisi5009", 3600)
		if err != nil || res.StatusCode != 403 {
			t.Fatalf("got %v %v, want 403", res, err)
		}
	})
	t.Run("unknown number", func(t *testing.T) {
		call, err := caller.Invite(ctx, "sip:999@"+e.addr)
		if code := finalCode(t, call, err); code != 420 {
			t.Fatalf("got %d, want 420 Invalid Destination", code)
		}
	})
	_ = callee
}

func mediaPort(ua *siptest.UA) int {
	_, p, _ := net.SplitHostPort(ua.Addr())
	n, _ := strconv.Atoi(p)
	return n
}

// serverApp opens (creating and seeding if new) the configured database
// and builds the app over it, as serve does, without metrics.
func serverApp(ctx context.Context, cfg Config, log *slog.Logger) (*app, error) {
	db, err := openForServe(ctx, cfg, log, true)
	if err != nil {
		return nil, err
	}
	return newApp(ctx, cfg, db, log, nil)
}

// rows runs a list command with -json and returns its rows, each field
// as fmt.Sprint shows it.
func (e *example) rows(args ...string) []map[string]string {
	e.t.Helper()
	out := e.cli(0, append(args, "-json")...)
	var raw []map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		e.t.Fatalf("unisi %s -json: %v\n%s", strings.Join(args, " "), err, out)
	}
	res := make([]map[string]string, len(raw))
	for i, r := range raw {
		res[i] = map[string]string{}
		for k, v := range r {
			if list, ok := v.([]any); ok {
				parts := make([]string, len(list))
				for j, x := range list {
					parts[j] = fmt.Sprint(x)
				}
				res[i][k] = strings.Join(parts, ",")
				continue
			}
			res[i][k] = fmt.Sprint(v)
		}
	}
	return res
}

// row returns the row of a list command whose field key is val.
func (e *example) row(key, val string, args ...string) map[string]string {
	e.t.Helper()
	for _, r := range e.rows(args...) {
		if r[key] == val {
			return r
		}
	}
	return nil
}

// ownsUDP reports whether this process holds a UDP socket bound to addr
// (host:port), from /proc/net/udp and the process's descriptors; true
// where /proc cannot tell.
func ownsUDP(t testing.TB, addr string) bool {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return true
	}
	table, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return true
	}
	b := ap.Addr().As4()
	// /proc/net/udp writes the address as a little-endian hex word.
	want := fmt.Sprintf("%02X%02X%02X%02X:%04X", b[3], b[2], b[1], b[0], ap.Port())
	inodes := map[string]bool{}
	for _, line := range strings.Split(string(table), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && f[1] == want {
			inodes["socket:["+f[9]+"]"] = true
		}
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return true
	}
	for _, fd := range fds {
		if link, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && inodes[link] {
			return true
		}
	}
	return false
}

// TestOwnsUDP: the start-up check tells this process's socket from a
// free port.
func TestOwnsUDP(t *testing.T) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	if !ownsUDP(t, addr) {
		t.Errorf("ownsUDP(%s) = false for a socket of ours", addr)
	}
	c.Close()
	if ownsUDP(t, addr) {
		t.Errorf("ownsUDP(%s) = true once the socket is closed", addr)
	}
}
