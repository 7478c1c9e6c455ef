package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/palio-voip/palio/internal/daemon"

	"go.uber.org/goleak"

	"github.com/palio-voip/palio/mediabridge"
	"github.com/palio-voip/palio/mediabridge/ng"
)

// TestMain runs the daemon itself when the test binary is re-executed by
// TestDaemon, so that the daemon is a real process that gets a real
// SIGTERM.
func TestMain(m *testing.M) {
	if os.Getenv("PALIO_MEDIABRIDGE_MAIN") == "1" {
		main()
		return
	}
	goleak.VerifyTestMain(m)
}

// TestDaemon starts palio-mediabridge as a subprocess, drives one call
// through it over the ng protocol with RTP flowing through the rewritten
// addresses, deletes it, and stops the daemon with SIGTERM.
func TestDaemon(t *testing.T) {
	base := 20000 + 2*rand.IntN(4000)
	cmd := exec.Command(os.Args[0], "-ng", "127.0.0.1:0", "-bind", "127.0.0.1",
		"-ports", fmt.Sprintf("%d-%d", base, base+15), "-workers", "2", "-metrics", "127.0.0.1:0", "-log-level", "debug")
	cmd.Env = append(os.Environ(), "PALIO_MEDIABRIDGE_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var logBuf bytes.Buffer
	addrs := make(chan string, 2)
	go func() {
		re := regexp.MustCompile(`msg="(ng|metrics) listening" addr=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logBuf.WriteString(sc.Text() + "\n")
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrs <- m[1] + " " + m[2]
			}
		}
		io.Copy(io.Discard, stderr)
		exited <- cmd.Wait()
	}()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()
	var ngAddr, metricsAddr string
	for ngAddr == "" || metricsAddr == "" {
		select {
		case a := <-addrs:
			kind, addr, _ := strings.Cut(a, " ")
			if kind == "ng" {
				ngAddr = addr
			} else {
				metricsAddr = addr
			}
		case err := <-exited:
			t.Fatalf("the daemon exited at start: %v\n%s", err, logBuf.String())
		case <-time.After(10 * time.Second):
			t.Fatal("the daemon did not log its listening addresses within 10 s")
		}
	}

	cli, err := net.Dial("udp", ngAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	n := 0
	call := func(req ng.Dict) ng.Dict {
		t.Helper()
		n++
		b, _ := ng.Append(fmt.Appendf(nil, "t%d ", n), req)
		cli.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := cli.Write(b); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 65535)
		m, err := cli.Read(buf)
		if err != nil {
			t.Fatalf("%s: no reply: %v", req.String("command"), err)
		}
		_, body, _ := strings.Cut(string(buf[:m]), " ")
		v, _, err := ng.Decode([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		d := v.(ng.Dict)
		if r := d.String("result"); r != "ok" && r != "pong" {
			t.Fatalf("%s: got %v", req.String("command"), d)
		}
		return d
	}
	call(ng.Dict{"command": "ping"})
	a, b := listen(t), listen(t)
	toB := sdpDest(t, call(ng.Dict{"command": "offer", "call-id": "d1", "from-tag": "fa", "sdp": sdpOf(a), "ICE": "remove"}).String("sdp"))
	toA := sdpDest(t, call(ng.Dict{"command": "answer", "call-id": "d1", "from-tag": "fa", "to-tag": "tb", "sdp": sdpOf(b)}).String("sdp"))
	pkt := make([]byte, 172)
	pkt[0] = 0x80
	for i, leg := range []struct {
		from, to *net.UDPConn
		dst      netip.AddrPort
	}{{a, b, toA}, {b, a, toB}} {
		pkt[3] = byte(i)
		if _, err := leg.from.WriteToUDPAddrPort(pkt, leg.dst); err != nil {
			t.Fatal(err)
		}
		leg.to.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 2048)
		if m, _, err := leg.to.ReadFromUDPAddrPort(buf); err != nil || !bytes.Equal(buf[:m], pkt) {
			t.Fatalf("RTP through %v: %v", leg.dst, err)
		}
	}
	del := call(ng.Dict{"command": "delete", "call-id": "d1", "from-tag": "fa"})
	if p := del["totals"].(ng.Dict)["RTP"].(ng.Dict)["packets"]; p != int64(2) {
		t.Errorf("delete: %v RTP packets, want 2", p)
	}

	resp, err := (&net.Dialer{}).DialContext(context.Background(), "tcp", metricsAddr)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	fmt.Fprintf(resp, "GET /metrics HTTP/1.0\r\n\r\n")
	resp.SetDeadline(time.Now().Add(5 * time.Second))
	page, _ := io.ReadAll(resp)
	resp.Close()
	if !bytes.Contains(page, []byte(`palio_mediabridge_packets_total{kind="rtp"} 2`)) {
		t.Errorf("/metrics does not count the 2 RTP packets:\n%s", page)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGTERM: %v, want exit status 0\n%s", err, logBuf.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon did not exit within 10 s of SIGTERM")
	}
}

func listen(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func sdpOf(c *net.UDPConn) string {
	a := c.LocalAddr().(*net.UDPAddr).AddrPort()
	return fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\n", a.Addr(), a.Addr(), a.Port())
}

func sdpDest(t *testing.T, body string) netip.AddrPort {
	t.Helper()
	d, err := mediabridge.ParseBody("application/sdp", []byte(body))
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	return d.Streams()[0].RTP
}

// TestRunFlags: a bad command line is a usage error, before anything
// is opened.
func TestRunFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"port range", []string{"-ports", "20000"}, "-ports"},
		{"bind", []string{"-bind", "pbx.example"}, "-bind"},
		{"log level", []string{"-log-level", "chatty"}, "-log-level"},
		{"extra argument", []string{"serve"}, "unexpected"},
		{"unknown flag", []string{"-kernel"}, "not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, io.Discard)
			if !errors.As(err, new(daemon.UsageError)) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%q): got %v, want a usage error about %s", tt.args, err, tt.want)
			}
		})
	}
}
