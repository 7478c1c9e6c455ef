package provisioning

import (
	"strings"
	"testing"

	"github.com/palio-voip/palio/sip"
)

// TestDeviceValidateNamesField: every refusal names the field at fault,
// as the admin API reports it.
func TestDeviceValidateNamesField(t *testing.T) {
	mac, err := ParseMAC("00:04:f2:12:34:56")
	if err != nil {
		t.Fatal(err)
	}
	model := Models()[0].Name
	good := Device{MAC: mac, Model: model, Name: "Room 12", Lines: []Line{{User: "5002"}}}
	if err := good.Validate(); err != nil {
		t.Fatalf("good device: %v", err)
	}
	with := func(f func(*Device)) Device {
		d := good
		d.Lines = append([]Line(nil), good.Lines...)
		f(&d)
		return d
	}
	for _, tc := range []struct {
		name  string
		dev   Device
		field string
	}{
		{"no MAC", with(func(d *Device) { d.MAC = MAC{} }), "mac"},
		{"unknown model", with(func(d *Device) { d.Model = "nokia-3310" }), "model"},
		{"control character in name", with(func(d *Device) { d.Name = "a\x01" }), "name"},
		{"overlong owner", with(func(d *Device) { d.Owner = strings.Repeat("x", 4096) }), "owner"},
		{"bad line user", with(func(d *Device) { d.Lines[0].User = "a b" }), "lines"},
		{"too many lines", with(func(d *Device) { d.Lines = make([]Line, 200) }), "lines"},
		{"bad key", with(func(d *Device) { d.Keys = []Key{{Number: "<x>"}} }), "keys"},
		{"firmware over ftp", with(func(d *Device) { d.FirmwareURL = "ftp://fw.example/x.bin" }), "firmware_url"},
		{"bad setting name", with(func(d *Device) { d.Settings = map[string]string{"1x": "y"} }), "settings"},
		{"short auth secret", with(func(d *Device) { d.AuthSecret = "abc" }), "auth_secret"},
	} {
		err := tc.dev.Validate()
		if field, ok := sip.FieldOf(err); !ok || field != tc.field {
			t.Errorf("%s: Validate() = %v naming %q, want the field %q", tc.name, err, field, tc.field)
		}
	}
}
