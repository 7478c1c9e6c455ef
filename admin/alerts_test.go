package admin

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/alert"
)

// TestAlerts: an alert raised through the alert package is in the API
// and on the page, newest first, with each notifier's result; a user
// reaches neither.
func TestAlerts(t *testing.T) {
	f, ts := newServer(t)
	boss := newClient(t, ts)
	boss.login("admin", adminPassword)
	f.alerts.Publish(alert.Event{Kind: alert.KindGatewayDown, Time: testNow, Subject: "gateway gw-siena-2", Message: "no answer to OPTIONS"})

	var list []Alert
	deadline := time.Now().Add(5 * time.Second)
	for {
		list = decode[[]Alert](t, boss.want("GET", "/admin/api/alerts", nil, 200))
		pending := slices.ContainsFunc(list, func(a Alert) bool {
			return slices.ContainsFunc(a.Deliveries, func(d AlertDelivery) bool { return d.Result == "pending" })
		})
		if !pending {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries still pending: %+v", list)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(list) != 2 {
		t.Fatalf("got %d alerts, want 2: %+v", len(list), list)
	}
	gw, trunk := list[0], list[1]
	if gw.Kind != "gateway-down" || gw.Severity != "critical" || gw.Subject != "gateway gw-siena-2" || gw.Delivered || !gw.Time.Equal(testNow) {
		t.Errorf("newest: got %+v, want the critical gateway-down, not delivered", gw)
	}
	want := []AlertDelivery{{Notifier: "log", Result: "sent"}, {Notifier: "webhook", Result: "failed", Error: "receiver answered 502"}}
	if !slices.Equal(gw.Deliveries, want) {
		t.Errorf("gateway-down's deliveries: got %+v, want %+v", gw.Deliveries, want)
	}
	if trunk.Kind != "trunk-near-limit" || !trunk.Delivered || trunk.Fields["calls"] != "27" || trunk.Seq >= gw.Seq {
		t.Errorf("older: got %+v, want the delivered trunk-near-limit with its fields", trunk)
	}

	page := string(boss.want("GET", "/admin/alerts", nil, 200))
	i, j := strings.Index(page, "gateway gw-siena-2"), strings.Index(page, "gateway gw-siena-1")
	if i < 0 || j < 0 || i > j {
		t.Errorf("the page: want gw-siena-2's alert before gw-siena-1's\n%s", page)
	}
	for _, s := range []string{"<li>webhook: failed (receiver answered 502)</li>", "<li>log: sent</li>", "<td>critical</td>", "2026-12-05 10:00:00", `aria-current="page">Alerts</a>`} {
		if !strings.Contains(page, s) {
			t.Errorf("the page: no %q", s)
		}
	}

	user := newClient(t, ts)
	user.login("5002", userPassword)
	for _, p := range []string{"/admin/api/alerts", "/admin/alerts"} {
		if code, b, _ := user.do("GET", p, nil); code != http.StatusForbidden || strings.Contains(string(b), "gw-siena") {
			t.Errorf("%s as 5002: got %d, want 403 and no alert", p, code)
		}
	}
}

// TestAlertsNotConfigured: without Config.Alerts the routes answer 501.
func TestAlertsNotConfigured(t *testing.T) {
	f := newFixture(t, WithoutLogin())
	f.h.cfg.Alerts = nil
	if code, b := do(t, f.h, "GET", "/admin/api/alerts", nil); code != http.StatusNotImplemented {
		t.Errorf("got %d %s, want 501", code, b)
	}
}
