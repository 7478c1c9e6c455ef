package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/palio-voip/palio/admin"
	"github.com/palio-voip/palio/alias"
	"github.com/palio-voip/palio/permission"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/store/sqlstore"
)

// The account commands: users (the subscriber table) and their
// registrations (location).
var accountCommands = []command{
	{
		name: "user add", args: "USER[@DOMAIN] -password PW", section: "Accounts and phones", min: 1, max: 1,
		summary: "add a SIP account (a phone's user name and password)",
		detail: `The account may register and call. Its outbound classes say which calls it
may place (local, national, mobile, international: the dialplan classifies a
number, the account must hold the class); its inbound classes say which
trusted sources may call it (pstn, toip, local, external, or all; none means
all). Only the password's digests (HA1, MD5 and SHA-256) are stored. -owner
(the person's name, at most 128 characters) and -note (at most 255) are what
the admin page shows beside the account.`,
		example: "unisi user add 5200 -password 's3cret!' -classes local,national",
		setup:   userSetup("add"),
	},
	{
		name: "user set", args: "USER[@DOMAIN] [-password PW] [-classes LIST] [-inbound LIST] [-owner NAME] [-note TEXT]", section: "Accounts and phones", min: 1, max: 1,
		summary: "change an account's password, classes, owner or note",
		detail: `Only the flags given change; a running server sees the change at once (the
account cache is cleared through the store's change counter). -owner is the
person the account belongs to (at most 128 characters) and -note a free text
(at most 255), both shown by the admin page and searched by its accounts
page (the owner); an empty value removes it.`,
		example: "unisi user set 5200 -classes local,national,mobile",
		setup:   userSetup("set"),
	},
	{
		name: "user del", args: "USER[@DOMAIN]", section: "Accounts and phones", min: 1, max: 1,
		summary: "delete an account and its owner and note (its registrations stay until they expire)",
		example: "unisi user del 5200",
		setup:   userSetup("del"),
	},
	{
		name: "user block", args: "USER[@DOMAIN]", section: "Accounts and phones", min: 1, max: 1,
		summary: "refuse an account (403 Account Blocked) without deleting it",
		example: "unisi user block 5009",
		setup:   userSetup("block"),
	},
	{
		name: "user unblock", args: "USER[@DOMAIN]", section: "Accounts and phones", min: 1, max: 1,
		summary: "let a blocked account register and call again",
		example: "unisi user unblock 5009",
		setup:   userSetup("unblock"),
	},
	{
		name: "user show", args: "USER[@DOMAIN]", section: "Accounts and phones", min: 1, max: 1,
		summary: "show an account: its classes, state, owner and note",
		example: "unisi user show 5002",
		setup:   userSetup("show"),
	},
	{
		name: "user list", section: "Accounts and phones", max: 0,
		summary: "list the accounts with their classes and state",
		example: "unisi user list -json",
		setup:   userSetup("list"),
	},
	{
		name: "location add", args: "AOR CONTACT", section: "Accounts and phones", min: 2, max: 2,
		summary: "add a registration by hand (a phone that cannot register, a test)",
		detail: `AOR is the account's user (5002); CONTACT the SIP URI calls to it are sent
to. Without -expires the binding is permanent. Adding a binding that is
already there changes nothing and says so.`,
		example: "unisi location add 5002 sip:5002@192.0.2.10:5060 -expires 3600",
		setup:   locationSetup("add"),
	},
	{
		name: "location list", section: "Accounts and phones", max: 0,
		summary: "list the registrations",
		example: "unisi location list",
		setup:   locationSetup("list"),
	},
	{
		name: "location del", args: "AOR CONTACT", section: "Accounts and phones", min: 2, max: 2,
		summary: "delete a registration",
		example: "unisi location del 5002 sip:5002@192.0.2.10:5060",
		setup:   locationSetup("del"),
	},
}

