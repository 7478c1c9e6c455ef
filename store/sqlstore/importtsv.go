package sqlstore

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/palio-voip/palio/alias"
	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/permission"
	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
)

// kind is how an imported field is read.
type kind int

const (
	text     kind = iota
	integer       // a decimal integer
	real          // a decimal number (location.q)
	unixTime      // seconds since 1970, or "YYYY-MM-DD hh:mm:ss" (OpenSIPS 2 location.expires)
)

// column describes a column that TSV import may fill.
type column struct {
	kind     kind
	nullable bool // NULL (or an empty field) is stored as NULL; else NULL is refused
}

// importSpec describes one importable table.
type importSpec struct {
	cols map[string]column
	// ignored are OpenSIPS columns Palio does not keep, by name, with why:
	// a dump that has them loads, and the report says they were dropped.
	ignored map[string]string
	// keys are the table's unique keys by constraint name, primary first:
	// upsert's conflict target and the names a duplicate is reported by.
	keys []uniqueKey
	// auto is the auto-increment column, never updated by an upsert.
	auto string
	// check is the domain package's check of a row: a row its component
	// would leave out at load is refused at import.
	check func(row map[string]string) error
}

// uniqueKey is a unique constraint: its name (as MariaDB reports it) and
// columns.
type uniqueKey struct {
	name string
	cols []string
}

