package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/palio-voip/palio/alias"
	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/permission"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/store/sqlstore"
)

// parseArgs parses flags placed anywhere among the positional arguments
// ("translate 0 0577 -explain" and "translate -explain 0 0577").
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// quietLog is the logger of the operator commands: warnings and errors.
func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// openStore opens the configured database for a command, seeding it when
// new (as the server would).
func openStore(ctx context.Context, g globals) (Config, *sqlstore.DB, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return cfg, nil, err
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return cfg, nil, err
	}
	if err := seed(ctx, db, domainOf(cfg), cfg.Registrar.Realm, quietLog()); err != nil {
		db.Close()
		return cfg, nil, err
	}
	return cfg, db, nil
}

func domainOf(cfg Config) string {
	if len(cfg.SIP.Domains) > 0 {
		return cfg.SIP.Domains[0]
	}
	return cfg.Registrar.Realm
}

func cmdTranslate(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("translate", flag.ContinueOnError)
	explain := fs.Bool("explain", false, "show which rule matched and which were candidates")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("usage: translate DPID NUMBER [-explain]")
	}
	dpid, err := strconv.Atoi(pos[0])
	if err != nil {
		return usagef("translate: DPID %q is not a number", pos[0])
	}
	_, db, err := openStore(ctx, g)
	if err != nil {
		return err
	}
	defer db.Close()
	plan, err := dialplan.New(dialplan.Config{}, db.Dialplan(), dialplan.WithLogger(quietLog()))
	if err != nil {
		return err
	}
	if *explain {
		fmt.Fprint(out, plan.Explain(dpid, pos[1]).String())
	}
	res, ok := plan.Translate(dpid, pos[1])
	if !ok {
		fmt.Fprintf(out, "no match: no rule of dpid %d matches %q\n", dpid, pos[1])
		return exitError{code: 1}
	}
	fmt.Fprintf(out, "%s\t%s\n", res.Output, res.Attrs)
	return nil
}

func cmdImport(ctx context.Context, g globals, args []string, out io.Writer) error {
	if len(args) != 2 {
		return usagef("usage: import TABLE FILE.tsv (tables: %s)", strings.Join(sqlstore.ImportTables(), ", "))
	}
	f, err := os.Open(args[1])
	if err != nil {
		return err
	}
	defer f.Close()
	_, db, err := openStore(ctx, g)
	if err != nil {
		return err
	}
	defer db.Close()
	rep, err := db.ImportTSV(ctx, args[0], f, nil)
	if err != nil {
		return err
	}
	for _, r := range rep.Rejected {
		fmt.Fprintf(out, "rejected\t%d\t%s\n", r.Line, r.Reason)
	}
	fmt.Fprintf(out, "loaded\t%d\n", rep.Loaded)
	if len(rep.Rejected) > 0 {
		return exitError{code: 1, msg: fmt.Sprintf("unisi: import: %d rows rejected", len(rep.Rejected))}
	}
	if strings.HasPrefix(args[0], "dr_") || args[0] == "palio_dr_limits" {
		// A routing row is checked against the others (a gwlist naming a
		// gateway that is not there): load them all as the server would.
		a, err := openRouter(ctx, g)
		if err != nil {
			return err
		}
		defer a.close()
		return reportRouting(ctx, a, out)
	}
	return nil
}

