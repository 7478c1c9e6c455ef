package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/mediabox"
	"github.com/palio-voip/palio/presence"
	"github.com/palio-voip/palio/store/sqlite"
)

// runBoth runs a command and returns its exit status, stdout and stderr.
func (e *example) runBoth(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), append(e.globals(), args...), &out, &errb)
	return code, out.String(), errb.String()
}

// show runs a show command with -json and returns its object.
func (e *example) show(args ...string) map[string]any {
	e.t.Helper()
	out := e.cli(0, append(args, "-json")...)
	var obj map[string]any
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		e.t.Fatalf("unisi %s -json: %v\n%s", strings.Join(args, " "), err, out)
	}
	return obj
}

// TestMediaBoxSeed: a new database holds the demo menu, queue and
// mailboxes, as the commands show them.
func TestMediaBoxSeed(t *testing.T) {
	e := newExample(t, "")
	want := []map[string]string{{
		"id": "5000", "prompt": "ivr-5000", "timeout": "", "retries": "", "ontimeout": "hangup",
		"keys": "0=repeat,1=queue:5000,2=transfer:5002,9=voicemail:5002",
	}}
	if got := e.rows("ivr", "list"); len(got) != 1 || !maps.Equal(got[0], want[0]) {
		t.Errorf("ivr list: got %v, want %v", got, want)
	}
	wantQ := map[string]string{
		"id": "5000", "strategy": "ringall", "music": "moh", "announce": "off", "ring": "", "maxwait": "", "ontimeout": "",
		"members": "5002,5003", "logged_in": "5002,5003",
	}
	if got := e.rows("queue", "list"); len(got) != 1 || !maps.Equal(got[0], wantQ) {
		t.Errorf("queue list: got %v, want %v", got, wantQ)
	}
	for _, u := range []string{"5001", "5002", "5003", "5004"} {
		out := e.cli(0, "voicemail", "show", u)
		for _, line := range []string{"user      " + u + "\n", "pin       (set)\n", "greeting  default\n", "new       0\n", "\nno messages\n"} {
			if !strings.Contains(out, line) {
				t.Errorf("voicemail show %s lacks %q:\n%s", u, line, out)
			}
		}
	}
	e.cli(1, "voicemail", "show", "5009") // blocked, and no mailbox
	// The demo PIN, as seed.go says.
	db, err := sqlite.Open(context.Background(), filepath.Join(e.dir, "unisi.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if b, err := db.MediaBox().Mailbox(context.Background(), "5002"); err != nil || b.PIN != "1234" {
		t.Errorf("mailbox 5002: %+v %v, want PIN 1234", b, err)
	}
}

// TestMediaBoxRefusals: what the ivr, queue and voicemail commands
// refuse, each with its exit status (2 a value the library refuses or a
// malformed line, 1 what the database says: no such menu, queue, member,
// mailbox or message) and a message naming the problem; nothing is
// stored.
func TestMediaBoxRefusals(t *testing.T) {
	e := newExample(t, "")
	beforeIVR, beforeQ := e.cli(0, "ivr", "list"), e.cli(0, "queue", "show", "5000")
	beforeVM := e.cli(0, "voicemail", "show", "5002")
	key1 := []string{"-prompt", "p", "-key", "1=repeat"}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"menu without keys", []string{"ivr", "set", "5001", "-prompt", "p"}, 2, "menu 5001: no keys"},
		{"menu without a prompt", []string{"ivr", "set", "5001", "-key", "1=repeat"}, 2, `menu 5001: prompt "": want a prompt name`},
		{"menu prompt a path", []string{"ivr", "set", "5001", "-prompt", "../x", "-key", "1=repeat"}, 2, `prompt "../x": want a prompt name`},
		{"menu ID with a space", append([]string{"ivr", "set", "50 01"}, key1...), 2, `menu "50 01": want an ID of letters, digits, _ and -`},
		{"key without an action", []string{"ivr", "set", "5001", "-prompt", "p", "-key", "1"}, 2, `-key "1": want KEY=ACTION`},
		{"key given twice", []string{"ivr", "set", "5001", "-prompt", "p", "-key", "1=repeat", "-key", "1=hangup"}, 2, "-key 1 given twice"},
		{"key a letter", []string{"ivr", "set", "5001", "-prompt", "p", "-key", "a=repeat"}, 2, `key "a": want 0-9, * or #`},
		{"key of two digits", []string{"ivr", "set", "5001", "-prompt", "p", "-key", "12=repeat"}, 2, `key "12": want 0-9, * or #`},
		{"unknown action", []string{"ivr", "set", "5001", "-prompt", "p", "-key", "1=dial:5002"}, 2, `key 1: action "dial:5002": unknown kind (want transfer, menu, voicemail, queue, repeat or hangup)`},
		{"transfer to nowhere", []string{"ivr", "set", "5001", "-prompt", "p", "-key", "1=transfer"}, 2, `key 1: action "transfer": transfer needs a number`},
		{"repeat with an argument", []string{"ivr", "set", "5001", "-prompt", "p", "-key", "0=repeat:2"}, 2, "repeat takes no argument"},
		{"menu timeout in fractions", append([]string{"ivr", "set", "5001", "-timeout", "1500ms"}, key1...), 2, "timeout 1.5s: want whole seconds up to 1m"},
		{"menu timeout too long", append([]string{"ivr", "set", "5001", "-timeout", "2m"}, key1...), 2, "timeout 2m0s: want whole seconds up to 1m"},
		{"menu timeout not a duration", append([]string{"ivr", "set", "5001", "-timeout", "five"}, key1...), 2, `invalid value "five" for flag -timeout`},
		{"too many retries", append([]string{"ivr", "set", "5001", "-retries", "12"}, key1...), 2, "retries 12: want -1 (none), 0 (the default, 2) to 9"},
		{"bad on-timeout action", append([]string{"ivr", "set", "5001", "-ontimeout", "menu:"}, key1...), 2, `-ontimeout: action "menu": menu needs an ID`},
		{"ivr set without an ID", []string{"ivr", "set"}, 2, "missing arguments"},
		{"ivr show of nothing", []string{"ivr", "show", "5999"}, 1, `no menu "5999" ('unisi ivr list' shows them)`},
		{"ivr show in other capitals", []string{"ivr", "show", "IVR_5000"}, 1, `no menu "IVR_5000"`},
		{"ivr del of nothing", []string{"ivr", "del", "5999"}, 1, `no menu "5999" ('unisi ivr list' shows them)`},

		{"member twice", []string{"queue", "set", "5000", "-members", "5002,5003,5002"}, 2, "queue 5000: member 5002 listed twice"},
		{"member not a number", []string{"queue", "set", "5000", "-members", "5002,mario rossi"}, 2, `member "mario rossi": not a number`},
		{"unknown strategy", []string{"queue", "set", "5000", "-members", "5002", "-strategy", "leastrecent"}, 2, `strategy "leastrecent": want ringall or roundrobin`},
		{"music a path", []string{"queue", "set", "5000", "-members", "5002", "-music", "/tmp/moh.wav"}, 2, `music "/tmp/moh.wav": want a prompt name`},
		{"ring in fractions", []string{"queue", "set", "5000", "-members", "5002", "-ring", "1500ms"}, 2, "ring timeout 1.5s: want whole seconds up to 5m"},
		{"wait too long", []string{"queue", "set", "5000", "-members", "5002", "-maxwait", "2h"}, 2, "max wait 2h0m0s: want whole seconds up to 1h"},
		{"queue on-timeout repeat:x", []string{"queue", "set", "5000", "-members", "5002", "-ontimeout", "repeat:x"}, 2, "repeat takes no argument"},
		{"queue show of nothing", []string{"queue", "show", "5999"}, 1, `no queue "5999" ('unisi queue list' shows them)`},
		{"queue del of nothing", []string{"queue", "del", "5999"}, 1, `no queue "5999" ('unisi queue list' shows them)`},
		{"login to no queue", []string{"queue", "login", "5999", "5002"}, 1, `no queue "5999"`},
		{"login of no member", []string{"queue", "login", "5000", "5004"}, 1, "5004 is not a member of queue 5000 (members: 5002,5003;"},
		{"logout of no member", []string{"queue", "logout", "5000", "5004"}, 1, "5004 is not a member of queue 5000"},
		{"login without a number", []string{"queue", "login", "5000"}, 2, "missing arguments"},

		{"PIN too short", []string{"voicemail", "set", "5002", "-pin", "123"}, 2, "mailbox 5002: PIN: want 4 to 8 digits"},
		{"PIN with a letter", []string{"voicemail", "set", "5002", "-pin", "12a4"}, 2, "PIN: want 4 to 8 digits"},
		{"e-mail without @", []string{"voicemail", "set", "5002", "-email", "mario"}, 2, `e-mail "mario": not an address`},
		{"e-mail with a space", []string{"voicemail", "set", "5002", "-email", "mario rossi@unisi.it"}, 2, "not an address"},
		{"mailbox not a user", []string{"voicemail", "set", "50 02"}, 2, `mailbox "50 02": not a user`},
		{"voicemail show of nothing", []string{"voicemail", "show", "5999"}, 1, `no mailbox "5999" ('unisi voicemail set 5999' creates it)`},
		{"voicemail del of no number", []string{"voicemail", "del", "5002", "first"}, 2, `ID "first" is not a number`},
		{"voicemail del of nothing", []string{"voicemail", "del", "5002", "99"}, 1, "no message 99 in mailbox 5002 ('unisi voicemail show 5002' lists them)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errb := e.runBoth(tt.args...)
			if code != tt.code {
				t.Fatalf("unisi %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tt.args, " "), code, tt.code, out, errb)
			}
			if !strings.Contains(errb, tt.want) {
				t.Errorf("stderr %q lacks %q", errb, tt.want)
			}
			if out != "" {
				t.Errorf("a refusal printed %q", out)
			}
		})
	}
	if got := e.cli(0, "ivr", "list"); got != beforeIVR {
		t.Errorf("refused menus changed the list:\n%s\nwant\n%s", got, beforeIVR)
	}
	if got := e.cli(0, "queue", "show", "5000"); got != beforeQ {
		t.Errorf("refused queues changed queue 5000:\n%s\nwant\n%s", got, beforeQ)
	}
	if got := e.cli(0, "voicemail", "show", "5002"); got != beforeVM {
		t.Errorf("refused mailboxes changed 5002's:\n%s\nwant\n%s", got, beforeVM)
	}
}