// importable lists the tables and columns ImportTSV accepts: OpenSIPS's
// column names, so that a dump of an OpenSIPS table loads as it is.
var importable = map[string]importSpec{
	"dialplan": {
		cols: map[string]column{
			"id": {kind: integer}, "dpid": {kind: integer}, "pr": {kind: integer},
			"match_op": {kind: integer}, "match_exp": {}, "match_flags": {kind: integer},
			"subst_exp": {nullable: true}, "repl_exp": {nullable: true}, "timerec": {nullable: true},
			"disabled": {kind: integer}, "attrs": {nullable: true},
		},
		keys: []uniqueKey{{"PRIMARY", []string{"id"}}}, auto: "id", check: checkDialplan,
	},
	"subscriber": {
		cols: map[string]column{
			"id": {kind: integer}, "username": {}, "domain": {}, "password": {},
			"ha1": {}, "ha1_sha256": {}, "ha1_sha512t256": {},
		},
		ignored: map[string]string{
			"ha1b":              "the digest of user@domain as the user name; Palio's accounts answer with ha1",
			"email_address":     "not kept",
			"rpid":              "not kept: the caller's identity comes from the account",
			"datetime_created":  "not kept",
			"datetime_modified": "not kept",
		},
		keys: []uniqueKey{{"PRIMARY", []string{"id"}}, {"account_idx", []string{"username", "domain"}}}, auto: "id", check: checkSubscriber,
	},
	"grp": {
		cols: map[string]column{"id": {kind: integer}, "username": {}, "domain": {}, "grp": {}, "last_modified": {}},
		keys: []uniqueKey{{"PRIMARY", []string{"id"}}, {"account_group_idx", []string{"username", "domain", "grp"}}}, auto: "id",
	},
	"address": {
		cols: map[string]column{
			"id": {kind: integer}, "grp": {kind: integer}, "ip": {}, "mask": {kind: integer},
			"port": {kind: integer}, "proto": {}, "pattern": {nullable: true}, "context_info": {nullable: true},
		},
		keys: []uniqueKey{{"PRIMARY", []string{"id"}}}, auto: "id", check: checkAddress,
	},
	"dbaliases": {
		cols: map[string]column{"id": {kind: integer}, "alias_username": {}, "alias_domain": {}, "username": {}, "domain": {}},
		keys: []uniqueKey{{"PRIMARY", []string{"id"}}, {"alias_idx", []string{"alias_username", "alias_domain"}}}, auto: "id", check: checkAlias,
	},
	"location": {
		cols: map[string]column{
			"contact_id": {kind: integer}, "username": {}, "domain": {nullable: true}, "contact": {},
			"received": {nullable: true}, "path": {nullable: true}, "expires": {kind: unixTime}, "q": {kind: real},
			"callid": {}, "cseq": {kind: integer}, "last_modified": {}, "flags": {kind: integer},
			"cflags": {nullable: true}, "user_agent": {}, "socket": {nullable: true}, "methods": {kind: integer, nullable: true},
			"sip_instance": {nullable: true}, "kv_store": {nullable: true}, "attr": {nullable: true},
		},
		ignored: map[string]string{"id": "OpenSIPS 2's row id: Palio numbers the bindings itself (contact_id)"},
		keys:    []uniqueKey{{"PRIMARY", []string{"contact_id"}}, {"palio_location_contact", []string{"username", "domain", "contact"}}}, auto: "contact_id",
		check: checkLocation,
	},
	"dr_gateways": {
		cols: map[string]column{
			"id": {kind: integer}, "gwid": {}, "type": {kind: integer}, "address": {},
			"strip": {kind: integer}, "pri_prefix": {nullable: true}, "attrs": {nullable: true},
			"probe_mode": {kind: integer}, "state": {kind: integer}, "socket": {nullable: true},
			"description": {nullable: true},
		},
		keys: []uniqueKey{{"PRIMARY", []string{"id"}}, {"dr_gw_idx", []string{"gwid"}}}, auto: "id", check: checkGateway,
	},
	"dr_rules": {
		cols: map[string]column{
			"ruleid": {kind: integer}, "groupid": {}, "prefix": {}, "timerec": {nullable: true},
			"priority": {kind: integer}, "routeid": {nullable: true}, "gwlist": {},
			"sort_alg": {}, "sort_profile": {kind: integer, nullable: true}, "attrs": {nullable: true},
			"description": {nullable: true},
		},
		keys: []uniqueKey{{"PRIMARY", []string{"ruleid"}}}, auto: "ruleid", check: checkRule,
	},
	"dr_carriers": {
		cols: map[string]column{
			"id": {kind: integer}, "carrierid": {}, "gwlist": {}, "flags": {kind: integer},
			"sort_alg": {}, "state": {kind: integer}, "attrs": {nullable: true}, "description": {nullable: true},
		},
		keys: []uniqueKey{{"PRIMARY", []string{"id"}}, {"dr_carrier_idx", []string{"carrierid"}}}, auto: "id", check: checkCarrier,
	},
	"dr_groups": {
		cols: map[string]column{
			"id": {kind: integer}, "username": {}, "domain": {nullable: true}, "groupid": {kind: integer},
			"description": {nullable: true},
		},
		keys: []uniqueKey{{"PRIMARY", []string{"id"}}}, auto: "id",
	},
	"userblacklist": {
		cols: map[string]column{"id": {kind: integer}, "username": {}, "domain": {}, "prefix": {}, "whitelist": {kind: integer}},
		keys: []uniqueKey{{"PRIMARY", []string{"id"}}, {"userblacklist_idx", []string{"username", "domain", "prefix"}}}, auto: "id",
		check: checkUserListEntry,
	},
	"globalblacklist": {
		cols: map[string]column{"id": {kind: integer}, "prefix": {}, "whitelist": {kind: integer}, "description": {nullable: true}},
		keys: []uniqueKey{{"PRIMARY", []string{"id"}}, {"globalblacklist_idx", []string{"prefix"}}}, auto: "id",
		check: checkGlobalListEntry,
	},
	"palio_dr_limits": {
		cols: map[string]column{"kind": {}, "id": {}, "channels": {kind: integer}},
		keys: []uniqueKey{{"PRIMARY", []string{"kind", "id"}}},
	},
	"palio_dr_tls": {
		cols:  map[string]column{"gwid": {}, "ca": {}, "fingerprint": {}, "server_name": {}},
		keys:  []uniqueKey{{"PRIMARY", []string{"gwid"}}},
		check: checkGatewayTLS,
	},
}

// routingTables are the tables a routing check follows.
var routingTables = map[string]bool{"dr_gateways": true, "dr_rules": true, "dr_carriers": true, "dr_groups": true, "palio_dr_limits": true, "palio_dr_tls": true}

