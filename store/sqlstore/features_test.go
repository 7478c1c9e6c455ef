package sqlstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/features"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/palio-voip/palio/store/storetest"
)

// TestFeatureCounter: every write to palio_features, userblacklist and
// globalblacklist moves the "features" change counter, so that running
// nodes reload the services.
func TestFeatureCounter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		db := open(t)
		ctx := context.Background()
		st := db.Features()
		last := func() int64 {
			t.Helper()
			v, err := db.Versions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n, ok := v["features"]
			if !ok {
				t.Fatalf("palio_changes has no features row: %v", v)
			}
			return n
		}
		before := last()
		for _, w := range []struct {
			name string
			do   func() error
		}{
			{"settings stored", func() error {
				return st.PutSettings(ctx, features.Settings{User: "5002", Domain: "voip.unisi.it", DND: true})
			}},
			{"settings changed", func() error {
				return st.PutSettings(ctx, features.Settings{User: "5002", Domain: "voip.unisi.it", ForwardBusy: "5003"})
			}},
			{"settings removed", func() error {
				return st.PutSettings(ctx, features.Settings{User: "5002", Domain: "voip.unisi.it"})
			}},
			{"global row added", func() error {
				_, err := st.AddListEntry(ctx, features.ListEntry{Prefix: "00399"})
				return err
			}},
			{"user row added", func() error {
				_, err := st.AddListEntry(ctx, features.ListEntry{User: "5002", Domain: "voip.unisi.it", Prefix: "0577"})
				return err
			}},
			{"user row deleted", func() error { return st.DeleteListEntry(ctx, 1, false) }},
			{"global row deleted", func() error { return st.DeleteListEntry(ctx, 1, true) }},
		} {
			if err := w.do(); err != nil {
				t.Fatalf("%s: %v", w.name, err)
			}
			if now := last(); now <= before {
				t.Errorf("%s: the features counter stayed at %d", w.name, now)
			} else {
				before = now
			}
		}
	})
}

// TestFeatureStoreColumns: what the SQL store does that the kit cannot
// ask of every store: timers in whole seconds, no description on a user
// row (userblacklist has no such column), the rows readable as OpenSIPS
// reads them.
func TestFeatureStoreColumns(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		db := open(t)
		ctx := context.Background()
		st := db.Features()
		err := st.PutSettings(ctx, features.Settings{User: "5002", Domain: "voip.unisi.it", ForwardNoAnswer: "5003", NoAnswerAfter: 1500 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "whole seconds") {
			t.Errorf("a timer of 1.5s: %v, want refused (whole seconds)", err)
		}
		e, err := st.AddListEntry(ctx, features.ListEntry{User: "5002", Domain: "voip.unisi.it", Prefix: "0577", Description: "not kept"})
		if err != nil {
			t.Fatal(err)
		}
		if e.Description != "" {
			t.Errorf("user row returned with description %q", e.Description)
		}
		list, err := st.ListEntries(ctx)
		if err != nil || len(list) != 1 || list[0] != e {
			t.Errorf("got %+v %v, want [%+v]", list, err, e)
		}
		var b strings.Builder
		if _, err := db.ExportTSV(ctx, "userblacklist", &b); err != nil {
			t.Fatal(err)
		}
		if want := "domain\tid\tprefix\tusername\twhitelist\nvoip.unisi.it\t1\t0577\t5002\t0\n"; b.String() != want {
			t.Errorf("userblacklist exports\n%q\nwant\n%q", b.String(), want)
		}
	})
}

// TestImportBlacklists: OpenSIPS dumps of userblacklist and
// globalblacklist load (NULL descriptions, whitelist rows), bad prefixes
// and duplicates are refused by row, and an export reads back the same.
func TestImportBlacklists(t *testing.T) {
	in := map[string]string{
		"globalblacklist": "id\tprefix\twhitelist\tdescription\n" +
			"1\t0039899\t0\tpremium rate\n" +
			"2\t112\t1\tNULL\n" +
			"3\t00\t0\tinternational\\tall\n",
		"userblacklist": "id\tusername\tdomain\tprefix\twhitelist\n" +
			"1\t5002\tvoip.unisi.it\t0577\t0\n" +
			"2\t5002\tvoip.unisi.it\t0577232111\t1\n" +
			"3\t5003\tvoip.unisi.it\t0577\t0\n",
	}
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		db := open(t)
		ctx := context.Background()
		for _, table := range []string{"globalblacklist", "userblacklist"} {
			rep, err := db.ImportTSV(ctx, table, strings.NewReader(in[table]), sqlstore.ImportOptions{})
			if err != nil || !rep.Committed || rep.Loaded != 3 {
				t.Fatalf("%s: %+v %v", table, rep, err)
			}
			var b strings.Builder
			if _, err := db.ExportTSV(ctx, table, &b); err != nil {
				t.Fatal(err)
			}
			other := storetest.SQLite(t)
			if rep, err := other.ImportTSV(ctx, table, strings.NewReader(b.String()), sqlstore.ImportOptions{}); err != nil || !rep.Committed || rep.Loaded != 3 {
				t.Fatalf("%s: re-import of\n%s: %+v %v", table, b.String(), rep, err)
			}
			var again strings.Builder
			if _, err := other.ExportTSV(ctx, table, &again); err != nil {
				t.Fatal(err)
			}
			if again.String() != b.String() {
				t.Errorf("%s: the copy exports differently:\n%s\nwant\n%s", table, again.String(), b.String())
			}
		}
		list, err := db.Features().ListEntries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []features.ListEntry{
			{ID: 1, Prefix: "0039899", Description: "premium rate"},
			{ID: 2, Prefix: "112", Whitelist: true},
			{ID: 3, Prefix: "00", Description: "international\tall"},
			{ID: 1, User: "5002", Domain: "voip.unisi.it", Prefix: "0577"},
			{ID: 2, User: "5002", Domain: "voip.unisi.it", Prefix: "0577232111", Whitelist: true},
			{ID: 3, User: "5003", Domain: "voip.unisi.it", Prefix: "0577"},
		}
		if len(list) != len(want) {
			t.Fatalf("got %+v, want %+v", list, want)
		}
		for i := range want {
			if list[i] != want[i] {
				t.Errorf("row %d: got %+v, want %+v", i, list[i], want[i])
			}
		}

		bad := map[string]struct{ body, reason string }{
			"globalblacklist": {"prefix\twhitelist\n0039899\t0\n05x\t0\n", "prefix"},
			"userblacklist":   {"username\tdomain\tprefix\twhitelist\n5002\tvoip.unisi.it\t0577\t0\n\tvoip.unisi.it\t06\t0\n", "username"},
		}
		for _, table := range []string{"globalblacklist", "userblacklist"} {
			rep, err := db.ImportTSV(ctx, table, strings.NewReader(bad[table].body), sqlstore.ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Committed || len(rep.Rejected) != 2 {
				t.Fatalf("%s: got %+v, want 2 rows rejected and nothing committed", table, rep)
			}
			if r := rep.Rejected[0].Reason; !strings.Contains(r, "exists already") {
				t.Errorf("%s: duplicate reason %q does not name the key", table, r)
			}
			if r := rep.Rejected[1].Reason; !strings.Contains(r, bad[table].reason) {
				t.Errorf("%s: reason %q does not mention %s", table, r, bad[table].reason)
			}
		}
	})
}