// TestIVRCommands: a menu added, shown, replaced (unchanged when the
// same), deleted; keys leading to what does not exist are stored with a
// warning, and deleting what a key leads to warns.
func TestIVRCommands(t *testing.T) {
	e := newExample(t, "")
	code, out, errb := e.runBoth("ivr", "set", "sub", "-prompt", "sub-menu", "-key", "1=menu:night", "-key", "2=queue:help",
		"-key", "3=voicemail:5077", "-key", "4=menu:sub", "-key", "#=menu:5000", "-key", "*=transfer:0577232111", "-timeout", "10s", "-retries", "3", "-ontimeout", "voicemail:5002")
	if code != 0 || out != "added menu sub (6 keys)\n" {
		t.Fatalf("ivr set sub: exit %d %q %q", code, out, errb)
	}
	for _, w := range []string{
		"unisi: warning: menu sub key 1: no menu night yet ('unisi ivr set night' creates it)\n",
		"unisi: warning: menu sub key 2: no queue help yet ('unisi queue set help' creates it)\n",
		"unisi: warning: menu sub key 3: no mailbox 5077 yet ('unisi voicemail set 5077' creates it)\n",
		`unisi: warning: mediabox: menu sub: prompt "sub-menu" is neither built in nor a site prompt (sub-menu.wav)`,
	} {
		if !strings.Contains(errb, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errb)
		}
	}
	if strings.Count(errb, "warning") != 4 {
		t.Errorf("warnings for what exists (a menu leading to itself, 5000, 5002):\n%s", errb)
	}
	want := map[string]any{
		"id": "sub", "prompt": "sub-menu", "timeout": "10s", "retries": "3", "ontimeout": "voicemail:5002",
		"keys": []any{
			map[string]any{"key": "1", "action": "menu:night"}, map[string]any{"key": "2", "action": "queue:help"},
			map[string]any{"key": "3", "action": "voicemail:5077"}, map[string]any{"key": "4", "action": "menu:sub"},
			map[string]any{"key": "*", "action": "transfer:0577232111"}, map[string]any{"key": "#", "action": "menu:5000"},
		},
	}
	if got := e.show("ivr", "show", "sub"); !jsonEqual(got, want) {
		t.Errorf("ivr show sub -json:\ngot  %v\nwant %v", got, want)
	}
	if out := e.cli(0, "ivr", "show", "sub"); !strings.Contains(out, "timeout    10s\n") || !strings.Contains(out, "\nKEY  ACTION\n1    menu:night\n") {
		t.Errorf("ivr show sub:\n%s", out)
	}
	if out := e.cli(0, "ivr", "set", "sub", "-prompt", "sub-menu", "-key", "1=menu:night", "-key", "2=queue:help",
		"-key", "3=voicemail:5077", "-key", "4=menu:sub", "-key", "#=menu:5000", "-key", "*=transfer:0577232111", "-timeout", "10s", "-retries", "3", "-ontimeout", "voicemail:5002"); out != "unchanged menu sub\n" {
		t.Errorf("the same menu again: %q", out)
	}
	// Replaced whole: the keys not given go, the flags not given return
	// to the default.
	if out := e.cli(0, "ivr", "set", "sub", "-prompt", "sub-menu", "-key", "1=transfer:5003"); out != "replaced menu sub (1 key)\n" {
		t.Errorf("replace: %q", out)
	}
	if got, want := e.row("id", "sub", "ivr", "list"), map[string]string{"id": "sub", "prompt": "sub-menu", "timeout": "", "retries": "", "ontimeout": "", "keys": "1=transfer:5003"}; !maps.Equal(got, want) {
		t.Errorf("after replacing: got %v, want %v", got, want)
	}
	if rows := e.rows("ivr", "list"); len(rows) != 2 || rows[0]["id"] != "5000" || rows[1]["id"] != "sub" {
		t.Errorf("ivr list: %v", rows)
	}
	// 5000's key 1 leads to queue 5000; the seeded menu to nothing else.
	e.cli(0, "ivr", "set", "main", "-prompt", "p", "-key", "1=menu:sub", "-ontimeout", "menu:sub")
	code, out, errb = e.runBoth("ivr", "del", "sub")
	if code != 0 || out != "deleted menu sub\n" || errb != "unisi: warning: menu main key 1 still leads to menu sub\nunisi: warning: menu main on timeout still leads to menu sub\n" {
		t.Errorf("ivr del sub: exit %d %q %q", code, out, errb)
	}
	e.cli(1, "ivr", "show", "sub")
	e.cli(1, "ivr", "del", "sub")
	e.cli(0, "ivr", "del", "main")
	if rows := e.rows("ivr", "list"); len(rows) != 1 || rows[0]["id"] != "5000" {
		t.Errorf("after deleting: %v", rows)
	}
}

