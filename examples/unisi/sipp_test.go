package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSIPp runs SIPp's bench UAC through the example to SIPp's UAS with the
// harness's scenarios (INVITE/180/200/ACK/pause/BYE), 100 calls, after the
// harness's preparation: 127.0.0.1 trusted and a permanent binding for
// 5002. Every call must succeed.
func TestSIPp(t *testing.T) {
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp not installed (apt-get install sip-tester); .ci/run installs it")
	}
	uasPort := freePort(t, "udp")
	e := newExample(t, "[log]\nlevel = \"warn\"\n")
	e.cli(0, "address", "add", "1", "127.0.0.1/32", "-tag", "bench")
	e.cli(0, "location", "add", "5002", "sip:5002@127.0.0.1:"+strconv.Itoa(uasPort))
	e.start()

	dir := t.TempDir()
	_, uasOut := startSIPp(t, dir, "uas.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(uasPort),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")), "-timeout", "60s", "-m", "100")
	time.Sleep(200 * time.Millisecond)
	out, err := runSIPp(dir, "uac.xml", "-s", "5002", "-i", "127.0.0.1",
		"-p", strconv.Itoa(freePort(t, "udp")), "-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")),
		"-r", "50", "-m", "100", "-l", "200", "-timeout", "60s", "-recv_timeout", "10000",
		"-trace_stat", "-stf", "uac_stat.csv", e.addr)
	stat, _ := os.ReadFile(filepath.Join(dir, "uac_stat.csv"))
	succ, fail := statColumn(string(stat), "SuccessfulCall(C)"), statColumn(string(stat), "FailedCall(C)")
	if err != nil || succ != "100" || fail != "0" {
		t.Fatalf("sipp: %v, successful=%s failed=%s\n%s\nUAS:\n%s\nserver:\n%s", err, succ, fail, tail(string(out), 40), tail(uasOut.String(), 20), tail(e.stderr.String(), 30))
	}
	t.Logf("sipp: 100 calls, successful=%s failed=%s", succ, fail)
}

// startSIPp runs SIPp in dir on a scenario of testdata (-nostdin and
// the default behaviours without abort on unexpected messages added)
// until the test ends (or the test waits for it), and returns it and
// its output for failure messages.
func startSIPp(t *testing.T, dir, scenario string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	scen, _ := filepath.Abs(filepath.Join("testdata", scenario))
	cmd := exec.Command("sipp", append(append([]string{"-sf", scen}, args...), "-nostdin", "-default_behaviors", "all,-abortunexp")...)
	cmd.Dir = dir
	out := &syncBuffer{} // read on failure while SIPp still runs
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, out
}

// runSIPp runs SIPp in dir on a scenario of testdata like startSIPp, to
// its end, and returns its output.
func runSIPp(dir, scenario string, args ...string) ([]byte, error) {
	scen, _ := filepath.Abs(filepath.Join("testdata", scenario))
	cmd := exec.Command("sipp", append(append([]string{"-sf", scen}, args...), "-nostdin", "-default_behaviors", "all,-abortunexp")...)
	cmd.Dir = dir
	return cmd.CombinedOutput()
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
