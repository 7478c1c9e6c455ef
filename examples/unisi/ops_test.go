package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/palio-voip/palio/alert"
	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/store/storetest"
)

// alertSink is a webhook receiver on loopback: the events [alerts]
// webhook posts.
type alertSink struct {
	*httptest.Server
	mu      sync.Mutex
	events  []alert.Event
	changed chan struct{}
}

func newAlertSink(t *testing.T) *alertSink {
	s := &alertSink{changed: make(chan struct{}, 1)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev alert.Event
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		s.mu.Lock()
		s.events = append(s.events, ev)
		s.mu.Unlock()
		select {
		case s.changed <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// wait returns the first event of kind about subject, failing after d.
func (s *alertSink) wait(t *testing.T, kind alert.Kind, subject string, d time.Duration) alert.Event {
	t.Helper()
	deadline := time.After(d)
	for {
		s.mu.Lock()
		for _, ev := range s.events {
			if ev.Kind == kind && ev.Subject == subject {
				s.mu.Unlock()
				return ev
			}
		}
		got := fmt.Sprint(s.events)
		s.mu.Unlock()
		select {
		case <-s.changed:
		case <-deadline:
			t.Fatalf("no %s alert about %q within %v; got %s", kind, subject, d, got)
		}
	}
}

// readyz gets /readyz and decodes it.
func readyz(t *testing.T, httpAddr string) (int, readyAnswer) {
	t.Helper()
	res, err := http.Get("http://" + httpAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var a readyAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("/readyz %d: %v\n%s", res.StatusCode, err, b)
	}
	return res.StatusCode, a
}

func checkNamed(a readyAnswer, name string) readyCheck {
	for _, c := range a.Checks {
		if c.Name == name {
			return c
		}
	}
	return readyCheck{Name: name, Error: "missing"}
}

// TestReadyzAndSystemd starts the server as systemd would (Type=notify):
// it says READY=1 once serving, /readyz answers 200 with the SIP listener
// answering its own OPTIONS and the store its ping, /healthz 200; an
// operator's gateway disable reaches the webhook as gateway-down; on
// stop it says STOPPING=1.
func TestReadyzAndSystemd(t *testing.T) {
	ns := newNotifySocket(t, false)
	sink := newAlertSink(t)
	e := newExample(t, fmt.Sprintf("[routing]\nprobe_interval = \"0s\"\n[store]\npoll = \"100ms\"\n[alerts]\nwebhook = %q\nretries = 0\n", sink.URL+"/hook"))
	e.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	e.start()
	msg := ns.waitFor("READY=1", 10*time.Second)
	if !strings.Contains(msg, "STATUS=serving SIP on "+e.addr) {
		t.Errorf("READY datagram %q: want a STATUS naming %s", msg, e.addr)
	}
	code, a := readyz(t, e.http)
	if code != 200 || !a.Ready {
		t.Fatalf("/readyz: %d %+v", code, a)
	}
	if c := checkNamed(a, "sip"); !c.OK || !strings.Contains(c.Detail, "OPTIONS to "+e.addr+": 200") {
		t.Errorf("sip check %+v", c)
	}
	if c := checkNamed(a, "store"); !c.OK {
		t.Errorf("store check %+v", c)
	}
	if len(a.Checks) != 2 {
		t.Errorf("checks %+v: want sip and store (the media box is off)", a.Checks)
	}
	if code, body := healthz(t, e.http); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q, want 200 ok", code, body)
	}

	e.cli(0, "gateway", "disable", "gw-arezzo")
	ev := sink.wait(t, alert.KindGatewayDown, "gateway gw-arezzo", 5*time.Second)
	if ev.Severity != alert.SeverityWarning || ev.Fields["cause"] != "reload" || ev.Fields["state"] != "disabled" {
		t.Errorf("gateway-down alert %+v: want a warning, cause reload, state disabled", ev)
	}
	e.cli(0, "gateway", "enable", "gw-arezzo")
	sink.wait(t, alert.KindGatewayUp, "gateway gw-arezzo", 5*time.Second)

	e.stop()
	ns.waitFor("STOPPING=1", 5*time.Second)
}

// TestReadyzStoreUnreachable runs the server on MariaDB through a TCP
// proxy and takes the database away: /readyz answers 503 naming the
// store (while /healthz, liveness only, stays 200), the webhook gets
// database-unreachable; the database back,
// /readyz is 200 again and the webhook gets database-reachable.
func TestReadyzStoreUnreachable(t *testing.T) {
	dsn := storetest.MySQLDSN(t)
	mc, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, mc.Addr)
	mc.Addr = proxy.addr()
	sink := newAlertSink(t)
	e := newExample(t, fmt.Sprintf("[store]\nmysql = %q\npoll = \"0s\"\n[routing]\nprobe_interval = \"0s\"\n[alerts]\nwebhook = %q\nretries = 0\ndatabase_check = \"100ms\"\n[log]\nlevel = \"error\"\n",
		mc.FormatDSN(), sink.URL))
	e.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	e.start()
	if code, a := readyz(t, e.http); code != 200 || !a.Ready {
		t.Fatalf("/readyz before the outage: %d %+v", code, a)
	}

	proxy.cut()
	ev := sink.wait(t, alert.KindDatabaseUnreachable, "database", 5*time.Second)
	if ev.Severity != alert.SeverityCritical || ev.Fields["store"] != "mysql" {
		t.Errorf("database-unreachable alert %+v", ev)
	}
	code, a := readyz(t, e.http)
	if code != http.StatusServiceUnavailable || a.Ready {
		t.Fatalf("/readyz during the outage: %d %+v, want 503", code, a)
	}
	// Liveness does not depend on the store.
	if code, body := healthz(t, e.http); code != 200 || body != "ok\n" {
		t.Errorf("/healthz during the outage: %d %q, want 200 ok", code, body)
	}
	if c := checkNamed(a, "store"); c.OK || c.Error == "" {
		t.Errorf("store check during the outage: %+v", c)
	}
	if c := checkNamed(a, "sip"); !c.OK {
		t.Errorf("sip check during the outage: %+v (SIP itself still answers)", c)
	}

	proxy.restore()
	sink.wait(t, alert.KindDatabaseReachable, "database", 5*time.Second)
	if code, a := readyz(t, e.http); code != 200 || !a.Ready {
		t.Errorf("/readyz after the outage: %d %+v", code, a)
	}
}

// healthz gets /healthz: its status and body.
func healthz(t *testing.T, httpAddr string) (int, string) {
	t.Helper()
	res, err := http.Get("http://" + httpAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestHEPFromExample: with [hep] set, the server's SIP traffic reaches a
// HOMER collector: a phone's REGISTER, its challenge and the 200, with
// the configured capture id and node name and the Call-ID as correlation.
func TestHEPFromExample(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var mu sync.Mutex
	var packets []sip.HEPPacket
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			p, err := sip.ParseHEP(bytes.Clone(buf[:n]))
			if err != nil {
				t.Errorf("collector: %v", err)
				continue
			}
			mu.Lock()
			packets = append(packets, p)
			mu.Unlock()
		}
	}()
	e := newExample(t, fmt.Sprintf("[routing]\nprobe_interval = \"0s\"\n[hep]\ncollector = %q\ncapture_id = 2001\nnode_name = \"siena-1\"\n", pc.LocalAddr().String()))
	e.start()
	ua := e.phone("5002")
	_ = ua
	want := []string{"REGISTER", "SIP/2.0 401", "SIP/2.0 200"}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		found := map[string]bool{}
		for _, p := range packets {
			if p.CaptureID != 2001 || string(p.NodeName) != "siena-1" || p.ProtoType != sip.HEPTypeSIP || len(p.CorrelationID) == 0 {
				t.Fatalf("packet: capture id %d, node %q, type %d, correlation %q", p.CaptureID, p.NodeName, p.ProtoType, p.CorrelationID)
			}
			if !bytes.Contains(p.Payload, []byte("CSeq: ")) || !bytes.Contains(p.Payload, []byte("REGISTER")) {
				continue
			}
			for _, w := range want {
				if bytes.HasPrefix(p.Payload, []byte(w)) && bytes.Contains(p.Payload, p.CorrelationID) {
					found[w] = true
				}
			}
		}
		mu.Unlock()
		if len(found) == len(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the collector got %v of %v", found, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRoutingAlert maps the router's events to alerts: trunk alarms of
// gateways and carriers, gateways leaving and re-entering service (a
// probe's failure critical, an operator's warning), nothing for a change
// between two off states or for carriers.
func TestRoutingAlert(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		name     string
		ev       routing.Event
		kind     alert.Kind
		severity alert.Severity
		subject  string
	}{
		{"gateway alarm", routing.Event{Kind: routing.EventTrunkAlarm, Gateway: "gw-siena-1", Calls: 24, Channels: 30}, alert.KindTrunkNearLimit, 0, "gateway gw-siena-1"},
		{"carrier alarm", routing.Event{Kind: routing.EventTrunkAlarm, Carrier: "telecom", Calls: 48, Channels: 60}, alert.KindTrunkNearLimit, 0, "carrier telecom"},
		{"cleared", routing.Event{Kind: routing.EventTrunkAlarmCleared, Gateway: "gw-siena-1", Calls: 10, Channels: 30}, alert.KindTrunkCleared, 0, "gateway gw-siena-1"},
		{"probe down", routing.Event{Kind: routing.EventGatewayState, Gateway: "gw-siena-1", State: routing.StateInactive, Previous: routing.StateActive, Cause: routing.CauseProbe, Detail: "408 Request Timeout"}, alert.KindGatewayDown, alert.SeverityCritical, "gateway gw-siena-1"},
		{"operator down", routing.Event{Kind: routing.EventGatewayState, Gateway: "gw-siena-1", State: routing.StateDisabled, Previous: routing.StateActive, Cause: routing.CauseOperator}, alert.KindGatewayDown, alert.SeverityWarning, "gateway gw-siena-1"},
		{"up", routing.Event{Kind: routing.EventGatewayState, Gateway: "gw-siena-1", State: routing.StateActive, Previous: routing.StateInactive, Cause: routing.CauseProbe}, alert.KindGatewayUp, alert.SeverityInfo, "gateway gw-siena-1"},
		{"off to off", routing.Event{Kind: routing.EventGatewayState, Gateway: "gw-siena-1", State: routing.StateDisabled, Previous: routing.StateInactive}, "", 0, ""},
		{"carrier", routing.Event{Kind: routing.EventCarrierState, Carrier: "telecom"}, "", 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.ev.Time = now
			got, ok := routingAlert(tt.ev)
			if tt.kind == "" {
				if ok {
					t.Errorf("got %v, want no alert", got)
				}
				return
			}
			if !ok || got.Kind != tt.kind || got.Severity != tt.severity || got.Subject != tt.subject || !got.Time.Equal(now) {
				t.Errorf("got %+v (%v), want %s %v %q", got, ok, tt.kind, tt.severity, tt.subject)
			}
			if tt.ev.Kind == routing.EventTrunkAlarm && (got.Fields["calls"] != strconv.Itoa(tt.ev.Calls) || got.Fields["channels"] != strconv.Itoa(tt.ev.Channels)) {
				t.Errorf("fields %v", got.Fields)
			}
		})
	}
}

// TestGuardAlert maps the guard's events to alerts: this node's bans
// (a fraud block critical) and fraud thresholds; not bans learned from the
// store, nor bans ending.
func TestGuardAlert(t *testing.T) {
	now := time.Now()
	until := now.Add(time.Hour)
	for _, tt := range []struct {
		name     string
		ev       guard.Event
		kind     alert.Kind
		severity alert.Severity
		subject  string
	}{
		{"auth ban", guard.Event{Kind: guard.EventBanned, Origin: guard.OriginLocal, Ban: guard.Ban{Kind: guard.BanIP, Subject: "192.0.2.7", Reason: "10 auth failures in 1m0s", Until: until}}, alert.KindBan, alert.SeverityWarning, "ip 192.0.2.7"},
		{"fraud block", guard.Event{Kind: guard.EventBanned, Origin: guard.OriginLocal, Ban: guard.Ban{Kind: guard.BanFraud, Subject: "5002", Reason: "total-calls 100 >= 100"}}, alert.KindBan, alert.SeverityCritical, "fraud 5002"},
		{"fraud warning", guard.Event{Kind: guard.EventFraudWarning, Origin: guard.OriginLocal, Fraud: guard.FraudAlert{User: "5002", Param: "calls-per-minute", Value: 10, Threshold: 10}}, alert.KindFraudWarning, 0, "user 5002"},
		{"fraud critical", guard.Event{Kind: guard.EventFraudCritical, Origin: guard.OriginLocal, Fraud: guard.FraudAlert{User: "5002", Param: "total-calls", Value: 100, Threshold: 100, Blocked: true}}, alert.KindFraudCritical, 0, "user 5002"},
		{"from the store", guard.Event{Kind: guard.EventBanned, Origin: guard.OriginStore, Ban: guard.Ban{Kind: guard.BanIP, Subject: "192.0.2.7"}}, "", 0, ""},
		{"unbanned", guard.Event{Kind: guard.EventUnbanned, Origin: guard.OriginLocal, Ban: guard.Ban{Kind: guard.BanIP, Subject: "192.0.2.7"}}, "", 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.ev.Time = now
			got, ok := guardAlert(tt.ev)
			if tt.kind == "" {
				if ok {
					t.Errorf("got %v, want no alert", got)
				}
				return
			}
			if !ok || got.Kind != tt.kind || got.Severity != tt.severity || got.Subject != tt.subject || !got.Time.Equal(now) || got.Message != tt.ev.String() {
				t.Errorf("got %+v (%v), want %s %v %q", got, ok, tt.kind, tt.severity, tt.subject)
			}
		})
	}
}
