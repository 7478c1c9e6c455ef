package main

import (
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
	"github.com/palio-voip/palio/store/storetest"
)

// TestRestartKeepsBindings: a phone's registration, stored in SQLite,
// survives a restart of the server: after it, a call reaches the phone
// without a new REGISTER.
func TestRestartKeepsBindings(t *testing.T) {
	for _, tt := range []struct{ name, config string }{
		{"write-through", ""},
		// The binding is only in memory until an hour has passed: the
		// graceful stop writes it.
		{"write-back", "[registrar]\nwrite_back = \"1h\"\n"},
	} {
		t.Run(tt.name, func(t *testing.T) { testRestartKeepsBindings(t, tt.config) })
	}
}

func testRestartKeepsBindings(t *testing.T, config string) {
	e := newExample(t, config)
	e.start()
	callee := e.phone("5003")
	e.stop()
	if got := e.row("aor", "5003", "location", "list"); got["contact"] != "sip:5003@"+callee.Addr() {
		t.Fatalf("the binding is not in the database after stop: %v", got)
	}
	e.start()
	caller := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithProxy(e.addr), siptest.WithCredentials("5002", "unisi5002"))
	ctx := ctxT(t, 10*time.Second)
	call, err := caller.Invite(ctx, "sip:5003@"+e.addr)
	if code := finalCode(t, call, err); code != 200 {
		t.Fatalf("call after restart: got %d, want 200", code)
	}
	// The call outlives another restart: its in-dialog requests carry the
	// Record-Route signature of the secret kept in the store, which the
	// restarted node (with an empty dialog table) checks and relays.
	e.stop()
	e.start()
	if res, err := call.Request(ctx, sip.INFO, nil); err != nil || res.StatusCode != 200 {
		t.Fatalf("INFO of a call routed before the restart: %v %v\n%s", res, err, e.stderr.String())
	}
	if res, err := call.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE of a call routed before the restart: %v %v", res, err)
	}
}

// mysqlConfig is a node's config on a shared MariaDB database.
func mysqlConfig(dsn string) string {
	return fmt.Sprintf("[store]\nmysql = %q\npoll = \"200ms\"\n[log]\nlevel = \"warn\"\n", dsn)
}

