package sqlstore

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/permission"
)

// column describes a column that TSV import may fill.
type column struct {
	integer  bool // parsed as an integer
	nullable bool // an empty field is NULL (else '' or 0)
}

// importable lists the tables and columns ImportTSV accepts: OpenSIPS's
// column names, so that a dump of an OpenSIPS table loads as it is.
var importable = map[string]map[string]column{
	"dialplan": {
		"id": {integer: true}, "dpid": {integer: true}, "pr": {integer: true},
		"match_op": {integer: true}, "match_exp": {}, "match_flags": {integer: true},
		"subst_exp": {nullable: true}, "repl_exp": {nullable: true}, "timerec": {nullable: true},
		"disabled": {integer: true}, "attrs": {nullable: true},
	},
	"subscriber": {
		"id": {integer: true}, "username": {}, "domain": {}, "password": {},
		"ha1": {}, "ha1_sha256": {}, "ha1_sha512t256": {},
	},
	"grp": {"id": {integer: true}, "username": {}, "domain": {}, "grp": {}},
	"address": {
		"id": {integer: true}, "grp": {integer: true}, "ip": {}, "mask": {integer: true},
		"port": {integer: true}, "proto": {}, "pattern": {nullable: true}, "context_info": {nullable: true},
	},
	"dr_gateways": {
		"id": {integer: true}, "gwid": {}, "type": {integer: true}, "address": {},
		"strip": {integer: true}, "pri_prefix": {nullable: true}, "attrs": {nullable: true},
		"probe_mode": {integer: true}, "state": {integer: true}, "socket": {nullable: true},
		"description": {nullable: true},
	},
	"dr_rules": {
		"ruleid": {integer: true}, "groupid": {}, "prefix": {}, "timerec": {nullable: true},
		"priority": {integer: true}, "routeid": {nullable: true}, "gwlist": {},
		"sort_alg": {}, "sort_profile": {integer: true, nullable: true}, "attrs": {nullable: true},
		"description": {nullable: true},
	},
	"dr_carriers": {
		"id": {integer: true}, "carrierid": {}, "gwlist": {}, "flags": {integer: true},
		"sort_alg": {}, "state": {integer: true}, "attrs": {nullable: true}, "description": {nullable: true},
	},
	"dr_groups": {
		"id": {integer: true}, "username": {}, "domain": {nullable: true}, "groupid": {integer: true},
		"description": {nullable: true},
	},
	"palio_dr_limits": {"kind": {}, "id": {}, "channels": {integer: true}},
}

// ImportTables returns the tables ImportTSV accepts, sorted.
func ImportTables() []string {
	var out []string
	for t := range importable {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// ImportReport says what an import did.
type ImportReport struct {
	Loaded   int
	Rejected []RejectedRow
}

// RejectedRow is a TSV row that was not loaded, and why.
type RejectedRow struct {
	Line   int
	Reason string
}

// ImportTSV loads a tab-separated file into table, in one transaction. The
// first line names the columns (OpenSIPS column names); a column the table
// does not have is an error before anything is written. A row that cannot
// be loaded is rejected with its line number and reason while the other
// rows load: wrong number of fields, a bad integer, a duplicate key, a
// row its domain package would leave out (a dialplan rule that
// dialplan.Rule.Validate refuses, an address row permission.ValidateAddress
// refuses), or one validate, when not nil, refuses.
func (db *DB) ImportTSV(ctx context.Context, table string, r io.Reader, validate func(row map[string]string) error) (ImportReport, error) {
	var rep ImportReport
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
	if header == nil {
		return rep, fmt.Errorf("sqlstore: import: empty file")
	}
	for i, h := range header {
		header[i] = strings.TrimSpace(h)
		if _, ok := spec[header[i]]; !ok {
			return rep, fmt.Errorf("sqlstore: import: table %s has no column %q", table, header[i])
		}
	}
	q := "INSERT INTO " + table + " (" + strings.Join(header, ", ") + ") VALUES (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(header)), ", ") + ")"
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return rep, fmt.Errorf("sqlstore: import: %w", err)
	}
	defer tx.Rollback()
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
		fields := strings.Split(text, "\t")
		if len(fields) != len(header) {
			reject(fmt.Sprintf("%d fields, want %d", len(fields), len(header)))
			continue
		}
		row := make(map[string]string, len(header))
		args := make([]any, len(header))
		bad := ""
		for i, f := range fields {
			c := spec[header[i]]
			row[header[i]] = f
			switch {
			case f == "" && c.nullable:
				args[i] = nil
			case c.integer:
				if f == "" {
					args[i] = 0
					continue
				}
				n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
				if err != nil {
					bad = fmt.Sprintf("column %s: %q is not an integer", header[i], f)
				}
				args[i] = n
			default:
				args[i] = f
			}
		}
		if bad != "" {
			reject(bad)
			continue
		}
		if check := rowChecks[table]; check != nil {
			if err := check(row); err != nil {
				reject(err.Error())
				continue
			}
		}
		if validate != nil {
			if err := validate(row); err != nil {
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
			reject(err.Error())
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
	if err := tx.Commit(); err != nil {
		return rep, fmt.Errorf("sqlstore: import: commit: %w", err)
	}
	return rep, nil
}

// rowChecks are the domain packages' checks of an imported row, by table:
// a row the component would leave out at load is refused at import.
var rowChecks = map[string]func(row map[string]string) error{
	"dialplan": func(row map[string]string) error {
		atoi := func(k string) int { n, _ := strconv.Atoi(strings.TrimSpace(row[k])); return n }
		r := dialplan.Rule{
			ID: atoi("id"), DPID: atoi("dpid"), Priority: atoi("pr"), MatchOp: dialplan.MatchOp(atoi("match_op")),
			MatchExp: row["match_exp"], MatchFlags: atoi("match_flags"), SubstExp: row["subst_exp"],
			ReplExp: row["repl_exp"], TimeRec: row["timerec"], Disabled: atoi("disabled") != 0, Attrs: row["attrs"],
		}
		return r.Validate()
	},
	"address": func(row map[string]string) error {
		atoi := func(k string) int { n, _ := strconv.Atoi(strings.TrimSpace(row[k])); return n }
		mask := 32
		if _, ok := row["mask"]; ok {
			mask = atoi("mask")
		}
		return permission.ValidateAddress(permission.Address{Group: atoi("grp"), IP: row["ip"], Mask: mask, Port: atoi("port"), Proto: row["proto"]})
	},
}
