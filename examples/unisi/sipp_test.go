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
	scen, _ := filepath.Abs("testdata")
	uas := exec.Command("sipp", "-sf", filepath.Join(scen, "uas.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(uasPort),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")), "-nostdin", "-default_behaviors", "all,-abortunexp",
		"-timeout", "60s", "-m", "100")
	uas.Dir = dir
	uasOut := &syncBuffer{} // read on failure while the UAS still runs
	uas.Stdout, uas.Stderr = uasOut, uasOut
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
		"-nostdin", "-default_behaviors", "all,-abortunexp", "-trace_stat", "-stf", "uac_stat.csv", e.addr)
	uac.Dir = dir
	out, err := uac.CombinedOutput()
	stat, _ := os.ReadFile(filepath.Join(dir, "uac_stat.csv"))
	succ, fail := statColumn(string(stat), "SuccessfulCall(C)"), statColumn(string(stat), "FailedCall(C)")
	if err != nil || succ != "100" || fail != "0" {
		t.Fatalf("sipp: %v, successful=%s failed=%s\n%s\nUAS:\n%s\nserver:\n%s", err, succ, fail, tail(string(out), 40), tail(uasOut.String(), 20), tail(e.stderr.String(), 30))
	}
	t.Logf("sipp: 100 calls, successful=%s failed=%s", succ, fail)
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
