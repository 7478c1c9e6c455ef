package sip_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// TestTortureOverSockets sends every RFC 4475 torture message sipgo ships
// (valid and invalid) to a running proxy over UDP and over TCP, and checks
// after each that the proxy still answers an OPTIONS ping: malformed input
// gets an error or is dropped, never a crash or a stuck listener.
func TestTortureOverSockets(t *testing.T) {
	leakCheck(t)
	dir, err := goModDir("github.com/emiago/sipgo")
	if err != nil {
		t.Skipf("cannot locate the sipgo module: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "sip", "testdata", "torture", "*", "*.dat"))
	if len(files) == 0 {
		t.Skip("no torture messages in the sipgo module")
	}
	p := newProxy(t, sip.ForwarderConfig{FirstResponse: 300 * time.Millisecond})
	sink := siptest.NewUA(t, siptest.WithUser("sink"))
	for _, u := range []string{"vivekg", "j.user", "user", "caller", "sip%3Auser%40example.com", "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"} {
		p.route(u, target(t, sink.URI()))
	}
	pinger := siptest.NewUA(t, siptest.WithUser("ping"))
	ping := func(name string) {
		t.Helper()
		ctx := ctxT(t, 3*time.Second)
		res, err := pinger.Options(ctx, "sip:"+p.udp())
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("after %s the proxy no longer answers OPTIONS: %v %v", name, res, err)
		}
	}
	udp, err := net.Dial("udp", p.udp())
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for _, f := range files {
		name := filepath.Base(filepath.Dir(f)) + "/" + filepath.Base(f)
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := udp.Write(data); err != nil {
			t.Fatal(err)
		}
		if name == "valid/dblreq.dat" {
			// Over TCP, sipgo drops the connection at the blank line between
			// the two requests and then dials the Via address
			// (192.0.2.15, unroutable) to answer the second: a 10 s dial in
			// sipgo that would outlive the test. UDP covers the message.
			ping(name)
			continue
		}
		tcp, err := net.Dial("tcp", p.tcp())
		if err != nil {
			t.Fatal(err)
		}
		// Keep the connection open: with it closed, sipgo would dial the
		// Via of the message (an unroutable address in most of them) to
		// answer it.
		defer tcp.Close()
		_, _ = tcp.Write(data)
		ping(name)
	}
}

// goModDir returns the directory of a module the build uses.
func goModDir(module string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	return strings.TrimSpace(string(out)), err
}
