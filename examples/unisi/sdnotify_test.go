package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// notifySocket is a service manager's end of $NOTIFY_SOCKET: a unixgram
// socket whose datagrams the test reads.
type notifySocket struct {
	t    *testing.T
	conn *net.UnixConn
}

// newNotifySocket listens on a unixgram socket, at a path or (abstract)
// "@name", and points $NOTIFY_SOCKET at it for the test.
func newNotifySocket(t *testing.T, abstract bool) *notifySocket {
	t.Helper()
	name := filepath.Join(t.TempDir(), "notify.sock")
	env := name
	if abstract {
		env = "@palio-test-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		name = "\x00" + env[1:]
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", env)
	return &notifySocket{t: t, conn: c}
}

// next returns the next datagram, failing after d.
func (n *notifySocket) next(d time.Duration) string {
	n.t.Helper()
	_ = n.conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	k, err := n.conn.Read(buf)
	if err != nil {
		n.t.Fatalf("notify socket: %v", err)
	}
	return string(buf[:k])
}

// waitFor reads datagrams until one holds want.
func (n *notifySocket) waitFor(want string, d time.Duration) string {
	n.t.Helper()
	deadline := time.Now().Add(d)
	for {
		msg := n.next(time.Until(deadline))
		for _, line := range strings.Split(msg, "\n") {
			if line == want {
				return msg
			}
		}
	}
}

// TestSDNotify: the sd_notify protocol over a real unixgram socket, named
// by a path and by an abstract name; without $NOTIFY_SOCKET nothing is
// sent and nothing fails.
func TestSDNotify(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run(map[bool]string{false: "path", true: "abstract"}[abstract], func(t *testing.T) {
			ns := newNotifySocket(t, abstract)
			if err := sdNotify("READY=1\nSTATUS=serving"); err != nil {
				t.Fatal(err)
			}
			if got := ns.next(time.Second); got != "READY=1\nSTATUS=serving" {
				t.Errorf("got %q", got)
			}
		})
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if err := sdNotify("READY=1"); err != nil {
		t.Errorf("without NOTIFY_SOCKET: %v", err)
	}
	t.Setenv("NOTIFY_SOCKET", "vsock:2:1234")
	if err := sdNotify("READY=1"); err == nil {
		t.Error("vsock: no error")
	}
}

// TestSDWatchdog: WATCHDOG_USEC gives the keepalive interval (half of
// it), for this process only (WATCHDOG_PID); keepalives are sent while
// the server is alive and not when it is not.
func TestSDWatchdog(t *testing.T) {
	for _, tt := range []struct {
		usec, pid string
		want      time.Duration
	}{
		{"", "", 0},
		{"30000000", "", 15 * time.Second},
		{"30000000", strconv.Itoa(os.Getpid()), 15 * time.Second},
		{"30000000", "1", 0},
		{"junk", "", 0},
	} {
		t.Setenv("WATCHDOG_USEC", tt.usec)
		t.Setenv("WATCHDOG_PID", tt.pid)
		if got := sdWatchdog(); got != tt.want {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: got %v, want %v", tt.usec, tt.pid, got, tt.want)
		}
	}
	ns := newNotifySocket(t, false)
	t.Setenv("WATCHDOG_USEC", "40000")
	t.Setenv("WATCHDOG_PID", "")
	ctx, cancel := context.WithCancel(context.Background())
	alive := make(chan bool, 1)
	alive <- true
	done := make(chan struct{})
	go func() {
		defer close(done)
		sdKeepAlive(ctx, func() bool {
			v := <-alive
			alive <- v
			return v
		})
	}()
	for range 3 {
		if got := ns.next(time.Second); got != "WATCHDOG=1" {
			t.Errorf("got %q, want WATCHDOG=1", got)
		}
	}
	<-alive
	alive <- false
	_ = ns.conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	for { // drain what was sent before the switch
		if _, err := ns.conn.Read(make([]byte, 64)); err != nil {
			break
		}
		_ = ns.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	}
	_ = ns.conn.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	if n, err := ns.conn.Read(make([]byte, 64)); err == nil {
		t.Errorf("a keepalive (%d bytes) while the server is not alive", n)
	}
	cancel()
	<-done
}
