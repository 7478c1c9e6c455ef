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
database: a header row naming the columns, then one row a line, NULL for a
NULL column, backslashes escaped. OpenSIPS columns Palio does not keep
(subscriber's ha1b, rpid, email_address; location's id) are named and
dropped. Every row is checked as the server would at load.

The import is all or nothing: one bad row and nothing is written (-partial
writes the good rows). Rows are added to the table's, and a row whose key
exists is rejected naming the key; -replace swaps the table's contents,
-upsert updates the rows whose key exists. -dry-run checks everything,
duplicates included, and writes nothing. A routing import is checked
against the other routing tables: a rule naming a gateway or carrier that
does not exist stops it, unless -allow-dangling. A running server picks the
change up at its next poll; import location with the server stopped.

Tables: ` + strings.Join(sqlstore.ImportTables(), ", ") + ".",
		example: "mysql -B -e 'SELECT * FROM dialplan' opensips > dialplan.tsv\nunisi import dialplan dialplan.tsv -dry-run\nunisi import dialplan dialplan.tsv -replace",
		setup:   importSetup,
	},
	{
		name: "export", args: "TABLE [FILE.tsv]", section: "Dialplan and routing", min: 1, max: 2,
		summary: "write a table as 'unisi import' and mysql -B read it",
		detail: `Writes the table's rows (to FILE, or to standard output) in the form import
reads: to move a site from its SQLite file to MariaDB, export each table from
one and import it into the other; the output also loads into OpenSIPS's own
tables. Tables: ` + strings.Join(sqlstore.ImportTables(), ", ") + ".",
		example: "unisi -db unisi.db export dialplan dialplan.tsv\nunisi -config mariadb.toml import dialplan dialplan.tsv",
		setup: func(fs *flag.FlagSet) runner {
			return func(ctx context.Context, e *env, args []string) error {
				if sqlstore.ImportColumns(args[0]) == nil {
					return usagef("unknown table %q (tables: %s)", args[0], strings.Join(sqlstore.ImportTables(), ", "))
				}
				_, db, err := e.store(ctx)
				if err != nil {
					return err
				}
				defer db.Close()
				if len(args) == 1 {
					_, err := db.ExportTSV(ctx, args[0], e.out)
					return err
				}
				f, err := os.OpenFile(args[1], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return err
				}
				n, err := db.ExportTSV(ctx, args[0], f)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					os.Remove(args[1])
					return err
				}
				fmt.Fprintf(e.out, "exported %d rows of %s to %s\n", n, args[0], args[1])
				return nil
			}
		},
	},
}

func importSetup(fs *flag.FlagSet) runner {
	dryRun := fs.Bool("dry-run", false, "check every row, write nothing")
	partial := fs.Bool("partial", false, "write the good rows even when some are rejected (exit status 1 still)")
	replace := fs.Bool("replace", false, "delete the table's rows first (in the same transaction)")
	upsert := fs.Bool("upsert", false, "update the rows whose key (id, or gwid, username@domain…) exists instead of rejecting them")
	dangling := fs.Bool("allow-dangling", false, "accept routing rows that name gateways or carriers that do not exist")
	return func(ctx context.Context, e *env, args []string) error {
		table, file := args[0], args[1]
		if *replace && *upsert {
			return usagef("-replace and -upsert exclude each other")
		}
		if sqlstore.ImportColumns(table) == nil {
			return usagef("unknown table %q (tables: %s)", table, strings.Join(sqlstore.ImportTables(), ", "))
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
		opt := sqlstore.ImportOptions{DryRun: *dryRun, Partial: *partial, AllowDangling: *dangling,
			Routing: importRouting}
		switch {
		case *replace:
			opt.Mode = sqlstore.ImportReplace
		case *upsert:
			opt.Mode = sqlstore.ImportUpsert
		}
		rep, err := db.ImportTSV(ctx, table, f, opt)
		if err != nil {
			return err
		}
		return reportImport(e, file, rep)
	}
}

// reportImport prints what an import did, one problem a line, and a last
// line that says whether anything was written. Exit status 1 when a row
// was rejected or nothing was committed for another reason than -dry-run.
func reportImport(e *env, file string, rep sqlstore.ImportReport) error {
	for _, c := range rep.Ignored {
		fmt.Fprintf(e.out, "ignored column %s\n", c)
	}
	for _, r := range rep.Rejected {
		fmt.Fprintf(e.out, "rejected %s:%d: %s\n", file, r.Line, r.Reason)
	}
	if rep.Routing != nil {
		for _, p := range rep.Routing.Problems {
			verb := "warning"
			switch {
			case p.Discarded:
				verb = "unusable"
			case p.Dangling:
				verb = "dangling"
			}
			fmt.Fprintf(e.out, "%s %s %s: %s\n", verb, p.Table, p.ID, p.Reason)
		}
	}
	switch {
	case rep.Committed && len(rep.Rejected) == 0:
		fmt.Fprintf(e.out, "loaded %d rows into %s\n", rep.Loaded, rep.Table)
		return nil
	case rep.Committed:
		fmt.Fprintf(e.out, "loaded %d rows into %s; %d rejected (-partial)\n", rep.Loaded, rep.Table, len(rep.Rejected))
		return exitError{code: 1}
	case rep.Why == "dry run":
		fmt.Fprintf(e.out, "dry run: %d rows would load into %s; nothing written\n", rep.Loaded, rep.Table)
		return nil
	}
	hint := ""
	switch {
	case len(rep.Rejected) > 0:
		hint = " (fix the rows, or -partial to write the good ones)"
	case len(rep.Dangling()) > 0:
		hint = " (import the gateways and carriers first, or -allow-dangling)"
	}
	fmt.Fprintf(e.out, "nothing written: %s%s\n", rep.Why, hint)
	return exitError{code: 1}
}
