package main

import (
	"testing"
	"time"

	"github.com/palio-voip/palio/sip/siptest"
)

// TestLocationMirrorCLI: the server answers lookups from its mirror of the
// location table. A binding the CLI adds while the server runs reaches
// the next calls once the store poll sees the location counter move (the
// CLI announces its writes), and one it deletes stops getting calls.
func TestLocationMirrorCLI(t *testing.T) {
	e := newExample(t, "[log]\nlevel = \"warn\"\n[store]\npoll = \"100ms\"\n[media]\npolicy = \"never\"\n[routing]\nprobe_interval = \"0s\"\n")
	e.start()
	desk := siptest.NewUA(t, siptest.WithUser("5003"))
	contact := "sip:5003@" + desk.Addr()
	caller := e.phone("5002")
	call := func() int {
		t.Helper()
		c, err := caller.Invite(ctxT(t, 10*time.Second), "sip:5003@voip.unisi.it")
		code := finalCode(t, c, err)
		if code == 200 {
			if err := c.Ack(); err != nil {
				t.Fatal(err)
			}
			if res, err := c.Bye(ctxT(t, 5*time.Second)); err != nil || res.StatusCode != 200 {
				t.Fatalf("BYE: %v %v", res, err)
			}
		}
		return code
	}
	if code := call(); code == 200 {
		t.Fatal("a call to 5003 with no binding was answered")
	}
	e.cli(0, "location", "add", "5003", contact)
	waitFor(t, 10*time.Second, "a call to the binding the CLI added", func() bool { return call() == 200 })
	if n := len(desk.Incoming()); n < 1 {
		t.Fatal("the answered call did not reach 5003's desk phone")
	}
	e.cli(0, "location", "del", "5003", contact)
	waitFor(t, 10*time.Second, "calls to stop reaching the deleted binding", func() bool { return call() != 200 })
	n := len(desk.Incoming())
	if code := call(); code == 200 || len(desk.Incoming()) != n {
		t.Fatalf("a call after the deletion was seen: %d, the desk phone's calls %d -> %d", code, n, len(desk.Incoming()))
	}
}
