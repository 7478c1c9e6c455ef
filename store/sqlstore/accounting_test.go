package sqlstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/accounting"
	"github.com/palio-voip/palio/accounting/accountingtest"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/palio-voip/palio/store/storetest"
)

// TestAccountingConformance runs the accounting kit on SQLite and, with
// PALIO_MYSQL_DSN, MariaDB.
func TestAccountingConformance(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		accountingtest.TestStore(t, func(t *testing.T) accounting.Store { return open(t).Accounting() })
		accountingtest.TestDepartments(t, func(t *testing.T) accounting.DepartmentStore { return open(t).Accounting() })
	})
}

// TestAccountingColumns: what the kit cannot ask of every store: rows as
// OpenSIPS reads them (DATETIME in local time, sip_code as text, the
// unanswered ones in missed_calls), a row OpenSIPS wrote read back, a
// value too long for its column cut to fit, and the rate table's writes
// moving the "rates" change counter.
func TestAccountingColumns(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		db := open(t)
		ctx := context.Background()
		st := db.Accounting()
		recs := accountingtest.Sample(2)
		recs[1].CallID = strings.Repeat("x", 100) + "@host"
		recs[1].Reason = "Busy Here, with a reason phrase far longer than the column"
		if err := st.WriteCDRs(ctx, recs); err != nil {
			t.Fatal(err)
		}
		var tm, created, code, callid string
		var dur, ms, setup int
		if err := db.QueryRow(ctx, "SELECT CAST(time AS CHAR), CAST(created AS CHAR), sip_code, duration, ms_duration, setuptime FROM acc WHERE palio_id = ?",
			recs[0].ID).Scan(&tm, &created, &code, &dur, &ms, &setup); err != nil {
			t.Fatal(err)
		}
		if tm != "2026-12-04 09:30:03" || created != "2026-12-04 09:30:00" || code != "200" || dur != 66 || ms != 65400 || setup != 3 {
			t.Errorf("acc row as OpenSIPS reads it: time %q created %q sip_code %q duration %d ms_duration %d setuptime %d", tm, created, code, dur, ms, setup)
		}
		if err := db.QueryRow(ctx, "SELECT callid FROM missed_calls").Scan(&callid); err != nil || len(callid) != 64 {
			t.Errorf("missed_calls.callid: %q %v, want the first 64 characters", callid, err)
		}
		// A row as OpenSIPS's acc module writes it.
		if err := db.Exec(ctx, "INSERT INTO acc (method, from_tag, to_tag, callid, sip_code, sip_reason, time, duration, ms_duration, setuptime, created) "+
			"VALUES ('INVITE', 'a', 'b', 'opensips-call', '200', 'OK', '2026-12-04 10:00:05', 3, 2500, 5, '2026-12-04 10:00:00')"); err != nil {
			t.Fatal(err)
		}
		var got []accounting.CDR
		st.CDRs(ctx, accounting.Filter{From: time.Date(2026, 12, 4, 10, 0, 0, 0, time.Local)}, func(c accounting.CDR) error {
			got = append(got, c)
			return nil
		})
		if len(got) != 1 || got[0].CallID != "opensips-call" || got[0].ID != "" || got[0].Code != 200 || got[0].MSDuration != 2500 ||
			!got[0].Time.Equal(time.Date(2026, 12, 4, 10, 0, 5, 0, time.Local)) {
			t.Errorf("the row OpenSIPS wrote: %+v", got)
		}

		version := func() int64 {
			v, err := db.Versions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return v["rates"]
		}
		before := version()
		r, err := st.PutRate(ctx, accounting.Rate{Class: "national", PerMinute: 15000, Initial: 60, Increment: 60})
		if err != nil {
			t.Fatal(err)
		}
		afterPut := version()
		if err := st.DeleteRate(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		if afterPut <= before || version() <= afterPut {
			t.Errorf("the rates counter: %d, %d, %d: want it to move on each write", before, afterPut, version())
		}
	})
}
