// Command unisi is the University of Siena deployment of the seed talk,
// assembled from Palio's packages: a SIP proxy for phones, PSTN gateways,
// the legacy PBX and the media box, with its data in SQLite (or in a
// MariaDB/MySQL database shared by several nodes).
//
// Usage:
//
//	unisi [-sip ADDR] [-http ADDR] [-db PATH] [-config FILE] [command]
//
// With no command (or "serve") it serves SIP on 127.0.0.1:5060 (UDP and
// TCP) and metrics on http://127.0.0.1:8080/metrics, with the database
// unisi.db in the working directory, created and seeded with the UniSI data
// on first start. SIGHUP reloads; SIGTERM (or Ctrl-C) drains and exits.
//
// Operator commands work on the same database (global flags first):
//
//	translate DPID NUMBER [-explain]
//	route NUMBER -from USER [-src IP:PORT]
//	import TABLE FILE.tsv
//	user add USER -password PW [-domain D] [-classes local,national,...] [-inbound ...]
//	user del|block|unblock USER [-domain D]
//	user list
//	location add AOR CONTACT [-expires SECONDS] [-received IP:PORT] [-transport UDP]
//	location list
//	location del AOR CONTACT
//	address add GRP CIDR [-port P] [-proto P] [-tag T] [-pattern GLOB]
//	address list
//	address del ID
//	alias add ALIAS TARGET
//	alias list
//	alias del ALIAS
//	gateway list
//	gateway enable|disable ID
//	gateway set-address ID ADDRESS
//	carrier list
//	carrier enable|disable ID
//
// Output is plain text, one record a line, tab-separated; errors go to
// stderr with a non-zero exit status.
//
// The seeded gateways (but the media box on 127.0.0.1:5080) have
// documentation addresses marked as placeholders: they are listed as
// "unconfigured", never probed nor sent a call (a call with no other
// destination gets 503) until "gateway set-address" gives them a real
// address. A server bound to loopback (the default) never sends anything
// off loopback.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	_ "time/tzdata" // time recurrences in rules name zones; do not depend on the host's zoneinfo
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// globals are the flags that come before the command.
type globals struct {
	sip, http, db, config string
	set                   map[string]bool
}

// usageError is a mistake in a command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("unisi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var g globals
	fs.StringVar(&g.sip, "sip", "127.0.0.1:5060", "SIP listen address (UDP and TCP)")
	fs.StringVar(&g.http, "http", "127.0.0.1:8080", "admin and metrics HTTP listen address")
	fs.StringVar(&g.db, "db", "unisi.db", "SQLite database path")
	fs.StringVar(&g.config, "config", "", "TOML configuration file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: unisi [-sip ADDR] [-http ADDR] [-db PATH] [-config FILE] [command]")
		fmt.Fprintln(stderr, "commands: serve (default), translate, route, import, user, location, address, alias, gateway, carrier")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	g.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { g.set[f.Name] = true })

	cmd, rest := "serve", fs.Args()
	if len(rest) > 0 {
		cmd, rest = rest[0], rest[1:]
	}
	var err error
	switch cmd {
	case "serve":
		if len(rest) > 0 {
			err = usagef("serve takes no arguments, got %q", rest)
			break
		}
		err = serve(ctx, g, stderr)
	case "translate":
		err = cmdTranslate(ctx, g, rest, stdout)
	case "route":
		err = cmdRoute(ctx, g, rest, stdout)
	case "import":
		err = cmdImport(ctx, g, rest, stdout)
	case "user":
		err = cmdUser(ctx, g, rest, stdout)
	case "location":
		err = cmdLocation(ctx, g, rest, stdout)
	case "address":
		err = cmdAddress(ctx, g, rest, stdout)
	case "alias":
		err = cmdAlias(ctx, g, rest, stdout)
	case "gateway":
		err = cmdGateway(ctx, g, rest, stdout)
	case "carrier":
		err = cmdCarrier(ctx, g, rest, stdout)
	default:
		fmt.Fprintf(stderr, "unisi: unknown command %q\n", cmd)
		fs.Usage()
		return 2
	}
	switch e := err.(type) {
	case nil:
		return 0
	case usageError:
		fmt.Fprintln(stderr, "unisi:", e.msg)
		return 2
	case exitError:
		if e.msg != "" {
			fmt.Fprintln(stderr, e.msg)
		}
		return e.code
	default:
		fmt.Fprintln(stderr, "unisi:", err)
		return 1
	}
}

// exitError ends a command with a status and, optionally, a message.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// loadConfig loads the configuration file and applies the flags given on
// the command line over it.
func (g globals) loadConfig() (Config, error) {
	cfg, err := loadConfig(g.config)
	if err != nil {
		return cfg, err
	}
	if g.set["sip"] || g.config == "" {
		cfg.SIP.Listen = g.sip
	}
	if g.set["http"] || g.config == "" {
		cfg.HTTP.Listen = g.http
	}
	if g.set["db"] || g.config == "" {
		cfg.Store.SQLite = g.db
	}
	return cfg, nil
}