// accountName splits USER[@DOMAIN]; the domain defaults to -domain, then
// to the first configured domain.
func accountName(arg, domainFlag string, cfg Config) (user, domain string, err error) {
	user, domain, hasDomain := strings.Cut(arg, "@")
	switch {
	case hasDomain && domainFlag != "" && !strings.EqualFold(domain, domainFlag):
		return "", "", usagef("%s names domain %s but -domain says %s", arg, domain, domainFlag)
	case !hasDomain && domainFlag != "":
		domain = domainFlag
	case !hasDomain:
		domain = domainOf(cfg)
	}
	if err := sip.CheckUserPart(user); err != nil {
		return "", "", usagef("user %q: %v", arg, err)
	}
	return user, domain, nil
}

func userSetup(verb string) func(fs *flag.FlagSet) runner {
	return func(fs *flag.FlagSet) runner {
		var password, domain, classes, inbound, owner, note *string
		var asJSON *bool
		switch verb {
		case "add", "set":
			password = fs.String("password", "", "the account's password"+map[bool]string{true: " (required)"}[verb == "add"])
			classes = fs.String("classes", map[bool]string{true: "local"}[verb == "add"], "outbound call classes, comma-separated: local, national, mobile, international")
			inbound = fs.String("inbound", "", "inbound call classes, comma-separated: pstn, toip, local, external, all (empty: all)")
			owner = fs.String("owner", "", "the person the account belongs to, as the admin page shows it (\"Mario Rossi\")")
			note = fs.String("note", "", "a free-text note the admin page shows")
		case "list":
			asJSON = jsonFlag(fs)
		}
		if verb != "list" {
			domain = fs.String("domain", "", "the account's domain (default: the first of [sip] domains)")
		}
		return func(ctx context.Context, e *env, args []string) error {
			cfg, db, err := e.store(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			subs := db.Subscribers(-1)
			if verb == "list" {
				return listUsers(ctx, e, subs, *asJSON)
			}
			user, dom, err := accountName(args[0], *domain, cfg)
			if err != nil {
				return err
			}
			name := user + "@" + dom
			cur, err := subs.Subscriber(ctx, user, dom)
			exists := err == nil
			if err != nil && !errors.Is(err, registrar.ErrNotFound) {
				return err
			}
			if cur.Domain != "" && !strings.EqualFold(cur.Domain, dom) {
				exists = false // the store matched the user in another domain
			}
			if verb != "add" && !exists {
				return fmt.Errorf("no account %s ('unisi user list' shows them)", name)
			}
			given := map[string]bool{}
			fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
			infos := db.Admin()
			switch verb {
			case "add":
				if exists {
					return fmt.Errorf("account %s already exists ('unisi user set' changes it)", name)
				}
				if *password == "" {
					return usagef("-password is required")
				}
				sub := registrar.NewSubscriberIn(user, dom, cfg.Registrar.Realm, *password)
				sub.Classes, sub.InboundClasses = splitCSV(*classes), splitCSV(*inbound)
				if err := checkAccount(sub); err != nil {
					return err
				}
				info, infoText, err := accountInfo(admin.AccountInfo{Username: user, Domain: dom}, given, *owner, *note)
				if err != nil {
					return err
				}
				if err := subs.AddSubscriber(ctx, sub); err != nil {
					return err
				}
				if err := infos.PutAccountInfo(ctx, info); err != nil { // an empty one clears what a deleted namesake left
					return err
				}
				fmt.Fprintf(e.out, "added %s classes=%s inbound=%s%s\n", name, strings.Join(sub.Classes, ","), inboundText(sub.InboundClasses), infoText)
			case "set":
				next := cur
				if !given["password"] && !given["classes"] && !given["inbound"] && !given["owner"] && !given["note"] {
					return usagef("nothing to change: give -password, -classes, -inbound, -owner or -note")
				}
				var changed []string
				if given["password"] {
					if *password == "" {
						return usagef("-password is empty")
					}
					p := registrar.NewSubscriberIn(user, dom, cfg.Registrar.Realm, *password)
					if p.HA1 != cur.HA1 || p.HA1SHA256 != cur.HA1SHA256 || cur.Password != "" {
						next.Password, next.HA1, next.HA1SHA256 = "", p.HA1, p.HA1SHA256
						changed = append(changed, "password")
					}
				}
				if given["classes"] {
					next.Classes = splitCSV(*classes)
					if !slices.Equal(next.Classes, cur.Classes) {
						changed = append(changed, "classes="+strings.Join(next.Classes, ","))
					}
				}
				if given["inbound"] {
					next.InboundClasses = splitCSV(*inbound)
					if !slices.Equal(next.InboundClasses, cur.InboundClasses) {
						changed = append(changed, "inbound="+inboundText(next.InboundClasses))
					}
				}
				if err := checkAccount(next); err != nil {
					return err
				}
				subChanged := len(changed) > 0
				curInfo, err := infos.AccountInfo(ctx, user, dom)
				if err != nil {
					return err
				}
				info, _, err := accountInfo(curInfo, given, *owner, *note)
				if err != nil {
					return err
				}
				if info.Owner != curInfo.Owner {
					changed = append(changed, fmt.Sprintf("owner=%q", info.Owner))
				}
				if info.Note != curInfo.Note {
					changed = append(changed, fmt.Sprintf("note=%q", info.Note))
				}
				if len(changed) == 0 {
					fmt.Fprintf(e.out, "unchanged %s\n", name)
					return nil
				}
				if subChanged {
					if err := subs.UpdateSubscriber(ctx, next); err != nil {
						return err
					}
				}
				if info != curInfo {
					if err := infos.PutAccountInfo(ctx, info); err != nil {
						return err
					}
				}
				fmt.Fprintf(e.out, "changed %s %s\n", name, strings.Join(changed, " "))
			case "show":
				info, err := infos.AccountInfo(ctx, user, dom)
				if err != nil {
					return err
				}
				state := "active"
				if cur.Blocked {
					state = "blocked"
				}
				fmt.Fprintf(e.out, "account\t%s@%s\nclasses\t%s\ninbound\t%s\nstate\t%s\nowner\t%s\nnote\t%s\n", cur.Username, cur.Domain,
					strings.Join(cur.Classes, ","), inboundText(cur.InboundClasses), state, cmp.Or(info.Owner, "-"), cmp.Or(info.Note, "-"))
			case "del":
				if err := subs.DeleteSubscriber(ctx, user, dom); err != nil {
					return err
				}
				fmt.Fprintf(e.out, "deleted %s\n", name)
			case "block", "unblock":
				if cur.Blocked == (verb == "block") {
					fmt.Fprintf(e.out, "unchanged %s (already %sed)\n", name, verb)
					return nil
				}
				if err := subs.SetBlocked(ctx, user, dom, verb == "block"); err != nil {
					return err
				}
				fmt.Fprintf(e.out, "%sed %s\n", verb, name)
			}
			return nil
		}
	}
}

// accountInfo is cur with the -owner and -note given, checked by the
// library (admin.AccountInfo.Validate, as the admin API checks them), and
// the words that say what was given (" owner=..." for the add's line).
func accountInfo(cur admin.AccountInfo, given map[string]bool, owner, note string) (admin.AccountInfo, string, error) {
	var text string
	if given["owner"] {
		cur.Owner = owner
		text += fmt.Sprintf(" owner=%q", owner)
	}
	if given["note"] {
		cur.Note = note
		text += fmt.Sprintf(" note=%q", note)
	}
	if err := cur.Validate(); err != nil {
		return cur, "", usagef("%s", strings.TrimPrefix(err.Error(), "admin: "))
	}
	return cur, text, nil
}

// checkAccount checks an account as the library does, and its classes
// against the classes the deployment knows.
func checkAccount(sub registrar.Subscriber) error {
	if err := sub.Validate(); err != nil {
		return usagef("%v", err)
	}
	if err := unisiClasses().CheckAccount(sub.Classes, sub.InboundClasses); err != nil {
		return usagef("%v", err)
	}
	return nil
}

func inboundText(classes []string) string {
	if len(classes) == 0 {
		return "all"
	}
	return strings.Join(classes, ",")
}

func listUsers(ctx context.Context, e *env, subs *sqlstore.SubscriberStore, asJSON bool) error {
	list, err := subs.ListSubscribers(ctx)
	if err != nil {
		return err
	}
	t := newTable("user", "domain", "classes", "inbound", "state")
	for _, s := range list {
		state := "active"
		if s.Blocked {
			state = "blocked"
		}
		t.row(s.Username, s.Domain, nonNil(s.Classes), inboundText(s.InboundClasses), state)
	}
	return t.write(e.out, asJSON)
}

// nonNil makes a nil list an empty JSON array.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func locationSetup(verb string) func(fs *flag.FlagSet) runner {
	return func(fs *flag.FlagSet) runner {
		var expires *int
		var received, transport *string
		var q *float64
		var asJSON *bool
		switch verb {
		case "add":
			expires = fs.Int("expires", 0, "lifetime in seconds; 0 makes the binding permanent")
			received = fs.String("received", "", "the source address, ip:port, when it differs from the contact (NAT)")
			transport = fs.String("transport", "UDP", "transport towards the contact: UDP, TCP, TLS, WS, WSS")
			q = fs.Float64("q", 1, "preference among the AOR's contacts, 0 to 1")
		case "list":
			asJSON = jsonFlag(fs)
		}
		return func(ctx context.Context, e *env, args []string) error {
			_, db, err := e.store(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			// Announce: a running server's mirror of the table reloads.
			loc := db.Location(sqlstore.LocationOptions{CacheTTL: -1, Announce: true})
			defer loc.Close()
			switch verb {
			case "add":
				return addBinding(ctx, e, db, loc, args[0], args[1], *expires, *received, *transport, *q)
			case "list":
				list, err := loc.List(ctx)
				if err != nil {
					return err
				}
				t := newTable("aor", "contact", "received", "transport", "expires", "user_agent")
				for _, b := range list {
					t.row(b.AOR, b.Contact, b.Received, b.Transport, expiresText(b.Expires), b.UserAgent)
				}
				return t.write(e.out, *asJSON)
			case "del":
				if err := loc.Delete(ctx, args[0], args[1]); errors.Is(err, registrar.ErrNotFound) {
					return fmt.Errorf("no binding of %s to %s ('unisi location list' shows them)", args[0], args[1])
				} else if err != nil {
					return err
				}
				fmt.Fprintf(e.out, "deleted %s %s\n", args[0], args[1])
			}
			return nil
		}
	}
}

func addBinding(ctx context.Context, e *env, db *sqlstore.DB, loc *sqlstore.LocationStore, aor, contact string, expires int, received, transport string, q float64) error {
	u, err := sip.ParseURI(contact)
	if err != nil || u.Host == "" {
		return usagef("contact %q is not a SIP URI (sip:user@host[:port])", contact)
	}
	if received != "" {
		if _, _, err := net.SplitHostPort(received); err != nil {
			return usagef("-received %q is not ip:port", received)
		}
	}
	transport = strings.ToUpper(transport)
	switch transport {
	case "UDP", "TCP", "TLS", "WS", "WSS":
	default:
		return usagef("-transport %q: want UDP, TCP, TLS, WS or WSS", transport)
	}
	if expires < 0 {
		return usagef("-expires %d is negative", expires)
	}
	if q < 0 || q > 1 {
		return usagef("-q %v: want 0 to 1", q)
	}
	user, _, _ := strings.Cut(aor, "@")
	if _, err := db.Subscribers(-1).Subscriber(ctx, user, ""); errors.Is(err, registrar.ErrNotFound) {
		e.warnf("no account %s: calls to %s reach this contact, but it cannot register nor call", user, aor)
	} else if err != nil {
		return err
	}
	now := time.Now()
	b := registrar.Binding{AOR: aor, Contact: u.String(), Received: received, Transport: transport,
		Q: q, CallID: "palio-cli", CSeq: 1, UserAgent: "unisi location add", Updated: now}
	if expires > 0 {
		b.Expires = now.Add(time.Duration(expires) * time.Second).Truncate(time.Second)
	}
	have, err := loc.Lookup(ctx, aor)
	if err != nil && !errors.Is(err, registrar.ErrNotFound) {
		return err
	}
	verb := "added"
	for _, h := range have {
		if h.Contact != b.Contact {
			continue
		}
		if h.SameAs(b) {
			fmt.Fprintf(e.out, "unchanged %s %s\n", b.AOR, b.Contact)
			return nil
		}
		verb = "updated"
	}
	if err := loc.Put(ctx, b); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "%s %s %s expires=%s\n", verb, b.AOR, b.Contact, expiresText(b.Expires))
	return nil
}

