package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/palio-voip/palio/features"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/store/sqlstore"
)

// The call-service commands: an account's forwards, do not disturb,
// anonymous-call blocking and secretary (palio_features), and the
// blacklists (userblacklist, globalblacklist). The library checks every
// value (features.Settings.Set); these commands add what only the
// database knows: that the account and its secretary exist.
var featureCommands = []command{
	{
		name: "feature show", args: "USER[@DOMAIN]", section: "Call services", min: 1, max: 1,
		summary: "show an account's call services, one setting a line",
		detail: `Prints every setting 'unisi feature set' takes, with its value: the target
number of a forward, a timer, on or off ("off" for a service not in use).`,
		example: "unisi feature show 5002",
		setup:   featureShowSetup,
	},
	{
		name: "feature set", args: "USER[@DOMAIN] KEY VALUE [KEY VALUE ...] [-after DURATION]", section: "Call services", min: 1, max: -1,
		summary: "turn an account's call services on or off, or change them",
		detail: `Each KEY VALUE pair changes one setting; the others stay. The keys:

  forward-always, forward-busy, forward-noanswer, forward-unreachable
      a number to send the calls to (5003, 0577232111, VM_5002), or off
  noanswer-after     how long the phones ring before forward-noanswer
                     (20s; 1s to 5m; off for the server's default)
  dnd                on, off, or what do-not-disturb answers: unavailable
                     (480, the default), busy (486), voicemail
  anonymous-block    on or off: refuse callers who hide their number (433)
  secretary          a local account that takes the calls first, or off
  secretary-allow    callers who reach the account directly, comma-separated
  ring-boss-after    ring the account too after the secretary rang this long
  boss-when-secretary-fails
                     on or off: the account rings when the secretary is busy
                     or unreachable

-after DURATION is noanswer-after's short form, to give with
forward-noanswer. A forward to the account itself, a timer of 0 or over 5
minutes, a target that is not a number and a secretary without an account
are refused. A running server sees the change through the store's change
counter.`,
		example: "unisi feature set 5002 forward-noanswer VM_5002 -after 20s\nunisi feature set 5002 dnd on\nunisi feature set 5002 secretary 5003 ring-boss-after 15s\nunisi feature set 5002 anonymous-block on forward-busy off",
		setup:   featureSetSetup,
	},
	{
		name: "blacklist add", args: "[USER|global] PREFIX [-allow] [-description TEXT]", section: "Call services", min: 1, max: 2,
		summary: "block calls to the numbers starting with PREFIX (-allow: let them through)",
		detail: `Without USER, or with "global", the row goes in the global list
(globalblacklist); with USER, in that account's list (userblacklist), and
the account must exist. The longest prefix that matches a number decides:
an -allow row lets emergency numbers through a list that blocks a whole
range. -description is kept for the global list only (OpenSIPS's
userblacklist has no such column).`,
		example: "unisi blacklist add 00399 -description 'premium rate'\nunisi blacklist add global 112 -allow -description emergency\nunisi blacklist add 5002 0577",
		setup:   blacklistSetup("add"),
	},
	{
		name: "blacklist list", args: "[USER|global]", section: "Call services", min: 0, max: 1,
		summary: "list the global blacklist and the accounts' blacklists",
		detail: `The global list and the accounts' lists number their rows apart: an ID is
one row of the list the LIST column names.`,
		example: "unisi blacklist list\nunisi blacklist list 5002",
		setup:   blacklistSetup("list"),
	},
	{
		name: "blacklist del", args: "ID [-global]", section: "Call services", min: 1, max: 1,
		summary: "delete a blacklist row by its ID (blacklist list shows it)",
		detail:  `The ID is a row of the accounts' lists, or with -global of the global list.`,
		example: "unisi blacklist del 7\nunisi blacklist del 2 -global",
		setup:   blacklistSetup("del"),
	},
}

// accountExists reports whether user@domain is an account (the
// subscriber table).
func accountExists(ctx context.Context, subs *sqlstore.SubscriberStore, user, domain string) (bool, error) {
	sub, err := subs.Subscriber(ctx, user, domain)
	if errors.Is(err, registrar.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return strings.EqualFold(sub.Domain, domain), nil
}

// featureAccount reads USER[@DOMAIN] and checks that the account exists.
func featureAccount(ctx context.Context, db *sqlstore.DB, cfg Config, arg, domainFlag string) (user, domain string, err error) {
	user, domain, err = accountName(arg, domainFlag, cfg)
	if err != nil {
		return "", "", err
	}
	ok, err := accountExists(ctx, db.Subscribers(-1), user, domain)
	if err != nil {
		return "", "", err
	}
	if !ok {
		return "", "", fmt.Errorf("no account %s@%s ('unisi user list' shows them)", user, domain)
	}
	return user, domain, nil
}

// settingsOf returns the account's settings, or empty ones.
func settingsOf(ctx context.Context, st features.Store, user, domain string) (features.Settings, error) {
	all, err := st.Settings(ctx)
	if err != nil {
		return features.Settings{}, err
	}
	for _, s := range all {
		if s.User == user && strings.EqualFold(s.Domain, domain) {
			return s, nil
		}
	}
	return features.Settings{User: user, Domain: domain}, nil
}

// featureError is a value the library refused, as a usage error without
// the package's prefix.
func featureError(err error) error {
	return usagef("%s", strings.TrimPrefix(err.Error(), "features: "))
}

func featureShowSetup(fs *flag.FlagSet) runner {
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
		s, err := settingsOf(ctx, db.Features(), user, dom)
		if err != nil {
			return err
		}
		for _, k := range features.Keys {
			fmt.Fprintf(e.out, "%s\t%s\n", k, s.Get(k))
		}
		return nil
	}
}

