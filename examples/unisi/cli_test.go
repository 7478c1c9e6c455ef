package main

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/store/sqlite"
)

// TestTranslate runs `translate` on the seeded UniSI dialplan with
// real-looking numbers of every class (0 is the outside line).
func TestTranslate(t *testing.T) {
	e := newExample(t, "")
	tests := []struct {
		number, want string
		code         int
	}{
		{"5002", "5002\tvoip", 0},                   // a Siena extension
		{"6123", "6123\tvoip", 0},                   // another VoIP range
		{"00575123456", "00575123456\tnational", 0}, // Arezzo, dialled with the outside line
		{"00577232111", "00577232111\tnational", 0}, // Siena
		{"03351234567", "03351234567\tmobile", 0},   // a mobile
		{"000442079460000", "000442079460000\tinternational", 0},
		{"21456", "21456\tlegacy", 0}, // an MD110 extension
		{"8012", "8012\tlegacy", 0},
		{"8850", "8850\tmedia", 0},              // the media box
		{"05771530123", "05771530123\ttoip", 0}, // a ToIP DID
		{"FAX_5500", "FAX_5500\tmedia", 0},
		{"999", "", 1},
		{"0577", "", 1},
		{"55555", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.number, func(t *testing.T) {
			out := e.cliT(t, tt.code, "translate", "0", tt.number)
			if tt.code == 0 && strings.TrimSpace(out) != tt.want {
				t.Errorf("got %q, want %q", out, tt.want)
			}
			if tt.code == 1 && !strings.Contains(out, "no match") {
				t.Errorf("no-match output: %q", out)
			}
		})
	}
	out := e.cli(0, "translate", "-explain", "0", "00577232111")
	if !strings.Contains(out, "rule 3") && !strings.Contains(out, "id 3") && !strings.Contains(out, " 3 ") {
		t.Errorf("explain does not name rule 3:\n%s", out)
	}
}

func TestUserCommands(t *testing.T) {
	e := newExample(t, "")
	if out := e.cli(0, "user", "add", "5100", "-password", "s3cret", "-classes", "local,national"); out != "added 5100@voip.unisi.it classes=local,national inbound=all\n" {
		t.Errorf("add: %q", out)
	}
	e.cli(1, "user", "add", "5100", "-password", "x")
	e.cli(2, "user", "add", "5101")
	e.cli(0, "user", "block", "5100")
	want := map[string]string{"user": "5100", "domain": "voip.unisi.it", "classes": "local,national", "inbound": "all", "state": "blocked"}
	if got := e.row("user", "5100", "user", "list"); !maps.Equal(got, want) {
		t.Errorf("list: got %v, want %v", got, want)
	}
	if out := e.cli(0, "user", "block", "5100"); out != "unchanged 5100@voip.unisi.it (already blocked)\n" {
		t.Errorf("block twice: %q", out)
	}
	e.cli(0, "user", "unblock", "5100")
	if got := e.row("user", "5100", "user", "list"); got["state"] != "active" {
		t.Errorf("after unblock: %v", got)
	}
	// The owner and note: set, refused by the library's check (exit 2,
	// nothing changed), shown, and deleted with the account.
	if out := e.cli(0, "user", "set", "5100", "-owner", "Anna Bianchi", "-note", "Rettorato"); out != "changed 5100@voip.unisi.it owner=\"Anna Bianchi\" note=\"Rettorato\"\n" {
		t.Errorf("set -owner -note: %q", out)
	}
	e.cli(2, "user", "set", "5100", "-owner", strings.Repeat("x", 129))
	e.cli(2, "user", "set", "5100", "-note", "two\nlines")
	if out := e.cli(0, "user", "show", "5100"); !strings.Contains(out, "owner\tAnna Bianchi\nnote\tRettorato\n") {
		t.Errorf("show after the refusals: %q", out)
	}
	if out := e.cli(0, "user", "set", "5100", "-note", ""); out != "changed 5100@voip.unisi.it note=\"\"\n" {
		t.Errorf("set -note '': %q", out)
	}
	e.cli(0, "user", "del", "5100")
	e.cli(1, "user", "del", "5100")
	e.cli(1, "user", "show", "5100")
	if out := e.cli(0, "user", "add", "5100", "-password", "s3cret-2", "-note", "new desk"); out != "added 5100@voip.unisi.it classes=local inbound=all note=\"new desk\"\n" {
		t.Errorf("add -note: %q", out)
	}
	if out := e.cli(0, "user", "show", "5100"); !strings.Contains(out, "owner\t-\nnote\tnew desk\n") {
		t.Errorf("show of the account added again: %q, want the deleted one's owner gone", out)
	}
	e.cli(2, "user", "frob")
}

