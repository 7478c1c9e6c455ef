package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/palio-voip/palio/accounting"
)

// The accounting commands: call records (acc, missed_calls), reports, the
// rate table and departments work on the store; the live calls (calls
// list, calls hangup, calls trunks) ask the running server over its HTTP
// listener ([http] listen, -http), where /api/calls serves them.
var accountingCommands = []command{
	{
		name: "cdr list", args: "[-user USER] [-since DURATION | -from TIME -to TIME] [-missed]", section: "Calls and accounting", max: 0,
		summary: "list the call records, oldest first",
		detail: `Every call has a record in acc (the unanswered ones in missed_calls too,
-missed). FROM is the caller's account (or its From user@host when it did
not authenticate), TO the account called or the number; STATUS the final
answer; DURATION the talk time in seconds; HANGUP who ended the call.
TIME is a date (2026-12-04) or a local time (2026-12-04 15:30); a -to
date includes that day. Without -from, the last -since (24h).`,
		example: "unisi cdr list -user 5002 -since 24h\nunisi cdr list -from 2026-12-01 -to 2026-12-04 -missed",
		setup:   cdrListSetup,
	},
	{
		name: "cdr export", args: "FILE.csv -from TIME -to TIME [-user USER]", section: "Calls and accounting", min: 1, max: 1,
		summary: "write the call records of a period as CSV (- for standard output)",
		detail: `The columns are acc's (method, from_tag, to_tag, callid, sip_code,
sip_reason, time, duration, ms_duration, setuptime, created) then Palio's
(caller, from, callee, dialled, number, class, gateway, carrier, direction,
hangup, cause, cost, rate); times in local time. FILE must not exist.`,
		example: "unisi cdr export -from 2026-12-01 -to 2026-12-31 december.csv",
		setup:   cdrExportSetup,
	},
	{
		name: "report daily", args: "[-date DATE]", section: "Calls and accounting", max: 0,
		summary: "a day's calls: totals in and out, minutes, costs, per class, gateway, user, department",
		detail: `Totals of the calls created that day (local time): calls, answered ones,
incoming, outgoing, internal and transit, minutes of talk and cost; then
the same per class, gateway, account and department (a call between two
accounts counts for both, its cost for the caller), the top destinations
outside, and the calls to or from blocked accounts ('unisi user block').
-json prints the report as the admin page reads it.`,
		example: "unisi report daily -date 2026-12-04",
		setup:   reportSetup("daily"),
	},
	{
		name: "report period", args: "-from DATE -to DATE", section: "Calls and accounting", max: 0,
		summary: "a period's calls, as report daily with a line per day",
		example: "unisi report period -from 2026-12-01 -to 2026-12-31",
		setup:   reportSetup("period"),
	},
	{
		name: "report user", args: "USER [-from DATE -to DATE]", section: "Calls and accounting", min: 1, max: 1,
		summary: "an account's calls and their cost (default: this month)",
		detail: `The account's totals and each of its calls, made or received, with its
cost: the seed's "Dettaglio costi".`,
		example: "unisi report user 5002 -from 2026-12-01 -to 2026-12-31",
		setup:   reportSetup("user"),
	},
	{
		name: "rate set", args: "[-class CLASS] [-prefix PREFIX] -price P [-fee F] [-billing I/N] [-free]", section: "Calls and accounting", max: 0,
		summary: "price the calls of a class and/or number prefix (replaces the rate of that class and prefix)",
		detail: `A call's rate is the one with the longest prefix of its number (as the
dialplan left it, with the outside line: 00577...) among those of its class
and those for any class. -price is per minute, -fee per answered call, in
units (0.015); -billing is INITIAL/INCREMENT in seconds: 60/60 bills
started minutes, 1/1 seconds, 30/6 a first half minute then 6 s steps.
-free makes the calls free (toll-free numbers). Only outgoing calls are
priced; the rate applies to the calls that end from then on.`,
		example: "unisi rate set -class national -price 0.015 -fee 0.05 -billing 60/60\nunisi rate set -class mobile -prefix 03 -price 0.12 -billing 30/6\nunisi rate set -prefix 00800 -free -description toll-free",
		setup:   rateSetSetup,
	},
	{
		name: "rate list", section: "Calls and accounting", max: 0,
		summary: "list the rate table",
		example: "unisi rate list",
		setup:   rateListSetup,
	},
	{
		name: "rate del", args: "ID", section: "Calls and accounting", min: 1, max: 1,
		summary: "delete a rate by its ID (rate list shows it)",
		example: "unisi rate del 3",
		setup:   rateDelSetup,
	},
	{
		name: "department set", args: "USER[@DOMAIN] NAME", section: "Calls and accounting", min: 2, max: 2,
		summary: `put an account in a department for the reports ("" takes it out)`,
		example: "unisi department set 5002 Ingegneria",
		setup:   departmentSetSetup,
	},
	{
		name: "department list", section: "Calls and accounting", max: 0,
		summary: "list the accounts' departments",
		example: "unisi department list",
		setup:   departmentListSetup,
	},
	{
		name: "calls list", section: "Calls and accounting", max: 0,
		summary: "list the calls in progress on the running server",
		detail: `Asks the running server, at its HTTP address ([http] listen, -http), for
its dialog table: Call-ID, from, to, state (trying, early, confirmed),
gateway, start and talk time.`,
		example: "unisi calls list",
		setup:   callsSetup("list"),
	},
	{
		name: "calls hangup", args: "CALLID [-reason TEXT]", section: "Calls and accounting", min: 1, max: 1,
		summary: "hang up a call in progress (BYE to both ends; CANCEL while it rings)",
		example: "unisi calls hangup a84b4c76e66710@10.0.0.2 -reason 'line needed'",
		setup:   callsSetup("hangup"),
	},
	{
		name: "calls trunks", section: "Calls and accounting", max: 0,
		summary: "the gateways' and carriers' calls in progress against their channels",
		example: "unisi calls trunks",
		setup:   callsSetup("trunks"),
	},
}

