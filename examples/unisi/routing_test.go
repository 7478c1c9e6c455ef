package main

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// seedGateways are the gateways of the seeded UniSI topology
// (seed/dr_gateways.tsv).
var seedGateways = []string{
	"gw-siena-1", "gw-siena-2", "gw-siena-3", "gw-siena-4", "gw-arezzo", "gw-grosseto",
	"md110-siena", "md110-arezzo", "md110-grosseto", "toip", "media-asterisk",
}

// sienaPRIs are the gateways of the carrier pstn-siena.
var sienaPRIs = []string{"gw-siena-1", "gw-siena-2", "gw-siena-3", "gw-siena-4"}

// editRouting changes the node's routing tables in its store, as an
// operator's provisioning tool would (the database is seeded first).
func (e *example) editRouting(edit func(d *routing.Data)) {
	e.t.Helper()
	cfg, err := loadConfig(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg.Store.SQLite = filepath.Join(e.dir, "unisi.db")
	ctx := context.Background()
	db, err := openDB(ctx, cfg, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	st := db.Routing()
	d, err := st.Load(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	edit(&d)
	if err := st.Replace(ctx, d); err != nil {
		e.t.Fatal(err)
	}
}

// gateways points every gateway of the seeded topology at a test UA on
// 127.0.0.1 that answers 180 then 200 (over TCP for the ToIP trunk), or at
// the address custom gives it, and returns the UAs by gwid.
func (e *example) gateways(custom map[string]string) map[string]*siptest.UA {
	e.t.Helper()
	uas := map[string]*siptest.UA{}
	addrs := map[string]string{}
	for _, id := range seedGateways {
		if a, ok := custom[id]; ok {
			addrs[id] = a
			continue
		}
		if id == "toip" {
			uas[id] = siptest.NewUA(e.t, siptest.WithUser(id), siptest.WithTransport("tcp"))
			addrs[id] = uas[id].Addr() + ";transport=tcp"
			continue
		}
		uas[id] = siptest.NewUA(e.t, siptest.WithUser(id))
		addrs[id] = uas[id].Addr()
	}
	e.editRouting(func(d *routing.Data) {
		for i, g := range d.Gateways {
			a, ok := addrs[g.GWID]
			if !ok {
				e.t.Fatalf("the seed has gateway %s, the test does not know it", g.GWID)
			}
			d.Gateways[i].Address = a
		}
	})
	return uas
}

// invites counts the INVITEs the named gateways received.
func invites(uas map[string]*siptest.UA, ids ...string) int {
	n := 0
	for _, id := range ids {
		if ua, ok := uas[id]; ok {
			n += len(ua.Received(sip.INVITE))
		}
	}
	return n
}

// reached returns the gateways whose INVITE count grew since before, and
// the Request-URI user of the last INVITE each received.
func reached(uas map[string]*siptest.UA, before map[string]int) map[string]string {
	out := map[string]string{}
	for id, ua := range uas {
		got := ua.Received(sip.INVITE)
		if len(got) > before[id] {
			out[id] = got[len(got)-1].Recipient.User
		}
	}
	return out
}

func counts(uas map[string]*siptest.UA) map[string]int {
	out := map[string]int{}
	for id, ua := range uas {
		out[id] = len(ua.Received(sip.INVITE))
	}
	return out
}

// TestUniSIClasses places a call of each dialplan class through the
// example and checks where it arrives: voip at the registered phone, the
// others at the gateway UniSI's routing rules pick, with the number each
// gateway expects (PSTN gateways strip the outside-line 0).
func TestUniSIClasses(t *testing.T) {
	e := newExample(t, "[routing]\nprobe_interval = \"0s\"\n")
	gws := e.gateways(nil)
	e.start()
	caller := e.phone("5002")
	callee := e.phone("5003")
	gws["phone 5003"] = callee

	tests := []struct {
		class, dial string
		oneOf       []string // the gateways that may take the call
		user        string   // the Request-URI user they get
	}{
		{"voip", "5003", []string{"phone 5003"}, "5003"},
		{"legacy", "21445", []string{"md110-siena"}, "21445"},
		{"legacy service", "8012", []string{"md110-siena"}, "8012"},
		{"national, Siena", "00577232111", sienaPRIs, "0577232111"},
		{"national, Arezzo", "00575123456", []string{"gw-arezzo"}, "0575123456"},
		{"national, Grosseto", "00564123456", []string{"gw-grosseto"}, "0564123456"},
		{"mobile", "03331234567", sienaPRIs, "3331234567"},
		{"international", "000442079460000", sienaPRIs, "00442079460000"},
		{"toip", "05771530123", []string{"toip"}, "05771530123"},
		{"media", "88100", []string{"media-asterisk"}, "88100"},
		{"media, fax alias", "5500", []string{"media-asterisk"}, "FAX_5500"},
		{"media, IVR alias", "5000", []string{"media-asterisk"}, "IVR_5000"},
	}
	for _, tt := range tests {
		t.Run(tt.class, func(t *testing.T) {
			ctx := ctxT(t, 10*time.Second)
			before := counts(gws)
			call, err := caller.Invite(ctx, "sip:"+tt.dial+"@"+e.addr)
			if code := finalCode(t, call, err); code != 200 {
				t.Fatalf("got %d, want 200\n%s", code, tail(e.stderr.String(), 10))
			}
			defer call.Bye(ctx)
			got := reached(gws, before)
			if len(got) != 1 {
				t.Fatalf("the call reached %v, want exactly one of %v", got, tt.oneOf)
			}
			for id, user := range got {
				if !slices.Contains(tt.oneOf, id) {
					t.Errorf("the call reached %s, want one of %v", id, tt.oneOf)
				}
				if user != tt.user {
					t.Errorf("%s got Request-URI user %q, want %q", id, user, tt.user)
				}
			}
		})
	}
}

// TestUniSIFailover: a national call to Arezzo tries Arezzo's PRI first
// and the Siena PRIs after it. A 503 or silence moves on; a 486 is the
// caller's answer.
func TestUniSIFailover(t *testing.T) {
	tests := []struct {
		name     string
		arezzo   func(t *testing.T) string // the gateway's address
		wantCode int
		wantNext bool // a Siena PRI took the call
	}{
		{"503 fails over", func(t *testing.T) string { return siptest.NewGateway(t, siptest.Respond(503)).Addr() }, 200, true},
		{"silence fails over", func(t *testing.T) string { return siptest.NewBlackhole(t).Addr() }, 200, true},
		{"486 stops", func(t *testing.T) string { return siptest.NewGateway(t, siptest.Respond(486)).Addr() }, 486, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newExample(t, "[routing]\nprobe_interval = \"0s\"\n[timers]\nfirst_response = \"1s\"\n")
			gws := e.gateways(map[string]string{"gw-arezzo": tt.arezzo(t)})
			e.start()
			caller := e.phone("5002")
			ctx := ctxT(t, 15*time.Second)
			call, err := caller.Invite(ctx, "sip:00575123456@"+e.addr)
			if code := finalCode(t, call, err); code != tt.wantCode {
				t.Fatalf("got %d, want %d\n%s", code, tt.wantCode, tail(e.stderr.String(), 10))
			}
			if n := invites(gws, sienaPRIs...); (n == 1) != tt.wantNext || n > 1 {
				t.Errorf("the Siena PRIs got %d INVITEs, want %v", n, map[bool]int{true: 1, false: 0}[tt.wantNext])
			}
			if tt.wantCode == 200 {
				call.Bye(ctx)
			}
		})
	}
}

// TestUniSITrunkCapacity: with Arezzo's PRI limited to one channel, a
// second concurrent call to Arezzo goes to Siena; the trunk alarm is
// logged when the channel is taken and cleared when the call ends.
func TestUniSITrunkCapacity(t *testing.T) {
	e := newExample(t, "[routing]\nprobe_interval = \"0s\"\n")
	held := siptest.NewGateway(t, siptest.Respond(200)) // answers and keeps the call
	gws := e.gateways(map[string]string{"gw-arezzo": held.Addr()})
	gws["gw-arezzo"] = held
	e.editRouting(func(d *routing.Data) {
		for i := range d.Gateways {
			if d.Gateways[i].GWID == "gw-arezzo" {
				d.Gateways[i].Channels = 1
			}
		}
	})
	e.start()
	caller := e.phone("5002")
	ctx := ctxT(t, 15*time.Second)

	first, err := caller.Invite(ctx, "sip:00575123456@"+e.addr)
	if code := finalCode(t, first, err); code != 200 {
		t.Fatalf("first call: got %d, want 200", code)
	}
	if n := len(held.Received(sip.INVITE)); n != 1 {
		t.Fatalf("Arezzo got %d INVITEs, want 1", n)
	}
	waitLog(t, e, "gateway gw-arezzo: alarm, 1 of 1 channels in use")

	second, err := caller.Invite(ctx, "sip:00575999999@"+e.addr)
	if code := finalCode(t, second, err); code != 200 {
		t.Fatalf("second call: got %d, want 200", code)
	}
	if n := len(held.Received(sip.INVITE)); n != 1 {
		t.Errorf("Arezzo got %d INVITEs with its channel taken, want 1\n%s", n, tail(e.stderr.String(), 20))
	}
	if n := invites(gws, sienaPRIs...); n != 1 {
		t.Errorf("the Siena PRIs got %d INVITEs, want 1", n)
	}
	second.Bye(ctx)
	if res, err := first.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE: %v %v", res, err)
	}
	waitLog(t, e, "gateway gw-arezzo: alarm cleared, 0 of 1 channels in use")

	third, err := caller.Invite(ctx, "sip:00575123456@"+e.addr)
	if code := finalCode(t, third, err); code != 200 {
		t.Fatalf("third call: got %d, want 200", code)
	}
	if n := len(held.Received(sip.INVITE)); n != 2 {
		t.Errorf("Arezzo got %d INVITEs once its channel was free, want 2", n)
	}
	third.Bye(ctx)
}

// waitLog waits until the node's log has line.
func waitLog(t *testing.T, e *example, line string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(e.stderr.String(), line) {
		if time.Now().After(deadline) {
			t.Fatalf("the log never said %q:\n%s", line, tail(e.stderr.String(), 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestUniSIGatewayCommands: `gateway disable` on the running node's store
// takes Arezzo's PRI out of service (the node follows the store's change
// counter); `gateway enable` puts it back; `gateway list` shows the state.
func TestUniSIGatewayCommands(t *testing.T) {
	e := newExample(t, "[routing]\nprobe_interval = \"0s\"\n[store]\npoll = \"100ms\"\n")
	gws := e.gateways(nil)
	e.start()
	caller := e.phone("5002")
	ctx := ctxT(t, 20*time.Second)

	// call dials Arezzo and reports whether Arezzo's PRI got the INVITE.
	call := func(t *testing.T) bool {
		t.Helper()
		before := invites(gws, "gw-arezzo")
		c, err := caller.Invite(ctx, "sip:00575123456@"+e.addr)
		if code := finalCode(t, c, err); code != 200 {
			t.Fatalf("got %d, want 200", code)
		}
		c.Bye(ctx)
		return invites(gws, "gw-arezzo") > before
	}
	// eventually retries until the node has reloaded.
	eventually := func(t *testing.T, want bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for call(t) != want {
			if time.Now().After(deadline) {
				t.Fatalf("Arezzo's PRI still %v after the command\n%s", !want, tail(e.stderr.String(), 10))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	if !call(t) {
		t.Fatal("Arezzo's PRI did not get the call while enabled")
	}
	if out := e.cli(0, "gateway", "disable", "gw-arezzo"); out != "disabled gateway gw-arezzo\n" {
		t.Errorf("disable: got %q", out)
	}
	if got := e.row("id", "gw-arezzo", "gateway", "list"); got["address"] != gws["gw-arezzo"].Addr() || got["state"] != "disabled" {
		t.Errorf("list after disable: %v", got)
	}
	eventually(t, false)
	if n := invites(gws, sienaPRIs...); n == 0 {
		t.Error("with Arezzo disabled, no Siena PRI took the calls")
	}
	e.cli(0, "gateway", "enable", "gw-arezzo")
	eventually(t, true)

	if out := e.cli(1, "gateway", "disable", "GW-AREZZO"); out != "" {
		t.Errorf("unknown gateway: got output %q", out)
	}
	e.cli(2, "gateway", "disable")
	e.cli(2, "gateway", "reboot", "gw-arezzo")
}

// TestUniSIProbing: a gateway that stops answering OPTIONS is marked
// inactive by the probes (and the store says so to `gateway list`), and
// calls skip it without waiting for it; the dry run notes it.
func TestUniSIProbing(t *testing.T) {
	hole := siptest.NewBlackhole(t)
	e := newExample(t, "[routing]\nprobe_interval = \"200ms\"\nprobe_timeout = \"200ms\"\n")
	gws := e.gateways(map[string]string{"gw-grosseto": hole.Addr()})
	e.start()
	waitLog(t, e, "gateway gw-grosseto ("+hole.Addr()+"): active -> inactive, probe")
	if got := e.row("id", "gw-grosseto", "gateway", "list"); got["address"] != hole.Addr() || got["state"] != "inactive" {
		t.Errorf("gateway list does not show the silent gateway inactive: %v", got)
	}
	if got := e.row("id", "gw-arezzo", "gateway", "list"); got["address"] != gws["gw-arezzo"].Addr() || got["state"] != "active" {
		t.Errorf("gateway list does not show an answering gateway active: %v", got)
	}
	// The first-response timer is 32 s and finalCode waits 10 s: had the
	// silent gateway been tried, the call would not be answered in time.
	caller := e.phone("5002")
	ctx := ctxT(t, 10*time.Second)
	call, err := caller.Invite(ctx, "sip:00564123456@"+e.addr)
	if code := finalCode(t, call, err); code != 200 {
		t.Fatalf("got %d, want 200", code)
	}
	call.Bye(ctx)
	if n := invites(gws, sienaPRIs...); n != 1 {
		t.Errorf("the Siena PRIs got %d INVITEs, want 1", n)
	}
	// The dry run routes with the operator's states: it names the
	// gateway the probes found silent, and tries it (see dryRun).
	out := e.cli(0, "route", "00564123456", "-from", "5002")
	if !strings.Contains(out, "note\tgw-grosseto is inactive in the store") || !strings.Contains(out, "target\t1\tsip:0564123456@"+hole.Addr()+"\tgw-grosseto") {
		t.Errorf("route does not note the inactive gateway:\n%s", out)
	}
}

// TestRouteCommandRouting checks the routing part of the dry run: the
// rule, the destinations in order and the skipped ones. The seeded
// gateways are placeholders until their addresses are set.
func TestRouteCommandRouting(t *testing.T) {
	e := newExample(t, "")
	out := e.cli(1, "route", "00564123456", "-from", "5002")
	for _, want := range []string{
		"routing\tgroup 0, number 00564123456: rule 12, prefix 00564, priority 0, attrs national\n",
		"skipped\tgw-grosseto\tplaceholder address\n",
		"result\t503 Service Unavailable\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("route output with the seeded placeholders lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, " via #pstn-siena\tplaceholder address\n"); n != 4 || strings.Contains(out, "\ndestination\t") {
		t.Errorf("want the four Siena PRIs skipped as placeholders and no destination:\n%s", out)
	}
	e.cli(0, "gateway", "set-address", "gw-grosseto", "127.0.0.1:5064")
	for i, id := range sienaPRIs {
		e.cli(0, "gateway", "set-address", id, "127.0.0.1:50"+strconv.Itoa(71+i))
	}
	out = e.cli(0, "route", "00564123456", "-from", "5002")
	for _, want := range []string{
		"routing\tgroup 0, number 00564123456: rule 12, prefix 00564, priority 0, attrs national\n",
		"destination\t1\tgw-grosseto\tsip:0564123456@127.0.0.1:5064\n",
		"via #pstn-siena\tsip:0564123456@127.0.0.1:507",
		"target\t1\tsip:0564123456@127.0.0.1:5064\tgw-grosseto\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("route output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\ndestination\t"); n != 5 {
		t.Errorf("got %d destinations, want 5 (Grosseto, then the four Siena PRIs):\n%s", n, out)
	}
	e.cli(0, "carrier", "disable", "pstn-siena")
	out = e.cli(0, "route", "00564123456", "-from", "5002")
	if !strings.Contains(out, "skipped\t#pstn-siena\t") || strings.Count(out, "\ndestination\t") != 1 {
		t.Errorf("with pstn-siena off, want Grosseto alone and the carrier skipped:\n%s", out)
	}
	e.cli(0, "gateway", "disable", "gw-grosseto")
	out = e.cli(1, "route", "00564123456", "-from", "5002")
	if !strings.Contains(out, "result\t503 ") || !strings.Contains(out, "skipped\tgw-grosseto\tdisabled") {
		t.Errorf("with every destination out, want 503 and the reasons:\n%s", out)
	}
	// A number no rule covers.
	e.editRouting(func(d *routing.Data) {
		d.Rules = slices.DeleteFunc(d.Rules, func(r routing.Rule) bool { return r.Attrs == "legacy" })
	})
	out = e.cli(1, "route", "21445", "-from", "5002")
	if !strings.Contains(out, "routing\tgroup 0, number 21445: no rule\n") || !strings.Contains(out, "result\t404 No Route") {
		t.Errorf("no rule: got\n%s", out)
	}
}

// TestImportRoutingRows: a drouting dump with rules naming a gateway that
// does not exist loads, and the command warns about each (the router
// drops the unknown entry from the rule's list, as OpenSIPS does).
func TestImportRoutingRows(t *testing.T) {
	e := newExample(t, "")
	tsv := writeFile(t, e.dir, "rules.tsv", "ruleid\tgroupid\tprefix\tpriority\tgwlist\tsort_alg\tattrs\n"+
		"50\t0\t0039\t0\tgw-nowhere\tN\tinternational\n"+
		"51\t0\t0041\t0\tgw-siena-1,gw-nowhere\tN\tinternational\n")
	out := e.cli(1, "import", "dr_rules", tsv)
	for _, want := range []string{"dangling dr_rules 50: gwlist: unknown gateway \"gw-nowhere\"", "dangling dr_rules 51: ",
		"nothing written: 2 gwlist entries name no gateway or carrier (import the gateways and carriers first, or -allow-dangling)"} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}
	out = e.cli(0, "import", "dr_rules", tsv, "-allow-dangling")
	if !strings.Contains(out, "loaded 2 rows into dr_rules") || strings.Contains(out, "unusable dr_rules 51") {
		t.Errorf("-allow-dangling:\n%s", out)
	}
	// A gateway whose address does not parse is refused at its line, not
	// loaded and then left out of 'gateway list'.
	gws := writeFile(t, e.dir, "gws.tsv", "gwid\ttype\taddress\ngw-new\t1\tsip:[::1\n")
	if out := e.cli(1, "import", "dr_gateways", gws); !strings.Contains(out, "rejected "+gws+":2: ") {
		t.Errorf("unparsable address:\n%s", out)
	}
}
