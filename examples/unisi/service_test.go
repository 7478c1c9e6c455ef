package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSystemdUnit: the unit's ExecStart is a command line unisi accepts
// (its command and flags parse, its configuration file is the annotated
// one), and systemd waits longer than the drain before it kills.
func TestSystemdUnit(t *testing.T) {
	f, err := os.Open("unisi.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = v
		}
	}
	exec := strings.Fields(keys["ExecStart"])
	if len(exec) < 2 || exec[0] != "/usr/local/bin/unisi" || exec[1] != "serve" {
		t.Fatalf("ExecStart %q: want /usr/local/bin/unisi serve …", keys["ExecStart"])
	}
	// The same flags on 'config print', with the unit's configuration path
	// pointing at the annotated file shipped beside it.
	args := []string{"config", "print"}
	for i := 2; i < len(exec); i++ {
		a := exec[i]
		if a == "-config" && i+1 < len(exec) {
			if exec[i+1] != "/etc/unisi/unisi.toml" {
				t.Errorf("ExecStart reads %s; the install notes put the file in /etc/unisi/unisi.toml", exec[i+1])
			}
			abs, _ := filepath.Abs("unisi.toml")
			args = append(args, "-config", abs)
			i++
			continue
		}
		args = append(args, a)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("unisi %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	cfg, err := loadConfig("unisi.toml")
	if err != nil {
		t.Fatal(err)
	}
	stop, err := time.ParseDuration(keys["TimeoutStopSec"])
	if err != nil {
		t.Fatalf("TimeoutStopSec %q: %v", keys["TimeoutStopSec"], err)
	}
	if stop <= cfg.Timers.Drain.Duration {
		t.Errorf("TimeoutStopSec %v does not outlast [timers] drain %v: systemd would kill calls mid-drain", stop, cfg.Timers.Drain.Duration)
	}
	if keys["Type"] != "notify" || keys["NotifyAccess"] != "main" {
		t.Errorf("Type=%s NotifyAccess=%s: unisi tells systemd when it is ready (sdnotify.go): want notify, main", keys["Type"], keys["NotifyAccess"])
	}
	if wd, err := time.ParseDuration(keys["WatchdogSec"]); err != nil || wd < 2*checkTimeout {
		t.Errorf("WatchdogSec %q: want a duration of at least twice the SIP check's %v", keys["WatchdogSec"], checkTimeout)
	}
	for _, k := range []string{"User", "StateDirectory", "WorkingDirectory", "ExecReload", "Restart"} {
		if keys[k] == "" {
			t.Errorf("the unit has no %s", k)
		}
	}
	if keys["WorkingDirectory"] != "/var/lib/"+keys["StateDirectory"] {
		t.Errorf("WorkingDirectory %s is not the StateDirectory: the relative [store] sqlite path would land elsewhere", keys["WorkingDirectory"])
	}
}

// TestREADMECommands runs the commands the top README shows, in its
// order, on a newly seeded database: each must exist, take the flags
// shown, and end as the README says (the only failure it shows is the
// call to gateways that still have placeholder addresses).
func TestREADMECommands(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	e := newExample(t, "")
	e.cli(0, "export", "dialplan", filepath.Join(e.dir, "dialplan.tsv"))
	files := strings.NewReplacer("dialplan.tsv", filepath.Join(e.dir, "dialplan.tsv"), "unisi-copy.db", filepath.Join(e.dir, "unisi-copy.db"))
	failing := map[string]int{"route 00575123456 -from 5002": 1}
	ran := 0
	for _, line := range strings.Split(string(readme), "\n") {
		rest, ok := strings.CutPrefix(line, "go run ./examples/unisi ")
		if !ok {
			continue
		}
		rest, _, _ = strings.Cut(rest, "#")
		rest = strings.TrimSpace(rest)
		if rest == "" {
			continue // the server itself
		}
		want := failing[rest]
		args := strings.Fields(files.Replace(rest))
		t.Run(rest, func(t *testing.T) { e.cliT(t, want, args...) })
		ran++
	}
	if ran < 10 {
		t.Fatalf("found %d commands in the README: the pattern no longer matches", ran)
	}
}
