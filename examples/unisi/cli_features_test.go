package main

import (
	"bytes"
	"context"
	"maps"
	"strings"
	"testing"
)

// TestFeatureRefusals: what `feature set` and `blacklist` refuse, each
// with its exit status (2 a value the library refuses or a malformed
// line, 1 what the database says: no such account, a duplicate) and a
// message naming the problem; nothing is stored.
func TestFeatureRefusals(t *testing.T) {
	e := newExample(t, "")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown user", []string{"feature", "set", "5999", "dnd", "on"}, 1, "no account 5999@voip.unisi.it"},
		{"unknown user shown", []string{"feature", "show", "5999"}, 1, "no account 5999@voip.unisi.it"},
		{"unknown user in another domain", []string{"feature", "set", "5002@example.org", "dnd", "on"}, 1, "no account 5002@example.org"},
		{"target not a number", []string{"feature", "set", "5002", "forward-busy", "mario"}, 2, `forward-busy: "mario" is not a number`},
		{"target with a space", []string{"feature", "set", "5002", "forward-always", "50 03"}, 2, `"50 03" is not a number`},
		{"forward to oneself", []string{"feature", "set", "5002", "forward-unreachable", "5002"}, 2, "the account itself (a call would loop)"},
		{"timer of 0", []string{"feature", "set", "5002", "forward-noanswer", "5003", "-after", "0s"}, 2, "noanswer-after 0s: want 1s to 5m0s"},
		{"timer of 10 minutes", []string{"feature", "set", "5002", "forward-noanswer", "5003", "-after", "10m"}, 2, "noanswer-after 10m0s: want 1s to 5m0s"},
		{"ring-boss timer of 10 minutes", []string{"feature", "set", "5002", "secretary", "5003", "ring-boss-after", "10m"}, 2, "ring-boss-after 10m0s"},
		{"timer not a duration", []string{"feature", "set", "5002", "noanswer-after", "twenty"}, 2, "want a duration such as 20s"},
		{"timer in fractions", []string{"feature", "set", "5002", "forward-noanswer", "5003", "-after", "1500ms"}, 2, "noanswer-after 1.5s: want whole seconds"},
		{"timer and -after", []string{"feature", "set", "5002", "noanswer-after", "20s", "-after", "30s"}, 2, "-after and noanswer-after both given"},
		{"timer without a service", []string{"feature", "set", "5002", "noanswer-after", "20s"}, 2, "kept only with a service on"},
		{"secretary not an account", []string{"feature", "set", "5002", "secretary", "5888"}, 1, "secretary 5888: no account 5888@voip.unisi.it"},
		{"secretary oneself", []string{"feature", "set", "5002", "secretary", "5002"}, 2, "secretary: the account itself"},
		{"unknown key", []string{"feature", "set", "5002", "forward", "5003"}, 2, `unknown setting "forward"`},
		{"key without a value", []string{"feature", "set", "5002", "dnd"}, 2, `setting "dnd" has no value`},
		{"nothing to change", []string{"feature", "set", "5002"}, 2, "nothing to change"},
		{"dnd neither on nor off", []string{"feature", "set", "5002", "dnd", "maybe"}, 2, "want on, off, unavailable, busy or voicemail"},
		{"switch neither on nor off", []string{"feature", "set", "5002", "anonymous-block", "sometimes"}, 2, "want on or off"},
		{"blacklist for an unknown user", []string{"blacklist", "add", "5999", "0577"}, 1, "no account 5999@voip.unisi.it"},
		{"blacklist list of an unknown user", []string{"blacklist", "list", "5999"}, 1, "no account 5999@voip.unisi.it"},
		{"blacklist prefix with a letter", []string{"blacklist", "add", "05x"}, 2, `prefix "05x": want digits`},
		{"blacklist description on a user row", []string{"blacklist", "add", "5002", "0577", "-description", "home"}, 2, "global list only"},
		{"blacklist del of no number", []string{"blacklist", "del", "first"}, 2, `ID "first" is not a number`},
		{"blacklist del of nothing", []string{"blacklist", "del", "99"}, 1, "no row 99 in the accounts' lists"},
		{"blacklist del of nothing global", []string{"blacklist", "del", "99", "-global"}, 1, "no row 99 in the global list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), append(e.globals(), tt.args...), &out, &errb); code != tt.code {
				t.Fatalf("unisi %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tt.args, " "), code, tt.code, out.String(), errb.String())
			}
			if !strings.Contains(errb.String(), tt.want) {
				t.Errorf("stderr %q lacks %q", errb.String(), tt.want)
			}
			if out.Len() > 0 {
				t.Errorf("a refusal printed %q", out.String())
			}
		})
	}
	if out := e.cli(0, "feature", "show", "5002"); strings.Contains(out, "\ton") || strings.Count(out, "\toff\n") != 11 {
		t.Errorf("refused changes left settings:\n%s", out)
	}
	if rows := e.rows("blacklist", "list"); len(rows) != 0 {
		t.Errorf("refused rows stored: %v", rows)
	}
}