func TestLocationAddressAliasCommands(t *testing.T) {
	e := newExample(t, "")
	e.cli(0, "location", "add", "5002", "sip:5002@127.0.0.1:5090")
	e.cli(0, "location", "add", "5003", "sip:5003@10.0.0.3:5060", "-expires", "600", "-received", "192.0.2.3:40000")
	if got := e.row("aor", "5002", "location", "list"); got["contact"] != "sip:5002@127.0.0.1:5090" || got["received"] != "" || got["transport"] != "UDP" || got["expires"] != "permanent" {
		t.Errorf("location list, 5002: %v", got)
	}
	if got := e.row("aor", "5003", "location", "list"); got["contact"] != "sip:5003@10.0.0.3:5060" || got["received"] != "192.0.2.3:40000" || got["expires"] == "permanent" {
		t.Errorf("location list, 5003: %v", got)
	}
	e.cli(0, "location", "del", "5003", "sip:5003@10.0.0.3:5060")
	e.cli(1, "location", "del", "5003", "sip:5003@10.0.0.3:5060")
	e.cli(2, "location", "add", "5004", "not a uri")

	out := e.cli(0, "address", "add", "4", "10.40.0.0/16", "-proto", "tcp", "-tag", "lab")
	id := strings.Fields(out)[2]
	want := map[string]string{"id": id, "group": "4", "network": "10.40.0.0/16", "port": "0", "proto": "tcp", "pattern": "", "tag": "lab", "trusted": "yes"}
	if got := e.row("id", id, "address", "list"); !maps.Equal(got, want) {
		t.Errorf("address list: got %v, want %v", got, want)
	}
	e.cli(2, "address", "add", "4", "10.40.0.0/33")
	e.cli(2, "address", "add", "x", "10.40.0.0/16")
	e.cli(0, "address", "del", id)
	e.cli(1, "address", "del", id)

	e.cli(0, "alias", "add", "5600", "FAX_5600")
	e.cli(1, "alias", "add", "5600", "other")
	if got := e.row("alias", "5600@voip.unisi.it", "alias", "list"); got["target"] != "FAX_5600@voip.unisi.it" {
		t.Errorf("alias list: %v", got)
	}
	if out := e.cli(0, "route", "5600", "-from", "5001"); !strings.Contains(out, "FAX_5600") {
		t.Errorf("route after alias add:\n%s", out)
	}
	e.cli(0, "alias", "del", "5600")
	e.cli(1, "alias", "del", "5600")
}