// cdrTable is the table of records that cdr list and report user print.
func cdrTable(cdrs []accounting.CDR) *table {
	t := newTable("created", "callid", "from", "to", "direction", "class", "gateway", "status", "duration", "cost", "hangup")
	for _, c := range cdrs {
		from := c.Caller
		if from == "" {
			from = c.From
		}
		to := c.Callee
		if to == "" {
			to = c.Number
		}
		t.row(c.Created.In(time.Local).Format(time.DateTime), c.CallID, from, to, string(c.Direction), c.Class, c.Gateway,
			c.Code, c.Duration, c.Cost.String(), c.Hangup)
	}
	return t
}

// readCDRs returns the records f selects.
func readCDRs(ctx context.Context, st accounting.Store, f accounting.Filter) ([]accounting.CDR, error) {
	var out []accounting.CDR
	err := st.CDRs(ctx, f, func(c accounting.CDR) error {
		out = append(out, c)
		return nil
	})
	return out, err
}

func cdrListSetup(fs *flag.FlagSet) runner {
	user := fs.String("user", "", "only the calls made or received by this account")
	since := fs.Duration("since", 24*time.Hour, "the calls of the last DURATION, when -from is not given")
	from := fs.String("from", "", "the calls created from TIME on (a date or a local time)")
	to := fs.String("to", "", "the calls created before TIME (a date: up to its end)")
	missed := fs.Bool("missed", false, "missed_calls: the unanswered calls only")
	limit := fs.Int("limit", 0, "at most N records (0: all)")
	asJSON := jsonFlag(fs)
	return func(ctx context.Context, e *env, args []string) error {
		f := accounting.Filter{User: *user, Missed: *missed, Limit: *limit}
		var err error
		if *from == "" {
			f.From = time.Now().Add(-*since)
		} else if f.From, err = parseWhen(*from, false); err != nil {
			return usagef("-from: %v", err)
		}
		if *to != "" {
			if f.To, err = parseWhen(*to, true); err != nil {
				return usagef("-to: %v", err)
			}
		}
		_, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		cdrs, err := readCDRs(ctx, db.Accounting(), f)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.out, cdrs)
		}
		return cdrTable(cdrs).write(e.out, false)
	}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cdrExportSetup(fs *flag.FlagSet) runner {
	from := fs.String("from", "", "the calls created from TIME on (required)")
	to := fs.String("to", "", "the calls created before TIME (a date: up to its end; required)")
	user := fs.String("user", "", "only the calls made or received by this account")
	missed := fs.Bool("missed", false, "missed_calls: the unanswered calls only")
	return func(ctx context.Context, e *env, args []string) error {
		if *from == "" || *to == "" {
			return usagef("-from and -to are required")
		}
		f := accounting.Filter{User: *user, Missed: *missed}
		var err error
		if f.From, f.To, err = period(*from, *to, time.Now()); err != nil {
			return usagef("%v", err)
		}
		_, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		var w io.Writer = e.out
		var file *os.File
		if args[0] != "-" {
			file, err = os.OpenFile(args[0], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return err
			}
			w = file
		}
		n, err := accounting.ExportCSV(ctx, w, db.Accounting(), f, time.Local)
		if file != nil {
			if cerr := file.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(args[0])
				return err
			}
			fmt.Fprintf(e.out, "exported %d records to %s\n", n, args[0])
		}
		return err
	}
}