// TestQueueCommands: a queue replaced keeps its members' log-in state
// (new members start logged in), login and logout, members in the order
// given, deletion with the menus that lead to it named.
func TestQueueCommands(t *testing.T) {
	e := newExample(t, "")
	if out := e.cli(0, "queue", "logout", "5000", "5003"); out != "logged out 5003 from queue 5000\n" {
		t.Errorf("logout: %q", out)
	}
	if out := e.cli(0, "queue", "logout", "5000", "5003"); out != "logged out 5003 from queue 5000\n" {
		t.Errorf("logout twice: %q", out)
	}
	code, out, errb := e.runBoth("queue", "set", "5000", "-members", "5004,5003,5002", "-strategy", "roundrobin", "-music", "moh2",
		"-announce", "-ring", "20s", "-maxwait", "3m", "-ontimeout", "voicemail:5002")
	if code != 0 || out != "replaced queue 5000 (3 members, 2 logged in)\n" || !strings.Contains(errb, `music "moh2" is neither built in nor a site prompt`) {
		t.Errorf("queue set 5000: exit %d %q %q", code, out, errb)
	}
	want := map[string]any{
		"id": "5000", "strategy": "roundrobin", "music": "moh2", "announce": "on", "ring": "20s", "maxwait": "3m0s", "ontimeout": "voicemail:5002",
		"members": []any{
			map[string]any{"position": float64(1), "number": "5004", "agent": "logged-in"},
			map[string]any{"position": float64(2), "number": "5003", "agent": "logged-out"},
			map[string]any{"position": float64(3), "number": "5002", "agent": "logged-in"},
		},
	}
	if got := e.show("queue", "show", "5000"); !jsonEqual(got, want) {
		t.Errorf("queue show 5000 -json:\ngot  %v\nwant %v", got, want)
	}
	if out := e.cli(0, "queue", "show", "5000"); !strings.Contains(out, "\nPOSITION  NUMBER  AGENT\n1         5004    logged-in\n2         5003    logged-out\n") {
		t.Errorf("queue show 5000:\n%s", out)
	}
	e.cli(0, "queue", "login", "5000", "5003")
	e.cli(0, "queue", "logout", "5000", "5004")
	if got := e.row("id", "5000", "queue", "list"); got["members"] != "5004,5003,5002" || got["logged_in"] != "5003,5002" {
		t.Errorf("queue list after login and logout: %v", got)
	}
	code, out, errb = e.runBoth("queue", "set", "help", "-members", "5001", "-ontimeout", "queue:overflow")
	if code != 0 || out != "added queue help (1 member, 1 logged in)\n" || errb != "unisi: warning: queue help on timeout: no queue overflow yet ('unisi queue set overflow' creates it)\n" {
		t.Errorf("queue set help: exit %d %q %q", code, out, errb)
	}
	e.cli(0, "queue", "set", "overflow", "-members", "5002", "-ontimeout", "queue:help")
	e.cli(0, "ivr", "set", "5000", "-prompt", "ivr-5000", "-key", "1=queue:help", "-key", "2=queue:help")
	code, out, errb = e.runBoth("queue", "del", "help")
	if code != 0 || out != "deleted queue help\n" ||
		errb != "unisi: warning: menu 5000 key 1 still leads to queue help\nunisi: warning: menu 5000 key 2 still leads to queue help\nunisi: warning: queue overflow on timeout still leads to queue help\n" {
		t.Errorf("queue del help: exit %d %q %q", code, out, errb)
	}
	e.cli(1, "queue", "del", "help")
	e.cli(1, "queue", "login", "help", "5001")
	if rows := e.rows("queue", "list"); len(rows) != 2 || rows[0]["id"] != "5000" || rows[1]["id"] != "overflow" {
		t.Errorf("queue list: %v", rows)
	}
}

