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

// TestPikeFlood: the flood check against SIPp. Legitimate calls from
// 127.0.0.1 — SIPp's UAC as account 5003 (challenged, then with
// credentials) calling 5002 at SIPp's UAS, 20 calls a second, 8 packets a
// call from 127.0.0.1 — go on while SIPp floods the server with INVITEs
// from 127.0.0.2 at 2000 a second for 20 s. The flood check (1 s units,
// density 300: the legitimate traffic stays at half of it) must block
// 127.0.0.2, once, and drop its packets before parsing, while 127.0.0.1
// is never blocked and its calls succeed: the figure is the share of
// legitimate calls that failed during the flood (target < 0.1 %: none of
// 1000). PALIO_FLOOD_CALLS sets the number of legitimate calls.
func TestPikeFlood(t *testing.T) {
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp not installed (apt-get install sip-tester); .ci/run installs it")
	}
	if testing.Short() {
		t.Skip("-short: the flood runs for a minute")
	}
	calls := 1000
	if n, err := strconv.Atoi(os.Getenv("PALIO_FLOOD_CALLS")); err == nil && n > 0 {
		calls = n
	}
	const callRate, floodRate, floodSeconds = 20, 2000, 20
	uasPort := freePort(t, "udp")
	e := newExample(t, "[log]\ncalls = false\n[media]\npolicy = \"never\"\n[guard.flood]\nunit = \"1s\"\ndensity = 300\n")
	e.cli(0, "location", "add", "5002", "sip:5002@127.0.0.1:"+strconv.Itoa(uasPort))
	e.start()

	dir := t.TempDir()
	scen, _ := filepath.Abs("testdata")
	sipp := func(out *syncBuffer, args ...string) *exec.Cmd {
		cmd := exec.Command("sipp", append(args, "-nostdin", "-default_behaviors", "all,-abortunexp")...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
		return cmd
	}
	uasOut, uacOut, floodOut := &syncBuffer{}, &syncBuffer{}, &syncBuffer{}
	sipp(uasOut, "-sf", filepath.Join(scen, "uas.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(uasPort),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")), "-timeout", "180s", "-m", strconv.Itoa(calls))
	time.Sleep(200 * time.Millisecond)
	uac := sipp(uacOut, "-sf", filepath.Join(scen, "uac_auth.xml"), "-s", "5002", "-i", "127.0.0.1",
		"-p", strconv.Itoa(freePort(t, "udp")), "-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")),
		"-r", strconv.Itoa(callRate), "-m", strconv.Itoa(calls), "-l", "200", "-timeout", "180s", "-recv_timeout", "10000",
		"-trace_stat", "-fd", "1", "-stf", "uac_stat.csv", "-trace_err", "-error_file", "uac_errors.log", e.addr)
	// The flood starts once the calls run, and ends before they do.
	time.Sleep(3 * time.Second)
	flood := sipp(floodOut, "-sf", filepath.Join(scen, "flood.xml"), "-s", "5002", "-i", "127.0.0.2",
		"-p", strconv.Itoa(freePort(t, "udp")), "-r", strconv.Itoa(floodRate), "-m", strconv.Itoa(floodRate*floodSeconds),
		"-timeout", "60s", "-trace_stat", "-fd", "1", "-stf", "flood_stat.csv", e.addr)
	floodErr := flood.Wait()
	uacErr := uac.Wait()

	stat, _ := os.ReadFile(filepath.Join(dir, "uac_stat.csv"))
	succ, _ := strconv.Atoi(statColumn(string(stat), "SuccessfulCall(C)"))
	failed, _ := strconv.Atoi(statColumn(string(stat), "FailedCall(C)"))
	fstat, _ := os.ReadFile(filepath.Join(dir, "flood_stat.csv"))
	sent, _ := strconv.Atoi(statColumn(string(fstat), "OutgoingCall(C)"))
	logs := e.stderr.String()
	if succ+failed != calls {
		errs, _ := os.ReadFile(filepath.Join(dir, "uac_errors.log"))
		t.Fatalf("the UAC ran %d calls of %d (%v; flood: %v)\n%s\n%s\nserver:\n%s", succ+failed, calls, uacErr, floodErr,
			tail(uacOut.String(), 30), tail(string(errs), 20), tail(logs, 30))
	}
	m := metricsOf(t, e)
	dropped := int(m[`palio_guard_blocked_total{reason="flood"}`])
	share := 100 * float64(failed) / float64(calls)
	t.Logf("flood figure: %d legitimate calls from 127.0.0.1 at %d/s, %d failed (%.2f %%), during a flood of %d INVITEs from 127.0.0.2 at %d/s; %d packets dropped before parsing (%.1f %% of the flood)",
		calls, callRate, failed, share, sent, floodRate, dropped, 100*float64(dropped)/float64(max(sent, 1)))
	if failed > 0 && share >= 0.1 {
		errs, _ := os.ReadFile(filepath.Join(dir, "uac_errors.log"))
		t.Errorf("%d of %d legitimate calls failed (%.2f %%, target < 0.1 %%)\n%s\nserver:\n%s", failed, calls, share, tail(string(errs), 20), tail(logs, 30))
	}
	if sent < floodRate*floodSeconds*9/10 {
		t.Errorf("the flood sent %d INVITEs of %d:\n%s", sent, floodRate*floodSeconds, tail(floodOut.String(), 20))
	}
	if dropped < sent*9/10 {
		t.Errorf("%d of the flood's %d packets dropped before parsing, want at least 90 %%", dropped, sent)
	}
	if n := strings.Count(logs, `msg="guard: flood blocked" src=127.0.0.2 `); n != 1 {
		t.Errorf("127.0.0.2 blocked %d times, want once (one line per block):\n%s", n, tail(logs, 30))
	}
	if strings.Contains(logs, `msg="guard: flood blocked" src=127.0.0.1 `) {
		t.Errorf("the legitimate source was blocked:\n%s", tail(logs, 30))
	}
	eventually(t, "the block ends after the flood", func() bool {
		return strings.Contains(e.stderr.String(), `msg="guard: flood over" src=127.0.0.2 `)
	})
}