func cmdUser(ctx context.Context, g globals, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usagef("usage: user add|del|list|block|unblock ...")
	}
	fs := flag.NewFlagSet("user "+args[0], flag.ContinueOnError)
	password := fs.String("password", "", "the account's password")
	domain := fs.String("domain", "", "the account's domain (default: the first configured domain)")
	classes := fs.String("classes", "local", "outbound call classes: local,national,mobile,international")
	inbound := fs.String("inbound", "", "inbound call classes (empty: all)")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	cfg, db, err := openStore(ctx, g)
	if err != nil {
		return err
	}
	defer db.Close()
	subs := db.Subscribers(-1)
	if *domain == "" {
		*domain = domainOf(cfg)
	}
	one := func() (string, error) {
		if len(pos) != 1 {
			return "", usagef("usage: user %s USER [-domain D]", args[0])
		}
		return pos[0], nil
	}
	switch args[0] {
	case "add":
		user, err := one()
		if err != nil {
			return err
		}
		if *password == "" {
			return usagef("user add: -password is required")
		}
		if _, err := subs.Subscriber(ctx, user, *domain); err == nil {
			return fmt.Errorf("user %s@%s already exists", user, *domain)
		}
		sub := registrar.NewSubscriberIn(user, *domain, cfg.Registrar.Realm, *password)
		sub.Classes = splitCSV(*classes)
		sub.InboundClasses = splitCSV(*inbound)
		if err := sub.Validate(); err != nil {
			return usagef("user add: %v", err)
		}
		if err := subs.AddSubscriber(ctx, sub); err != nil {
			return err
		}
		fmt.Fprintf(out, "added\t%s@%s\t%s\n", user, *domain, strings.Join(sub.Classes, ","))
	case "del":
		user, err := one()
		if err != nil {
			return err
		}
		if err := subs.DeleteSubscriber(ctx, user, *domain); err != nil {
			return notFound(err, "user "+user+"@"+*domain)
		}
		fmt.Fprintf(out, "deleted\t%s@%s\n", user, *domain)
	case "block", "unblock":
		user, err := one()
		if err != nil {
			return err
		}
		if err := subs.SetBlocked(ctx, user, *domain, args[0] == "block"); err != nil {
			return notFound(err, "user "+user+"@"+*domain)
		}
		fmt.Fprintf(out, "%sed\t%s@%s\n", args[0], user, *domain)
	case "list":
		list, err := subs.ListSubscribers(ctx)
		if err != nil {
			return err
		}
		for _, s := range list {
			state := "active"
			if s.Blocked {
				state = "blocked"
			}
			in := strings.Join(s.InboundClasses, ",")
			if in == "" {
				in = "all"
			}
			fmt.Fprintf(out, "%s\t%s\t%s\t%s\t%s\n", s.Username, s.Domain, strings.Join(s.Classes, ","), in, state)
		}
	default:
		return usagef("user: unknown subcommand %q (add, del, list, block, unblock)", args[0])
	}
	return nil
}

func splitCSV(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// notFound words a store's not-found error for an operator.
func notFound(err error, what string) error {
	if errors.Is(err, registrar.ErrNotFound) || errors.Is(err, alias.ErrNotFound) || errors.Is(err, permission.ErrNotFound) {
		return fmt.Errorf("%s: not found", what)
	}
	return err
}

func cmdLocation(ctx context.Context, g globals, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usagef("usage: location add|list|del ...")
	}
	fs := flag.NewFlagSet("location "+args[0], flag.ContinueOnError)
	expires := fs.Int("expires", 0, "lifetime in seconds; 0 makes the binding permanent")
	received := fs.String("received", "", "the source address, ip:port, when it differs from the contact (NAT)")
	transport := fs.String("transport", "UDP", "transport towards the contact")
	q := fs.Float64("q", 1, "preference, 0 to 1")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	_, db, err := openStore(ctx, g)
	if err != nil {
		return err
	}
	defer db.Close()
	loc := db.Location(sqlstore.LocationOptions{CacheTTL: -1})
	defer loc.Close()
	switch args[0] {
	case "add":
		if len(pos) != 2 {
			return usagef("usage: location add AOR CONTACT [-expires SECONDS] [-received IP:PORT] [-transport UDP]")
		}
		u, err := sip.ParseURI(pos[1])
		if err != nil || u.Host == "" {
			return usagef("location add: contact %q is not a SIP URI", pos[1])
		}
		if *received != "" {
			if _, _, err := net.SplitHostPort(*received); err != nil {
				return usagef("location add: -received %q is not ip:port", *received)
			}
		}
		now := time.Now()
		b := registrar.Binding{AOR: pos[0], Contact: u.String(), Received: *received, Transport: strings.ToUpper(*transport),
			Q: *q, CallID: "palio-cli", CSeq: 1, UserAgent: "unisi location add", Updated: now}
		if *expires > 0 {
			b.Expires = now.Add(time.Duration(*expires) * time.Second)
		}
		if err := loc.Put(ctx, b); err != nil {
			return err
		}
		fmt.Fprintf(out, "added\t%s\t%s\t%s\n", b.AOR, b.Contact, expiresText(b.Expires))
	case "list":
		list, err := loc.List(ctx)
		if err != nil {
			return err
		}
		for _, b := range list {
			fmt.Fprintf(out, "%s\t%s\t%s\t%s\t%s\n", b.AOR, b.Contact, dash(b.Received), dash(b.Transport), expiresText(b.Expires))
		}
	case "del":
		if len(pos) != 2 {
			return usagef("usage: location del AOR CONTACT")
		}
		if err := loc.Delete(ctx, pos[0], pos[1]); err != nil {
			return notFound(err, "binding "+pos[0]+" "+pos[1])
		}
		fmt.Fprintf(out, "deleted\t%s\t%s\n", pos[0], pos[1])
	default:
		return usagef("location: unknown subcommand %q (add, list, del)", args[0])
	}
	return nil
}

