package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/palio-voip/palio/guard"
)

// The guard's commands: the bans and blocks in the database (a running
// server sees a change through the store's change counter within the poll
// interval), and the fraud rules.
var guardCommands = []command{
	{
		name: "guard list", section: "Defence", min: 0, max: 0,
		summary: "list the banned addresses, locked accounts, fraud-blocked accounts and flood blocks, with why and until",
		detail: `KIND is ip (an address that failed authentication too often: nothing it
sends is heard), user (an account that failed it too often: its credentials
are refused), fraud (an account whose outbound calls a critical fraud
threshold blocked, until 'unisi guard clear') or flood (a source over the
flood threshold: nothing it sends is heard while it floods). Times are UTC.
Ended bans are not listed (the server deletes them).

Flood blocks live in the running server's memory: the command asks it over
its HTTP API ([http] listen, -http; with [http] token), and says so on
stderr when it does not answer. A flood block ends within two sampling
units of the flood's end; the server's log has one line at the block and
one at its end ("guard: flood blocked", "guard: flood over").`,
		example: "unisi guard list\nunisi guard list -json",
		setup:   guardListSetup,
	},
	{
		name: "guard unban", args: "ADDRESS|USER", section: "Defence", min: 1, max: 1,
		summary: "lift the ban of an address or the lock of an account",
		detail: `An IP address lifts an address's ban, anything else an account's lock (its
auth-failure ban; 'unisi guard clear' lifts a fraud block). Running servers
lift it at their next poll of the database, and count the failures afresh.`,
		example: "unisi guard unban 203.0.113.9\nunisi guard unban 5002",
		setup:   guardUnbanSetup,
	},
	{
		name: "guard clear", args: "USER", section: "Defence", min: 1, max: 1,
		summary: "let a fraud-blocked account call out again",
		detail: `Deletes the account's fraud block; running servers allow its outbound calls
again at their next poll of the database and count its figures afresh. Look
at why it was blocked first ('unisi guard list').`,
		example: "unisi guard clear 5002",
		setup:   guardClearSetup,
	},
	{
		name: "guard rule list", section: "Defence", min: 0, max: 0,
		summary: "list the fraud rules (OpenSIPS's fraud_detection)",
		detail: `A call of an account counts against the rule of its profile ([guard.fraud]
profile) whose PREFIX starts the dialled number (as dialled: UniSI's outside
line 0 included) and whose window (HOURS on DAYS) holds the time: the longest
prefix in force wins, and at one prefix the narrowest window. Each figure
shows its thresholds as WARNING/CRITICAL ("-": off):

  CPM         calls begun in the last minute
  DURATION    one call's talk time, in seconds
  CALLS       calls begun today
  CONCURRENT  calls in progress
  SEQUENTIAL  calls in a row to the same number
  MINUTES     talk time today, in minutes`,
		example: "unisi guard rule list",
		setup:   guardRuleListSetup,
	},
	{
		name: "guard rule set", args: "[ID] [-prefix P] [-calls W/C ...]", section: "Defence", min: 0, max: 1,
		summary: "add a fraud rule, or change one (ID)",
		detail: `Without ID a new rule is added; with ID only the flags given change. A
threshold is WARNING/CRITICAL, each a number or - (off): "3/6", "-/10";
"off" turns both off. -hours is a window in the rule's zone ([guard.fraud]
timezone), both minutes included; one that ends before it starts spans
midnight ("20:00-06:59", the night, which belongs to the day it starts on).
-days lists days and ranges ("Mon-Fri", "Fri-Mon,Wed"). Running servers
reload the rules at their next poll of the database.`,
		example: "unisi guard rule set -prefix 00044 -calls 5/20 -minutes 30/120\nunisi guard rule set 3 -hours 22:00-06:59 -concurrent 1/2\nunisi guard rule set 2 -cpm off",
		setup:   guardRuleSetSetup,
	},
	{
		name: "guard rule del", args: "ID", section: "Defence", min: 1, max: 1,
		summary: "delete a fraud rule",
		example: "unisi guard rule del 6",
		setup:   guardRuleDelSetup,
	},
}

