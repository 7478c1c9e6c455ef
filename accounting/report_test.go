package accounting_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/palio-voip/palio/accounting"
)

var day = time.Date(2026, 12, 4, 0, 0, 0, 0, time.Local)

// seeded are a day's calls, and one the next day, with hand-set costs.
func seeded() []accounting.CDR {
	at := func(d, h, m int) time.Time {
		return day.AddDate(0, 0, d).Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}
	answered := func(c accounting.CDR, secs int) accounting.CDR {
		c.Code, c.Reason, c.Time = 200, "OK", c.Created.Add(2*time.Second)
		c.MSDuration, c.Duration = int64(secs)*1000, secs
		return c
	}
	return []accounting.CDR{
		answered(accounting.CDR{ID: "1", Created: at(0, 9, 0), Caller: "5002@voip.unisi.it", From: "5002@voip.unisi.it", Number: "00577232111",
			Class: "national", Gateway: "gw-siena-1", Direction: accounting.Out, Cost: 80000}, 66),
		{ID: "2", Created: at(0, 9, 5), Code: 486, Caller: "5002@voip.unisi.it", From: "5002@voip.unisi.it", Number: "03331234567",
			Class: "mobile", Gateway: "gw-siena-2", Direction: accounting.Out},
		answered(accounting.CDR{ID: "3", Created: at(0, 10, 0), Caller: "5003@voip.unisi.it", From: "5003@voip.unisi.it", Callee: "5002@voip.unisi.it",
			Number: "5002", Class: "voip", Direction: accounting.Internal}, 30),
		answered(accounting.CDR{ID: "4", Created: at(0, 11, 0), From: "0577232111@10.0.0.9", Callee: "5003@voip.unisi.it",
			Number: "5003", Class: "voip", Direction: accounting.In}, 120),
		{ID: "5", Created: at(0, 12, 0), Code: 403, From: "5009@voip.unisi.it", Dialled: "5003", Number: "5003", Direction: accounting.In},
		answered(accounting.CDR{ID: "6", Created: at(0, 23, 59), Caller: "5004@voip.unisi.it", From: "5004@voip.unisi.it", Number: "00577232111",
			Class: "national", Gateway: "gw-siena-1", Direction: accounting.Out, Cost: 65000}, 10),
		answered(accounting.CDR{ID: "7", Created: at(1, 8, 0), Caller: "5002@voip.unisi.it", From: "5002@voip.unisi.it", Number: "000442079460000",
			Class: "international", Gateway: "gw-siena-1", Direction: accounting.Out, Cost: 1250000}, 75),
	}
}

func reportStore(t *testing.T) *accounting.MemStore {
	t.Helper()
	st := accounting.NewMemStore()
	if err := st.WriteCDRs(context.Background(), seeded()); err != nil {
		t.Fatal(err)
	}
	return st
}

var depts = []accounting.Department{
	{User: "5002", Domain: "voip.unisi.it", Department: "Ingegneria"},
	{User: "5003", Domain: "voip.unisi.it", Department: "Economia"},
}

func tot(calls, answered, in, out, internal int, secs int64, cost accounting.Money) accounting.Totals {
	return accounting.Totals{Calls: calls, Answered: answered, In: in, Out: out, Internal: internal, Seconds: secs, Cost: cost}
}

func line(key string, t accounting.Totals) accounting.Line {
	return accounting.Line{Key: key, Totals: t}
}

