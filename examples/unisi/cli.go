package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/palio-voip/palio/store/mysql"
	"github.com/palio-voip/palio/store/sqlite"
	"github.com/palio-voip/palio/store/sqlstore"
)

// command is one command of the unisi tool: its name ("user add"), the
// arguments its synopsis shows, what it does, an example, and setup,
// which defines its flags on a FlagSet and returns the function that runs
// it with the positional arguments.
type command struct {
	name     string
	args     string // the synopsis after the name: "USER -password PW"
	section  string
	summary  string // one line, for `unisi help`
	detail   string // paragraphs for `unisi help NAME`
	example  string
	min, max int // positional arguments; max -1: any number
	setup    func(fs *flag.FlagSet) runner
}

// runner runs a command with its positional arguments.
type runner func(ctx context.Context, e *env, args []string) error

// sections order the commands in `unisi help`.
var sections = []string{"Server", "Accounts and phones", "Call services", "Media box", "Trusted sources and aliases", "Defence", "Dialplan and routing", "Calls and accounting", "Configuration"}

// commands are every command, in the order help lists them; init fills it
// (the commands refer to the list for their own help).
var commands []command

func init() {
	commands = concat(serverCommands, tlsCommands, accountCommands, deviceCommands, featureCommands, presenceCommands, mediaboxCommands, sourceCommands, guardCommands, dialplanCommands, routingCommands, accountingCommands, configCommands)
}

func concat(lists ...[]command) []command {
	var out []command
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// lookup finds the command named by the first one, two or three words of
// args and returns it with the rest; group is the first word or two when
// they name a group of commands ("user", "guard rule") but no command of
// it.
func lookup(args []string) (cmd *command, rest []string, group string) {
	if len(args) >= 3 {
		for i := range commands {
			if commands[i].name == args[0]+" "+args[1]+" "+args[2] {
				return &commands[i], args[3:], ""
			}
		}
	}
	if len(args) >= 2 {
		for i := range commands {
			if commands[i].name == args[0]+" "+args[1] {
				return &commands[i], args[2:], ""
			}
		}
	}
	if len(args) >= 1 {
		for i := range commands {
			if commands[i].name == args[0] {
				return &commands[i], args[1:], ""
			}
		}
		if len(args) >= 2 {
			for i := range commands {
				if strings.HasPrefix(commands[i].name, args[0]+" "+args[1]+" ") {
					return nil, args[2:], args[0] + " " + args[1]
				}
			}
		}
		for i := range commands {
			if strings.HasPrefix(commands[i].name, args[0]+" ") {
				return nil, args[1:], args[0]
			}
		}
	}
	return nil, args, ""
}

// globals are the flags every command accepts, anywhere on its line.
type globals struct {
	sip, http, db, config string
	set                   map[string]bool
}

// register defines the global flags on fs.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.sip, "sip", "127.0.0.1:5060", "SIP listen address, UDP and TCP (overrides [sip] listen)")
	fs.StringVar(&g.http, "http", "127.0.0.1:8080", "metrics and health HTTP address (overrides [http] listen)")
	fs.StringVar(&g.db, "db", "unisi.db", "SQLite database file (overrides [store] sqlite)")
	fs.StringVar(&g.config, "config", "", "TOML configuration file (see examples/unisi/unisi.toml)")
}

// globalsLine is how the help texts name the global flags.
const globalsLine = "Global flags, accepted anywhere on the line: -config FILE, -db PATH, -sip ADDR, -http ADDR."

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

// env is what a running command works with.
type env struct {
	g         globals
	cmd       *command
	out, errw io.Writer
}

// warnf tells the operator something the command did not refuse.
func (e *env) warnf(format string, a ...any) {
	fmt.Fprintf(e.errw, "unisi: warning: "+format+"\n", a...)
}

// storeName names the configured store for messages.
func storeName(cfg Config) string {
	if cfg.Store.MySQL != "" {
		return "the MySQL database of [store] mysql"
	}
	return cfg.Store.SQLite
}

