package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestGolden from the current output")

// TestGolden: the commands are the interface. Help texts and lists on a
// newly seeded database are compared with testdata/golden (rewrite them
// with go test -run TestGolden -update after a deliberate change), each
// with its exit status.
func TestGolden(t *testing.T) {
	e := newExample(t, "")
	tests := []struct {
		file string
		code int
		args []string
	}{
		{"help.txt", 0, []string{"help"}},
		{"help-user-add.txt", 0, []string{"help", "user", "add"}},
		{"translate-h.txt", 0, []string{"translate", "-h"}},
		{"gateway-h.txt", 0, []string{"gateway", "-h"}},
		{"user-list.txt", 0, []string{"user", "list"}},
		{"alias-list.txt", 0, []string{"alias", "list"}},
		{"address-list.txt", 0, []string{"address", "list"}},
		{"carrier-list.txt", 0, []string{"carrier", "list"}},
		{"dialplan-list.txt", 0, []string{"dialplan", "list"}},
		{"route-5003.txt", 1, []string{"route", "5003", "-from", "5002"}},
		{"route-5000.txt", 0, []string{"route", "5000", "-from", "5002"}},
		{"help-feature-set.txt", 0, []string{"help", "feature", "set"}},
		{"help-blacklist-add.txt", 0, []string{"help", "blacklist", "add"}},
		{"blacklist-h.txt", 0, []string{"blacklist", "-h"}},
		{"feature-show-5002-off.txt", 0, []string{"feature", "show", "5002"}},
		{"feature-set-5002.txt", 0, []string{"feature", "set", "5002", "forward-noanswer", "VM_5002", "-after", "20s", "dnd", "busy", "secretary", "5003", "secretary-allow", "5001,5077"}},
		{"feature-show-5002.txt", 0, []string{"feature", "show", "5002"}},
		{"feature-set-loop.txt", 2, []string{"feature", "set", "5002", "forward-busy", "5002"}},
		{"blacklist-add-global.txt", 0, []string{"blacklist", "add", "0039899", "-description", "premium rate"}},
		{"blacklist-add-allow.txt", 0, []string{"blacklist", "add", "global", "112", "-allow", "-description", "emergency"}},
		{"blacklist-add-5002.txt", 0, []string{"blacklist", "add", "5002", "0577"}},
		{"blacklist-list.txt", 0, []string{"blacklist", "list"}},
		{"blacklist-list-5002.txt", 0, []string{"blacklist", "list", "5002"}},
		{"blacklist-del-global.txt", 0, []string{"blacklist", "del", "1", "-global"}},
		{"help-ivr-set.txt", 0, []string{"help", "ivr", "set"}},
		{"queue-h.txt", 0, []string{"queue", "-h"}},
		{"ivr-list.txt", 0, []string{"ivr", "list"}},
		{"ivr-show-5000.txt", 0, []string{"ivr", "show", "5000"}},
		{"ivr-set-bad-key.txt", 2, []string{"ivr", "set", "5000", "-prompt", "ivr-5000", "-key", "1=dial:5002"}},
		{"queue-list.txt", 0, []string{"queue", "list"}},
		{"queue-show-5000.txt", 0, []string{"queue", "show", "5000"}},
		{"voicemail-show-5002.txt", 0, []string{"voicemail", "show", "5002"}},
		{"unknown-command.txt", 2, []string{"frobnicate"}},
		{"missing-args.txt", 2, []string{"user", "add"}},
		{"help-user-set.txt", 0, []string{"help", "user", "set"}},
		{"user-show-5002-none.txt", 0, []string{"user", "show", "5002"}},
		{"user-set-info-5002.txt", 0, []string{"user", "set", "5002", "-owner", "Mario Rossi", "-note", "studio 12, piano terra"}},
		{"user-set-info-same.txt", 0, []string{"user", "set", "5002", "-owner", "Mario Rossi"}},
		{"user-show-5002.txt", 0, []string{"user", "show", "5002"}},
		{"user-set-owner-control.txt", 2, []string{"user", "set", "5003", "-owner", "Mario\tRossi"}},
		{"user-set-note-long.txt", 2, []string{"user", "set", "5003", "-note", strings.Repeat("n", 256)}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), append(e.globals(), tt.args...), &out, &errb)
			if code != tt.code {
				t.Fatalf("unisi %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tt.args, " "), code, tt.code, out.String(), errb.String())
			}
			got := out.String()
			if errb.Len() > 0 {
				got += "--- stderr\n" + errb.String()
			}
			path := filepath.Join("testdata", "golden", tt.file)
			if *update {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -run TestGolden -update writes it)", err)
			}
			if got != string(want) {
				t.Errorf("unisi %s differs from %s:\n--- got\n%s--- want\n%s", strings.Join(tt.args, " "), path, got, want)
			}
		})
	}
}