// timeUTC is how the guard's commands print a time.
func timeUTC(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

func guardListSetup(fs *flag.FlagSet) runner {
	asJSON := jsonFlag(fs)
	return func(ctx context.Context, e *env, args []string) error {
		_, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		bans, err := db.Guard().Bans(ctx)
		if err != nil {
			return err
		}
		now := time.Now()
		t := newTable("kind", "subject", "since", "until", "reason")
		for _, b := range bans {
			if !b.Active(now) {
				continue
			}
			until := "cleared"
			if !b.Until.IsZero() {
				until = timeUTC(b.Until)
			}
			t.row(string(b.Kind), b.Subject, timeUTC(b.Created), until, b.Reason)
		}
		// Flood blocks live in the running server's memory: ask it.
		cfg, err := e.g.loadConfig()
		if err != nil {
			return err
		}
		var flood []FloodBlock
		if err := callAPI(ctx, cfg, http.MethodGet, "/api/guard/flood", &flood); err != nil {
			e.warnf("flood blocks not listed: %v", err)
		}
		for _, b := range flood {
			t.row(string(guard.BanFlood), b.Subject, timeUTC(b.Since), "flood end + "+b.EndsWithin, b.Reason)
		}
		return t.write(e.out, *asJSON)
	}
}

func guardUnbanSetup(fs *flag.FlagSet) runner {
	return func(ctx context.Context, e *env, args []string) error {
		kind, subject := guard.BanUser, args[0]
		if ip, err := netip.ParseAddr(subject); err == nil {
			kind, subject = guard.BanIP, ip.Unmap().String()
		}
		_, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		err = db.Guard().DeleteBan(ctx, kind, subject)
		if errors.Is(err, guard.ErrNotFound) {
			what := "address"
			if kind == guard.BanUser {
				what = "account"
			}
			return fmt.Errorf("no ban of the %s %s ('unisi guard list' shows them)", what, subject)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.out, "unbanned %s %s\n", kind, subject)
		return nil
	}
}

func guardClearSetup(fs *flag.FlagSet) runner {
	return func(ctx context.Context, e *env, args []string) error {
		_, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		err = db.Guard().DeleteBan(ctx, guard.BanFraud, args[0])
		if errors.Is(err, guard.ErrNotFound) {
			return fmt.Errorf("%s has no fraud block ('unisi guard list' shows them)", args[0])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.out, "cleared %s: its outbound calls are allowed again\n", args[0])
		return nil
	}
}

// thresholdString writes a threshold as WARNING/CRITICAL, "-" for off.
func thresholdString(t guard.Threshold) string {
	if t == (guard.Threshold{}) {
		return "-"
	}
	n := func(v int) string {
		if v == 0 {
			return "-"
		}
		return strconv.Itoa(v)
	}
	return n(t.Warning) + "/" + n(t.Critical)
}

// parseThreshold reads WARNING/CRITICAL ("3/6", "-/10") or "off".
func parseThreshold(s string) (guard.Threshold, error) {
	if s == "off" || s == "-" {
		return guard.Threshold{}, nil
	}
	w, c, ok := strings.Cut(s, "/")
	if !ok {
		return guard.Threshold{}, fmt.Errorf("threshold %q: want WARNING/CRITICAL, e.g. 3/6 or -/10, or off", s)
	}
	n := func(v string) (int, error) {
		if v == "-" || v == "" {
			return 0, nil
		}
		x, err := strconv.Atoi(v)
		if err != nil || x < 0 {
			return 0, fmt.Errorf("threshold %q: %q is not a number or -", s, v)
		}
		return x, nil
	}
	var t guard.Threshold
	var err error
	if t.Warning, err = n(w); err != nil {
		return t, err
	}
	if t.Critical, err = n(c); err != nil {
		return t, err
	}
	return t, nil
}

// ruleTable is the rules as guard rule list prints them.
func ruleTable(rules []guard.Rule) *table {
	t := newTable("id", "profile", "prefix", "hours", "days", "cpm", "duration", "calls", "concurrent", "sequential", "minutes")
	for _, r := range rules {
		start, end, days := r.StartHour, r.EndHour, r.Days
		if start == "" {
			start = "00:00"
		}
		if end == "" {
			end = "23:59"
		}
		if days == "" {
			days = "Mon-Sun"
		}
		prefix := r.Prefix
		if prefix == "" {
			prefix = "(any)"
		}
		t.row(r.ID, r.Profile, prefix, start+"-"+end, days, thresholdString(r.CallsPerMinute), thresholdString(r.CallDuration),
			thresholdString(r.TotalCalls), thresholdString(r.ConcurrentCalls), thresholdString(r.SequentialCalls), thresholdString(r.TotalMinutes))
	}
	return t
}

func guardRuleListSetup(fs *flag.FlagSet) runner {
	asJSON := jsonFlag(fs)
	return func(ctx context.Context, e *env, args []string) error {
		_, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		rules, err := db.Guard().Rules(ctx)
		if err != nil {
			return err
		}
		return ruleTable(rules).write(e.out, *asJSON)
	}
}

// ruleFlags are the figures' flags of guard rule set, by flag name.
var ruleFlags = []struct{ flag, param, usage string }{
	{"cpm", guard.ParamCallsPerMinute, "calls begun in the last minute"},
	{"duration", guard.ParamCallDuration, "one call's talk time, seconds"},
	{"calls", guard.ParamTotalCalls, "calls begun today"},
	{"concurrent", guard.ParamConcurrentCalls, "calls in progress"},
	{"sequential", guard.ParamSequentialCalls, "calls in a row to the same number"},
	{"minutes", guard.ParamTotalMinutes, "talk time today, minutes"},
}

func guardRuleSetSetup(fs *flag.FlagSet) runner {
	profile := fs.String("profile", "", "the rule's profile (a new rule: [guard.fraud] profile)")
	prefix := fs.String("prefix", "", "the dialled numbers' prefix, outside line included (\"\": every number)")
	hours := fs.String("hours", "", "the window, HH:MM-HH:MM (default 00:00-23:59)")
	days := fs.String("days", "", "the days the window opens on (default Mon-Sun)")
	thresholds := map[string]*string{}
	for _, f := range ruleFlags {
		thresholds[f.flag] = fs.String(f.flag, "", "WARNING/CRITICAL thresholds of "+f.usage)
	}
	return func(ctx context.Context, e *env, args []string) error {
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		cfg, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		st := db.Guard()
		r := guard.Rule{Profile: cfg.Guard.Fraud.Profile}
		if len(args) == 1 {
			id, err := strconv.Atoi(args[0])
			if err != nil || id <= 0 {
				return usagef("rule ID %q is not a number ('unisi guard rule list' shows them)", args[0])
			}
			rules, err := st.Rules(ctx)
			if err != nil {
				return err
			}
			found := false
			for _, x := range rules {
				if x.ID == id {
					r, found = x, true
				}
			}
			if !found {
				return fmt.Errorf("no fraud rule %d ('unisi guard rule list' shows them)", id)
			}
		}
		if given["profile"] {
			p, err := strconv.Atoi(*profile)
			if err != nil || p < 0 {
				return usagef("-profile %q: want a number, 0 or more", *profile)
			}
			r.Profile = p
		}
		if given["prefix"] {
			r.Prefix = *prefix
		}
		if given["hours"] {
			start, end, ok := strings.Cut(*hours, "-")
			if !ok {
				return usagef("-hours %q: want HH:MM-HH:MM, e.g. 20:00-06:59", *hours)
			}
			r.StartHour, r.EndHour = start, end
		}
		if given["days"] {
			r.Days = *days
		}
		for _, f := range ruleFlags {
			if !given[f.flag] {
				continue
			}
			t, err := parseThreshold(*thresholds[f.flag])
			if err != nil {
				return usagef("-%s: %v", f.flag, err)
			}
			r.SetThreshold(f.param, t)
		}
		if err := r.Validate(); err != nil {
			return usagef("%s", strings.TrimPrefix(err.Error(), "guard: "))
		}
		saved, err := st.PutRule(ctx, r)
		if err != nil {
			return err
		}
		what := "changed"
		if len(args) == 0 {
			what = "added"
		}
		fmt.Fprintf(e.out, "%s rule %d\n", what, saved.ID)
		return ruleTable([]guard.Rule{saved}).write(e.out, false)
	}
}

func guardRuleDelSetup(fs *flag.FlagSet) runner {
	return func(ctx context.Context, e *env, args []string) error {
		id, err := strconv.Atoi(args[0])
		if err != nil {
			return usagef("rule ID %q is not a number", args[0])
		}
		_, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		err = db.Guard().DeleteRule(ctx, id)
		if errors.Is(err, guard.ErrNotFound) {
			return fmt.Errorf("no fraud rule %d ('unisi guard rule list' shows them)", id)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.out, "deleted rule %d\n", id)
		return nil
	}
}
