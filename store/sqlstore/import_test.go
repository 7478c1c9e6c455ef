package sqlstore_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/palio-voip/palio/store/storetest"
)

func TestImportUniSIDialplan(t *testing.T) {
	tsv, err := os.ReadFile("testdata/unisi-dialplan.tsv")
	if err != nil {
		t.Fatal(err)
	}
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		db := open(t)
		ctx := context.Background()
		before, _ := db.Versions(ctx)
		rep, err := db.ImportTSV(ctx, "dialplan", strings.NewReader(string(tsv)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Loaded != 9 || len(rep.Rejected) != 0 {
			t.Fatalf("got %+v, want 9 loaded", rep)
		}
		after, _ := db.Versions(ctx)
		if after["dialplan"] <= before["dialplan"] {
			t.Errorf("dialplan change counter did not move: %d → %d", before["dialplan"], after["dialplan"])
		}
		// The same rows again: every one is a duplicate id, rejected alone.
		rep, err = db.ImportTSV(ctx, "dialplan", strings.NewReader(string(tsv)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Loaded != 0 || len(rep.Rejected) != 9 {
			t.Fatalf("reimport: got loaded %d rejected %d, want 0 and 9", rep.Loaded, len(rep.Rejected))
		}
	})
}

func TestImportRejects(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		db := open(t)
		ctx := context.Background()
		in := "dpid\tpr\tmatch_op\tmatch_exp\tattrs\n" +
			"0\t1\t1\t^5.{3}$\tvoip\n" +
			"0\tone\t1\t^6\tvoip\n" + // bad integer
			"0\t1\t1\n" + // short row
			"0\t1\t1\t^(?=x)\tvoip\n" + // refused by the validator
			"\n" +
			"0\t2\t0\t5500\tmedia\n"
		validate := func(row map[string]string) error {
			if strings.Contains(row["match_exp"], "(?=") {
				return errors.New("lookahead is not supported")
			}
			return nil
		}
		rep, err := db.ImportTSV(ctx, "dialplan", strings.NewReader(in), validate)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Loaded != 2 {
			t.Errorf("loaded: got %d, want 2", rep.Loaded)
		}
		wantLines := []int{3, 4, 5}
		if len(rep.Rejected) != len(wantLines) {
			t.Fatalf("rejected: got %+v, want lines %v", rep.Rejected, wantLines)
		}
		for i, r := range rep.Rejected {
			if r.Line != wantLines[i] || r.Reason == "" {
				t.Errorf("rejected[%d]: got %+v, want line %d with a reason", i, r, wantLines[i])
			}
		}
		if _, err := db.ImportTSV(ctx, "dialplan", strings.NewReader("dpid\tnosuch\n"), nil); err == nil || !strings.Contains(err.Error(), "nosuch") {
			t.Errorf("unknown column: got %v", err)
		}
		if _, err := db.ImportTSV(ctx, "users; DROP TABLE x", strings.NewReader("a\n"), nil); err == nil {
			t.Error("an unknown table was accepted")
		}
	})
}