// TestFeatureCommands: the short forms of the issue, the changes a
// command reports, turning every service off, and the blacklist round
// trip.
func TestFeatureCommands(t *testing.T) {
	e := newExample(t, "")
	show := func() map[string]string {
		t.Helper()
		out := e.cli(0, "feature", "show", "5002")
		m := map[string]string{}
		for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			k, v, ok := strings.Cut(l, "\t")
			if !ok {
				t.Fatalf("feature show line %q is not KEY\\tVALUE", l)
			}
			m[k] = v
		}
		return m
	}
	steps := []struct {
		args []string
		out  string
	}{
		{[]string{"forward-noanswer", "5001", "-after", "20s"}, "changed 5002@voip.unisi.it forward-noanswer=5001 noanswer-after=20s\n"},
		{[]string{"forward-noanswer", "5001", "-after", "20s"}, "unchanged 5002@voip.unisi.it\n"},
		{[]string{"dnd", "on"}, "changed 5002@voip.unisi.it dnd=unavailable\n"},
		{[]string{"secretary", "5003"}, "changed 5002@voip.unisi.it secretary=5003\n"},
		{[]string{"anonymous-block", "on"}, "changed 5002@voip.unisi.it anonymous-block=on\n"},
		{[]string{"dnd", "off"}, "changed 5002@voip.unisi.it dnd=off\n"},
	}
	for _, s := range steps {
		if got := e.cli(0, append([]string{"feature", "set", "5002"}, s.args...)...); got != s.out {
			t.Errorf("feature set 5002 %s: got %q, want %q", strings.Join(s.args, " "), got, s.out)
		}
	}
	want := map[string]string{
		"forward-always": "off", "forward-busy": "off", "forward-noanswer": "5001", "noanswer-after": "20s",
		"forward-unreachable": "off", "dnd": "off", "anonymous-block": "on", "secretary": "5003",
		"secretary-allow": "off", "ring-boss-after": "off", "boss-when-secretary-fails": "off",
	}
	if got := show(); !maps.Equal(got, want) {
		t.Errorf("feature show: got %v, want %v", got, want)
	}
	// 5003's settings are its own.
	if out := e.cli(0, "feature", "show", "5003"); strings.Count(out, "\toff\n") != 11 {
		t.Errorf("5003 has settings:\n%s", out)
	}
	// Every service off: the leftovers (the timer) go with the row.
	if got := e.cli(0, "feature", "set", "5002", "forward-noanswer", "off", "secretary", "off", "anonymous-block", "off"); got != "changed 5002@voip.unisi.it forward-noanswer=off noanswer-after=off anonymous-block=off secretary=off\n" {
		t.Errorf("all off: %q", got)
	}
	for k, v := range show() {
		if v != "off" {
			t.Errorf("after all off: %s %s", k, v)
		}
	}

	e.cli(0, "blacklist", "add", "0039899", "-description", "premium rate")
	e.cli(0, "blacklist", "add", "global", "112", "-allow")
	e.cli(1, "blacklist", "add", "global", "112")
	if out := e.cli(0, "blacklist", "add", "5002", "0577"); out != "added 1 to 5002@voip.unisi.it's list: 0577 block\n" {
		t.Errorf("user row: %q", out)
	}
	e.cli(1, "blacklist", "add", "5002", "0577")
	e.cli(0, "blacklist", "add", "5003", "0577")
	if rows := e.rows("blacklist", "list"); len(rows) != 4 {
		t.Fatalf("blacklist list: %v", rows)
	}
	if got, want := e.rows("blacklist", "list", "global"), []map[string]string{
		{"id": "1", "list": "global", "prefix": "0039899", "action": "block", "description": "premium rate"},
		{"id": "2", "list": "global", "prefix": "112", "action": "allow", "description": ""},
	}; len(got) != 2 || !maps.Equal(got[0], want[0]) || !maps.Equal(got[1], want[1]) {
		t.Errorf("blacklist list global: got %v, want %v", got, want)
	}
	if got := e.rows("blacklist", "list", "5003"); len(got) != 1 || got[0]["list"] != "5003@voip.unisi.it" {
		t.Errorf("blacklist list 5003: %v", got)
	}
	// ID 1 is a row of both lists: -global says which.
	if out := e.cli(0, "blacklist", "del", "1"); out != "deleted 1 from the accounts' lists\n" {
		t.Errorf("del: %q", out)
	}
	if got := e.rows("blacklist", "list", "global"); len(got) != 2 {
		t.Errorf("deleting user row 1 touched the global list: %v", got)
	}
	e.cli(0, "blacklist", "del", "1", "-global")
	e.cli(1, "blacklist", "del", "1", "-global")
	if rows := e.rows("blacklist", "list"); len(rows) != 2 {
		t.Errorf("after two deletions: %v", rows)
	}
}
