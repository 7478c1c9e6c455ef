package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/palio-voip/palio/accounting"
	"github.com/palio-voip/palio/sip/siptest"
	"github.com/palio-voip/palio/store/sqlite"
)

// acctConfig is the configuration of the accounting tests: no probing,
// a short Timer C (the no-answer call), batches written at once.
const acctConfig = "[routing]\nprobe_interval = \"0s\"\n[timers]\ntimer_c = \"1s\"\n[accounting]\nflush_interval = \"20ms\"\n"

// records reads the node's call records (missed: missed_calls) from its
// database, as a report would.
func (e *example) records(t *testing.T, missed bool) []accounting.CDR {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	db, err := sqlite.Open(ctx, filepath.Join(e.dir, "unisi.db"), sqlite.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []accounting.CDR
	if err := db.Accounting().CDRs(ctx, accounting.Filter{Missed: missed}, func(c accounting.CDR) error {
		out = append(out, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitRecords waits until acc holds the records of every Call-ID of ids
// (at most 10 s) and returns acc's records by Call-ID, and missed_calls'.
func (e *example) waitRecords(t *testing.T, ids ...string) (acc, missed map[string]accounting.CDR) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		acc = map[string]accounting.CDR{}
		for _, c := range e.records(t, false) {
			acc[c.CallID] = c
		}
		all := true
		for _, id := range ids {
			if _, ok := acc[id]; !ok {
				all = false
			}
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("acc has %d records, not those of %v:\n%s", len(acc), ids, e.stderr.String())
		}
	}
	missed = map[string]accounting.CDR{}
	for _, c := range e.records(t, true) {
		missed[c.CallID] = c
	}
	return acc, missed
}

// phoneWith registers a UA as user, answering calls with its options'
// script.
func (e *example) phoneWith(user string, opts ...siptest.Option) *siptest.UA {
	e.t.Helper()
	opts = append([]siptest.Option{siptest.WithUser(user), siptest.WithProxy(e.addr), siptest.WithCredentials(user, "unisi"+user)}, opts...)
	ua := siptest.NewUA(e.t, opts...)
	res, err := ua.Register(ctxT(e.t, 5*time.Second), e.addr, "sip:"+user+"@voip.unisi.it", "unisi"+user, 3600)
	if err != nil || res.StatusCode != 200 {
		e.t.Fatalf("REGISTER %s: %v %v", user, res, err)
	}
	return ua
}

// wantCDR is what a test expects of a record.
type wantCDR struct {
	code                     int
	reason                   string
	caller, fromPrefix       string
	callee, dialled, number  string
	class                    string
	gateways                 []string // one of them; none: ""
	carrier                  string
	direction                accounting.Direction
	hangup, cause            string
	missed                   bool
	talkMin, talkMax         time.Duration
	cost                     string
	created, ended           time.Time // the test's clock around the call
	answeredBefore, notAfter time.Time
}

// check compares a record with w field by field.
func (w wantCDR) check(t *testing.T, c accounting.CDR, inMissed bool) {
	t.Helper()
	var bad []string
	eq := func(name string, got, want any) {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			bad = append(bad, fmt.Sprintf("%s: got %v, want %v", name, got, want))
		}
	}
	eq("method", c.Method, "INVITE")
	eq("sip_code", c.Code, w.code)
	eq("sip_reason", c.Reason, w.reason)
	eq("caller", c.Caller, w.caller)
	if !strings.HasPrefix(c.From, w.fromPrefix) {
		bad = append(bad, fmt.Sprintf("from: got %q, want %s…", c.From, w.fromPrefix))
	}
	eq("callee", c.Callee, w.callee)
	eq("dialled", c.Dialled, w.dialled)
	eq("number", c.Number, w.number)
	eq("class", c.Class, w.class)
	if len(w.gateways) == 0 {
		eq("gateway", c.Gateway, "")
	} else if !slices.Contains(w.gateways, c.Gateway) {
		bad = append(bad, fmt.Sprintf("gateway: got %q, want one of %v", c.Gateway, w.gateways))
	}
	eq("carrier", c.Carrier, w.carrier)
	eq("direction", c.Direction, w.direction)
	eq("hangup", c.Hangup, w.hangup)
	eq("cause", c.Cause, w.cause)
	eq("in missed_calls", inMissed, w.missed)
	if w.cost == "" {
		w.cost = "0.00"
	}
	eq("cost", c.Cost, w.cost)
	if c.ID == "" || c.FromTag == "" {
		bad = append(bad, "no id or from_tag")
	}
	if c.Code == 200 && c.ToTag == "" {
		bad = append(bad, "no to_tag for an answered call")
	}
	// Times: whole seconds in the database, so a second's tolerance.
	sec := time.Second
	if c.Created.Before(w.created.Truncate(sec)) || c.Created.After(w.ended) {
		bad = append(bad, fmt.Sprintf("created %v outside [%v, %v]", c.Created, w.created, w.ended))
	}
	if c.Time.Before(c.Created) || c.Time.After(w.ended) {
		bad = append(bad, fmt.Sprintf("time %v outside [created %v, %v]", c.Time, c.Created, w.ended))
	}
	if s := int(c.Time.Sub(c.Created) / sec); c.SetupTime != s {
		bad = append(bad, fmt.Sprintf("setuptime %d, want time − created = %d", c.SetupTime, s))
	}
	talk := c.Talk()
	if talk < w.talkMin || talk > w.talkMax {
		bad = append(bad, fmt.Sprintf("ms_duration %d, want %v to %v", c.MSDuration, w.talkMin, w.talkMax))
	}
	if want := int((c.MSDuration + 999) / 1000); c.Duration != want {
		bad = append(bad, fmt.Sprintf("duration %d, want ms_duration rounded up: %d", c.Duration, want))
	}
	for _, b := range bad {
		t.Error(b)
	}
}

// TestAccountingCDRs places the calls of a day through the example
// server with real sockets and checks each one's record field by field:
// answered between two phones, busy at a gateway, cancelled while
// ringing, failed over from a gateway answering 503 to the next, not
// answered (Timer C), incoming from a trusted gateway and hung up by the
// callee, refused before the Forwarder (a phone that is off), and a
// blocked account's attempt. A national call is priced by the rate set
// with `unisi rate set`.
func TestAccountingCDRs(t *testing.T) {
	e := newExample(t, acctConfig)
	busy := siptest.NewGateway(t, siptest.Respond(180), siptest.Respond(486))
	down := siptest.NewGateway(t, siptest.Respond(503))
	ringing := siptest.NewGateway(t, siptest.Respond(180), siptest.Hold())
	e.gateways(map[string]string{"gw-grosseto": busy.Addr(), "gw-arezzo": down.Addr(), "md110-siena": ringing.Addr()})
	gwPort := freePort(t, "udp")
	e.cli(0, "address", "add", "1", "127.0.0.1", "-port", strconv.Itoa(gwPort), "-tag", "test-gateway")
	// 0.06 a minute billed by the second: 0.001 a second.
	if out := e.cli(0, "rate", "set", "-class", "national", "-price", "0.06", "-billing", "1/1"); out != "added rate 1: national, any number: 0.06 a minute, fee 0.00, billing 1/1\n" {
		t.Errorf("rate set: %q", out)
	}
	e.start()
	callee := e.phone("5003")
	e.phoneWith("5004", siptest.WithScript(siptest.Respond(180), siptest.Hold()))
	caller := e.phone("5002")
	ctx := ctxT(t, 30*time.Second)
	talk := 300 * time.Millisecond

	type placed struct {
		name   string
		callID string
		want   wantCDR
	}
	var calls []placed
	// call places a call from ua to number and returns it with the
	// test's clock before it.
	call := func(ua *siptest.UA, number string) (*siptest.Call, time.Time) {
		t.Helper()
		start := time.Now()
		c, err := ua.Invite(ctx, "sip:"+number+"@"+e.addr)
		if err != nil {
			t.Fatal(err)
		}
		return c, start
	}
	final := func(c *siptest.Call, want int) {
		t.Helper()
		res, err := c.WaitFinal(ctx)
		if err != nil || res.StatusCode != want {
			t.Fatalf("%s: got %v %v, want %d\n%s", c.CallID(), res, err, want, e.stderr.String())
		}
	}
	hangUp := func(c *siptest.Call) {
		t.Helper()
		time.Sleep(talk)
		if res, err := c.Bye(ctx); err != nil || res.StatusCode != 200 {
			t.Fatalf("BYE: %v %v", res, err)
		}
	}
	answeredTalk := func(w wantCDR) wantCDR { w.talkMin, w.talkMax = talk-50*time.Millisecond, talk+time.Second; return w }

	c, start := call(caller, "5003")
	final(c, 200)
	hangUp(c)
	calls = append(calls, placed{"answered between phones", c.CallID(), answeredTalk(wantCDR{
		code: 200, reason: "OK", caller: "5002@voip.unisi.it", fromPrefix: "5002@", callee: "5003@voip.unisi.it",
		dialled: "5003", number: "5003", class: "voip", direction: accounting.Internal,
		hangup: "caller", cause: "bye-caller", created: start, ended: time.Now()})})

	c, start = call(caller, "00564123456")
	final(c, 486)
	calls = append(calls, placed{"busy", c.CallID(), wantCDR{
		code: 486, reason: "Busy Here", caller: "5002@voip.unisi.it", fromPrefix: "5002@",
		dialled: "00564123456", number: "00564123456", class: "national", gateways: []string{"gw-grosseto"},
		direction: accounting.Out, hangup: "callee", cause: "rejected", missed: true, created: start, ended: time.Now()}})

	c, start = call(caller, "21445")
	if err := c.WaitCode(ctx, 180); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	final(c, 487)
	calls = append(calls, placed{"cancelled", c.CallID(), wantCDR{
		code: 487, reason: "Request Terminated", caller: "5002@voip.unisi.it", fromPrefix: "5002@",
		dialled: "21445", number: "21445", class: "legacy", gateways: []string{"md110-siena"}, carrier: "md110",
		direction: accounting.Internal, hangup: "caller", cause: "canceled", missed: true, created: start, ended: time.Now()}})

	c, start = call(caller, "00575123456")
	final(c, 200)
	hangUp(c)
	// 0.3 s of talk: 1 s billed at 0.001.
	calls = append(calls, placed{"failed over", c.CallID(), answeredTalk(wantCDR{
		code: 200, reason: "OK", caller: "5002@voip.unisi.it", fromPrefix: "5002@",
		dialled: "00575123456", number: "00575123456", class: "national", gateways: sienaPRIs, carrier: "pstn-siena",
		direction: accounting.Out, hangup: "caller", cause: "bye-caller", cost: "0.001", created: start, ended: time.Now()})})
	if n := len(down.Received("INVITE")); n != 1 {
		t.Errorf("gw-arezzo got %d INVITEs, want the one it answered 503", n)
	}

	c, start = call(caller, "5004")
	final(c, 408)
	calls = append(calls, placed{"no answer", c.CallID(), wantCDR{
		code: 408, reason: "Request Timeout", caller: "5002@voip.unisi.it", fromPrefix: "5002@", callee: "5004@voip.unisi.it",
		dialled: "5004", number: "5004", class: "voip", direction: accounting.Internal,
		hangup: "callee", cause: "rejected", missed: true, created: start, ended: time.Now()}})

	gw := siptest.NewUA(t, siptest.WithListen("127.0.0.1:"+strconv.Itoa(gwPort)), siptest.WithUser("0577232111"), siptest.WithProxy(e.addr))
	c, start = call(gw, "5003")
	final(c, 200)
	in, err := callee.WaitIncoming(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(talk)
	if res, err := in.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("the callee's BYE: %v %v", res, err)
	}
	calls = append(calls, placed{"incoming, hung up by the callee", c.CallID(), answeredTalk(wantCDR{
		code: 200, reason: "OK", fromPrefix: "0577232111@", callee: "5003@voip.unisi.it",
		dialled: "5003", number: "5003", class: "voip", direction: accounting.In,
		hangup: "callee", cause: "bye-callee", created: start, ended: time.Now()})})

	c, start = call(caller, "5001")
	final(c, 480)
	calls = append(calls, placed{"refused: the phone is off", c.CallID(), wantCDR{
		code: 480, reason: "Temporarily Unavailable", caller: "5002@voip.unisi.it", fromPrefix: "5002@", callee: "5001@voip.unisi.it",
		dialled: "5001", number: "5001", class: "voip", direction: accounting.Internal,
		hangup: "callee", cause: "rejected", missed: true, created: start, ended: time.Now()}})

	blocked := siptest.NewUA(t, siptest.WithUser("5009"), siptest.WithProxy(e.addr), siptest.WithCredentials("5009", "unisi5009"))
	c, start = call(blocked, "5003")
	final(c, 403)
	// Refused while authenticating: no account, no class; a caller that
	// did not authenticate is outside.
	calls = append(calls, placed{"blocked account", c.CallID(), wantCDR{
		code: 403, reason: "Forbidden", fromPrefix: "5009@", dialled: "5003", number: "5003", direction: accounting.In,
		hangup: "callee", cause: "rejected", missed: true, created: start, ended: time.Now()}})

	var ids []string
	for _, p := range calls {
		ids = append(ids, p.callID)
	}
	acc, missed := e.waitRecords(t, ids...)
	for _, p := range calls {
		t.Run(p.name, func(t *testing.T) {
			c := acc[p.callID]
			m, inMissed := missed[p.callID]
			p.want.check(t, c, inMissed)
			if inMissed && (m.ID != c.ID || m.Code != c.Code || !m.Created.Equal(c.Created)) {
				t.Errorf("missed_calls' row differs from acc's: %+v", m)
			}
		})
	}
	// One record per call: the 407 challenges are not calls.
	if n := len(e.records(t, false)); n != len(calls) {
		t.Errorf("acc has %d records for %d calls", n, len(calls))
	}

	// The day's report over these calls, and the blocked account's.
	out := e.cli(0, "report", "daily")
	for _, want := range []string{"total   8", "national", "gw-siena-", "00575123456", "Calls to or from blocked accounts: 1", "5009@"} {
		if !strings.Contains(out, want) {
			t.Errorf("report daily lacks %q:\n%s", want, out)
		}
	}
}

// apiGet fetches path from the node's HTTP server and decodes its JSON.
func (e *example) apiGet(t *testing.T, path string, v any) {
	t.Helper()
	res, err := http.Get("http://" + e.http + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("GET %s: %s %s", path, res.Status, b)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestLiveCallsAPI: the calls in progress and the trunks' usage over
// real HTTP, from the running server and through `unisi calls`; an
// operator's hang-up sends BYE to both ends and the record says the
// proxy ended the call; a POST without the JSON content type is refused.
func TestLiveCallsAPI(t *testing.T) {
	e := newExample(t, acctConfig)
	e.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	gws := e.gateways(nil)
	e.start()
	caller := e.phone("5002")
	ctx := ctxT(t, 20*time.Second)

	call, err := caller.Invite(ctx, "sip:03331234567@"+e.addr)
	if code := finalCode(t, call, err); code != 200 {
		t.Fatalf("got %d", code)
	}
	var live []accounting.LiveCall
	e.apiGet(t, "/api/calls", &live)
	if len(live) != 1 || live[0].CallID != call.CallID() || live[0].State != "confirmed" || !slices.Contains(sienaPRIs, live[0].Gateway) ||
		live[0].Caller != "5002@voip.unisi.it" || live[0].Number != "03331234567" || live[0].Class != "mobile" || live[0].Start.IsZero() {
		t.Fatalf("GET /api/calls: %+v", live)
	}
	gw := live[0].Gateway
	if out := e.cli(0, "calls", "list"); !strings.Contains(out, call.CallID()) || !strings.Contains(out, "confirmed") || !strings.Contains(out, gw) {
		t.Errorf("calls list:\n%s", out)
	}
	var trunks []TrunkUsage
	e.apiGet(t, "/api/trunks", &trunks)
	for _, u := range trunks {
		switch {
		case u.Gateway == gw && (u.Calls != 1 || u.Channels != 30):
			t.Errorf("trunk %s: %+v, want 1 call of 30", gw, u)
		case u.Carrier == "pstn-siena" && (u.Calls != 1 || u.Channels != 120):
			t.Errorf("carrier pstn-siena: %+v, want 1 call of 120", u)
		}
	}
	if out := e.cli(0, "calls", "trunks"); !strings.Contains(out, gw+"  ") || !strings.Contains(out, "#pstn-siena") {
		t.Errorf("calls trunks:\n%s", out)
	}

	path := "http://" + e.http + "/api/calls/" + url.PathEscape(call.CallID()) + "/hangup"
	res, err := http.Post(path, "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("a form POST: %s, want 415", res.Status)
	}
	if out := e.cli(0, "calls", "hangup", call.CallID(), "-reason", "line needed"); out != "hung up "+call.CallID()+"\n" {
		t.Errorf("calls hangup: %q", out)
	}
	if err := call.WaitEnded(ctx); err != nil {
		t.Fatalf("the caller got no BYE: %v", err)
	}
	in, err := gws[gw].WaitIncoming(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.WaitBye(ctx); err != nil {
		t.Fatalf("the gateway got no BYE: %v", err)
	}
	if bye := gws[gw].Received("BYE"); len(bye) != 1 || !strings.Contains(bye[0].String(), "line needed") {
		t.Errorf("the gateway's BYE lacks the reason: %v", bye)
	}
	acc, _ := e.waitRecords(t, call.CallID())
	if c := acc[call.CallID()]; c.Hangup != "proxy" || c.Cause != "hangup" || c.Code != 200 || c.Gateway != gw || c.Carrier != "pstn-siena" {
		t.Errorf("the hung-up call's record: %+v", c)
	}
	e.apiGet(t, "/api/calls", &live)
	if len(live) != 0 {
		t.Errorf("calls after the hang-up: %+v", live)
	}
	if msg := e.cliErr(1, "calls", "hangup", call.CallID()); !strings.Contains(msg, "no call in progress") {
		t.Errorf("hanging up an ended call: %q", msg)
	}
	// A Call-ID with a slash reaches the handler whole.
	if msg := e.cliErr(1, "calls", "hangup", "a/b@host"); !strings.Contains(msg, "no call in progress") {
		t.Errorf("a Call-ID with a slash: %q", msg)
	}
	var rep accounting.Report
	e.apiGet(t, "/api/report", &rep)
	if rep.Total.Calls != 1 || rep.Total.Out != 1 || len(rep.Gateways) != 1 {
		t.Errorf("GET /api/report: %+v", rep.Total)
	}
}

// lockDB takes the SQLite database's write lock, as another program's
// long transaction would, until the returned function is called.
func lockDB(t *testing.T, path string) (unlock func()) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	unlock = func() {
		once.Do(func() {
			conn.ExecContext(ctx, "ROLLBACK")
			conn.Close()
			db.Close()
		})
	}
	t.Cleanup(unlock)
	return unlock
}

// spooled counts the records in the spool file.
func spooled(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "PALIOCDRSPOOL1 ") {
		t.Fatalf("not a spool: %q", b)
	}
	off, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(lines[0], "PALIOCDRSPOOL1 ")))
	n := 0
	pos := len(lines[0]) + 1
	for _, l := range lines[1:] {
		if pos >= off {
			n++
		}
		pos += len(l) + 1
	}
	return n
}

// TestAccountingOutage: while another program holds the database's write
// lock, calls go on and take no longer; their records wait in the spool
// file (the metrics say how many); once the lock goes they are written,
// each once, and the spool empties.
func TestAccountingOutage(t *testing.T) {
	e := newExample(t, acctConfig+"write_timeout = \"200ms\"\n")
	e.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	e.gateways(nil)
	e.start()
	callee := e.phone("5003")
	caller := e.phone("5002")
	_ = callee
	ctx := ctxT(t, 60*time.Second)
	spool := filepath.Join(e.dir, "cdr.spool")

	unlock := lockDB(t, filepath.Join(e.dir, "unisi.db"))
	var ids []string
	for i, number := range []string{"5003", "00577232111", "5003", "03331234567", "5001"} {
		start := time.Now()
		call, err := caller.Invite(ctx, "sip:"+number+"@"+e.addr)
		if err != nil {
			t.Fatal(err)
		}
		res, err := call.WaitFinal(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("call %d took %v to be answered with the database locked", i, d)
		}
		if res.StatusCode == 200 {
			if res, err := call.Bye(ctx); err != nil || res.StatusCode != 200 {
				t.Fatalf("BYE: %v %v", res, err)
			}
		}
		ids = append(ids, call.CallID())
	}
	for deadline := time.Now().Add(15 * time.Second); spooled(t, spool) < len(ids); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the spool holds %d records, want %d\n%s", spooled(t, spool), len(ids), e.stderr.String())
		}
	}
	metrics := func() string {
		res, err := http.Get("http://" + e.http + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	// The recorder counts a batch once it is in the file: the spool may
	// hold the records a moment before the metrics say so.
	m := metrics()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); m = metrics() {
		if strings.Contains(m, "palio_accounting_spooled_cdrs 5") && strings.Contains(m, `palio_accounting_cdrs_total{result="spooled"} 5`) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(m, "palio_accounting_spooled_cdrs 5") || !strings.Contains(m, `palio_accounting_cdrs_total{result="spooled"} 5`) {
		t.Errorf("metrics during the outage:\n%s", grepLines(m, "palio_accounting"))
	}
	if !strings.Contains(e.stderr.String(), "cannot write call records") {
		t.Errorf("the outage is not logged:\n%s", e.stderr.String())
	}

	unlock()
	acc, _ := e.waitRecords(t, ids...)
	if len(acc) != len(ids) {
		t.Errorf("acc has %d records, want %d", len(acc), len(ids))
	}
	for deadline := time.Now().Add(5 * time.Second); spooled(t, spool) != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the spool still holds %d records", spooled(t, spool))
		}
	}
	if m := metrics(); !strings.Contains(m, "palio_accounting_spooled_cdrs 0") || !strings.Contains(m, `palio_accounting_cdrs_total{result="written"} 5`) ||
		!strings.Contains(m, `palio_accounting_cdrs_total{result="dropped"} 0`) {
		t.Errorf("metrics after the outage:\n%s", grepLines(m, "palio_accounting"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// buildUnisi builds the example's binary in t's temporary directory.
func buildUnisi(t *testing.T) (string, error) {
	bin := filepath.Join(t.TempDir(), "unisi")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// TestAccountingSIGTERM runs the example's binary and stops it with
// SIGTERM with calls up: their records (ended by the server, by the
// proxy) are written before it exits. Then again with the database
// locked: the records go to the spool file, and the next start writes
// them. Nothing is lost.
func TestAccountingSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin, err := buildUnisi(t)
	if err != nil {
		t.Fatal(err)
	}
	e := newExample(t, acctConfig+"write_timeout = \"200ms\"\n")
	e.gateways(nil)
	ctx := ctxT(t, 90*time.Second)
	// run starts the binary, waits until it answers, registers the
	// phones, calls before(), places calls (three left up, one refused),
	// sends SIGTERM and returns their Call-IDs.
	run := func(t *testing.T, before func()) []string {
		var stderr syncBuffer
		cmd := exec.Command(bin, e.globals()...)
		cmd.Stdout, cmd.Stderr = &stderr, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pinger := siptest.NewUA(t, siptest.WithUser("ping"))
		for i := 0; ; i++ {
			pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			res, err := pinger.Options(pctx, "sip:"+e.addr)
			cancel()
			if err == nil && res.StatusCode == 200 {
				break
			}
			if i > 300 {
				cmd.Process.Kill()
				t.Fatalf("the server does not answer:\n%s", stderr.String())
			}
		}
		e.phone("5003")
		caller := e.phone("5002")
		before()
		var ids []string
		for _, number := range []string{"5003", "00577232111", "03331234567"} {
			call, err := caller.Invite(ctx, "sip:"+number+"@"+e.addr)
			if code := finalCode(t, call, err); code != 200 {
				t.Fatalf("%s: %d", number, code)
			}
			ids = append(ids, call.CallID())
		}
		if res, err := caller.Invite(ctx, "sip:5001@"+e.addr); err == nil {
			res.WaitFinal(ctx)
			ids = append(ids, res.CallID())
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "unisi: draining") {
			t.Errorf("no drain on SIGTERM:\n%s", stderr.String())
		}
		return ids
	}

	ids := run(t, func() {})
	acc, missed := e.waitRecords(t, ids...)
	for _, id := range ids[:3] {
		if c := acc[id]; c.Code != 200 || c.Cause != "server-closed" || c.Hangup != "proxy" || c.MSDuration <= 0 {
			t.Errorf("a call up at SIGTERM: %+v", c)
		}
	}
	if _, ok := missed[ids[3]]; !ok {
		t.Errorf("the refused call is not in missed_calls")
	}

	var unlock func()
	more := run(t, func() { unlock = lockDB(t, filepath.Join(e.dir, "unisi.db")) })
	if n := spooled(t, filepath.Join(e.dir, "cdr.spool")); n != len(more) {
		t.Fatalf("after SIGTERM with the database locked the spool holds %d records, want %d", n, len(more))
	}
	unlock()
	e.start() // in process: the spool left by the binary is written
	acc, _ = e.waitRecords(t, append(ids, more...)...)
	if len(acc) != len(ids)+len(more) {
		t.Errorf("acc has %d records, want %d", len(acc), len(ids)+len(more))
	}
}
