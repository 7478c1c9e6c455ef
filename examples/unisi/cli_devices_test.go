package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// golden runs a command on e and compares its output (and stderr) with
// testdata/golden/file, as TestGolden does (-update rewrites it).
func deviceGolden(t *testing.T, e *example, file string, code int, args ...string) {
	t.Helper()
	var out, errb bytes.Buffer
	if got := run(context.Background(), append(e.globals(), args...), &out, &errb); got != code {
		t.Fatalf("unisi %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, out.String(), errb.String())
	}
	got := out.String()
	if errb.Len() > 0 {
		got += "--- stderr\n" + errb.String()
	}
	path := filepath.Join("testdata", "golden", file)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run TestDeviceGolden -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("unisi %s differs from %s:\n--- got\n%s--- want\n%s", strings.Join(args, " "), path, got, want)
	}
}

// TestDeviceGolden: the device commands' help and output on a newly
// seeded database (the seed talk's three devices), and their refusals.
func TestDeviceGolden(t *testing.T) {
	e := newExample(t, "")
	for _, tt := range []struct {
		file string
		code int
		args []string
	}{
		{"help-device-add.txt", 0, []string{"help", "device", "add"}},
		{"device-h.txt", 0, []string{"device", "-h"}},
		{"device-list.txt", 0, []string{"device", "list"}},
		{"device-show-0004137441d7.txt", 0, []string{"device", "show", "00:04:13:74:41:D7"}},
		{"device-add-d735.txt", 0, []string{"device", "add", "0004.13aa.bbcc", "SNOM D735", "-lines", "5003,5004", "-name", "Laboratorio", "-blf", "5002", "-password", "5004=unisi5004"}},
		{"device-show-000413aabbcc.txt", 0, []string{"device", "show", "000413aabbcc"}},
		{"device-add-exists.txt", 1, []string{"device", "add", "000413aabbcc", "snomd735"}},
		{"device-add-bad-mac.txt", 2, []string{"device", "add", "00:04:13:74:41", "snom710"}},
		{"device-add-bad-model.txt", 2, []string{"device", "add", "000413aabbcd", "snom999"}},
		{"device-add-wrong-password.txt", 1, []string{"device", "add", "000413aabbcd", "t46s", "-lines", "5002", "-password", "5002=nope"}},
		{"device-add-no-account.txt", 1, []string{"device", "add", "000413aabbcd", "t46s", "-lines", "5099"}},
		{"device-add-too-many-lines.txt", 2, []string{"device", "add", "000413aabbcd", "spa112", "-lines", "5001,5002,5003"}},
		{"device-resync.txt", 0, []string{"device", "resync", "00e16d4a12f3"}},
		{"device-del-missing.txt", 1, []string{"device", "del", "000413aabbcd"}},
		{"dhcp-snippet-dnsmasq.txt", 0, []string{"provisioning", "dhcp-snippet"}},
		{"dhcp-snippet-kea.txt", 0, []string{"provisioning", "dhcp-snippet", "-server", "kea", "-url", "http://10.0.0.1:8080/prov/Xk9-unisi-2017", "-tftp", "10.0.0.1"}},
	} {
		t.Run(tt.file, func(t *testing.T) { deviceGolden(t, e, tt.file, tt.code, tt.args...) })
	}
}

// TestDeviceCommands: add, replace, delete; a device added from the
// unknown list leaves it; a malformed -set is a usage error.
func TestDeviceCommands(t *testing.T) {
	e := newExample(t, "")
	out := e.cli(0, "device", "add", "001565AABBCC", "Yealink T46S", "-lines", "5002", "-password", "5002=unisi5002", "-blf", "5003,5004",
		"-set", "lang.gui=Italian", "-secret", "yealink-secret", "-firmware", "http://prov.unisi.it/fw/t46s.rom")
	if out != "added 001565aabbcc Yealink T46S lines=5002 blf=5003,5004\n" {
		t.Errorf("add: %q", out)
	}
	r := e.row("mac", "001565aabbcc", "device", "list")
	if r == nil || r["model"] != "Yealink T46S" || r["lines"] != "5002" || r["blf"] != "5003,5004" {
		t.Errorf("list: %v", r)
	}
	show := e.cli(0, "device", "show", "001565aabbcc")
	for _, w := range []string{"set\tlang.gui=Italian", "auth\tHTTP digest", "firmware\thttp://prov.unisi.it/fw/t46s.rom", "files\ty000000000000.cfg 001565aabbcc.cfg"} {
		if !strings.Contains(show, w) {
			t.Errorf("show lacks %q:\n%s", w, show)
		}
	}
	if strings.Contains(show, "unisi5002") || strings.Contains(show, "yealink-secret") {
		t.Errorf("show prints a secret:\n%s", show)
	}
	e.cli(0, "device", "add", "001565aabbcc", "t46s", "-lines", "5003", "-replace", "-name", "Reception")
	if r := e.row("mac", "001565aabbcc", "device", "list"); r["lines"] != "5003" || r["blf"] != "-" {
		t.Errorf("after -replace: %v", r)
	}
	e.cli(2, "device", "add", "001565aabbcd", "t46s", "-set", "nameonly")
	if out := e.cli(0, "device", "del", "001565aabbcc"); out != "deleted 001565aabbcc\n" {
		t.Errorf("del: %q", out)
	}
	if r := e.row("mac", "001565aabbcc", "device", "list"); r != nil {
		t.Errorf("deleted, still listed: %v", r)
	}
}
