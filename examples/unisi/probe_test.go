package main

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/routing"
)

// TestProbeStateAfterServing: a gateway the server's probes marked
// inactive does not turn the README's dry run into a 503 once the server
// has stopped (the dry run routes with the operator's states and says so),
// is logged once however many probes fail, and is made active again by a
// start with probing switched off. An operator's disable is kept by both.
func TestProbeStateAfterServing(t *testing.T) {
	e := newExample(t, "[routing]\nprobe_interval = \"50ms\"\nprobe_timeout = \"50ms\"\n")
	dead := "127.0.0.1:" + strconv.Itoa(freePort(t, "udp"))
	e.cli(0, "gateway", "set-address", "media-asterisk", dead)
	e.cli(0, "gateway", "set-address", "toip", "127.0.0.1:"+strconv.Itoa(freePort(t, "tcp"))+";transport=tcp")
	gw := func(id string) map[string]string { return e.row("id", id, "gateway", "list") }

	e.start()
	deadline := time.Now().Add(5 * time.Second)
	for gw("media-asterisk")["state"] != "inactive" {
		if time.Now().After(deadline) {
			t.Fatalf("media-asterisk never inactive: %v\n%s", gw("media-asterisk"), e.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a few more failed probes
	e.stop()
	if n := strings.Count(e.stderr.String(), "gateway media-asterisk ("); n != 1 {
		t.Errorf("got %d lines about media-asterisk, want 1 (its going down):\n%s", n, e.stderr.String())
	}

	out := e.cli(0, "route", "5500", "-from", "5001")
	for _, want := range []string{
		"note\tmedia-asterisk is inactive in the store",
		"target\t1\tsip:FAX_5500@" + dead + "\tmedia-asterisk\n",
		"result\t200 ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("route 5500 after the server ran lacks %q:\n%s", want, out)
		}
	}
	if got := gw("media-asterisk")["state"]; got != "inactive" {
		t.Errorf("the dry run changed the store: media-asterisk %s, want inactive", got)
	}

	// An operator's disable is not a probe's: the dry run skips it.
	e.cli(0, "gateway", "disable", "media-asterisk")
	if out := e.cli(1, "route", "5500", "-from", "5001"); !strings.Contains(out, "skipped\tmedia-asterisk\tdisabled") || !strings.Contains(out, "result\t503") {
		t.Errorf("route 5500 with the gateway disabled:\n%s", out)
	}
	e.cli(0, "gateway", "enable", "media-asterisk")
	e.editRouting(func(d *routing.Data) {
		for i := range d.Gateways {
			switch d.Gateways[i].GWID {
			case "media-asterisk":
				d.Gateways[i].State = routing.StateInactive // as probing leaves it
			case "toip":
				d.Gateways[i].State = routing.StateDisabled // by an operator
			}
		}
	})

	// Probing off: what probing marked inactive is active again.
	if err := os.WriteFile(e.cfg, []byte("[routing]\nprobe_interval = \"0s\"\n[mediabox]\nenabled = false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.stop()
	want := map[string]string{"media-asterisk": "active", "toip": "disabled"}
	for id, state := range want {
		if got := gw(id)["state"]; got != state {
			t.Errorf("after a start with probing off: %s %s, want %s", id, got, state)
		}
	}
	if !strings.Contains(e.stderr.String(), "gateway media-asterisk ("+dead+"): inactive -> active, probing-off") {
		t.Errorf("the start with probing off did not log the change:\n%s", e.stderr.String())
	}
	// The history has the server's changes: the probe that took the
	// gateway down, the operator's, the start with probing off.
	show := e.cli(0, "gateway", "show", "media-asterisk", "-n", "50")
	changes := map[string]bool{}
	for _, l := range strings.Split(show, "\n") {
		if f := strings.Fields(l); len(f) >= 5 {
			changes[strings.Join(f[2:5], " ")] = true
		}
	}
	for _, want := range []string{"inactive active probing-off", "active inactive probe", "inactive disabled operator", "disabled active operator"} {
		if !changes[want] {
			t.Errorf("gateway show lacks %q:\n%s", want, show)
		}
	}
}

// TestGatewayShowHistory: `gateway show` prints the gateway's fields, then
// its state changes newest first under a header row (or, with -json, one
// object with a history array); -n bounds them.
func TestGatewayShowHistory(t *testing.T) {
	e := newExample(t, "")
	out := e.cli(0, "gateway", "show", "media-asterisk")
	if !strings.HasPrefix(out, "FIELD") || !strings.Contains(out, "\nno state changes recorded\n") {
		t.Errorf("show of a gateway without history:\n%s", out)
	}
	e.cli(0, "gateway", "disable", "media-asterisk")
	e.cli(0, "gateway", "enable", "media-asterisk")
	e.cli(0, "gateway", "enable", "media-asterisk") // no change: no event

	out = e.cli(0, "gateway", "show", "media-asterisk")
	_, hist, ok := strings.Cut(out, "\n\n")
	if !ok {
		t.Fatalf("no history after the fields:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(hist), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "TIME FROM TO CAUSE REASON NODE" {
		t.Fatalf("history: got %q, want a header and 2 changes", lines)
	}
	for i, want := range []string{"disabled active operator", "active disabled operator"} {
		f := strings.Fields(lines[i+1])
		if len(f) < 6 || strings.Join(f[2:5], " ") != want {
			t.Errorf("change %d: got %q, want %q", i, lines[i+1], want)
		}
	}

	var obj struct {
		ID      string              `json:"id"`
		State   string              `json:"state"`
		History []map[string]string `json:"history"`
	}
	if err := json.Unmarshal([]byte(e.cli(0, "gateway", "show", "media-asterisk", "-json", "-n", "1")), &obj); err != nil {
		t.Fatal(err)
	}
	if obj.ID != "media-asterisk" || obj.State != "active" || len(obj.History) != 1 ||
		obj.History[0]["from"] != "disabled" || obj.History[0]["to"] != "active" || obj.History[0]["cause"] != "operator" {
		t.Errorf("show -json -n 1: got %+v", obj)
	}
	e.cli(1, "gateway", "show", "gw-nowhere")
	e.cli(2, "gateway", "show", "media-asterisk", "-n", "0")
}