// TestMissingDatabase: an operator command on a database that does not
// exist fails, says how to create it, and does not create it.
func TestMissingDatabase(t *testing.T) {
	e := newBareExample(t, "")
	tsv := writeFile(t, e.dir, "rules.tsv", "dpid\tpr\tmatch_op\tmatch_exp\tattrs\n0\t1\t1\t^5\tvoip\n")
	db := filepath.Join(e.dir, "unisi.db")
	for _, args := range [][]string{
		{"user", "list"},
		{"user", "add", "5200", "-password", "x12345678"},
		{"location", "list"},
		{"dialplan", "list"},
		{"translate", "0", "5001"},
		{"gateway", "list"},
		{"route", "5003", "-from", "5002"},
		{"import", "dialplan", tsv},
		{"export", "dialplan"},
		{"backup", filepath.Join(e.dir, "copy.db")},
		{"feature", "show", "5002"},
		{"feature", "set", "5002", "dnd", "on"},
		{"blacklist", "list"},
		{"mwi", "5002", "1", "0"},
		{"watch", "list"},
		{"ivr", "list"},
		{"ivr", "set", "5000", "-prompt", "ivr-5000", "-key", "1=repeat"},
		{"queue", "login", "5000", "5002"},
		{"voicemail", "show", "5002"},
		{"voicemail", "del", "5002", "1"},
		{"user", "list", "-db", filepath.Join(e.dir, "typo.db")}, // a global flag after the command
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), append(e.globals(), args...), &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "no database at") || !strings.Contains(errb.String(), "unisi init") {
			t.Errorf("unisi %s on a missing database: exit %d, stderr %q", strings.Join(args, " "), code, errb.String())
		}
		for _, f := range []string{db, filepath.Join(e.dir, "typo.db"), filepath.Join(e.dir, "copy.db")} {
			if _, err := os.Stat(f); err == nil {
				t.Fatalf("unisi %s created %s", strings.Join(args, " "), f)
			}
		}
	}
	// init creates it; then the same command works.
	e.cli(0, "init", "-empty")
	if out := e.cli(0, "user", "list"); out != "USER  DOMAIN  CLASSES  INBOUND  STATE\n" {
		t.Errorf("user list on an empty database: %q", out)
	}
}

// TestBackupExport: a backup is a database the commands open; an export
// imports into another database unchanged.
func TestBackupExport(t *testing.T) {
	e := newExample(t, "")
	copyDB := filepath.Join(e.dir, "copy.db")
	if out := e.cli(0, "backup", copyDB); out != "backed up to "+copyDB+"\n" {
		t.Errorf("backup: %q", out)
	}
	e.cli(1, "backup", copyDB) // exists: never overwritten
	if got, want := e.cli(0, "user", "list", "-db", copyDB), e.cli(0, "user", "list"); got != want {
		t.Errorf("the backup lists other users:\n%s\nwant\n%s", got, want)
	}
	tsv := filepath.Join(e.dir, "dialplan.tsv")
	if out := e.cli(0, "export", "dialplan", tsv); !strings.HasPrefix(out, "exported 13 rows of dialplan to ") {
		t.Errorf("export: %q", out)
	}
	e.cli(1, "export", "dialplan", tsv) // exists: never overwritten
	other := newExample(t, "")
	other.cli(0, "import", "dialplan", tsv, "-replace")
	if got, want := other.cli(0, "export", "dialplan"), e.cli(0, "export", "dialplan"); got != want {
		t.Errorf("the imported copy exports differently:\n%s\nwant\n%s", got, want)
	}
	e.cli(2, "export", "nosuch")
}
