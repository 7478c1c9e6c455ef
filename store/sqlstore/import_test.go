package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palio-voip/palio/routing"
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
		rep, err := db.ImportTSV(ctx, "dialplan", strings.NewReader(string(tsv)), sqlstore.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Loaded != 9 || len(rep.Rejected) != 0 || !rep.Committed {
			t.Fatalf("got %+v, want 9 loaded", rep)
		}
		after, _ := db.Versions(ctx)
		if after["dialplan"] <= before["dialplan"] {
			t.Errorf("dialplan change counter did not move: %d → %d", before["dialplan"], after["dialplan"])
		}
		// The same rows again: every one is a duplicate id, named by its
		// id rather than by the engine's message, and nothing commits.
		rep, err = db.ImportTSV(ctx, "dialplan", strings.NewReader(string(tsv)), sqlstore.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Loaded != 0 || len(rep.Rejected) != 9 || rep.Committed {
			t.Fatalf("reimport: got %+v, want 9 rejected and nothing committed", rep)
		}
		if r := rep.Rejected[0].Reason; !strings.Contains(r, `dialplan: a row with id "`) || !strings.Contains(r, "exists already") {
			t.Errorf("duplicate reason %q does not name the id", r)
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
		// All or nothing: three bad rows, nothing written.
		rep, err := db.ImportTSV(ctx, "dialplan", strings.NewReader(in), sqlstore.ImportOptions{Validate: validate})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Committed || rep.Why != "3 of 5 rows rejected" {
			t.Errorf("without Partial: got committed %v why %q", rep.Committed, rep.Why)
		}
		if rules, _ := db.Dialplan().Rules(ctx); len(rules) != 0 {
			t.Fatalf("a failed import wrote %d rules", len(rules))
		}
		// Partial keeps the two good rows.
		rep, err = db.ImportTSV(ctx, "dialplan", strings.NewReader(in), sqlstore.ImportOptions{Validate: validate, Partial: true})
		if err != nil {
			t.Fatal(err)
		}
		if rules, _ := db.Dialplan().Rules(ctx); rep.Loaded != 2 || !rep.Committed || len(rules) != 2 {
			t.Errorf("partial: got loaded %d committed %v, %d rules stored; want 2, true, 2", rep.Loaded, rep.Committed, len(rules))
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
		if _, err := db.ImportTSV(ctx, "dialplan", strings.NewReader("dpid\tnosuch\n"), sqlstore.ImportOptions{}); err == nil ||
			!strings.Contains(err.Error(), `no column "nosuch" (columns: attrs, disabled, dpid, id,`) {
			t.Errorf("unknown column: got %v, want the valid columns listed", err)
		}
		if _, err := db.ImportTSV(ctx, "dialplan", strings.NewReader("dpid,pr,match_op\n0,1,1\n"), sqlstore.ImportOptions{}); !errors.Is(err, sqlstore.ErrNotTabSeparated) {
			t.Errorf("comma-separated file: got %v, want ErrNotTabSeparated", err)
		}
		if _, err := db.ImportTSV(ctx, "users; DROP TABLE x", strings.NewReader("a\n"), sqlstore.ImportOptions{}); err == nil {
			t.Error("an unknown table was accepted")
		}
	})
}

// TestImportDomainChecks: rows their component would leave out at load
// are refused at import, with the component's reason, without a validate
// function of the caller's.
func TestImportDomainChecks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		db := open(t)
		ctx := context.Background()
		tests := []struct {
			table, in string
			loaded    int
			rejected  []int
		}{
			{"dialplan", "dpid\tpr\tmatch_op\tmatch_exp\tattrs\n" +
				"0\t1\t1\t^5.{3}$\tvoip\n" +
				"0\t1\t1\t^(?=x)\tvoip\n" + // a regexp Go cannot compile
				"0\t1\t9\t5500\tmedia\n", // no such match_op
				1, []int{3, 4}},
			{"address", "grp\tip\tmask\tport\tproto\tcontext_info\n" +
				"1\t198.51.100.0\t24\t0\tany\tgw-siena\n" +
				"1\t198.51.100.0\t33\t0\tany\tbad mask\n" +
				"1\tgw.unisi.it\t32\t0\tany\tnot an IP\n" +
				"1\t192.0.2.1\t32\t0\tcarrier-pigeon\tbad proto\n",
				1, []int{3, 4, 5}},
		}
		for _, tt := range tests {
			t.Run(tt.table, func(t *testing.T) {
				rep, err := db.ImportTSV(ctx, tt.table, strings.NewReader(tt.in), sqlstore.ImportOptions{Partial: true})
				if err != nil {
					t.Fatal(err)
				}
				var lines []int
				for _, r := range rep.Rejected {
					lines = append(lines, r.Line)
					if r.Reason == "" {
						t.Errorf("line %d rejected without a reason", r.Line)
					}
				}
				if rep.Loaded != tt.loaded || fmt.Sprint(lines) != fmt.Sprint(tt.rejected) {
					t.Errorf("got %d loaded, rejected %v (%+v); want %d, %v", rep.Loaded, lines, rep.Rejected, tt.loaded, tt.rejected)
				}
			})
		}
	})
}