// TestVoicemailCommands: a mailbox created and changed flag by flag
// (the greeting the box recorded stays), its messages listed oldest
// first, deleted one by one with the lamp's counts following.
func TestVoicemailCommands(t *testing.T) {
	e := newExample(t, "")
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(e.dir, "unisi.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := db.MediaBox()
	// The box recorded a greeting and took three messages.
	if err := st.PutMailbox(ctx, mediabox.Mailbox{User: "5002", PIN: "1234", Greeting: "greeting-5002.wav"}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 3, 14, 9, 26, 53, 589_000_000, time.UTC)
	var ids []int64
	for i, m := range []mediabox.Message{
		{Caller: "0577232111", Time: t0, Duration: 12400 * time.Millisecond, File: "a.wav", Heard: true},
		{Caller: "anonymous", Time: t0.Add(2 * time.Hour), Duration: 61 * time.Second, File: "b.wav"},
		{Caller: "5003", Time: t0.Add(time.Hour), Duration: 3 * time.Second, File: "c.wav"},
	} {
		m.Mailbox = "5002"
		got, err := st.AddMessage(ctx, m)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		ids = append(ids, got.ID)
	}
	out := e.cli(0, "voicemail", "show", "5002")
	want := "FIELD     VALUE\n" +
		"user      5002\n" +
		"pin       (set)\n" +
		"email     -\n" +
		"greeting  greeting-5002.wav\n" +
		"new       2\n" +
		"heard     1\n" +
		"\n" +
		"ID  CALLER      TIME                  DURATION  STATE\n" +
		"1   0577232111  2025-03-14 09:26:53Z  12s       heard\n" +
		"3   5003        2025-03-14 10:26:53Z  3s        new\n" +
		"2   anonymous   2025-03-14 11:26:53Z  1m1s      new\n"
	if out != want {
		t.Errorf("voicemail show 5002:\n%s\nwant\n%s", out, want)
	}
	if ids[0] != 1 || ids[2] != 3 {
		t.Fatalf("message IDs %v: the expected output assumes 1, 2, 3", ids)
	}

	if out := e.cli(0, "voicemail", "set", "5002", "-pin", "4711", "-email", "mario.rossi@unisi.it"); out != "changed mailbox 5002 pin email\n" {
		t.Errorf("set pin and email: %q", out)
	}
	if out := e.cli(0, "voicemail", "set", "5002", "-pin", "4711"); out != "unchanged mailbox 5002\n" {
		t.Errorf("the same PIN: %q", out)
	}
	if out := e.cli(0, "voicemail", "set", "5002", "-email", ""); out != "changed mailbox 5002 email\n" {
		t.Errorf("clearing the e-mail: %q", out)
	}
	if b, err := st.Mailbox(ctx, "5002"); err != nil || b != (mediabox.Mailbox{User: "5002", PIN: "4711", Greeting: "greeting-5002.wav"}) {
		t.Errorf("mailbox 5002 after the changes: %+v %v (the greeting must stay)", b, err)
	}
	if got := e.show("voicemail", "show", "5002"); got["pin"] != "(set)" || got["email"] != "" || got["new"] != float64(2) || len(got["messages"].([]any)) != 3 {
		t.Errorf("voicemail show 5002 -json: %v", got)
	}
	code, out, errb := e.runBoth("voicemail", "set", "5077", "-pin", "0000")
	if code != 0 || out != "added mailbox 5077 pin=(set) email=none\n" || errb != "unisi: warning: no account 5077@voip.unisi.it (the box takes messages for VM_5077 all the same)\n" {
		t.Errorf("a mailbox without an account: exit %d %q %q", code, out, errb)
	}
	if out := e.cli(0, "voicemail", "set", "5009"); out != "added mailbox 5009 pin=none email=none\n" {
		t.Errorf("a mailbox without a PIN: %q", out)
	}

	// The messages' recordings, in the box's spool beside the database.
	folder := filepath.Join(e.dir, "voicemail", "5002")
	if err := os.MkdirAll(folder, 0o750); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"a.wav", "b.wav", "c.wav"} {
		if err := os.WriteFile(filepath.Join(folder, f), mediabox.EncodeWAV(nil), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	// Another mailbox's message is not found through this one.
	e.cli(1, "voicemail", "del", "5003", "2")
	if out := e.cli(0, "voicemail", "del", "5002", "2"); out != "deleted message 2 from mailbox 5002 (1 new, 1 heard left)\n" {
		t.Errorf("del: %q", out)
	}
	if _, err := os.Stat(filepath.Join(folder, "b.wav")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("message 2's recording after del: %v, want it removed", err)
	}
	if _, err := os.Stat(filepath.Join(folder, "a.wav")); err != nil {
		t.Errorf("message 1's recording after message 2's del: %v", err)
	}
	e.cli(1, "voicemail", "del", "5002", "2")
	lamp := func() presence.Mailbox {
		t.Helper()
		all, err := db.Mailboxes().Mailboxes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range all {
			if m.User == "5002" {
				return m
			}
		}
		return presence.Mailbox{}
	}
	if got := lamp(); got != (presence.Mailbox{User: "5002", Domain: "voip.unisi.it", New: 1, Old: 1}) {
		t.Errorf("the lamp's counts after a deletion: %+v", got)
	}
	e.cli(0, "voicemail", "del", "5002", "3")
	e.cli(0, "voicemail", "del", "5002", "1")
	if got := lamp(); got.New != 0 || got.Old != 0 {
		t.Errorf("the lamp's counts with no messages left: %+v", got)
	}
	if out := e.cli(0, "voicemail", "show", "5002"); !strings.HasSuffix(out, "\nno messages\n") {
		t.Errorf("voicemail show with no messages:\n%s", out)
	}
}

// jsonEqual compares decoded JSON values.
func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