func TestImport(t *testing.T) {
	e := newExample(t, "")
	bad := writeFile(t, e.dir, "rules.tsv", "id\tdpid\tpr\tmatch_op\tmatch_exp\tattrs\n"+
		"100\t1\t1\t1\t^7.{3}$\tvoip\n"+
		"101\t1\t1\t1\t^(?=9)\tvoip\n"+ // lookahead: RE2 cannot
		"102\t1\t1\t7\t^8\tvoip\n"+ // unknown match_op
		"103\t1\tx\t1\t^9\tvoip\n") // bad integer
	out := e.cli(1, "import", "dialplan", bad)
	for _, want := range []string{"rejected " + bad + ":3: ", "rejected " + bad + ":4: ", "rejected " + bad + ":5: column pr",
		"nothing written: 3 of 4 rows rejected (fix the rows, or -partial to write the good ones)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("import of a file with bad rows lacks %q:\n%s", want, out)
		}
	}
	e.cli(1, "translate", "1", "7123") // all or nothing: the good row is not there
	if out := e.cli(1, "import", "dialplan", bad, "-partial"); !strings.Contains(out, "loaded 1 rows into dialplan; 3 rejected (-partial)") {
		t.Errorf("-partial:\n%s", out)
	}
	if got := e.cli(0, "translate", "1", "7123"); strings.TrimSpace(got) != "7123\tvoip" {
		t.Errorf("the imported rule: %q", got)
	}
	// The same row again names the id it collides on.
	if out := e.cli(1, "import", "dialplan", bad); !strings.Contains(out, `dialplan: a row with id "100" exists already`) {
		t.Errorf("duplicate id:\n%s", out)
	}

	// What mysql -B writes: NULLs and escaped backslashes.
	dump := writeFile(t, e.dir, "dump.tsv", "id\tdpid\tpr\tmatch_op\tmatch_exp\tmatch_flags\tsubst_exp\trepl_exp\ttimerec\tdisabled\tattrs\n"+
		"200\t2\t1\t1\t^\\+39(.*)$\t0\t^\\+39(.*)$\t0\\1\tNULL\t0\tnational\n"+
		"201\t2\t2\t1\t^5...$\t0\tNULL\tNULL\tNULL\t0\tvoip\n")
	if out := e.cli(0, "import", "dialplan", dump, "-dry-run"); out != "dry run: 2 rows would load into dialplan; nothing written\n" {
		t.Errorf("-dry-run: %q", out)
	}
	e.cli(1, "translate", "2", "+39577")
	if out := e.cli(0, "import", "dialplan", dump); out != "loaded 2 rows into dialplan\n" {
		t.Errorf("dump: %q", out)
	}
	if got := e.cli(0, "translate", "2", "+390577232111"); got != "00577232111\tnational\n" {
		t.Errorf("the dump's rule: %q", got)
	}
	// -replace swaps the table: the dump's rules are all that is left.
	e.cli(0, "import", "dialplan", dump, "-replace")
	if rows := e.rows("dialplan", "list"); len(rows) != 2 || rows[0]["id"] != "200" {
		t.Errorf("after -replace: %v", rows)
	}
	e.cli(0, "import", "dialplan", dump, "-upsert")

	comma := writeFile(t, e.dir, "comma.csv", "id,dpid,pr\n1,0,1\n")
	if out := e.cliErr(1, "import", "dialplan", comma); !strings.Contains(out, "tab-separated expected") {
		t.Errorf("comma-separated: %q", out)
	}
	wrong := writeFile(t, e.dir, "wrong.tsv", "id\tpriority\n")
	if out := e.cliErr(1, "import", "dialplan", wrong); !strings.Contains(out, `no column "priority" (columns: attrs, disabled, dpid, id, match_exp`) {
		t.Errorf("wrong column: %q", out)
	}
	e.cli(2, "import", "dialplan")
	e.cli(2, "import", "nosuch", bad)
	e.cli(2, "import", "dialplan", bad, "-replace", "-upsert")
}