// TestTwoNodesShareMariaDB: two example servers on one MariaDB database.
// A phone registers through node A and a call placed through node B
// reaches it; a user added through node A authenticates on node B; a
// dialplan row changed through A is in effect on B after the poll.
func TestTwoNodesShareMariaDB(t *testing.T) {
	dsn := storetest.MySQLDSN(t)
	a := newExample(t, mysqlConfig(dsn))
	b := newExample(t, mysqlConfig(dsn))
	a.start()
	b.start()
	ctx := ctxT(t, 20*time.Second)

	callee := a.phone("5003")
	caller := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithProxy(b.addr), siptest.WithCredentials("5002", "unisi5002"))
	call, err := caller.Invite(ctx, "sip:5003@"+b.addr)
	if code := finalCode(t, call, err); code != 200 {
		t.Fatalf("call through node B to a phone registered on node A: got %d\nA:\n%s\nB:\n%s", code, a.stderr.String(), b.stderr.String())
	}
	if in, err := callee.WaitIncoming(ctx, 1); err != nil || len(in.Invite.GetHeaders("Via")) != 2 {
		t.Fatalf("the phone did not get the call through B: %v", err)
	}
	call.Bye(ctx)

	a.cli(0, "user", "add", "5200", "-password", "unisi5200", "-classes", "local")
	newUser := siptest.NewUA(t, siptest.WithUser("5200"))
	res, err := newUser.Register(ctx, b.addr, "sip:5200@voip.unisi.it", "unisi5200", 3600)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("a user added through A registering on B: %v %v", res, err)
	}

	// A number no rule knows gets 420 on B; after a rule is added through
	// A, B classifies it once its poll has seen the change.
	probe := func() int {
		c, err := caller.Invite(ctx, "sip:7123@"+b.addr)
		return finalCode(t, c, err)
	}
	if code := probe(); code != 420 {
		t.Fatalf("before the rule: got %d, want 420", code)
	}
	a.cli(0, "location", "add", "7123", "sip:7123@"+callee.Addr())
	tsv := writeFile(t, a.dir, "rule.tsv", "id\tdpid\tpr\tmatch_op\tmatch_exp\tattrs\n200\t0\t1\t1\t^7.{3}$\tvoip\n")
	a.cli(0, "import", "dialplan", tsv)
	deadline := time.Now().Add(5 * time.Second)
	for probe() != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("node B never applied the rule added through A\nB:\n%s", b.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDatabaseOutage: the database stops answering (a TCP proxy in front
// of MariaDB is cut). Calls that need no location keep routing from the
// snapshots; REGISTER gets 500 with a clear log line; once the database is
// back, REGISTER works again without a restart, and nothing written before
// the outage is lost.
func TestDatabaseOutage(t *testing.T) {
	dsn := storetest.MySQLDSN(t)
	px := newTCPProxy(t, "127.0.0.1:3306")
	e := newExample(t, mysqlConfig(strings.Replace(dsn, "127.0.0.1:3306", px.addr(), 1))+"[routing]\nprobe_interval = \"0s\"\n")
	e.gateways(nil)
	e.start()
	ctx := ctxT(t, 30*time.Second)
	phone := e.phone("5003")
	_ = phone
	// The media box is trusted here, so the test call needs no account.
	trusted := siptest.NewUA(t, siptest.WithUser("0577232111"), siptest.WithProxy(e.addr))
	e.cli(0, "address", "add", "1", trusted.Addr()[:strings.LastIndex(trusted.Addr(), ":")], "-port", trusted.Addr()[strings.LastIndex(trusted.Addr(), ":")+1:])
	waitTrusted(t, e, trusted)

	px.cut()
	call, err := trusted.Invite(ctx, "sip:8850@"+e.addr) // class media: no database needed
	if code := finalCode(t, call, err); code != 200 {
		t.Fatalf("media call during the outage: got %d, want 200\n%s", code, e.stderr.String())
	}
	call.Bye(ctx)
	other := siptest.NewUA(t, siptest.WithUser("5004"))
	res, err := other.Register(ctx, e.addr, "sip:5004@voip.unisi.it", "unisi5004", 3600)
	if err == nil && res.StatusCode == 200 {
		t.Fatalf("REGISTER succeeded with the database down")
	}
	if err == nil && res.StatusCode != 500 {
		t.Errorf("REGISTER during the outage: got %d, want 500", res.StatusCode)
	}
	if !strings.Contains(e.stderr.String(), "level=ERROR") || !strings.Contains(e.stderr.String(), "method=REGISTER") {
		t.Errorf("no error logged for the outage:\n%s", e.stderr.String())
	}

	px.restore()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err = other.Register(ctx, e.addr, "sip:5004@voip.unisi.it", "unisi5004", 3600)
		if err == nil && res.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("REGISTER never recovered: %v %v\n%s", res, err, tail(e.stderr.String(), 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if list := e.cli(0, "location", "list"); !regexp.MustCompile(`(?m)^5003 `).MatchString(list) || !regexp.MustCompile(`(?m)^5004 `).MatchString(list) {
		t.Errorf("bindings after the outage:\n%s", list)
	}
}

// waitTrusted waits until the node's address snapshot trusts ua (its poll
// picked up the CLI's row).
func waitTrusted(t *testing.T, e *example, ua *siptest.UA) {
	t.Helper()
	host, port, _ := net.SplitHostPort(ua.Addr())
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(e.cli(0, "route", "8850", "-from", "x", "-src", host+":"+port), "source\ttrusted") {
		if time.Now().After(deadline) {
			t.Fatal("the address never became trusted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(400 * time.Millisecond) // two polls of the running node
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := dir + "/" + name
	if err := writeAll(p, body); err != nil {
		t.Fatal(err)
	}
	return p
}

// tcpProxy forwards TCP connections to a backend and can cut them all
// (a database that stops answering) and let them through again.
type tcpProxy struct {
	t       *testing.T
	ln      net.Listener
	backend string
	mu      sync.Mutex
	down    bool
	conns   []net.Conn
	wg      sync.WaitGroup
}

func newTCPProxy(t *testing.T, backend string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{t: t, ln: ln, backend: backend}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.backend)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); io.Copy(up, c); up.Close() }()
		go func() { defer p.wg.Done(); io.Copy(c, up); c.Close() }()
	}
}

// cut closes every connection and refuses new ones.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *tcpProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}
