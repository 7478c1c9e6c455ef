package main

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

// TestGuardListFlood: a source flooding the running server is listed by
// `guard list` (asked over the HTTP API, with the [http] token) as a flood
// block, with why and until, beside the stored bans.
func TestGuardListFlood(t *testing.T) {
	e := newExample(t, "[routing]\nprobe_interval = \"0s\"\n[guard.flood]\nunit = \"10s\"\ndensity = 20\n[http]\ntoken = \""+apiToken+"\"\n")
	e.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	e.start()

	raddr, err := net.ResolveUDPAddr("udp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}, raddr)
	if err != nil {
		t.Skip("cannot send from 127.0.0.2:", err)
	}
	defer c.Close()
	for range 40 {
		if _, err := c.Write([]byte("OPTIONS sip:" + e.addr + " SIP/2.0\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the flood from 127.0.0.2 blocked", func() bool {
		return strings.Contains(e.stderr.String(), `msg="guard: flood blocked" src=127.0.0.2`)
	})
	var found map[string]string
	for _, r := range e.rows("guard", "list") {
		if r["kind"] == "flood" {
			found = r
		}
	}
	if found == nil || found["subject"] != "127.0.0.2" || found["until"] != "flood end + 20s" ||
		!strings.Contains(found["reason"], "packets in 10s") || found["since"] == "" {
		t.Errorf("guard list: flood block %v, want 127.0.0.2's", found)
	}
	if out := e.cli(0, "guard", "list"); !strings.Contains(out, "flood") || !strings.Contains(out, "127.0.0.2") {
		t.Errorf("guard list:\n%s", out)
	}
}
