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

// TestDeviceAPI: a device is changed, resynced and deleted as `unisi
// device add -replace`, `device resync` and `device del` do, each change
// checked as the assignment checks it; what is refused names its field
// and changes nothing.
func TestDeviceAPI(t *testing.T) {
	f := newFixture(t, WithoutLogin())
	ctx := context.Background()
	mac, _ := provisioning.ParseMAC("000413aabbcc")
	stored := func() provisioning.Device {
		t.Helper()
		d, err := f.devices.Device(ctx, mac)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, tc := range []struct {
		name, method, path string
		body               any
		code               int
		field              string // of a 400
		check              func(d provisioning.Device) bool
	}{
		{"rename", "PATCH", "/admin/api/devices/00:04:13:AA:BB:CC", map[string]any{"name": "Reception"}, 200, "",
			func(d provisioning.Device) bool { return d.Name == "Reception" && d.Lines[0].Password == "pw-5002" }},
		{"a line added keeps the first's password", "PATCH", "/admin/api/devices/000413aabbcc", map[string]any{"lines": []string{"5002", "5003@" + testDomain}}, 200, "",
			func(d provisioning.Device) bool {
				return len(d.Lines) == 2 && d.Lines[0].Password == "pw-5002" && d.Lines[1].User == "5003" && d.Lines[1].Password == ""
			}},
		{"owner", "PATCH", "/admin/api/devices/000413aabbcc", map[string]any{"owner": "5003"}, 200, "",
			func(d provisioning.Device) bool { return d.Owner == "5003" && d.Model == "snom715" }},
		{"a model with fewer lines", "PATCH", "/admin/api/devices/000413aabbcc", map[string]any{"model": "spa502g"}, 400, "lines", nil},
		{"an unknown model", "PATCH", "/admin/api/devices/000413aabbcc", map[string]any{"model": "rotary"}, 400, "model", nil},
		{"a line without an account", "PATCH", "/admin/api/devices/000413aabbcc", map[string]any{"lines": []string{"5999"}}, 400, "lines", nil},
		{"a name with a control character", "PATCH", "/admin/api/devices/000413aabbcc", map[string]any{"name": "a\x07b"}, 400, "name", nil},
		{"nothing to change", "PATCH", "/admin/api/devices/000413aabbcc", map[string]any{}, 400, "body", nil},
		{"an unknown field", "PATCH", "/admin/api/devices/000413aabbcc", map[string]any{"secret": "x"}, 400, "secret", nil},
		{"not a MAC", "PATCH", "/admin/api/devices/00:04:13", map[string]any{"name": "x"}, 400, "mac", nil},
		{"no such device", "PATCH", "/admin/api/devices/000413000000", map[string]any{"name": "x"}, 404, "", nil},
		{"renamed with its lines: the first shows the new name", "PATCH", "/admin/api/devices/000413aabbcc", map[string]any{"name": "Front desk", "lines": []string{"5002"}}, 200, "",
			func(d provisioning.Device) bool {
				return d.Name == "Front desk" && len(d.Lines) == 1 && d.Lines[0].DisplayName == "Front desk" && d.Lines[0].Password == "pw-5002"
			}},
		{"resync", "POST", "/admin/api/devices/000413aabbcc/resync", nil, 202, "", nil},
		{"resync of no device", "POST", "/admin/api/devices/000413000000/resync", nil, 404, "", nil},
		{"delete", "DELETE", "/admin/api/devices/000413aabbcc", nil, 204, "", nil},
		{"delete again", "DELETE", "/admin/api/devices/000413aabbcc", nil, 404, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before provisioning.Device
			if tc.code >= 400 && tc.code != 404 {
				before = stored()
			}
			code, b := do(t, f.h, tc.method, tc.path, tc.body)
			if code != tc.code {
				t.Fatalf("got %d %s, want %d", code, b, tc.code)
			}
			if tc.field != "" {
				if e := decode[apiError](t, b); e.Field != tc.field {
					t.Errorf("got %+v, want the field %s named", e, tc.field)
				}
				if after := stored(); after.Name != before.Name || after.Model != before.Model || len(after.Lines) != len(before.Lines) || after.Owner != before.Owner {
					t.Errorf("a refused change changed the device: %+v, was %+v", after, before)
				}
			}
			if tc.check != nil {
				if d := stored(); !tc.check(d) {
					t.Errorf("stored: %+v", d)
				}
				if got := decode[Device](t, b); got.MAC != "000413aabbcc" {
					t.Errorf("answered %+v", got)
				}
			}
		})
	}
	// The resync waits in the store for the server, the delete took it.
	if got, _ := f.devices.TakeResyncs(ctx); len(got) != 0 {
		t.Errorf("resyncs left after the delete: %v", got)
	}
	if _, err := f.devices.Device(ctx, mac); err == nil {
		t.Error("the device is still stored")
	}
}

// TestDeviceResyncQueued: a resync through the API is queued for the
// running server, with the vendor's event in the answer.
func TestDeviceResyncQueued(t *testing.T) {
	f := newFixture(t, WithoutLogin())
	code, b := do(t, f.h, "POST", "/admin/api/devices/000413aabbcc/resync", nil)
	if r := decode[Resync](t, b); code != 202 || r.MAC != "000413aabbcc" || r.Event != "check-sync;reboot=false" {
		t.Fatalf("got %d %+v, want 202 for 000413aabbcc, event check-sync;reboot=false (a snom)", code, r)
	}
	got, err := f.devices.TakeResyncs(context.Background())
	if err != nil || len(got) != 1 || got[0].String() != "000413aabbcc" {
		t.Errorf("queued resyncs: %v %v", got, err)
	}
}