// TestImportRouting loads an OpenSIPS drouting dump (the four dr_ tables
// and Palio's channel limits) and reads it back through the routing store.
func TestImportRouting(t *testing.T) {
	tables := []struct{ table, tsv string }{
		{"dr_gateways", "id\tgwid\ttype\taddress\tstrip\tpri_prefix\tattrs\tprobe_mode\tstate\tsocket\tdescription\n" +
			"1\tgw-si\t1\t172.20.1.10:5060\t1\t\tsite=siena\t2\t0\t\tSiena PRI\n" +
			"2\tgw-ar\t1\t172.20.2.10\t0\t0039\t\t0\t1\tudp:172.20.0.2:5060\t\n"},
		{"dr_carriers", "id\tcarrierid\tgwlist\tflags\tsort_alg\tstate\tattrs\tdescription\n" +
			"1\tpstn\tgw-si=70,gw-ar=30\t0\tW\t0\t\t\n"},
		{"dr_rules", "ruleid\tgroupid\tprefix\ttimerec\tpriority\trouteid\tgwlist\tsort_alg\tsort_profile\tattrs\tdescription\n" +
			"1\t0,1\t0\t\t0\t\t#pstn\tN\t\tnational\t\n" +
			"2\t1\t00\t\t5\t\tgw-ar,gw-si\tN\t3\t\t\n"},
		{"dr_groups", "id\tusername\tdomain\tgroupid\tdescription\n" +
			"1\t5001\tvoip.unisi.it\t1\t\n" +
			"2\t5002\t\t1\tno domain\n"},
		{"palio_dr_limits", "kind\tid\tchannels\n" +
			"gw\tgw-si\t30\n" +
			"carrier\tpstn\t60\n"},
		{"palio_dr_tls", "gwid\tca\tfingerprint\tserver_name\n" +
			"gw-ar\t\t" + strings.Repeat("ab", 32) + "\tsbc.provider.example\n"},
	}
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		db := open(t)
		ctx := context.Background()
		before, _ := db.Versions(ctx)
		for _, tt := range tables {
			rep, err := db.ImportTSV(ctx, tt.table, strings.NewReader(tt.tsv), sqlstore.ImportOptions{})
			if err != nil {
				t.Fatalf("%s: %v", tt.table, err)
			}
			if want := strings.Count(tt.tsv, "\n") - 1; rep.Loaded != want || len(rep.Rejected) != 0 || !rep.Committed {
				t.Fatalf("%s: got %+v, want %d loaded", tt.table, rep, want)
			}
		}
		after, _ := db.Versions(ctx)
		if after["routing"] <= before["routing"] {
			t.Errorf("routing change counter did not move: %d → %d", before["routing"], after["routing"])
		}
		d, err := db.Routing().Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Gateways) != 2 || len(d.Carriers) != 1 || len(d.Rules) != 2 || len(d.Groups) != 2 {
			t.Fatalf("loaded %d gateways, %d carriers, %d rules, %d groups; want 2, 1, 2, 2", len(d.Gateways), len(d.Carriers), len(d.Rules), len(d.Groups))
		}
		gw := d.Gateways[1]
		if gw.GWID != "gw-ar" || gw.PriPrefix != "0039" || gw.Socket != "udp:172.20.0.2:5060" || gw.State != 1 || gw.Channels != 0 {
			t.Errorf("gateway 2: got %+v", gw)
		}
		if d.Gateways[0].Channels != 30 || d.Carriers[0].Channels != 60 || d.Carriers[0].GWList != "gw-si=70,gw-ar=30" {
			t.Errorf("limits or carrier: got gateway %+v, carrier %+v", d.Gateways[0], d.Carriers[0])
		}
		if r := d.Rules[1]; r.Prefix != "00" || r.Priority != 5 || r.SortProfile != 3 || r.GWList != "gw-ar,gw-si" {
			t.Errorf("rule 2: got %+v", r)
		}
		if g := d.Groups[1]; g.Username != "5002" || g.Domain != "" || g.Group != 1 {
			t.Errorf("group 2: got %+v", g)
		}
		if got, want := d.Gateways[1].TLS, (routing.GatewayTLS{Fingerprint: strings.Repeat("ab", 32), ServerName: "sbc.provider.example"}); got != want {
			t.Errorf("gateway 2's TLS settings: got %+v, want %+v", got, want)
		}
	})
}

// TestImportGatewayTLS: palio_dr_tls rows are checked as the server
// loads them: a CA file that cannot be read rejects its row, naming
// tls_ca; a fingerprint that is not one makes the routing check refuse
// the import, naming tls_fingerprint.
func TestImportGatewayTLS(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		db := open(t)
		ctx := context.Background()
		if err := db.Routing().Replace(ctx, routing.Data{Gateways: []routing.Gateway{{ID: 1, GWID: "pstn-tls", Address: "192.0.2.10;transport=tls"}}}); err != nil {
			t.Fatal(err)
		}
		missing := filepath.Join(t.TempDir(), "missing.pem")
		rep, err := db.ImportTSV(ctx, "palio_dr_tls", strings.NewReader("gwid\tca\tfingerprint\tserver_name\npstn-tls\t"+missing+"\t\tsbc.provider.example\n"), sqlstore.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Committed || len(rep.Rejected) != 1 || !strings.Contains(rep.Rejected[0].Reason, `tls_ca "`+missing+`"`) {
			t.Errorf("a missing CA file: got %+v, want the row rejected naming tls_ca", rep)
		}
		rep, err = db.ImportTSV(ctx, "palio_dr_tls", strings.NewReader("gwid\tca\tfingerprint\tserver_name\npstn-tls\t\tAB:CD\t\n"), sqlstore.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Committed || rep.Routing == nil || rep.Routing.Discarded() != 1 || !strings.Contains(rep.Routing.Problems[0].Reason, "tls_fingerprint") {
			t.Errorf("a bad fingerprint: got %+v, want the import refused naming tls_fingerprint", rep)
		}
		d, err := db.Routing().Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Gateways[0].TLS.IsZero() {
			t.Errorf("after refused imports: got %+v, want no TLS settings", d.Gateways[0].TLS)
		}
	})
}