// openExisting opens the configured store, which must exist and hold
// Palio's schema: an operator command never creates a database (a typo in
// -db would otherwise act on an empty one the server never reads).
func openExisting(ctx context.Context, cfg Config) (*sqlstore.DB, error) {
	var db *sqlstore.DB
	var err error
	if cfg.Store.MySQL != "" {
		db, err = mysql.Open(ctx, cfg.Store.MySQL, mysql.Options{MustExist: true})
	} else {
		db, err = sqlite.Open(ctx, cfg.Store.SQLite, sqlite.Options{MustExist: true})
	}
	if errors.Is(err, sqlstore.ErrNotInitialised) {
		what := "the MySQL database of [store] mysql has no Palio tables"
		if cfg.Store.MySQL == "" {
			path, _ := filepath.Abs(cfg.Store.SQLite)
			what = "no database at " + path
			if _, serr := os.Stat(cfg.Store.SQLite); serr == nil {
				what = cfg.Store.SQLite + " is not a Palio database (no schema)"
			}
		}
		return nil, fmt.Errorf("%s.\nStart the server once (unisi serve) or run 'unisi init' to create it, or point -db or -config at the server's database", what)
	}
	return db, err
}

// store opens the configured database for a command.
func (e *env) store(ctx context.Context) (Config, *sqlstore.DB, error) {
	cfg, err := e.g.loadConfig()
	if err != nil {
		return cfg, nil, err
	}
	db, err := openExisting(ctx, cfg)
	return cfg, db, err
}

// app builds the deployment over the configured database for a command
// that needs its components (routing, the dry run). It logs errors only:
// the server is the one to warn about its data.
func (e *env) app(ctx context.Context) (*app, error) {
	cfg, err := e.g.loadConfig()
	if err != nil {
		return nil, err
	}
	db, err := openExisting(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return newApp(ctx, cfg, db, slog.New(slog.NewTextHandler(e.errw, &slog.HandlerOptions{Level: slog.LevelError})), nil)
}

// usageError is a mistake in a command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// exitError ends a command with a status and, optionally, a message.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// run is the unisi command line: it returns the exit status (0 done, 1
// failed, 2 a usage error).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var g globals
	lead := flag.NewFlagSet("unisi", flag.ContinueOnError)
	lead.SetOutput(io.Discard)
	g.register(lead)
	if err := lead.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(stdout)
			return 0
		}
		fmt.Fprintf(stderr, "unisi: %v\nRun 'unisi help' for the commands.\n", err)
		return 2
	}
	rest := lead.Args()
	if len(rest) == 0 {
		rest = []string{"serve"}
	}
	if rest[0] == "help" {
		return helpCommand(rest[1:], stdout, stderr)
	}
	cmd, rest, group := lookup(rest)
	if cmd == nil {
		if group != "" && len(rest) == 1 && (rest[0] == "-h" || rest[0] == "-help" || rest[0] == "--help") {
			printGroup(stdout, group)
			return 0
		}
		if group != "" {
			what := "needs a subcommand"
			if len(rest) > 0 {
				what = fmt.Sprintf("has no subcommand %q", rest[0])
				if strings.HasPrefix(rest[0], "-") {
					what = fmt.Sprintf("needs its subcommand before the flags (got %s)", rest[0])
				}
			}
			fmt.Fprintf(stderr, "unisi %s %s.\n\n", group, what)
			printGroup(stderr, group)
			return 2
		}
		fmt.Fprintf(stderr, "unisi: unknown command %q.\nRun 'unisi help' for the commands.\n", strings.Join(rest, " "))
		return 2
	}
	// The command's flags and the global ones, which may come anywhere:
	// those given before the command are set again on its FlagSet.
	leading := map[string]string{}
	lead.Visit(func(f *flag.Flag) { leading[f.Name] = f.Value.String() })
	fs := flag.NewFlagSet("unisi "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.register(fs)
	for name, v := range leading {
		fs.Set(name, v)
	}
	runCmd := cmd.setup(fs)
	pos, err := parseInterleaved(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		printCommand(stdout, cmd)
		return 0
	}
	if err == nil {
		switch {
		case len(pos) < cmd.min:
			err = usagef("missing arguments")
		case cmd.max >= 0 && len(pos) > cmd.max:
			err = usagef("too many arguments: %s", strings.Join(pos[cmd.max:], " "))
		}
	}
	if err == nil {
		g.set = map[string]bool{}
		fs.Visit(func(f *flag.Flag) { g.set[f.Name] = true })
		err = runCmd(ctx, &env{g: g, cmd: cmd, out: stdout, errw: stderr}, pos)
	}
	var ue usageError
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "unisi %s: %s\nusage: %s\nRun 'unisi help %s' for its flags and an example.\n", cmd.name, ue.msg, synopsis(cmd), cmd.name)
		return 2
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintln(stderr, ee.msg)
		}
		return ee.code
	default:
		fmt.Fprintf(stderr, "unisi %s: %v\n", cmd.name, err)
		return 1
	}
}

