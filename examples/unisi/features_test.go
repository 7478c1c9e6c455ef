package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip/siptest"
)

// TestSIPpForwardBusy: SIPp, an independent client, calls 5002 from a
// trusted gateway address; 5002's phone (a SIPp UAS) answers 486 and its
// forward on busy sends the call to 5003 (another SIPp UAS), which gets
// it with a Diversion header naming 5002 and answers: the call succeeds.
func TestSIPpForwardBusy(t *testing.T) {
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp not installed (apt-get install sip-tester); .ci/run installs it")
	}
	busyPort, okPort := freePort(t, "udp"), freePort(t, "udp")
	e := newExample(t, "[log]\nlevel = \"warn\"\n[media]\npolicy = \"never\"\n")
	e.cli(0, "address", "add", "1", "127.0.0.1/32", "-tag", "gateway")
	e.cli(0, "location", "add", "5002", "sip:5002@127.0.0.1:"+strconv.Itoa(busyPort))
	e.cli(0, "location", "add", "5003", "sip:5003@127.0.0.1:"+strconv.Itoa(okPort))
	e.cli(0, "feature", "set", "5002", "forward-busy", "5003")
	e.start()

	dir := t.TempDir()
	uas := func(scenario string, port int, log string) (*exec.Cmd, *syncBuffer) {
		return startSIPp(t, dir, scenario, "-i", "127.0.0.1", "-p", strconv.Itoa(port),
			"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")), "-timeout", "30s", "-m", "1", "-trace_msg", "-message_file", log)
	}
	busy, busyOut := uas("uas_busy.xml", busyPort, "busy_messages.log")
	_, okOut := uas("uas.xml", okPort, "ok_messages.log")
	time.Sleep(200 * time.Millisecond)
	out, err := runSIPp(dir, "uac.xml", "-s", "5002", "-i", "127.0.0.1",
		"-p", strconv.Itoa(freePort(t, "udp")), "-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")),
		"-m", "1", "-timeout", "30s", "-recv_timeout", "10000", "-trace_stat", "-stf", "uac_stat.csv", e.addr)
	stat, _ := os.ReadFile(filepath.Join(dir, "uac_stat.csv"))
	if succ := statColumn(string(stat), "SuccessfulCall(C)"); err != nil || succ != "1" {
		t.Fatalf("sipp UAC: %v, successful=%s\n%s\nbusy UAS:\n%s\n5003's UAS:\n%s\nserver:\n%s", err, succ,
			tail(string(out), 30), tail(busyOut.String(), 10), tail(okOut.String(), 10), tail(e.stderr.String(), 20))
	}
	if err := busy.Wait(); err != nil {
		t.Errorf("the busy phone's SIPp: %v (it must have got its INVITE and the ACK of its 486)", err)
	}
	msgs, _ := os.ReadFile(filepath.Join(dir, "ok_messages.log"))
	if !strings.Contains(string(msgs), "Diversion: <sip:5002@voip.unisi.it>;reason=user-busy;counter=1") {
		t.Errorf("5003's INVITE has no Diversion naming 5002:\n%s", tail(string(msgs), 40))
	}
}

// TestRouteShowsFeatures: the dry run names the services that apply: the
// forwards an account would follow when it rings, an unconditional
// forward taken, a blacklist's refusal.
func TestRouteShowsFeatures(t *testing.T) {
	e := newExample(t, "")
	e.cli(0, "feature", "set", "5002", "forward-busy", "5003", "forward-unreachable", "VM_5002")
	out := e.cli(0, "route", "5002", "-from", "5001")
	for _, want := range []string{
		"features\t5002 rings; forwards on busy to 5003, when unreachable to VM_5002",
		"features\t5002: forward-unreachable to VM_5002", // 5002 has no phone registered
		"redirect\tto VM_5002 as 5002@voip.unisi.it",
		"target\t1\tsip:VM_5002@127.0.0.1:5080\tmedia-asterisk",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("route 5002: no %q in\n%s", want, out)
		}
	}
	e.cli(0, "feature", "set", "5003", "forward-always", "00577232111")
	out = e.cli(1, "route", "5003", "-from", "5001") // 1: the seed's gateways are placeholders
	if !strings.Contains(out, "features\t5003: forward-always to 00577232111") || !strings.Contains(out, "class\toutbound call needs national; held local,national: allowed") {
		t.Errorf("route 5003:\n%s", out)
	}
	e.cli(0, "blacklist", "add", "5004", "0561")
	out = e.cli(1, "route", "5004", "-from", "0561234567", "-src", "198.51.100.11:5060") // from gw-siena-1
	if !strings.Contains(out, "features\tcaller 0561234567 refused by 5004's blacklist (prefix 0561)") || !strings.Contains(out, "result\t603 Decline") {
		t.Errorf("route 5004 from a blacklisted number:\n%s", out)
	}
}

// TestFeatureChangeReachesRunningServer: registered phones through a
// running server; an operator turns 5003's do-not-disturb on, then off,
// and the next calls obey, without a restart (the store's change counter
// reloads the services).
func TestFeatureChangeReachesRunningServer(t *testing.T) {
	e := newExample(t, "[log]\nlevel = \"warn\"\n[store]\npoll = \"100ms\"\n[media]\npolicy = \"never\"\n")
	e.start()
	p3 := e.phone("5003")
	caller := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithProxy(e.addr), siptest.WithCredentials("5002", "unisi5002"))
	ctx := ctxT(t, 20*time.Second)
	call := func(number string) (*siptest.Call, int) {
		c, err := caller.Invite(ctx, "sip:"+number+"@"+e.addr)
		return c, finalCode(t, c, err)
	}
	if c, code := call("5003"); code != 200 {
		t.Fatalf("5003 before DND: %d", code)
	} else {
		c.Bye(ctx)
	}
	e.cli(0, "feature", "set", "5003", "dnd", "on")
	deadline := time.Now().Add(5 * time.Second)
	for {
		before := len(p3.Incoming())
		c, code := call("5003")
		if code == 480 {
			if n := len(p3.Incoming()); n != before {
				t.Errorf("5003's phone rang on a do-not-disturb call")
			}
			break
		}
		if code == 200 {
			c.Bye(ctx)
		}
		if time.Now().After(deadline) {
			t.Fatalf("5003 with DND on: still %d after 5 s", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Off again: the next call rings.
	e.cli(0, "feature", "set", "5003", "dnd", "off")
	deadline = time.Now().Add(5 * time.Second)
	for {
		c, code := call("5003")
		if code == 200 {
			c.Bye(ctx)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5003 with DND off: still %d after 5 s", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
