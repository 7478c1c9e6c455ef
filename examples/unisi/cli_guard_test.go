package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/store/sqlite"
)

// TestGuardCommands: the guard commands on a seeded database: the seeded
// fraud rules, a rule added, changed and deleted; bans as a server stores
// them listed (an ended one not), lifted by unban and clear; mistakes
// refused with the right exit status.
func TestGuardCommands(t *testing.T) {
	e := newExample(t, "")
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(e.dir, "unisi.db"))
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	far := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, b := range []guard.Ban{
		{Kind: guard.BanIP, Subject: "203.0.113.9", Created: created, Until: far, Reason: `10 auth failures in 1m0s (the last: wrong-password for "5002")`},
		{Kind: guard.BanIP, Subject: "203.0.113.10", Created: created, Until: created.Add(time.Hour), Reason: "ended"},
		{Kind: guard.BanUser, Subject: "5004", Created: created, Until: far, Reason: "20 auth failures in 10m0s (the last: wrong-password from 203.0.113.7)"},
		{Kind: guard.BanFraud, Subject: "5002", Created: created, Reason: `total-calls 50 >= 50 (rule 2, prefix "000", calling 000442079460000)`},
	} {
		if err := db.Guard().PutBan(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	for _, tt := range []struct {
		file string
		args []string
	}{
		{"guard-rule-list.txt", []string{"guard", "rule", "list"}},
		{"guard-list.txt", []string{"guard", "list"}},
		{"help-guard-rule-set.txt", []string{"help", "guard", "rule", "set"}},
		{"guard-rule-set-add.txt", []string{"guard", "rule", "set", "-prefix", "00044", "-calls", "5/20", "-minutes", "30/120", "-hours", "20:00-06:59", "-days", "Mon-Fri"}},
		{"guard-rule-set-change.txt", []string{"guard", "rule", "set", "6", "-calls", "-/10", "-concurrent", "1/2", "-minutes", "off"}},
	} {
		t.Run(tt.file, func(t *testing.T) { golden(t, tt.file, e.cli(0, tt.args...)) })
	}
	if rows := e.rows("guard", "list"); len(rows) != 3 || rows[0]["kind"] != "fraud" || rows[2]["until"] != "2099-01-01 00:00:00Z" {
		t.Errorf("guard list -json: %v", rows)
	}

	for _, tt := range []struct {
		args         []string
		code         int
		out, errPart string
	}{
		{[]string{"guard", "unban", "203.0.113.9"}, 0, "unbanned ip 203.0.113.9\n", ""},
		{[]string{"guard", "unban", "203.0.113.9"}, 1, "", "no ban of the address 203.0.113.9"},
		{[]string{"guard", "unban", "5004"}, 0, "unbanned user 5004\n", ""},
		{[]string{"guard", "unban", "5002"}, 1, "", "no ban of the account 5002"}, // a fraud block: guard clear
		{[]string{"guard", "clear", "5002"}, 0, "cleared 5002: its outbound calls are allowed again\n", ""},
		{[]string{"guard", "clear", "5002"}, 1, "", "5002 has no fraud block"},
		{[]string{"guard", "rule", "set", "2", "-cpm", "lots"}, 2, "", `threshold "lots": want WARNING/CRITICAL`},
		{[]string{"guard", "rule", "set", "2", "-calls", "30/10"}, 2, "", "total-calls: warning 30 above critical 10"},
		{[]string{"guard", "rule", "set", "2", "-hours", "22:00"}, 2, "", "want HH:MM-HH:MM"},
		{[]string{"guard", "rule", "set", "-prefix", "00x"}, 2, "", `prefix "00x"`},
		{[]string{"guard", "rule", "set", "99", "-calls", "1/2"}, 1, "", "no fraud rule 99"},
		{[]string{"guard", "rule", "del", "6"}, 0, "deleted rule 6\n", ""},
		{[]string{"guard", "rule", "del", "6"}, 1, "", "no fraud rule 6"},
		{[]string{"guard", "rule"}, 2, "", "unisi guard rule needs a subcommand"},
	} {
		var out, errb bytes.Buffer
		code := run(ctx, append(e.globals(), tt.args...), &out, &errb)
		if code != tt.code || out.String() != tt.out || !strings.Contains(errb.String(), tt.errPart) {
			t.Errorf("unisi %s: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr with %q",
				strings.Join(tt.args, " "), code, out.String(), errb.String(), tt.code, tt.out, tt.errPart)
		}
	}
	if out := e.cli(0, "guard", "list"); out != "KIND  SUBJECT  SINCE  UNTIL  REASON\n" {
		t.Errorf("guard list after unban and clear: %q", out)
	}
}
