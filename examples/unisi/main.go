// Command unisi is the University of Siena deployment of the seed talk,
// assembled from Palio's packages: a SIP proxy for phones, PSTN gateways,
// the legacy PBX and the media box, with its data in SQLite (or in a
// MariaDB/MySQL database shared by several nodes), and the commands that
// manage that data.
//
// Usage:
//
//	unisi [COMMAND] [arguments] [flags]
//
// With no command (or "serve") it serves SIP on 127.0.0.1:5060 (UDP and
// TCP) and metrics on http://127.0.0.1:8080/metrics, with the database
// unisi.db in the working directory, created and seeded with the UniSI data
// on first start. SIGHUP reloads; SIGTERM (or Ctrl-C) drains and exits.
//
// "unisi help" lists the commands (init, version, config check|print,
// user, location, address, alias, guard, dialplan, translate, route,
// import, gateway, carrier); "unisi help COMMAND" or "unisi COMMAND -h" shows a
// command's arguments, flags and an example. The global flags -config,
// -db, -sip and -http go anywhere on the line. The operator commands act
// on the server's database and refuse one that does not exist (start the
// server once, or run "unisi init"). Lists print a header row and aligned
// columns, or JSON with -json; errors go to stderr, with exit status 1
// (failed) or 2 (a usage error).
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
	"os"
	_ "time/tzdata" // time recurrences in rules name zones; do not depend on the host's zoneinfo
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