// TestDailyReport adds up a seeded day by hand: totals, per class,
// gateway, account, department, top destinations, and the calls of
// blocked accounts.
func TestDailyReport(t *testing.T) {
	st := reportStore(t)
	from, to := accounting.Day(day.Add(15*time.Hour), nil)
	rep, err := accounting.BuildReport(context.Background(), st, accounting.ReportOptions{
		From: from, To: to, Departments: depts, Blocked: func(u string) bool { return u == "5009" },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := accounting.Report{
		From: from, To: to,
		Total: tot(6, 4, 2, 3, 1, 226, 145000),
		Days:  []accounting.Line{line("2026-12-04", tot(6, 4, 2, 3, 1, 226, 145000))},
		Classes: []accounting.Line{
			line("", tot(1, 0, 1, 0, 0, 0, 0)),
			line("mobile", tot(1, 0, 0, 1, 0, 0, 0)),
			line("national", tot(2, 2, 0, 2, 0, 76, 145000)),
			line("voip", tot(2, 2, 1, 0, 1, 150, 0)),
		},
		Gateways: []accounting.Line{
			line("gw-siena-1", tot(2, 2, 0, 2, 0, 76, 145000)),
			line("gw-siena-2", tot(1, 0, 0, 1, 0, 0, 0)),
		},
		Users: []accounting.Line{
			line("5002@voip.unisi.it", tot(3, 2, 0, 2, 1, 96, 80000)),
			// Not the refused call of 5009: it was refused before the
			// lookup named the callee.
			line("5003@voip.unisi.it", tot(2, 2, 1, 0, 1, 150, 0)),
			line("5004@voip.unisi.it", tot(1, 1, 0, 1, 0, 10, 65000)),
		},
		Departments: []accounting.Line{
			line("", tot(1, 1, 0, 1, 0, 10, 65000)),
			line("Economia", tot(2, 2, 1, 0, 1, 150, 0)),
			line("Ingegneria", tot(3, 2, 0, 2, 1, 96, 80000)),
		},
		Destinations: []accounting.Line{
			line("00577232111", tot(2, 2, 0, 2, 0, 76, 145000)),
			line("03331234567", tot(1, 0, 0, 1, 0, 0, 0)),
		},
	}
	got := rep
	got.Blocked = nil
	if !reflect.DeepEqual(got, want) {
		a, _ := json.MarshalIndent(got, "", " ")
		b, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("report:\n%s\nwant\n%s", a, b)
	}
	if len(rep.Blocked) != 1 || rep.Blocked[0].ID != "5" {
		t.Errorf("blocked: %+v, want the call of 5009", rep.Blocked)
	}
}

// TestPeriodReport: a period of two days, one account's report, the top
// destinations ordered by calls then minutes, and the JSON the admin
// page reads.
func TestPeriodReport(t *testing.T) {
	st := reportStore(t)
	rep, err := accounting.BuildReport(context.Background(), st, accounting.ReportOptions{From: day, To: day.AddDate(0, 0, 2), Top: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total != tot(7, 5, 2, 4, 1, 301, 1395000) || len(rep.Days) != 2 || rep.Days[1] != line("2026-12-05", tot(1, 1, 0, 1, 0, 75, 1250000)) {
		t.Errorf("period: total %+v, days %+v", rep.Total, rep.Days)
	}
	if len(rep.Destinations) != 2 || rep.Destinations[0].Key != "00577232111" || rep.Destinations[1].Key != "000442079460000" {
		t.Errorf("top destinations: %+v", rep.Destinations)
	}
	user, err := accounting.BuildReport(context.Background(), st, accounting.ReportOptions{From: day, To: day.AddDate(0, 0, 2), User: "5002"})
	if err != nil {
		t.Fatal(err)
	}
	if user.User != "5002" || user.Total != tot(4, 3, 0, 3, 1, 171, 1330000) {
		t.Errorf("5002's report: %+v", user.Total)
	}
	b, err := json.Marshal(user)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	json.Unmarshal(b, &back)
	if total := back["total"].(map[string]any); total["cost"] != "1.33" || total["seconds"] != 171.0 || back["blocked"] == nil {
		t.Errorf("JSON: %s", b)
	}
}

// TestExportCSV: one header row, one row per record, acc's DATETIME
// format, a formula-looking value defused.
func TestExportCSV(t *testing.T) {
	st := reportStore(t)
	st.WriteCDRs(context.Background(), []accounting.CDR{{ID: "8", Created: day.Add(13 * time.Hour), Time: day.Add(13 * time.Hour), Code: 403,
		From: "=HYPERLINK(\"x\")@evil", Number: "+390577232111"}})
	var buf bytes.Buffer
	n, err := accounting.ExportCSV(context.Background(), &buf, st, accounting.Filter{From: day, To: day.AddDate(0, 0, 1)}, time.Local)
	if err != nil || n != 7 {
		t.Fatalf("exported %d: %v", n, err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 8 || !reflect.DeepEqual(rows[0], accounting.CSVHeader) {
		t.Fatalf("rows: %d, header %v", len(rows), rows[0])
	}
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	r := rows[1]
	if r[col["id"]] != "1" || r[col["created"]] != "2026-12-04 09:00:00" || r[col["time"]] != "2026-12-04 09:00:02" ||
		r[col["duration"]] != "66" || r[col["ms_duration"]] != "66000" || r[col["sip_code"]] != "200" || r[col["cost"]] != "0.08" ||
		r[col["direction"]] != "out" || r[col["gateway"]] != "gw-siena-1" {
		t.Errorf("first row: %v", r)
	}
	evil := rows[6]
	if evil[col["from"]] != `'=HYPERLINK("x")@evil` || evil[col["number"]] != "+390577232111" {
		t.Errorf("formula row: from %q, number %q", evil[col["from"]], evil[col["number"]])
	}
}