// TestRouteDryRun: `route` runs the server's stages, the guard's
// included: a banned source, a locked account and a fraud-blocked one get
// the refusal their real call gets (guard.CheckBans, guard.CheckFraud).
func TestRouteDryRun(t *testing.T) {
	e := newExample(t, "")
	e.cli(0, "location", "add", "5003", "sip:5003@10.0.0.3:5060")
	// The seed's night rule for 000… (rule 3, 20:00-06:59 in Rome) would
	// take the international call below by night: without it, rule 2
	// answers at every hour the test runs.
	e.cli(0, "guard", "rule", "del", "3")
	far := time.Now().Add(24 * time.Hour)
	e.putBans(t,
		guard.Ban{Kind: guard.BanIP, Subject: "203.0.113.9", Created: time.Now(), Until: far, Reason: "10 auth failures in 1m0s"},
		guard.Ban{Kind: guard.BanUser, Subject: "5003", Created: time.Now(), Until: far, Reason: "20 auth failures in 10m0s"},
		guard.Ban{Kind: guard.BanFraud, Subject: "5004", Created: time.Now(), Reason: "total-calls 50 >= 50"})
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"registered phone", []string{"route", "5003", "-from", "5002"}, 0,
			[]string{"auth\tcaller 5002@voip.unisi.it", "dialplan\trule 2: 5003 -> 5003, class voip", "target\t1\tsip:5003@10.0.0.3:5060", "result\t200"}},
		{"class refused", []string{"route", "03351234567", "-from", "5001"}, 1,
			[]string{"class mobile", "result\t403 Forbidden: class not allowed"}},
		{"blocked caller", []string{"route", "5003", "-from", "5009"}, 1, []string{"result\t403 Account Blocked"}},
		{"unknown caller", []string{"route", "5003", "-from", "7777"}, 1, []string{"result\t403"}},
		{"from a gateway", []string{"route", "5003", "-from", "x", "-src", "198.51.100.11:5060"}, 0,
			[]string{"source\ttrusted 198.51.100.11:5060 group 1 (gw-siena-1)", "auth\tnot needed", "inbound call needs pstn", "result\t200"}},
		{"invalid destination", []string{"route", "999", "-from", "5002"}, 1, []string{"result\t420 Invalid Destination"}},
		{"banned source", []string{"route", "5003", "-from", "5002", "-src", "203.0.113.9:5060"}, 1,
			[]string{"guard\trefused: source 203.0.113.9 banned: 10 auth failures in 1m0s", "result\t503 Service Unavailable"}},
		{"locked account", []string{"route", "5002", "-from", "5003"}, 1,
			[]string{"guard\trefused: account 5003 locked: 20 auth failures in 10m0s", "result\t403 Account Locked"}},
		{"fraud-blocked account", []string{"route", "00577232111", "-from", "5004"}, 1,
			[]string{"auth\tcaller 5004@voip.unisi.it", "fraud\trefused: 5004's outbound calls are blocked", "result\t403 Forbidden: Blocked by Fraud Check"}},
		// The seed's gateways are placeholders: 503 after the fraud check.
		{"a fraud rule matched", []string{"route", "000442079460000", "-from", "5002"}, 1,
			[]string{"fraud\trule 2 (prefix \"000\"): 1 calls today, 1 this minute, 1 at once", "result\t503"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := e.cliT(t, tt.code, tt.args...)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	e.cli(2, "route", "5003")
}

func TestConfigStrict(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, body, want string
	}{
		{"unknown key", "[sip]\nlisten = \"127.0.0.1:5060\"\nlisten_typo = 1\n", "unknown keys: sip.listen_typo"},
		{"bad level", "[log]\nlevel = \"loud\"\n", "log.level"},
		{"static routes are data now", "[[route]]\nnumber = \"5002\"\n", "unknown keys: route"},
		{"media box is a gateway now", "[media]\nbox = \"sip:127.0.0.1\"\n", "unknown keys: media"},
		{"bad duration", "[timers]\ntimer_c = \"soon\"\n", "timer_c"},
		{"alarm over the limit", "[routing]\nalarm_threshold = 1.5\n", "alarm_threshold"},
		{"bad failover code", "[routing]\nfailover_codes = [503, 42]\n", "status code 42"},
		{"negative probe interval", "[routing]\nprobe_interval = \"-1s\"\n", "probe_interval"},
		{"negative idle timeout", "[sip]\nidle_timeout = \"-1s\"\n", "idle_timeout"},
		{"max_pending typo", "[sip]\nmax_pending = -5\n", "MaxPending -5"},
		{"negative retry_after", "[sip]\nretry_after = \"-5s\"\n", "RetryAfter"},
		{"adaptive_procs not a bool", "[runtime]\nadaptive_procs = 1\n", "adaptive_procs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".toml")
			os.WriteFile(p, []byte(tt.body), 0o644)
			_, err := loadConfig(p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"frobnicate"}, &stderr, &stderr); code != 2 || !strings.Contains(stderr.String(), "unknown command") {
		t.Errorf("unknown command: exit %d, %q", code, stderr.String())
	}
}

func writeAll(path, body string) error { return os.WriteFile(path, []byte(body), 0o644) }

// putBans stores bans as a server's guard stores them.
func (e *example) putBans(t *testing.T, bans ...guard.Ban) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(e.dir, "unisi.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, b := range bans {
		if err := db.Guard().PutBan(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
}
