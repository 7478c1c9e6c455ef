package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/store/sqlstore"
)

// The dialplan commands and the import of OpenSIPS tables.
var dialplanCommands = []command{
	{
		name: "dialplan list", section: "Dialplan and routing", max: 0,
		summary: "list the dialplan rules (the dialplan table)",
		example: "unisi dialplan list -dpid 0",
		setup: func(fs *flag.FlagSet) runner {
			dpid := fs.Int("dpid", -1, "only the rules of this dpid (-1: all)")
			asJSON := jsonFlag(fs)
			return func(ctx context.Context, e *env, _ []string) error {
				_, db, err := e.store(ctx)
				if err != nil {
					return err
				}
				defer db.Close()
				rules, err := db.Dialplan().Rules(ctx)
				if err != nil {
					return err
				}
				t := newTable("id", "dpid", "pr", "match_op", "match_exp", "subst_exp", "repl_exp", "timerec", "attrs", "state")
				for _, r := range rules {
					if *dpid >= 0 && r.DPID != *dpid {
						continue
					}
					state := "enabled"
					if r.Disabled {
						state = "disabled"
					}
					t.row(r.ID, r.DPID, r.Priority, r.MatchOp.String(), r.MatchExp, r.SubstExp, r.ReplExp, r.TimeRec, r.Attrs, state)
				}
				return t.write(e.out, *asJSON)
			}
		},
	},
	{
		name: "dialplan del", args: "ID", section: "Dialplan and routing", min: 1, max: 1,
		summary: "delete a dialplan rule by its id",
		detail: `Try the change first: 'unisi translate DPID NUMBER -explain' shows which rule
matches a number and which were candidates.`,
		example: "unisi dialplan del 17",
		setup: func(fs *flag.FlagSet) runner {
			return func(ctx context.Context, e *env, args []string) error {
				id, err := strconv.Atoi(args[0])
				if err != nil {
					return usagef("ID %q is not a number", args[0])
				}
				_, db, err := e.store(ctx)
				if err != nil {
					return err
				}
				defer db.Close()
				r, err := db.Dialplan().Rule(ctx, id)
				if errors.Is(err, dialplan.ErrNotFound) {
					return fmt.Errorf("no dialplan rule %d ('unisi dialplan list' shows them)", id)
				}
				if err != nil {
					return err
				}
				if err := db.Dialplan().DeleteRule(ctx, id); err != nil {
					return err
				}
				fmt.Fprintf(e.out, "deleted rule %d dpid=%d match=%s attrs=%s\n", r.ID, r.DPID, r.MatchExp, r.Attrs)
				return nil
			}
		},
	},
	{
		name: "translate", args: "DPID NUMBER", section: "Dialplan and routing", min: 2, max: 2,
		summary: "show what the dialplan makes of a number (a dry run of the rules)",
		detail: `Prints the translated number and the rule's attrs (UniSI's call class). With
-explain it says which rule matched and which others were candidates. Exit
status 1 when no rule matches.`,
		example: "unisi translate 0 00577232111 -explain",
		setup: func(fs *flag.FlagSet) runner {
			explain := fs.Bool("explain", false, "show which rule matched and which were candidates")
			return func(ctx context.Context, e *env, args []string) error {
				dpid, err := strconv.Atoi(args[0])
				if err != nil {
					return usagef("DPID %q is not a number", args[0])
				}
				_, db, err := e.store(ctx)
				if err != nil {
					return err
				}
				defer db.Close()
				plan, err := dialplan.New(dialplan.Config{}, db.Dialplan(), dialplan.WithLogger(quietLog(e.errw)))
				if err != nil {
					return err
				}
				if *explain {
					fmt.Fprint(e.out, plan.Explain(dpid, args[1]).String())
				}
				res, ok := plan.Translate(dpid, args[1])
				if !ok {
					fmt.Fprintf(e.out, "no match: no rule of dpid %d matches %q\n", dpid, args[1])
					return exitError{code: 1}
				}
				fmt.Fprintf(e.out, "%s\t%s\n", res.Output, res.Attrs)
				return nil
			}
		},
	},
	{
		name: "import", args: "TABLE FILE.tsv", section: "Dialplan and routing", min: 2, max: 2,
		summary: "load rows of an OpenSIPS table from a tab-separated dump",
		detail: `FILE is what 'mysql -B -e "SELECT * FROM TABLE"' writes on the OpenSIPS
database: a header row naming the columns, then one row a line, NULL for
empty columns. The import is all or nothing: one bad row and nothing is
written (-partial keeps the good rows). Rows are added to the table's; with
-replace they replace them, with -upsert rows whose key exists are updated.
A routing import is checked against the other routing tables: a rule naming
a gateway or carrier that does not exist fails it, unless -allow-dangling.
Tables: ` + strings.Join(sqlstore.ImportTables(), ", ") + ".",
		example: "mysql -B -e 'SELECT * FROM dialplan' opensips > dialplan.tsv\nunisi import dialplan dialplan.tsv -dry-run\nunisi import dialplan dialplan.tsv -replace",
		setup:   importSetup,
	},
}

func importSetup(fs *flag.FlagSet) runner {
	dryRun := fs.Bool("dry-run", false, "check every row, write nothing")
	partial := fs.Bool("partial", false, "write the good rows even when some are rejected (exit status 1 still)")
	replace := fs.Bool("replace", false, "delete the table's rows first (in the same transaction)")
	upsert := fs.Bool("upsert", false, "update the rows whose key exists instead of failing")
	dangling := fs.Bool("allow-dangling", false, "accept routing rows that name gateways or carriers that do not exist")
	return func(ctx context.Context, e *env, args []string) error {
		table, file := args[0], args[1]
		if *replace && *upsert {
			return usagef("-replace and -upsert exclude each other")
		}
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		_, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		_ = dryRun
		_ = partial
		_ = dangling
		rep, err := db.ImportTSV(ctx, table, f, nil)
		if err != nil {
			return err
		}
		for _, r := range rep.Rejected {
			fmt.Fprintf(e.out, "rejected line %d: %s\n", r.Line, r.Reason)
		}
		fmt.Fprintf(e.out, "loaded %d\n", rep.Loaded)
		if len(rep.Rejected) > 0 {
			return exitError{code: 1, msg: fmt.Sprintf("unisi import: %d rows rejected", len(rep.Rejected))}
		}
		if strings.HasPrefix(table, "dr_") || table == "palio_dr_limits" {
			a, err := e.app(ctx)
			if err != nil {
				return err
			}
			defer a.close()
			return reportRouting(ctx, a, e)
		}
		return nil
	}
}
