package daemon_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/palio-voip/palio/internal/daemon"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPortRange(t *testing.T) {
	for _, tc := range []struct {
		in     string
		lo, hi int
		ok     bool
	}{
		{"30000-32767", 30000, 32767, true},
		{"5060-5060", 5060, 5060, true},
		{"32767-30000", 0, 0, false},
		{"0-100", 0, 0, false},
		{"1-65536", 0, 0, false},
		{"30000", 0, 0, false},
		{"a-b", 0, 0, false},
		{"", 0, 0, false},
	} {
		lo, hi, err := daemon.PortRange("ports", tc.in)
		if (err == nil) != tc.ok || lo != tc.lo || hi != tc.hi {
			t.Errorf("PortRange(%q) = %d, %d, %v", tc.in, lo, hi, err)
		}
		if err != nil && (daemon.Status(err) != 2 || !strings.Contains(err.Error(), "-ports")) {
			t.Errorf("PortRange(%q): %v is not a usage error naming -ports", tc.in, err)
		}
	}
}

func TestParseAndStatus(t *testing.T) {
	newFS := func() *flag.FlagSet {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.Int("n", 0, "")
		return fs
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"-n", "3"}, 0},
		{[]string{"-h"}, 0},
		{[]string{"-m"}, 2},
		{[]string{"-n", "x"}, 2},
		{[]string{"stray"}, 2},
	} {
		if got := daemon.Status(daemon.Parse(newFS(), tc.args)); got != tc.code {
			t.Errorf("%v: status %d, want %d", tc.args, got, tc.code)
		}
	}
	if got := daemon.Status(errors.New("disk full")); got != 1 {
		t.Errorf("another error: status %d, want 1", got)
	}
}

func TestLogger(t *testing.T) {
	var b bytes.Buffer
	log, err := daemon.Logger(&b, "log", "warn")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown")
	if s := b.String(); strings.Contains(s, "hidden") || !strings.Contains(s, "shown") {
		t.Errorf("a warn logger wrote %q", s)
	}
	if _, err := daemon.Logger(&b, "log", "loud"); daemon.Status(err) != 2 || !strings.Contains(err.Error(), `-log "loud"`) {
		t.Errorf("a bad level: %v", err)
	}
}

func TestServeMetrics(t *testing.T) {
	addr, stop, err := daemon.ServeMetrics("127.0.0.1:0", daemon.Registry())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for path, want := range map[string]string{"/metrics": "go_goroutines", "/debug/pprof/": "goroutine"} {
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d, no %q in the body", path, res.StatusCode, want)
		}
	}
	http.DefaultClient.CloseIdleConnections()
}