func expiresText(t time.Time) string {
	if t.IsZero() {
		return "permanent"
	}
	return t.UTC().Format(time.RFC3339)
}

// The trusted-source and alias commands.
var sourceCommands = []command{
	{
		name: "address add", args: "GROUP CIDR", section: "Trusted sources and aliases", min: 2, max: 2,
		summary: "trust a host or network: its requests skip authentication",
		detail: `GROUP is the address group: 1 the PSTN gateways, 2 the ToIP trunk, 3 the
media box, 4 the MD110s ([permission] trusted lists the trusted ones). CIDR is
a host (192.0.2.7) or a network with its host bits clear (192.0.2.0/24).`,
		example: "unisi address add 1 192.0.2.7 -tag gw-siena-5",
		setup:   addressSetup("add"),
	},
	{
		name: "address list", section: "Trusted sources and aliases", max: 0,
		summary: "list the trusted addresses",
		example: "unisi address list",
		setup:   addressSetup("list"),
	},
	{
		name: "address del", args: "ID", section: "Trusted sources and aliases", min: 1, max: 1,
		summary: "delete a trusted address by its ID (address list shows it)",
		example: "unisi address del 12",
		setup:   addressSetup("del"),
	},
	{
		name: "alias add", args: "ALIAS TARGET", section: "Trusted sources and aliases", min: 2, max: 2,
		summary: "make a number stand for an account (5500 for FAX_5500)",
		detail: `A call to ALIAS goes to TARGET: the alias stage rewrites the Request-URI's
user before the dialplan classifies it. Either may be USER or USER@DOMAIN.`,
		example: "unisi alias add 5501 FAX_5501",
		setup:   aliasSetup("add"),
	},
	{
		name: "alias list", section: "Trusted sources and aliases", max: 0,
		summary: "list the aliases",
		example: "unisi alias list",
		setup:   aliasSetup("list"),
	},
	{
		name: "alias del", args: "ALIAS", section: "Trusted sources and aliases", min: 1, max: 1,
		summary: "delete an alias",
		example: "unisi alias del 5501",
		setup:   aliasSetup("del"),
	},
}