// ImportTables returns the tables ImportTSV accepts, sorted.
func ImportTables() []string {
	var out []string
	for t := range importable {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// ImportColumns returns the columns ImportTSV accepts for table, sorted,
// or nil for a table it does not import.
func ImportColumns(table string) []string {
	spec, ok := importable[table]
	if !ok {
		return nil
	}
	var out []string
	for c := range spec.cols {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// ImportMode says what an import does with the rows already in the table.
type ImportMode int

const (
	// ImportAdd adds the rows; a row whose key exists is rejected.
	ImportAdd ImportMode = iota
	// ImportReplace deletes the table's rows first, in the same
	// transaction.
	ImportReplace
	// ImportUpsert updates a row whose key (the id, or the table's
	// natural key such as gwid) exists, and adds the others.
	ImportUpsert
)

// ImportOptions shape an import.
type ImportOptions struct {
	// Mode is ImportAdd, ImportReplace or ImportUpsert.
	Mode ImportMode
	// DryRun checks every row, writes them in the transaction (so that
	// duplicates and the routing check are found too) and rolls back.
	DryRun bool
	// Partial commits the good rows when some are rejected. Without it
	// an import is all or nothing.
	Partial bool
	// AllowDangling commits routing rows whose gwlist names a gateway or
	// carrier that does not exist (the routing component drops the
	// entry at load). Without it such an import is not committed.
	AllowDangling bool
	// Routing is the routing configuration the routing check compiles
	// with (prefix alphabet, domain matching).
	Routing routing.Config
	// Validate, when not nil, is one more check of each row (by column
	// name, NULL as "").
	Validate func(row map[string]string) error
}

// ImportReport says what an import did.
type ImportReport struct {
	// Table is the table imported into.
	Table string
	// Rows counts the data rows read; Loaded those written (or, in a dry
	// run or an import that was not committed, that would have been).
	Rows, Loaded int
	// Rejected are the rows that were not loaded, and why.
	Rejected []RejectedRow
	// Ignored names the file's columns Palio does not keep, with why.
	Ignored []string
	// Routing is what a reload of the routing tables would report after
	// the import (for a routing table; nil otherwise).
	Routing *routing.Report
	// Committed reports whether the rows were written.
	Committed bool
	// Why says why an import was not committed ("" when it was).
	Why string
}

// Dangling returns the routing problems that are gwlist entries naming
// nothing.
func (r ImportReport) Dangling() []routing.Problem {
	if r.Routing == nil {
		return nil
	}
	var out []routing.Problem
	for _, p := range r.Routing.Problems {
		if p.Dangling {
			out = append(out, p)
		}
	}
	return out
}

// RejectedRow is a TSV row that was not loaded, and why.
type RejectedRow struct {
	Line   int
	Reason string
}

// ErrNotTabSeparated is returned for a file whose header holds commas and
// no tab.
var ErrNotTabSeparated = errors.New("tab-separated expected")

// ImportTSV loads a tab-separated file into table, as `mysql -B -e
// "SELECT * FROM table"` writes it on an OpenSIPS database: a header row
// naming the columns, then one row a line, NULL for a NULL column, and
// the backslash escapes \\, \t, \n, \r and \0 (a backslash before any
// other character is kept, so a hand-written regexp such as ^\d reads as
// written). A column the table does not have, or a comma-separated file,
// is an error before anything is written; OpenSIPS columns Palio does
// not keep are dropped and named in the report.
//
// Every row is checked as its component would at load (a dialplan rule
// dialplan.Rule.Validate refuses, an address permission.ValidateAddress
// refuses, an alias or account that is not a SIP user part, a gateway
// whose address does not parse, a rule with a malformed gwlist) and by
// opt.Validate; then all rows are written in one transaction. A row that
// fails is rejected with its line and reason, and unless opt.Partial
// nothing is committed. For a routing table, the routing tables as they
// would stand are compiled (routing.Check) before the commit: a row the
// reload would leave out stops the import, and so does a gwlist entry
// naming nothing unless opt.AllowDangling. A failed import returns a
// report with Committed false and a nil error; the error is for a file
// or a database that cannot be read or written.
func (db *DB) ImportTSV(ctx context.Context, table string, r io.Reader, opt ImportOptions) (ImportReport, error) {
	rep := ImportReport{Table: table}
	spec, ok := importable[table]
	if !ok {
		return rep, fmt.Errorf("sqlstore: import: unknown table %q (known: %s)", table, strings.Join(ImportTables(), ", "))
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	var header []string
	for sc.Scan() {
		line++
		if strings.TrimSpace(sc.Text()) != "" {
			header = strings.Split(strings.TrimRight(sc.Text(), "\r"), "\t")
			break
		}
	}
	if err := sc.Err(); err != nil {
		return rep, fmt.Errorf("sqlstore: import: reading line %d: %w", line+1, err)
	}
	if header == nil {
		return rep, fmt.Errorf("sqlstore: import: empty file")
	}
	if len(header) == 1 && strings.Contains(header[0], ",") {
		return rep, fmt.Errorf("sqlstore: import: %w: the header row %q holds commas and no tab (mysql -B writes tabs)", ErrNotTabSeparated, header[0])
	}
	var cols []string // the columns written, in file order
	keep := make([]int, 0, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		header[i] = h
		if seen[h] {
			return rep, fmt.Errorf("sqlstore: import: column %q appears twice", h)
		}
		seen[h] = true
		if why, ok := spec.ignored[h]; ok {
			rep.Ignored = append(rep.Ignored, h+": "+why)
			continue
		}
		if _, ok := spec.cols[h]; !ok {
			return rep, fmt.Errorf("sqlstore: import: table %s has no column %q (columns: %s)", table, h, strings.Join(ImportColumns(table), ", "))
		}
		cols = append(cols, h)
		keep = append(keep, i)
	}
	if len(cols) == 0 {
		return rep, fmt.Errorf("sqlstore: import: no column of %s to load (columns: %s)", table, strings.Join(ImportColumns(table), ", "))
	}
	q := db.importStatement(table, spec, cols, opt.Mode)

	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return rep, fmt.Errorf("sqlstore: import: %w", err)
	}
	defer tx.Rollback()
	if opt.Mode == ImportReplace {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+table); err != nil {
			return rep, fmt.Errorf("sqlstore: import: replace: %w", err)
		}
	}
	stmt, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return rep, fmt.Errorf("sqlstore: import: %w", err)
	}
	defer stmt.Close()
	reject := func(reason string) { rep.Rejected = append(rep.Rejected, RejectedRow{line, reason}) }
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		rep.Rows++
		fields := strings.Split(text, "\t")
		if len(fields) != len(header) {
			reject(fmt.Sprintf("%d fields, want %d (the header's)", len(fields), len(header)))
			continue
		}
		row, args, err := readRow(spec, cols, keep, fields)
		if err != nil {
			reject(err.Error())
			continue
		}
		if spec.check != nil {
			if err := spec.check(row); err != nil {
				reject(err.Error())
				continue
			}
		}
		if opt.Validate != nil {
			if err := opt.Validate(row); err != nil {
				reject(err.Error())
				continue
			}
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT palio_row"); err != nil {
			return rep, fmt.Errorf("sqlstore: import: %w", err)
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT palio_row"); rerr != nil {
				return rep, fmt.Errorf("sqlstore: import: %w", rerr)
			}
			if ctx.Err() != nil {
				return rep, fmt.Errorf("sqlstore: import: %w", ctx.Err())
			}
			reject(duplicateReason(table, spec, row, err))
			continue
		}
		if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT palio_row"); err != nil {
			return rep, fmt.Errorf("sqlstore: import: %w", err)
		}
		rep.Loaded++
	}
	if err := sc.Err(); err != nil {
		return rep, fmt.Errorf("sqlstore: import: reading line %d: %w", line+1, err)
	}
	if routingTables[table] {
		d, err := loadRouting(ctx, tx)
		if err != nil {
			return rep, fmt.Errorf("sqlstore: import: routing check: %w", err)
		}
		rr := routing.Check(opt.Routing, d)
		rep.Routing = &rr
	}
	switch {
	case len(rep.Rejected) > 0 && !opt.Partial:
		rep.Why = fmt.Sprintf("%d of %d rows rejected", len(rep.Rejected), rep.Rows)
	case rep.Routing != nil && rep.Routing.Discarded() > 0:
		rep.Why = fmt.Sprintf("the routing tables would have %d rows a reload leaves out", rep.Routing.Discarded())
	case len(rep.Dangling()) > 0 && !opt.AllowDangling:
		rep.Why = fmt.Sprintf("%d gwlist entries name no gateway or carrier", len(rep.Dangling()))
	case opt.DryRun:
		rep.Why = "dry run"
	}
	if rep.Why != "" {
		return rep, nil
	}
	if table == "location" {
		// No trigger counts the location table's changes (the server's
		// own REGISTERs would then reload its mirror): say so here.
		if _, err := tx.ExecContext(ctx, announceQuery); err != nil {
			return rep, fmt.Errorf("sqlstore: import: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return rep, fmt.Errorf("sqlstore: import: commit: %w", err)
	}
	rep.Committed = true
	return rep, nil
}

// importStatement is the INSERT of cols into table for mode.
func (db *DB) importStatement(table string, spec importSpec, cols []string, mode ImportMode) string {
	if mode == ImportUpsert {
		// The conflict target is the first unique key the file has in
		// full: the id when it has one, else the natural key.
		for _, k := range spec.keys {
			if !containsAll(cols, k.cols) {
				continue
			}
			var update []string
			for _, c := range cols {
				if c != spec.auto && !slices.Contains(k.cols, c) {
					update = append(update, c)
				}
			}
			if len(update) == 0 {
				update = []string{k.cols[0]} // a no-op update keeps the statement valid
			}
			return db.dialect.upsert(table, cols, k.cols, update)
		}
	}
	return "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// readRow converts the fields of one line: the row by column name (NULL
// as "") for the checks, and the statement's arguments.
func readRow(spec importSpec, cols []string, keep []int, fields []string) (map[string]string, []any, error) {
	row := make(map[string]string, len(cols))
	args := make([]any, len(cols))
	for j, i := range keep {
		name, c := cols[j], spec.cols[cols[j]]
		f := fields[i]
		if f == "NULL" {
			if !c.nullable {
				return nil, nil, fmt.Errorf("column %s: NULL, and the column cannot be NULL", name)
			}
			row[name] = ""
			args[j] = nil
			continue
		}
		v, err := unescape(f)
		if err != nil {
			return nil, nil, fmt.Errorf("column %s: %v", name, err)
		}
		row[name] = v
		switch {
		case v == "" && c.nullable:
			args[j] = nil
		case c.kind == integer:
			if v == "" {
				args[j] = 0
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return nil, nil, fmt.Errorf("column %s: %q is not an integer", name, v)
			}
			args[j] = n
		case c.kind == real:
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return nil, nil, fmt.Errorf("column %s: %q is not a number", name, v)
			}
			args[j] = n
		case c.kind == unixTime:
			n, err := parseUnixTime(v)
			if err != nil {
				return nil, nil, fmt.Errorf("column %s: %v", name, err)
			}
			row[name] = strconv.FormatInt(n, 10)
			args[j] = n
		default:
			args[j] = v
		}
	}
	return row, args, nil
}

// unescape undoes mysql -B's escapes: \\, \t, \n, \r and \0. A backslash
// before another character is kept with it.
func unescape(f string) (string, error) {
	if !strings.Contains(f, `\`) {
		return f, nil
	}
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '\\' || i+1 == len(f) {
			b.WriteByte(f[i])
			continue
		}
		switch f[i+1] {
		case '\\':
			b.WriteByte('\\')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case '0':
			return "", errors.New("holds a NUL byte")
		default:
			b.WriteByte('\\')
			b.WriteByte(f[i+1])
		}
		i++
	}
	return b.String(), nil
}

// parseUnixTime reads seconds since 1970, or a DATETIME as OpenSIPS 2
// stored location.expires (the server's local time); 0 and the zero
// DATETIME mean "never expires".
func parseUnixTime(v string) (int64, error) {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n, nil
	}
	if v == "0000-00-00 00:00:00" {
		return 0, nil
	}
	t, err := time.ParseInLocation(time.DateTime, v, time.Local)
	if err != nil {
		return 0, fmt.Errorf("%q is neither seconds since 1970 nor YYYY-MM-DD hh:mm:ss", v)
	}
	return t.Unix(), nil
}

var sqliteUnique = regexp.MustCompile(`UNIQUE constraint failed: ([a-z_0-9., ]+)`)
var mysqlDuplicate = regexp.MustCompile(`Duplicate entry '.*' for key '(?:[a-z_0-9]+\.)?([A-Za-z_0-9]+)'`)

// duplicateReason names the key a failed insert collided on, with the
// row's values, instead of the engine's message; another error is
// returned as the engine says it.
func duplicateReason(table string, spec importSpec, row map[string]string, err error) string {
	var cols []string
	if m := sqliteUnique.FindStringSubmatch(err.Error()); m != nil {
		for _, tc := range strings.Split(m[1], ",") {
			tc = strings.TrimSpace(tc)
			cols = append(cols, tc[strings.LastIndexByte(tc, '.')+1:])
		}
	} else if m := mysqlDuplicate.FindStringSubmatch(err.Error()); m != nil {
		for _, k := range spec.keys {
			if k.name == m[1] {
				cols = k.cols
			}
		}
	} else {
		return err.Error()
	}
	var parts []string
	for _, c := range cols {
		parts = append(parts, fmt.Sprintf("%s %q", c, row[c]))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%s: a row with the same key exists (%v)", table, err)
	}
	return fmt.Sprintf("%s: a row with %s exists already (upsert updates it, replace swaps the table)", table, strings.Join(parts, " and "))
}

// The domain packages' checks, by table.

func atoi(row map[string]string, k string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(row[k]))
	return n
}

func checkDialplan(row map[string]string) error {
	r := dialplan.Rule{
		ID: atoi(row, "id"), DPID: atoi(row, "dpid"), Priority: atoi(row, "pr"), MatchOp: dialplan.MatchOp(atoi(row, "match_op")),
		MatchExp: row["match_exp"], MatchFlags: atoi(row, "match_flags"), SubstExp: row["subst_exp"],
		ReplExp: row["repl_exp"], TimeRec: row["timerec"], Disabled: atoi(row, "disabled") != 0, Attrs: row["attrs"],
	}
	return r.Validate()
}

func checkAddress(row map[string]string) error {
	mask := 32
	if _, ok := row["mask"]; ok {
		mask = atoi(row, "mask")
	}
	proto := row["proto"]
	if _, ok := row["proto"]; !ok {
		proto = "any"
	}
	return permission.ValidateAddress(permission.Address{Group: atoi(row, "grp"), IP: row["ip"], Mask: mask, Port: atoi(row, "port"), Proto: proto})
}

func checkAlias(row map[string]string) error {
	return alias.Alias{AliasUsername: row["alias_username"], AliasDomain: row["alias_domain"], Username: row["username"], Domain: row["domain"]}.Validate()
}

func checkSubscriber(row map[string]string) error {
	if err := sip.CheckUserPart(row["username"]); err != nil {
		return fmt.Errorf("username: %w", err)
	}
	if row["password"] == "" && row["ha1"] == "" && row["ha1_sha256"] == "" {
		return errors.New("no password, ha1 or ha1_sha256: the account could never authenticate")
	}
	for _, h := range []struct {
		col string
		n   int
	}{{"ha1", 32}, {"ha1_sha256", 64}, {"ha1_sha512t256", 64}} {
		if v := row[h.col]; v != "" && (len(v) != h.n || strings.Trim(strings.ToLower(v), "0123456789abcdef") != "") {
			return fmt.Errorf("%s %q: want %d hexadecimal digits", h.col, v, h.n)
		}
	}
	return nil
}

func checkLocation(row map[string]string) error {
	if err := sip.CheckUserPart(row["username"]); err != nil {
		return fmt.Errorf("username: %w", err)
	}
	if _, err := sip.ParseURI(row["contact"]); err != nil {
		return fmt.Errorf("contact %q: %v", row["contact"], err)
	}
	if _, ok := row["expires"]; !ok {
		return errors.New("no expires column: a binding needs one (0: never expires)")
	}
	return nil
}

func checkGateway(row map[string]string) error {
	return routing.ValidateGateway(routing.Gateway{
		GWID: row["gwid"], Type: atoi(row, "type"), Address: row["address"], Strip: atoi(row, "strip"),
		ProbeMode: routing.ProbeMode(atoi(row, "probe_mode")), State: routing.State(atoi(row, "state")),
		Socket: row["socket"], Attrs: row["attrs"],
	})
}

// checkGatewayTLS reads the CA file a palio_dr_tls row names (the other
// columns are checked with the gateway by the routing check).
func checkGatewayTLS(row map[string]string) error {
	return routing.ValidateGatewayFiles(routing.Gateway{TLS: routing.GatewayTLS{CAFile: row["ca"]}})
}

func checkRule(row map[string]string) error {
	if _, err := routing.ParseGroupIDs(row["groupid"]); err != nil {
		return err
	}
	_, err := routing.ParseGWList(row["gwlist"])
	return err
}

func checkCarrier(row map[string]string) error {
	if !routing.ValidID(row["carrierid"]) {
		return fmt.Errorf("carrierid %q: want 1 to 64 letters, digits, '_', '-', '.'", row["carrierid"])
	}
	_, err := routing.ParseGWList(row["gwlist"])
	return err
}

// The querier a routing check reads through is the import's transaction.
var _ querier = (*sql.Tx)(nil)
