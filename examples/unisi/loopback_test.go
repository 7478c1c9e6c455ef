package main

import (
	"bufio"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip/siptest"
)

// seedPlaceholders are the seeded gateways whose addresses are
// placeholders: all but the media box on 127.0.0.1:5080.
var seedPlaceholders = seedGateways[:len(seedGateways)-1]

// metricsOf scrapes the node's /metrics (its address is in the "ready"
// line) and returns each sample line's value by "name{labels}".
func metricsOf(t *testing.T, e *example) map[string]float64 {
	t.Helper()
	m := regexp.MustCompile(`msg="unisi: ready" .*http=(\S+)`).FindStringSubmatch(e.stderr.String())
	if m == nil {
		t.Fatalf("no ready line with the HTTP address:\n%s", e.stderr.String())
	}
	return scrapeMetrics(t, m[1])
}

// scrapeMetrics reads /metrics at the HTTP address addr and returns each
// sample line's value by "name{labels}".
func scrapeMetrics(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// TestDefaultsStayOnLoopback starts the example with its default
// configuration (the seeded gateways with their placeholder addresses,
// probing on, here every 100 ms, and a quicker store poll so that changes
// reload the tables meanwhile) and runs it for a few seconds with
// calls that route only to placeholders. From the proxy's own counters:
// nothing was refused by the loopback guard of the SIP transport, every
// request it sent (the media box's probes) was on loopback, and only the
// media box was probed; each placeholder was logged once, however many
// reloads; the calls got 503. Then `gateway set-address` configures one:
// the running node follows, calls reach it, and it says so once.
func TestDefaultsStayOnLoopback(t *testing.T) {
	e := newExample(t, "[routing]\nprobe_interval = \"100ms\"\nprobe_timeout = \"100ms\"\n[store]\npoll = \"100ms\"\n")
	e.start()
	caller := e.phone("5002")
	ctx := ctxT(t, 30*time.Second)

	for _, number := range []string{
		"000442079460000", // international: the four Siena PRIs
		"00564123456",     // Grosseto, then the Siena PRIs
		"05771530123",     // the ToIP trunk, over TCP
		"21445",           // the MD110s
	} {
		call, err := caller.Invite(ctx, "sip:"+number+"@"+e.addr)
		if code := finalCode(t, call, err); code != 503 {
			t.Errorf("call to %s (placeholders only): got %d, want 503", number, code)
		}
	}
	// Probing goes on for a while, and the tables reload (the media
	// box's probe result and two operator commands change the store).
	reloads := func() float64 { return metricsOf(t, e)[`palio_routing_reloads_total{outcome="ok"}`] }
	for _, cmd := range []string{"disable", "enable"} {
		before := reloads()
		e.cli(0, "carrier", cmd, "md110")
		deadline := time.Now().Add(5 * time.Second)
		for reloads() == before {
			if time.Now().After(deadline) {
				t.Fatalf("the node did not reload after carrier %s md110", cmd)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// The media box's probes, whatever their result: nothing should
	// answer on 127.0.0.1:5080 here, but another program on this machine
	// (a bench, a node with its media box on) may.
	probes := func() float64 {
		n := 0.0
		for k, v := range metricsOf(t, e) {
			if strings.HasPrefix(k, `palio_routing_probes_total{gateway="media-asterisk",`) {
				n += v
			}
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for probes() < 20 {
		if time.Now().After(deadline) {
			t.Fatal("probing did not go on")
		}
		time.Sleep(50 * time.Millisecond)
	}

	m := metricsOf(t, e)
	if v, ok := m[`palio_sip_loopback_checks_total{outcome="refused"}`]; !ok || v != 0 {
		t.Errorf("requests refused for leaving loopback: got %v (present %v), want 0", v, ok)
	}
	if v := m[`palio_sip_loopback_checks_total{outcome="allowed"}`]; v < 20 {
		t.Errorf("requests checked and sent on loopback: got %v, want the media box's probes (20 or more)", v)
	}
	for k, v := range m {
		if strings.HasPrefix(k, "palio_routing_probes_total{") && !strings.Contains(k, `gateway="media-asterisk"`) && v > 0 {
			t.Errorf("a placeholder was probed: %s %v", k, v)
		}
	}
	if v := m["palio_routing_placeholder_gateways"]; v != float64(len(seedPlaceholders)) {
		t.Errorf("palio_routing_placeholder_gateways: got %v, want %d", v, len(seedPlaceholders))
	}
	if v := m[`palio_routing_calls_total{outcome="unavailable"}`]; v != 4 {
		t.Errorf("calls with no usable destination: got %v, want 4", v)
	}
	log := e.stderr.String()
	for _, id := range seedPlaceholders {
		line := "routing: gateway " + id + " has a placeholder address: not probed, calls to it fail with 503 until configured"
		if n := strings.Count(log, line); n != 1 {
			t.Errorf("%q logged %d times, want once", line, n)
		}
	}
	if n := strings.Count(log, "placeholder"); n != len(seedPlaceholders) {
		t.Errorf("the log names placeholders %d times, want %d (once each):\n%s", n, len(seedPlaceholders), tail(log, 30))
	}

	// An operator gives Arezzo's PRI its address: the node follows.
	arezzo := siptest.NewUA(t, siptest.WithUser("gw-arezzo"))
	if out := e.cli(0, "gateway", "set-address", "gw-arezzo", arezzo.Addr()); out != "address gw-arezzo "+arezzo.Addr()+"\n" {
		t.Errorf("set-address: got %q", out)
	}
	waitLog(t, e, "routing: gateway gw-arezzo configured: "+arezzo.Addr())
	call, err := caller.Invite(ctx, "sip:00575123456@"+e.addr)
	if code := finalCode(t, call, err); code != 200 {
		t.Fatalf("call to Arezzo once configured: got %d, want 200", code)
	}
	call.Bye(ctx)
	if got := arezzo.Received("INVITE"); len(got) != 1 || got[0].Recipient.User != "0575123456" {
		t.Errorf("Arezzo's PRI got %v, want one INVITE for 0575123456", got)
	}
	if n := strings.Count(e.stderr.String(), "routing: gateway gw-arezzo configured"); n != 1 {
		t.Errorf("the configuration of gw-arezzo logged %d times, want once", n)
	}
	if v := metricsOf(t, e)[`palio_sip_loopback_checks_total{outcome="refused"}`]; v != 0 {
		t.Errorf("requests refused for leaving loopback: got %v, want 0", v)
	}
}

// TestGatewaySetAddress: `gateway list` shows the seeded placeholders as
// unconfigured; `gateway set-address` configures one, checking the
// address; a database seeded before the placeholders were marked gets
// its marks.
func TestGatewaySetAddress(t *testing.T) {
	e := newExample(t, "")
	gw := func(id string) map[string]string { return e.row("id", id, "gateway", "list") }
	for _, id := range seedPlaceholders {
		if got := gw(id); got["state"] != "unconfigured" {
			t.Errorf("gateway list does not show %s unconfigured: %v", id, got)
		}
	}
	if got := gw("media-asterisk"); got["address"] != "127.0.0.1:5080" || got["state"] != "active" {
		t.Errorf("gateway list does not show the media box active: %v", got)
	}

	if out := e.cli(0, "gateway", "set-address", "toip", "sip:127.0.0.1:5099;transport=tcp"); out != "address toip sip:127.0.0.1:5099;transport=tcp\n" {
		t.Errorf("set-address: got %q", out)
	}
	if got := gw("toip"); got["address"] != "sip:127.0.0.1:5099;transport=tcp" || got["state"] != "active" {
		t.Errorf("gateway list after set-address: %v", got)
	}
	if out := e.cli(0, "route", "05771530123", "-from", "5002"); !strings.Contains(out, "target\t1\tsip:05771530123@127.0.0.1:5099;transport=tcp\ttoip\n") {
		t.Errorf("route after set-address:\n%s", out)
	}
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"gateway", "set-address", "gw-arezzo", ""}, 1},
		{[]string{"gateway", "set-address", "gw-arezzo", "sip:"}, 1},
		{[]string{"gateway", "set-address", "gw-nowhere", "127.0.0.1"}, 1},
		{[]string{"gateway", "set-address", "gw-arezzo"}, 2},
	} {
		e.cli(tt.code, tt.args...)
	}
	if got := gw("gw-arezzo"); got["address"] != "198.51.100.21:5060" || got["state"] != "unconfigured" {
		t.Errorf("failed set-address changed gw-arezzo: %v", got)
	}

	// A database seeded before the marks: its seeded addresses become
	// placeholders at the next start; an address changed since does not.
	e.editRouting(func(d *routing.Data) {
		for i := range d.Gateways {
			d.Gateways[i].Attrs = strings.Split(d.Gateways[i].Attrs, ";placeholder=")[0]
			if strings.HasPrefix(d.Gateways[i].Attrs, "placeholder=") {
				d.Gateways[i].Attrs = ""
			}
			if d.Gateways[i].GWID == "gw-siena-2" {
				d.Gateways[i].Address = "127.0.0.1:5072"
			}
		}
	})
	if out := e.cli(0, "init"); !strings.HasPrefix(out, "unchanged ") { // as a start does
		t.Errorf("init of an existing database: %q", out)
	}
	for _, id := range seedPlaceholders {
		want := "unconfigured"
		if id == "gw-siena-2" || id == "toip" {
			want = "active"
		}
		if got := gw(id); got["state"] != want {
			t.Errorf("after the upgrade, want %s %s: %v", id, want, got)
		}
	}
}