// parseInterleaved parses flags placed anywhere among the positional
// arguments ("translate 0 0577 -explain" and "translate -explain 0
// 0577"); "--" ends the flags.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func synopsis(c *command) string {
	s := "unisi " + c.name
	if c.args != "" {
		s += " " + c.args
	}
	return s + " [flags]"
}

// helpCommand is `unisi help [COMMAND]`.
func helpCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printHelp(stdout)
		return 0
	}
	cmd, rest, group := lookup(args)
	switch {
	case cmd != nil && len(rest) == 0:
		printCommand(stdout, cmd)
		return 0
	case cmd == nil && group != "" && len(rest) == 0:
		printGroup(stdout, group)
		return 0
	}
	fmt.Fprintf(stderr, "unisi help: no command %q.\nRun 'unisi help' for the commands.\n", strings.Join(args, " "))
	return 2
}

// printHelp lists every command by section.
func printHelp(w io.Writer) {
	fmt.Fprint(w, `unisi runs the University of Siena's SIP router, assembled from Palio, and
manages its data: accounts, registrations, call services, trusted sources,
aliases, the dialplan and the routing tables of its gateways.

usage: unisi [COMMAND] [arguments] [flags]

With no command, unisi serves (see 'unisi help serve').
`)
	for _, sec := range sections {
		fmt.Fprintf(w, "\n%s:\n", sec)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range commands {
			if c.section == sec {
				fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
			}
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\n%s\nRun 'unisi help COMMAND' (or 'unisi COMMAND -h') for a command's arguments, flags and an example.\n", globalsLine)
}

// printGroup lists the commands of a group ("user").
func printGroup(w io.Writer, group string) {
	fmt.Fprintf(w, "The %s commands:\n", group)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		if strings.HasPrefix(c.name, group+" ") {
			fmt.Fprintf(tw, "  %s\t%s\n", synopsis(&c), c.summary)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "Run 'unisi help %s SUBCOMMAND' for one's flags and an example.\n", group)
}

// printCommand is one command's help: synopsis, description, its own
// flags, the global flags and an example.
func printCommand(w io.Writer, c *command) {
	fmt.Fprintf(w, "usage: %s\n\n%s%s.\n", synopsis(c), strings.ToUpper(c.summary[:1]), c.summary[1:])
	if c.detail != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.detail))
	}
	own := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.setup(own)
	n := 0
	own.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nFlags:")
		own.SetOutput(w)
		own.PrintDefaults()
	}
	fmt.Fprintf(w, "\n%s\n", globalsLine)
	if c.example != "" {
		fmt.Fprintln(w, "\nExample:")
		for _, l := range strings.Split(strings.TrimSpace(c.example), "\n") {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
}

// table is a command's list output: a header row and aligned columns for
// people, or with -json an array of objects keyed by the column names for
// scripts.
type table struct {
	cols []string
	rows [][]any
}

func newTable(cols ...string) *table { return &table{cols: cols} }

// row adds a row, one value per column.
func (t *table) row(vals ...any) { t.rows = append(t.rows, vals) }

// write prints the table to w.
func (t *table) write(w io.Writer, asJSON bool) error {
	if asJSON {
		objs := make([]map[string]any, 0, len(t.rows))
		for _, r := range t.rows {
			o := make(map[string]any, len(t.cols))
			for i, c := range t.cols {
				o[c] = r[i]
			}
			objs = append(objs, o)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(objs)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, c := range t.cols {
		if i > 0 {
			fmt.Fprint(tw, "\t")
		}
		fmt.Fprint(tw, strings.ToUpper(c))
	}
	fmt.Fprintln(tw)
	for _, r := range t.rows {
		for i, v := range r {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			s := fmt.Sprint(v)
			if list, ok := v.([]string); ok {
				s = strings.Join(list, ",")
			}
			if s == "" {
				s = "-"
			}
			fmt.Fprint(tw, s)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// jsonFlag defines a list command's -json flag.
func jsonFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("json", false, "print a JSON array of objects (for scripts) instead of a table")
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

// quietLog is the logger of the operator commands: warnings and errors.
func quietLog(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