func expiresText(t time.Time) string {
	if t.IsZero() {
		return "permanent"
	}
	return t.UTC().Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func cmdAddress(ctx context.Context, g globals, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usagef("usage: address add|list|del ...")
	}
	fs := flag.NewFlagSet("address "+args[0], flag.ContinueOnError)
	port := fs.Int("port", 0, "source port; 0 matches any")
	proto := fs.String("proto", "any", "any, udp, tcp, tls, ws, wss")
	tag := fs.String("tag", "", "context_info returned on a match")
	pattern := fs.String("pattern", "", "shell glob the Request-URI must match")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	_, db, err := openStore(ctx, g)
	if err != nil {
		return err
	}
	defer db.Close()
	st := db.Addresses()
	switch args[0] {
	case "add":
		if len(pos) != 2 {
			return usagef("usage: address add GRP CIDR [-port P] [-proto P] [-tag T] [-pattern GLOB]")
		}
		grp, err := strconv.Atoi(pos[0])
		if err != nil || grp < 0 {
			return usagef("address add: group %q is not a number", pos[0])
		}
		ip, mask, err := permission.ParseCIDR(pos[1])
		if err != nil {
			return usagef("address add: %v", err)
		}
		a := permission.Address{Group: grp, IP: ip, Mask: mask, Port: *port, Proto: *proto, Pattern: *pattern, ContextInfo: *tag}
		if err := permission.ValidateAddress(a); err != nil {
			return usagef("address add: %v", err)
		}
		a, err = st.AddAddress(ctx, a)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "added\t%d\t%d\t%s/%d\n", a.ID, a.Group, a.IP, a.Mask)
	case "list":
		list, err := st.Addresses(ctx)
		if err != nil {
			return err
		}
		for _, a := range list {
			fmt.Fprintf(out, "%d\t%d\t%s/%d\t%d\t%s\t%s\t%s\n", a.ID, a.Group, a.IP, a.Mask, a.Port, a.Proto, dash(a.Pattern), dash(a.ContextInfo))
		}
	case "del":
		if len(pos) != 1 {
			return usagef("usage: address del ID")
		}
		id, err := strconv.Atoi(pos[0])
		if err != nil {
			return usagef("address del: ID %q is not a number", pos[0])
		}
		if err := st.DeleteAddress(ctx, id); err != nil {
			return notFound(err, "address "+pos[0])
		}
		fmt.Fprintf(out, "deleted\t%d\n", id)
	default:
		return usagef("address: unknown subcommand %q (add, list, del)", args[0])
	}
	return nil
}

func cmdAlias(ctx context.Context, g globals, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usagef("usage: alias add|list|del ...")
	}
	cfg, db, err := openStore(ctx, g)
	if err != nil {
		return err
	}
	defer db.Close()
	st := db.Aliases()
	dom := domainOf(cfg)
	split := func(s string) (string, string) {
		u, d, ok := strings.Cut(s, "@")
		if !ok {
			d = dom
		}
		return u, d
	}
	switch args[0] {
	case "add":
		if len(args) != 3 {
			return usagef("usage: alias add ALIAS TARGET (e.g. alias add 5500 FAX_5500)")
		}
		au, ad := split(args[1])
		tu, td := split(args[2])
		a, err := st.Add(ctx, alias.Alias{AliasUsername: au, AliasDomain: ad, Username: tu, Domain: td})
		if errors.Is(err, alias.ErrExists) {
			return fmt.Errorf("alias %s@%s already exists", au, ad)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "added\t%s@%s\t%s@%s\n", a.AliasUsername, a.AliasDomain, a.Username, a.Domain)
	case "list":
		list, err := st.Aliases(ctx)
		if err != nil {
			return err
		}
		for _, a := range list {
			fmt.Fprintf(out, "%s@%s\t%s@%s\n", a.AliasUsername, a.AliasDomain, a.Username, a.Domain)
		}
	case "del":
		if len(args) != 2 {
			return usagef("usage: alias del ALIAS")
		}
		au, ad := split(args[1])
		if err := st.Delete(ctx, au, ad); err != nil {
			return notFound(err, "alias "+au+"@"+ad)
		}
		fmt.Fprintf(out, "deleted\t%s@%s\n", au, ad)
	default:
		return usagef("alias: unknown subcommand %q (add, list, del)", args[0])
	}
	return nil
}
