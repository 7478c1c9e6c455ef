package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/accounting"
	"github.com/palio-voip/palio/accounting/accountingtest"
	"github.com/palio-voip/palio/store/sqlite"
)

// seedCDRs writes records into the node's database, as the server would.
func (e *example) seedCDRs(t *testing.T, cdrs []accounting.CDR) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(e.dir, "unisi.db"), sqlite.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Accounting().WriteCDRs(ctx, cdrs); err != nil {
		t.Fatal(err)
	}
}

// golden compares out with testdata/golden/file (go test -update
// rewrites it).
func golden(t *testing.T, file, out string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", file)
	if *update {
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if out != string(want) {
		t.Errorf("differs from %s:\n--- got\n%s--- want\n%s", path, out, want)
	}
}

// TestAccountingCommands: the reports, the record list and export, the
// rate table and the departments on seeded records of 2026-12-04 (see
// accountingtest.Sample: answered national calls of 5002 at 0.09, busy
// ones, cancelled calls to 5003, incoming calls to 5003, the blocked
// 5009's attempts).
func TestAccountingCommands(t *testing.T) {
	e := newExample(t, "")
	e.seedCDRs(t, accountingtest.Sample(10))

	// Rates and departments.
	for _, tt := range []struct {
		args []string
		out  string
	}{
		{[]string{"rate", "set", "-class", "national", "-price", "0.015", "-fee", "0.05"}, "added rate 1: national, any number: 0.015 a minute, fee 0.05, billing 60/60\n"},
		{[]string{"rate", "set", "-class", "mobile", "-prefix", "03", "-price", "0.12", "-billing", "30/6"}, "added rate 2: mobile, 03: 0.12 a minute, fee 0.00, billing 30/6\n"},
		{[]string{"rate", "set", "-prefix", "00800", "-free", "-description", "toll-free"}, "added rate 3: any class, 00800: free\n"},
		{[]string{"rate", "set", "-class", "national", "-price", "0.02", "-billing", "1/1"}, "changed rate 1: national, any number: 0.02 a minute, fee 0.00, billing 1/1\n"},
		{[]string{"department", "set", "5002", "Ingegneria"}, "5002@voip.unisi.it is in Ingegneria\n"},
		{[]string{"department", "set", "5003", "Economia"}, "5003@voip.unisi.it is in Economia\n"},
		{[]string{"department", "set", "5004", "Lettere"}, "5004@voip.unisi.it is in Lettere\n"},
		{[]string{"department", "set", "5004", ""}, "5004@voip.unisi.it is in no department\n"},
	} {
		if out := e.cli(0, tt.args...); out != tt.out {
			t.Errorf("unisi %s: %q, want %q", strings.Join(tt.args, " "), out, tt.out)
		}
	}
	e.cli(2, "rate", "set", "-class", "national", "-price", "0,015")
	e.cli(2, "rate", "set", "-class", "national", "-billing", "60")
	e.cli(2, "rate", "set", "-prefix", "05x")
	e.cli(1, "rate", "del", "99")
	e.cli(0, "rate", "del", "3")
	e.cli(1, "department", "set", "5999", "Nowhere")
	golden(t, "rate-list.txt", e.cli(0, "rate", "list"))
	golden(t, "department-list.txt", e.cli(0, "department", "list"))

	// Reports and lists, as operators read them.
	golden(t, "report-daily.txt", e.cli(0, "report", "daily", "-date", "2026-12-04"))
	golden(t, "report-user-5003.txt", e.cli(0, "report", "user", "5003", "-from", "2026-12-04", "-to", "2026-12-04"))
	golden(t, "cdr-list-5002.txt", e.cli(0, "cdr", "list", "-user", "5002", "-from", "2026-12-04 09:30", "-to", "2026-12-04 09:35"))
	golden(t, "help-report-daily.txt", e.cli(0, "help", "report", "daily"))

	// The JSON the admin page reads.
	var rep accounting.Report
	if err := json.Unmarshal([]byte(e.cli(0, "report", "daily", "-date", "2026-12-04", "-json")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Total.Calls != 10 || rep.Total.Answered != 4 || rep.Total.Cost != 180000 || len(rep.Blocked) != 2 {
		t.Errorf("report -json: total %+v, %d blocked", rep.Total, len(rep.Blocked))
	}
	var byDept = map[string]accounting.Totals{}
	for _, l := range rep.Departments {
		byDept[l.Key] = l.Totals
	}
	if byDept["Ingegneria"].Calls != 6 || byDept["Ingegneria"].Cost != 180000 || byDept["Economia"].Calls != 4 || byDept["Economia"].Cost != 0 {
		t.Errorf("departments: %+v", rep.Departments)
	}
	if out := e.cli(0, "report", "period", "-from", "2026-12-01", "-to", "2026-12-31"); !strings.Contains(out, "2026-12-04  10") {
		t.Errorf("report period lacks the day's line:\n%s", out)
	}
	e.cli(2, "report", "period", "-from", "2026-12-04")
	e.cli(2, "report", "daily", "-date", "yesterday")
	e.cli(2, "report", "period", "-from", "2026-12-05", "-to", "2026-12-01")

	// -since counts back from now; the missed calls only with -missed.
	recent := accountingtest.Sample(2)
	for i := range recent {
		recent[i].ID = "recent" + recent[i].ID[6:]
		recent[i].Created = time.Now().Add(-time.Hour).Truncate(time.Second)
		recent[i].Time = recent[i].Created.Add(2 * time.Second)
	}
	e.seedCDRs(t, recent)
	rows := e.rows("cdr", "list", "-user", "5002", "-since", "24h")
	if len(rows) != 2 {
		t.Errorf("cdr list -since 24h: %d records, want the 2 of the last hour", len(rows))
	}
	if rows := e.rows("cdr", "list", "-since", "24h", "-missed"); len(rows) != 1 || rows[0]["sip_code"] != "486" {
		t.Errorf("cdr list -missed: %v", rows)
	}

	// CSV export.
	csvPath := filepath.Join(e.dir, "december.csv")
	if out := e.cli(0, "cdr", "export", "-from", "2026-12-04", "-to", "2026-12-04", csvPath); out != "exported 10 records to "+csvPath+"\n" {
		t.Errorf("cdr export: %q", out)
	}
	e.cli(1, "cdr", "export", "-from", "2026-12-04", "-to", "2026-12-04", csvPath) // exists: never overwritten
	e.cli(2, "cdr", "export", filepath.Join(e.dir, "x.csv"))
	b, _ := os.ReadFile(csvPath)
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(recs) != 11 || strings.Join(recs[0], ",") != strings.Join(accounting.CSVHeader, ",") {
		t.Fatalf("the CSV: %d rows, %v", len(recs), err)
	}
	if r := recs[1]; r[4] != "call-0@10.0.0.2" || r[7] != "2026-12-04 09:30:03" || r[11] != "2026-12-04 09:30:00" || r[23] != "0.09" {
		t.Errorf("the CSV's first record: %v", r)
	}
	if out := e.cli(0, "cdr", "export", "-from", "2026-12-04", "-to", "2026-12-04", "-user", "5009", "-"); strings.Count(out, "\n") != 3 {
		t.Errorf("cdr export to standard output:\n%s", out)
	}
}

// TestAccountingCommandsNoServer: the store commands on a database that
// does not exist fail and create nothing; the live commands say when no
// server answers.
func TestAccountingCommandsNoServer(t *testing.T) {
	e := newBareExample(t, "")
	for _, args := range [][]string{
		{"cdr", "list"}, {"report", "daily"}, {"rate", "list"}, {"department", "list"},
		{"cdr", "export", "-from", "2026-12-01", "-to", "2026-12-02", filepath.Join(e.dir, "x.csv")},
	} {
		if msg := e.cliErr(1, args...); !strings.Contains(msg, "no database at") {
			t.Errorf("unisi %s on a missing database: %q", strings.Join(args, " "), msg)
		}
	}
	if _, err := os.Stat(filepath.Join(e.dir, "unisi.db")); err == nil {
		t.Fatal("a command created the database")
	}
	e.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	if msg := e.cliErr(1, "calls", "list"); !strings.Contains(msg, "does not answer") {
		t.Errorf("calls list without a server: %q", msg)
	}
}