func addressSetup(verb string) func(fs *flag.FlagSet) runner {
	return func(fs *flag.FlagSet) runner {
		var port *int
		var proto, tag, pattern *string
		var asJSON *bool
		switch verb {
		case "add":
			port = fs.Int("port", 0, "source port; 0 matches any")
			proto = fs.String("proto", "any", "any, udp, tcp, tls, ws, wss")
			tag = fs.String("tag", "", "a name for the source (context_info), shown in the call trace")
			pattern = fs.String("pattern", "", "shell glob the Request-URI must match, e.g. 'sip:0577*'")
		case "list":
			asJSON = jsonFlag(fs)
		}
		return func(ctx context.Context, e *env, args []string) error {
			cfg, db, err := e.store(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			st := db.Addresses()
			switch verb {
			case "add":
				grp, err := strconv.Atoi(args[0])
				if err != nil || grp < 0 {
					return usagef("group %q is not a number", args[0])
				}
				ip, mask, err := permission.ParseCIDR(args[1])
				if err != nil {
					return usagef("%v", err)
				}
				a := permission.Address{Group: grp, IP: ip, Mask: mask, Port: *port, Proto: strings.ToLower(*proto), Pattern: *pattern, ContextInfo: *tag}
				have, err := st.Addresses(ctx)
				if err != nil {
					return err
				}
				warns, err := permission.CheckNewAddress(have, a, cfg.Permission.Trusted)
				if err != nil {
					return err
				}
				for _, w := range warns {
					e.warnf("%s", w)
				}
				if a, err = st.AddAddress(ctx, a); err != nil {
					return err
				}
				fmt.Fprintf(e.out, "added address %d group=%d %s/%d\n", a.ID, a.Group, a.IP, a.Mask)
			case "list":
				list, err := st.Addresses(ctx)
				if err != nil {
					return err
				}
				t := newTable("id", "group", "network", "port", "proto", "pattern", "tag", "trusted")
				for _, a := range list {
					trusted := "no"
					if slices.Contains(cfg.Permission.Trusted, a.Group) {
						trusted = "yes"
					}
					t.row(a.ID, a.Group, fmt.Sprintf("%s/%d", a.IP, a.Mask), a.Port, a.Proto, a.Pattern, a.ContextInfo, trusted)
				}
				return t.write(e.out, *asJSON)
			case "del":
				id, err := strconv.Atoi(args[0])
				if err != nil {
					return usagef("ID %q is not a number", args[0])
				}
				if err := st.DeleteAddress(ctx, id); errors.Is(err, permission.ErrNotFound) {
					return fmt.Errorf("no address %d ('unisi address list' shows them)", id)
				} else if err != nil {
					return err
				}
				fmt.Fprintf(e.out, "deleted address %d\n", id)
			}
			return nil
		}
	}
}

func aliasSetup(verb string) func(fs *flag.FlagSet) runner {
	return func(fs *flag.FlagSet) runner {
		var asJSON *bool
		if verb == "list" {
			asJSON = jsonFlag(fs)
		}
		return func(ctx context.Context, e *env, args []string) error {
			cfg, db, err := e.store(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			st := db.Aliases()
			split := func(s string) (string, string) {
				u, d, ok := strings.Cut(s, "@")
				if !ok {
					d = domainOf(cfg)
				}
				return u, d
			}
			switch verb {
			case "add":
				au, ad := split(args[0])
				tu, td := split(args[1])
				a := alias.Alias{AliasUsername: au, AliasDomain: ad, Username: tu, Domain: td}
				if err := a.Validate(); err != nil {
					return usagef("%v", err)
				}
				a, err := st.Add(ctx, a)
				if errors.Is(err, alias.ErrExists) {
					return fmt.Errorf("alias %s@%s already exists ('unisi alias del' it first)", au, ad)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(e.out, "added %s@%s -> %s@%s\n", a.AliasUsername, a.AliasDomain, a.Username, a.Domain)
			case "list":
				list, err := st.Aliases(ctx)
				if err != nil {
					return err
				}
				t := newTable("alias", "target")
				for _, a := range list {
					t.row(a.AliasUsername+"@"+a.AliasDomain, a.Username+"@"+a.Domain)
				}
				return t.write(e.out, *asJSON)
			case "del":
				au, ad := split(args[0])
				if err := st.Delete(ctx, au, ad); errors.Is(err, alias.ErrNotFound) {
					return fmt.Errorf("no alias %s@%s ('unisi alias list' shows them)", au, ad)
				} else if err != nil {
					return err
				}
				fmt.Fprintf(e.out, "deleted %s@%s\n", au, ad)
			}
			return nil
		}
	}
}
