package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"

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