func featureSetSetup(fs *flag.FlagSet) runner {
	domain := fs.String("domain", "", "the account's domain (default: the first of [sip] domains)")
	after := fs.String("after", "", "how long the phones ring before forward-noanswer, e.g. 20s (noanswer-after)")
	return func(ctx context.Context, e *env, args []string) error {
		pairs := slices.Clone(args[1:])
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		if given["after"] {
			if slices.Contains(pairs, "noanswer-after") {
				return usagef("-after and noanswer-after both given: give one")
			}
			pairs = append(pairs, "noanswer-after", *after)
		}
		if len(pairs) == 0 || len(pairs)%2 != 0 {
			_, _, _, err := features.Change(ctx, features.Settings{}, pairs, nil)
			return featureError(err)
		}
		cfg, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		user, dom, err := featureAccount(ctx, db, cfg, args[0], *domain)
		if err != nil {
			return err
		}
		st := db.Features()
		cur, err := settingsOf(ctx, st, user, dom)
		if err != nil {
			return err
		}
		subs := db.Subscribers(-1)
		exists := func(ctx context.Context, u string) (bool, error) { return accountExists(ctx, subs, u, dom) }
		next, changed, warnings, err := features.Change(ctx, cur, pairs, exists)
		if err != nil {
			if strings.Contains(err.Error(), "no account") {
				return fmt.Errorf("%s ('unisi user list' shows them)", strings.TrimPrefix(err.Error(), "features: "))
			}
			return featureError(err)
		}
		for _, w := range warnings {
			e.warnf("%s", w)
		}
		name := user + "@" + dom
		if len(changed) == 0 {
			fmt.Fprintf(e.out, "unchanged %s\n", name)
			return nil
		}
		if err := st.PutSettings(ctx, next); err != nil {
			return err
		}
		fmt.Fprintf(e.out, "changed %s %s\n", name, strings.Join(changed, " "))
		return nil
	}
}

func blacklistSetup(verb string) func(fs *flag.FlagSet) runner {
	return func(fs *flag.FlagSet) runner {
		var allow, global, asJSON *bool
		var description, domain *string
		switch verb {
		case "add":
			allow = fs.Bool("allow", false, "let the numbers through (a whitelist row): emergency numbers in a blocked range")
			description = fs.String("description", "", "what the row is for (global list only)")
		case "list":
			asJSON = jsonFlag(fs)
		case "del":
			global = fs.Bool("global", false, "the ID is a row of the global list")
		}
		if verb != "del" {
			domain = fs.String("domain", "", "the account's domain (default: the first of [sip] domains)")
		}
		return func(ctx context.Context, e *env, args []string) error {
			if verb == "del" {
				if _, err := strconv.Atoi(args[0]); err != nil {
					return usagef("ID %q is not a number", args[0])
				}
			}
			cfg, db, err := e.store(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			st := db.Features()
			// who reads [USER|global]: "" for the global list.
			who := func(arg string) (user, dom string, err error) {
				if arg == "global" {
					return "", "", nil
				}
				return featureAccount(ctx, db, cfg, arg, *domain)
			}
			switch verb {
			case "add":
				var user, dom string
				prefix := args[len(args)-1]
				if len(args) == 2 {
					if user, dom, err = who(args[0]); err != nil {
						return err
					}
				}
				if user != "" && *description != "" {
					return usagef("-description is kept for the global list only (OpenSIPS's userblacklist has no such column)")
				}
				le := features.ListEntry{User: user, Domain: dom, Prefix: prefix, Whitelist: *allow, Description: *description}
				if err := le.Validate(); err != nil {
					return featureError(err)
				}
				le, err = st.AddListEntry(ctx, le)
				if errors.Is(err, features.ErrExists) {
					return fmt.Errorf("%s is already in %s ('unisi blacklist list' shows it)", prefix, listName(user, dom))
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(e.out, "added %d to %s: %s %s\n", le.ID, listName(user, dom), le.Prefix, action(le.Whitelist))
			case "list":
				filter, all := "", len(args) == 0
				var user, dom string
				if !all {
					if user, dom, err = who(args[0]); err != nil {
						return err
					}
					filter = listOf(user, dom)
				}
				list, err := st.ListEntries(ctx)
				if err != nil {
					return err
				}
				t := newTable("id", "list", "prefix", "action", "description")
				for _, le := range list {
					l := listOf(le.User, le.Domain)
					if !all && !strings.EqualFold(l, filter) {
						continue
					}
					t.row(le.ID, l, le.Prefix, action(le.Whitelist), le.Description)
				}
				return t.write(e.out, *asJSON)
			case "del":
				id, _ := strconv.Atoi(args[0])
				which := "the accounts' lists"
				if *global {
					which = "the global list"
				}
				if err := st.DeleteListEntry(ctx, id, *global); errors.Is(err, features.ErrNotFound) {
					hint := "; -global for the global list"
					if *global {
						hint = ""
					}
					return fmt.Errorf("no row %d in %s ('unisi blacklist list' shows them%s)", id, which, hint)
				} else if err != nil {
					return err
				}
				fmt.Fprintf(e.out, "deleted %d from %s\n", id, which)
			}
			return nil
		}
	}
}

// listOf names a blacklist in the LIST column: "global" or the account.
func listOf(user, domain string) string {
	if user == "" {
		return "global"
	}
	return user + "@" + domain
}

// listName names a blacklist in a sentence.
func listName(user, domain string) string {
	if user == "" {
		return "the global list"
	}
	return user + "@" + domain + "'s list"
}

// action is a row's effect, as the list shows it.
func action(whitelist bool) string {
	if whitelist {
		return "allow"
	}
	return "block"
}
