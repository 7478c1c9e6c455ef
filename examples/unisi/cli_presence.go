package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/palio-voip/palio/presence"
)

// The presence commands: the voicemail lamps' counts (palio_mwi), which
// a running server sends to the phones that subscribed to them.
var presenceCommands = []command{
	{
		name: "mwi", args: "USER[@DOMAIN] NEW OLD", section: "Call services", min: 3, max: 3,
		summary: "set an account's voicemail counts: its phones' message lamps follow",
		detail: `Stores the mailbox's new and old voice messages (0 to 9999). A running
server sends a NOTIFY (RFC 3842 message-summary) to every phone subscribed
to the account's mailbox within [store] poll: the lamp lights when NEW is
above 0. The built-in voicemail sets them itself; this is for an external
one, or a test.`,
		example: "unisi mwi 5002 2 5",
		setup:   mwiSetup,
	},
	{
		name: "watch allow", args: "USER[@DOMAIN] WATCHER[@DOMAIN]", section: "Call services", min: 2, max: 2,
		summary: "let WATCHER see USER's busy lamp (and only the allowed ones, once one is)",
		detail: `Without rules any account of the domain may watch USER's calls. An allow rule
makes a list: only the watchers allowed may. A running server applies the
rules to the next SUBSCRIBE within [store] poll; subscriptions already
running are left alone until they end.`,
		example: "unisi watch allow 5002 5009",
		setup:   watchSetup("allow"),
	},
	{
		name: "watch deny", args: "USER[@DOMAIN] WATCHER[@DOMAIN]", section: "Call services", min: 2, max: 2,
		summary: "stop WATCHER from seeing USER's busy lamp (403)",
		example: "unisi watch deny 5002 5004",
		setup:   watchSetup("deny"),
	},
	{
		name: "watch del", args: "USER[@DOMAIN] WATCHER[@DOMAIN]", section: "Call services", min: 2, max: 2,
		summary: "delete a watch rule",
		example: "unisi watch del 5002 5004",
		setup:   watchSetup("del"),
	},
	{
		name: "watch list", section: "Call services", max: 0,
		summary: "list the watch rules",
		example: "unisi watch list",
		setup:   watchSetup("list"),
	},
}

func watchSetup(verb string) func(fs *flag.FlagSet) runner {
	return func(fs *flag.FlagSet) runner {
		domain := fs.String("domain", "", "the accounts' domain (default: the first of [sip] domains)")
		return func(ctx context.Context, e *env, args []string) error {
			cfg, db, err := e.store(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			rs := db.WatchRules()
			if verb == "list" {
				rules, err := rs.WatchRules(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintln(e.out, "USER\tDOMAIN\tWATCHER\tRULE")
				for _, r := range rules {
					rule := "deny"
					if r.Allow {
						rule = "allow"
					}
					fmt.Fprintf(e.out, "%s\t%s\t%s\t%s\n", r.User, r.Domain, r.Watcher, rule)
				}
				return nil
			}
			user, dom, err := featureAccount(ctx, db, cfg, args[0], *domain)
			if err != nil {
				return err
			}
			wuser, wdom, err := featureAccount(ctx, db, cfg, args[1], *domain)
			if err != nil {
				return fmt.Errorf("watcher: %w", err)
			}
			watcher := wuser + "@" + wdom
			if verb == "del" {
				if err := rs.DeleteWatchRule(ctx, user, dom, watcher); errors.Is(err, presence.ErrNotFound) {
					return fmt.Errorf("no rule for %s watching %s@%s", watcher, user, dom)
				} else if err != nil {
					return err
				}
				fmt.Fprintf(e.out, "deleted %s watching %s@%s\n", watcher, user, dom)
				return nil
			}
			r := presence.WatchRule{User: user, Domain: dom, Watcher: watcher, Allow: verb == "allow"}
			if err := presence.CheckWatchRule(r); err != nil {
				return usagef("%s", strings.TrimPrefix(err.Error(), "presence: "))
			}
			if err := rs.PutWatchRule(ctx, r); err != nil {
				return err
			}
			fmt.Fprintf(e.out, "%s %s watching %s@%s\n", verb, watcher, user, dom)
			return nil
		}
	}
}

func mwiSetup(fs *flag.FlagSet) runner {
	domain := fs.String("domain", "", "the account's domain (default: the first of [sip] domains)")
	return func(ctx context.Context, e *env, args []string) error {
		counts := [2]int{}
		for i, a := range args[1:3] {
			n, err := strconv.Atoi(a)
			if err != nil {
				return usagef("%q is not a count of messages", a)
			}
			counts[i] = n
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
		m := presence.Mailbox{User: user, Domain: dom, New: counts[0], Old: counts[1]}
		if err := presence.CheckMailbox(m); err != nil {
			return usagef("%v", err)
		}
		if err := db.Mailboxes().PutMailbox(ctx, m); err != nil {
			return err
		}
		fmt.Fprintf(e.out, "%s@%s: %d new, %d old\n", user, dom, m.New, m.Old)
		return nil
	}
}
