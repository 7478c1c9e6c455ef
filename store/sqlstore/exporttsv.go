package sqlstore

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ExportTSV writes table as `mysql -B` would and ImportTSV reads: a
// header row with the columns ImportTSV accepts, one row a line, NULL for
// NULL, backslash, tab and newline escaped, rows in key order. It moves a
// site's data between Palio databases (SQLite to MariaDB) and back to
// OpenSIPS. It returns the number of rows written.
func (db *DB) ExportTSV(ctx context.Context, table string, w io.Writer) (int, error) {
	spec, ok := importable[table]
	if !ok {
		return 0, fmt.Errorf("sqlstore: export: unknown table %q (known: %s)", table, strings.Join(ImportTables(), ", "))
	}
	cols := ImportColumns(table)
	q := "SELECT " + strings.Join(cols, ", ") + " FROM " + table + " ORDER BY " + strings.Join(spec.keys[0].cols, ", ")
	rows, err := db.r.QueryContext(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: export %s: %w", table, err)
	}
	defer rows.Close()
	bw := bufio.NewWriter(w)
	bw.WriteString(strings.Join(cols, "\t") + "\n")
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, fmt.Errorf("sqlstore: export %s: %w", table, err)
		}
		for i, v := range vals {
			if i > 0 {
				bw.WriteByte('\t')
			}
			bw.WriteString(exportField(v))
		}
		bw.WriteByte('\n')
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("sqlstore: export %s: %w", table, err)
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("sqlstore: export %s: %w", table, err)
	}
	return n, nil
}

// exportField writes one value as mysql -B does.
func exportField(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case time.Time:
		return x.Format(time.DateTime)
	case []byte:
		return escapeField(string(x))
	case string:
		return escapeField(x)
	default:
		return escapeField(fmt.Sprint(x))
	}
}

var fieldEscaper = strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`)

func escapeField(s string) string { return fieldEscaper.Replace(s) }
