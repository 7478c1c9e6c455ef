package admin

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/palio-voip/palio/provisioning"
)

// TestAssignDevice: an unknown phone is assigned its model and lines; it
// becomes a device the provisioning serves and is no longer unknown; a
// second assignment and a phone never seen are refused.
func TestAssignDevice(t *testing.T) {
	f, ts := newServer(t)
	boss := newClient(t, ts)
	boss.login("admin", adminPassword)
	if b := string(boss.want("GET", "/admin/devices", nil, 200)); !strings.Contains(b, `<option value="000e08112233">000e08112233 (spa504g)</option>`) || !strings.Contains(b, `data-api-suffix="/assign"`) {
		t.Fatalf("devices page: no assign form for the unknown phone\n%s", b)
	}
	got := decode[Device](t, boss.want("POST", "/admin/api/devices/unknown/00-0E-08-11-22-33/assign", map[string]any{"name": "Front desk", "owner": "5003", "lines": []string{"5003", "5002@" + testDomain}}, http.StatusCreated))
	if got.MAC != "000e08112233" || got.Model != "spa504g" || got.Name != "Front desk" || strings.Join(got.Lines, ",") != "5003,5002" {
		t.Errorf("assigned: got %+v, want spa504g 000e08112233 with lines 5003,5002", got)
	}
	ctx := context.Background()
	mac, _ := provisioning.ParseMAC("000e08112233")
	d, err := f.devices.Device(ctx, mac)
	if err != nil {
		t.Fatalf("the device is not in the store: %v", err)
	}
	if len(d.Lines) != 2 || d.Lines[0].User != "5003" || d.Lines[0].DisplayName != "Front desk" || d.Lines[0].Domain != "" || d.Lines[0].Password != "" {
		t.Errorf("stored lines: got %+v, want 5003 (shown as Front desk) then 5002, no domain nor password", d.Lines)
	}
	if u := decode[[]UnknownDevice](t, boss.want("GET", "/admin/api/devices/unknown", nil, 200)); len(u) != 0 {
		t.Errorf("unknown devices after the assignment: got %+v, want none", u)
	}
	if b := string(boss.want("GET", "/admin/devices", nil, 200)); strings.Contains(b, `id="assign"`) || !strings.Contains(b, "Front desk") {
		t.Errorf("devices page after the assignment: want the device listed and no assign form\n%s", b)
	}
	boss.want("POST", "/admin/api/devices/unknown/000e08112233/assign", map[string]any{"lines": []string{"5003"}}, http.StatusConflict)
	boss.want("POST", "/admin/api/devices/unknown/000e08999999/assign", map[string]any{"lines": []string{"5003"}}, http.StatusNotFound)
	a, _ := f.store.Audit(ctx, AuditFilter{})
	if len(a) == 0 || a[0].Action != "device.assign" || a[0].Target != "000e08112233" || a[0].Who != "admin" {
		t.Errorf("audit: got %+v, want admin's device.assign of 000e08112233 first", a)
	}
}