// totalsCols are the columns of a line of totals.
var totalsCols = []string{"calls", "answered", "in", "out", "internal", "transit", "minutes", "cost"}

// linesTable prints lines of totals under a first column named key.
func linesTable(key string, lines []accounting.Line) *table {
	t := newTable(append([]string{key}, totalsCols...)...)
	for _, l := range lines {
		t.row(totalsRow(l.Key, l.Totals)...)
	}
	return t
}

func totalsRow(key string, t accounting.Totals) []any {
	return []any{key, t.Calls, t.Answered, t.In, t.Out, t.Internal, t.Transit, strconv.FormatFloat(t.Minutes(), 'f', 1, 64), t.Cost.String()}
}

// printReport writes a report as text: the totals, then each breakdown.
func printReport(w io.Writer, rep accounting.Report, days bool) error {
	fmt.Fprintf(w, "Calls from %s to %s\n\n", rep.From.In(time.Local).Format("2006-01-02 15:04"), rep.To.In(time.Local).Format("2006-01-02 15:04"))
	t := newTable(append([]string{"period"}, totalsCols...)...)
	t.row(totalsRow("total", rep.Total)...)
	if err := t.write(w, false); err != nil {
		return err
	}
	sections := []struct {
		key   string
		lines []accounting.Line
	}{{"day", rep.Days}, {"class", rep.Classes}, {"gateway", rep.Gateways}, {"user", rep.Users}, {"department", rep.Departments}, {"destination", rep.Destinations}}
	for _, s := range sections {
		if (s.key == "day" && !days) || len(s.lines) == 0 {
			continue
		}
		fmt.Fprintln(w)
		if err := linesTable(s.key, s.lines).write(w, false); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nCalls to or from blocked accounts: %d\n", len(rep.Blocked))
	if len(rep.Blocked) > 0 {
		return cdrTable(rep.Blocked).write(w, false)
	}
	return nil
}

func reportSetup(kind string) func(fs *flag.FlagSet) runner {
	return func(fs *flag.FlagSet) runner {
		var date, from, to *string
		switch kind {
		case "daily":
			date = fs.String("date", "", "the day (default: today)")
		default:
			from = fs.String("from", "", "the first day (or a local time)")
			to = fs.String("to", "", "the last day, included (or a local time, excluded)")
		}
		top := fs.Int("top", 10, "destinations listed")
		asJSON := jsonFlag(fs)
		return func(ctx context.Context, e *env, args []string) error {
			now := time.Now()
			var start, end time.Time
			var err error
			switch kind {
			case "daily":
				start, end, err = period(*date, *date, now)
			case "period":
				if *from == "" || *to == "" {
					return usagef("-from and -to are required")
				}
				start, end, err = period(*from, *to, now)
			case "user":
				f, t := *from, *to
				if f == "" {
					f = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.Local).Format(time.DateOnly)
				}
				if t == "" {
					t = now.Format(time.DateOnly)
				}
				start, end, err = period(f, t, now)
			}
			if err != nil {
				return usagef("%v", err)
			}
			cfg, db, err := e.store(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			opts, err := reportOptions(ctx, db, domainOf(cfg), start, end)
			if err != nil {
				return err
			}
			opts.Top = *top
			if kind == "user" {
				opts.User = args[0]
			}
			rep, err := accounting.BuildReport(ctx, db.Accounting(), opts)
			if err != nil {
				return err
			}
			if kind != "user" {
				if *asJSON {
					return printJSON(e.out, rep)
				}
				return printReport(e.out, rep, kind == "period")
			}
			cdrs, err := readCDRs(ctx, db.Accounting(), accounting.Filter{From: start, To: end, User: args[0]})
			if err != nil {
				return err
			}
			if *asJSON {
				return printJSON(e.out, struct {
					Report accounting.Report `json:"report"`
					Calls  []accounting.CDR  `json:"calls"`
				}{rep, cdrs})
			}
			fmt.Fprintf(e.out, "Calls of %s from %s to %s\n\n", args[0], start.Format("2006-01-02 15:04"), end.Format("2006-01-02 15:04"))
			t := newTable(append([]string{"period"}, totalsCols...)...)
			t.row(totalsRow("total", rep.Total)...)
			if err := t.write(e.out, false); err != nil {
				return err
			}
			if len(rep.Classes) > 0 {
				fmt.Fprintln(e.out)
				linesTable("class", rep.Classes).write(e.out, false)
			}
			fmt.Fprintln(e.out)
			return cdrTable(cdrs).write(e.out, false)
		}
	}
}

// rateError is a value the library refused, as a usage error without
// the package's prefix.
func rateError(err error) error {
	return usagef("%s", strings.TrimPrefix(err.Error(), "accounting: "))
}

func describeRate(r accounting.Rate) string {
	class, prefix := r.Class, r.Prefix
	if class == "" {
		class = "any class"
	}
	if prefix == "" {
		prefix = "any number"
	}
	if r.Free {
		return fmt.Sprintf("%d: %s, %s: free", r.ID, class, prefix)
	}
	return fmt.Sprintf("%d: %s, %s: %s a minute, fee %s, billing %s", r.ID, class, prefix, r.PerMinute, r.ConnectFee, r.Billing())
}

func rateSetSetup(fs *flag.FlagSet) runner {
	class := fs.String("class", "", "the call class (national, mobile, international...); empty: any")
	prefix := fs.String("prefix", "", "the number prefix; empty: any number of the class")
	price := fs.String("price", "0", "the price of a minute, in units (0.015)")
	fee := fs.String("fee", "0", "the connection fee of an answered call, in units")
	billing := fs.String("billing", "60/60", "billing increments INITIAL/INCREMENT in seconds: 60/60, 1/1, 30/6")
	free := fs.Bool("free", false, "the calls cost nothing")
	description := fs.String("description", "", "what the rate is for")
	return func(ctx context.Context, e *env, args []string) error {
		r := accounting.Rate{Class: *class, Prefix: *prefix, Free: *free, Description: *description}
		var err error
		if r.PerMinute, err = accounting.ParseMoney(*price); err != nil {
			return usagef("-price: %s", strings.TrimPrefix(err.Error(), "accounting: "))
		}
		if r.ConnectFee, err = accounting.ParseMoney(*fee); err != nil {
			return usagef("-fee: %s", strings.TrimPrefix(err.Error(), "accounting: "))
		}
		if r.Initial, r.Increment, err = accounting.ParseBilling(*billing); err != nil {
			return rateError(err)
		}
		if err := r.Validate(); err != nil {
			return rateError(err)
		}
		_, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		st := db.Accounting()
		rates, err := st.Rates(ctx)
		if err != nil {
			return err
		}
		verb := "added"
		for _, x := range rates {
			if x.Class == r.Class && x.Prefix == r.Prefix {
				r.ID, verb = x.ID, "changed"
			}
		}
		if r, err = st.PutRate(ctx, r); err != nil {
			return err
		}
		fmt.Fprintf(e.out, "%s rate %s\n", verb, describeRate(r))
		return nil
	}
}

func rateListSetup(fs *flag.FlagSet) runner {
	asJSON := jsonFlag(fs)
	return func(ctx context.Context, e *env, args []string) error {
		_, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		rates, err := db.Accounting().Rates(ctx)
		if err != nil {
			return err
		}
		t := newTable("id", "class", "prefix", "per_minute", "fee", "billing", "free", "description")
		for _, r := range rates {
			t.row(r.ID, r.Class, r.Prefix, r.PerMinute.String(), r.ConnectFee.String(), r.Billing(), map[bool]string{true: "yes", false: "no"}[r.Free], r.Description)
		}
		return t.write(e.out, *asJSON)
	}
}

func rateDelSetup(fs *flag.FlagSet) runner {
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
		if err := db.Accounting().DeleteRate(ctx, id); errors.Is(err, accounting.ErrNotFound) {
			return fmt.Errorf("no rate %d ('unisi rate list' shows them)", id)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(e.out, "deleted rate %d\n", id)
		return nil
	}
}

func departmentSetSetup(fs *flag.FlagSet) runner {
	domain := fs.String("domain", "", "the account's domain (default: the first of [sip] domains)")
	return func(ctx context.Context, e *env, args []string) error {
		cfg, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		user, dom, err := featureAccount(ctx, db, cfg, args[0], *domain)
		if err != nil {
			return err
		}
		d := accounting.Department{User: user, Domain: dom, Department: args[1]}
		if err := d.Validate(); err != nil {
			return rateError(err)
		}
		if err := db.Accounting().SetDepartment(ctx, d); err != nil {
			return err
		}
		if d.Department == "" {
			fmt.Fprintf(e.out, "%s is in no department\n", d.AOR())
		} else {
			fmt.Fprintf(e.out, "%s is in %s\n", d.AOR(), d.Department)
		}
		return nil
	}
}

func departmentListSetup(fs *flag.FlagSet) runner {
	asJSON := jsonFlag(fs)
	return func(ctx context.Context, e *env, args []string) error {
		_, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		depts, err := db.Accounting().Departments(ctx)
		if err != nil {
			return err
		}
		t := newTable("user", "domain", "department")
		for _, d := range depts {
			t.row(d.User, d.Domain, d.Department)
		}
		return t.write(e.out, *asJSON)
	}
}

// apiURL is the running server's address for path, from [http] listen.
func apiURL(cfg Config, path string) string {
	return "http://" + routerAddr(cfg.HTTP.Listen) + path
}

// callAPI asks the running server; out receives the JSON answer.
func callAPI(ctx context.Context, cfg Config, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, apiURL(cfg, path), nil)
	if err != nil {
		return err
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	tok, err := cfg.HTTP.token()
	if err != nil {
		return err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("the server does not answer at %s (is it running? -http names its address): %w", routerAddr(cfg.HTTP.Listen), err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		var ae apiError
		if json.Unmarshal(body, &ae) == nil && ae.Error != "" {
			return errors.New(ae.Error)
		}
		return fmt.Errorf("%s %s: %s", method, path, res.Status)
	}
	return json.NewDecoder(bytes.NewReader(body)).Decode(out)
}

func callsSetup(verb string) func(fs *flag.FlagSet) runner {
	return func(fs *flag.FlagSet) runner {
		var asJSON *bool
		var reason *string
		if verb == "hangup" {
			reason = fs.String("reason", "", "the Reason header's text (default: hung up by the operator)")
		} else {
			asJSON = jsonFlag(fs)
		}
		return func(ctx context.Context, e *env, args []string) error {
			cfg, err := e.g.loadConfig()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			switch verb {
			case "list":
				var calls []accounting.LiveCall
				if err := callAPI(ctx, cfg, http.MethodGet, "/api/calls", &calls); err != nil {
					return err
				}
				// A cluster's list names each call's node.
				clustered := slices.ContainsFunc(calls, func(c accounting.LiveCall) bool { return c.Node != "" })
				cols := []string{"callid", "from", "to", "state", "gateway", "start", "seconds"}
				if clustered {
					cols = append(cols, "node")
				}
				t := newTable(cols...)
				for _, c := range calls {
					from := c.Caller
					if from == "" {
						from = c.From
					}
					to := c.Callee
					if to == "" {
						to = c.Number
					}
					row := []any{c.CallID, from, to, c.State, c.Gateway, c.Start.In(time.Local).Format(time.DateTime), c.Seconds}
					if clustered {
						row = append(row, c.Node)
					}
					t.row(row...)
				}
				return t.write(e.out, *asJSON)
			case "trunks":
				var trunks []TrunkUsage
				if err := callAPI(ctx, cfg, http.MethodGet, "/api/trunks", &trunks); err != nil {
					return err
				}
				t := newTable("trunk", "state", "calls", "channels", "alarm")
				for _, u := range trunks {
					name := u.Gateway
					if name == "" {
						name = "#" + u.Carrier
					}
					channels := "-"
					if u.Channels > 0 {
						channels = strconv.Itoa(u.Channels)
					}
					t.row(name, u.State, u.Calls, channels, map[bool]string{true: "yes", false: "no"}[u.Alarm])
				}
				return t.write(e.out, *asJSON)
			}
			path := "/api/calls/" + url.PathEscape(args[0]) + "/hangup"
			if *reason != "" {
				path += "?reason=" + url.QueryEscape(*reason)
			}
			var res struct {
				HungUp  int    `json:"hung_up"`
				Warning string `json:"warning"`
			}
			if err := callAPI(ctx, cfg, http.MethodPost, path, &res); err != nil {
				return err
			}
			if res.Warning != "" {
				e.warnf("%s", res.Warning)
			}
			fmt.Fprintf(e.out, "hung up %s\n", args[0])
			return nil
		}
	}
}
