package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

func freePort(t *testing.T, network string) int {
	t.Helper()
	var addr string
	switch network {
	case "udp":
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = pc.LocalAddr().String()
		pc.Close()
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr().String()
		l.Close()
	}
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
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

// startExample runs the example server in-process with the given config
// file contents and returns its SIP address.
func startExample(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "unisi.toml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t, "udp")
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"-sip", addr, "-http", "127.0.0.1:0", "-db", filepath.Join(dir, "unisi.db"), "-config", cfgPath}, &stderr, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("server exited %d:\n%s", code, stderr.String())
		}
	})
	// Wait until it answers an OPTIONS ping.
	pinger := siptest.NewUA(t, siptest.WithUser("ping"))
	for i := 0; i < 100; i++ {
		pctx, pcancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		res, err := pinger.Options(pctx, "sip:"+addr)
		pcancel()
		if err == nil && res.StatusCode == 200 {
			return addr
		}
		select {
		case code := <-done:
			t.Fatalf("server exited %d:\n%s", code, stderr.String())
		default:
		}
	}
	t.Fatalf("server not answering:\n%s", stderr.String())
	return ""
}

func TestStaticRouteCall(t *testing.T) {
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	addr := startExample(t, "[[route]]\nnumber = \"5002\"\ntargets = [\""+callee.URI()+"\"]\n")
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(addr))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	call, err := caller.Invite(ctx, "sip:5002@"+addr)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := call.WaitFinal(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("final: %v %v", res, err)
	}
	if res, err := call.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE: %v %v", res, err)
	}
	// A number without a route gets 404.
	call2, _ := caller.Invite(ctx, "sip:9999@"+addr)
	if res, err := call2.WaitFinal(ctx); err != nil || res.StatusCode != 404 {
		t.Fatalf("unrouted: %v %v, want 404", res, err)
	}
}

func TestConfigStrict(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, body, want string
	}{
		{"unknown key", "[sip]\nlisten = \"127.0.0.1:5060\"\nlisten_typo = 1\n", "unknown keys: sip.listen_typo"},
		{"bad level", "[log]\nlevel = \"loud\"\n", "log.level"},
		{"route without targets", "[[route]]\nnumber = \"5002\"\n", "no targets"},
		{"bad target", "[[route]]\nprefix = \"0\"\ntargets = [\"sip:\"]\n", "target"},
		{"bad duration", "[timers]\ntimer_c = \"soon\"\n", "timer_c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".toml")
			os.WriteFile(p, []byte(tt.body), 0o644)
			_, err := loadConfig(p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"frobnicate"}, &stderr, &stderr); code != 2 || !strings.Contains(stderr.String(), "unknown subcommand") {
		t.Errorf("unknown subcommand: exit %d, %q", code, stderr.String())
	}
}

// TestSIPp runs SIPp's UAC through the example server to SIPp's UAS with
// the bench scenarios (INVITE/180/200/ACK/pause/BYE), 100 calls: all must
// succeed.
func TestSIPp(t *testing.T) {
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp not installed (apt-get install sip-tester); .ci/run installs it")
	}
	uasPort := freePort(t, "udp")
	addr := startExample(t, "[log]\nlevel = \"warn\"\n[[route]]\nnumber = \"5002\"\ntargets = [\"sip:5002@127.0.0.1:"+strconv.Itoa(uasPort)+"\"]\n")
	dir := t.TempDir()
	scen, _ := filepath.Abs("testdata")
	uas := exec.Command("sipp", "-sf", filepath.Join(scen, "uas.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(uasPort),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")), "-nostdin", "-default_behaviors", "all,-abortunexp",
		"-timeout", "60s", "-m", "100")
	uas.Dir = dir
	var uasOut bytes.Buffer
	uas.Stdout, uas.Stderr = &uasOut, &uasOut
	if err := uas.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		uas.Process.Kill()
		uas.Wait()
	}()
	time.Sleep(200 * time.Millisecond)
	uac := exec.Command("sipp", "-sf", filepath.Join(scen, "uac.xml"), "-s", "5002", "-i", "127.0.0.1",
		"-p", strconv.Itoa(freePort(t, "udp")), "-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")),
		"-r", "50", "-m", "100", "-l", "200", "-timeout", "60s", "-recv_timeout", "10000",
		"-nostdin", "-default_behaviors", "all,-abortunexp", "-trace_stat", "-stf", "uac_stat.csv", addr)
	uac.Dir = dir
	out, err := uac.CombinedOutput()
	stat, _ := os.ReadFile(filepath.Join(dir, "uac_stat.csv"))
	succ, fail := statColumn(string(stat), "SuccessfulCall(C)"), statColumn(string(stat), "FailedCall(C)")
	if err != nil || succ != "100" || fail != "0" {
		t.Fatalf("sipp: %v, successful=%s failed=%s\n%s\nUAS:\n%s", err, succ, fail, tail(string(out), 40), tail(uasOut.String(), 20))
	}
	t.Logf("sipp: 100 calls, successful=%s failed=%s", succ, fail)
	_ = sip.INVITE
}

// statColumn returns the last row's value of a column of a SIPp stat file.
func statColumn(csv, name string) string {
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if len(lines) < 2 {
		return ""
	}
	head := strings.Split(lines[0], ";")
	last := strings.Split(lines[len(lines)-1], ";")
	for i, h := range head {
		if h == name && i < len(last) {
			return last[i]
		}
	}
	return ""
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
