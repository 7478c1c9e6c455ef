package sqlstore

import (
	"strings"
)

// Dialect is what differs between the SQL databases Palio supports.
type Dialect int

// The supported dialects.
const (
	SQLite Dialect = iota + 1
	MySQL
)

// String returns "sqlite" or "mysql", the name of the migrations folder.
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case MySQL:
		return "mysql"
	}
	return "unknown"
}

// upsert returns an INSERT of cols into table that updates the columns
// update when a row with the same unique key exists.
func (d Dialect) upsert(table string, cols []string, conflict []string, update []string) string {
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(table)
	b.WriteString(" (")
	b.WriteString(strings.Join(cols, ", "))
	b.WriteString(") VALUES (")
	b.WriteString(strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", "))
	b.WriteString(")")
	switch d {
	case SQLite:
		b.WriteString(" ON CONFLICT(")
		b.WriteString(strings.Join(conflict, ", "))
		b.WriteString(") DO UPDATE SET ")
		for i, c := range update {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(c + " = excluded." + c)
		}
	case MySQL:
		b.WriteString(" ON DUPLICATE KEY UPDATE ")
		for i, c := range update {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(c + " = VALUES(" + c + ")")
		}
	}
	return b.String()
}

// insertIfAbsent returns an INSERT of cols into table that does nothing
// when a row with the same unique key exists. Unlike MySQL's INSERT IGNORE
// it lets every other error through.
func (d Dialect) insertIfAbsent(table string, cols []string) string {
	q := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	switch d {
	case SQLite:
		return q + " ON CONFLICT DO NOTHING"
	case MySQL:
		return q + " ON DUPLICATE KEY UPDATE " + cols[0] + " = " + cols[0]
	}
	return q
}

// exact returns a WHERE condition matching col against one placeholder
// byte for byte. MySQL's default collations fold case and ignore trailing
// spaces ('GW-A ' = 'gw-a'), so there the indexed comparison is kept and
// narrowed by a binary one; SQLite's = is already exact.
func (d Dialect) exact(col string) string {
	if d == MySQL {
		return col + " = ? AND CAST(" + col + " AS BINARY) = CAST(? AS BINARY)"
	}
	return col + " = ?"
}

// exactArgs returns the arguments exact's condition takes for v.
func (d Dialect) exactArgs(v string) []any {
	if d == MySQL {
		return []any{v, v}
	}
	return []any{v}
}

// isDuplicate reports whether err is a unique-key violation. The drivers'
// error types stay out of this package (it imports none), so their
// messages are matched: SQLite's "UNIQUE constraint failed" (and the
// primary key's "constraint failed"), MySQL's error 1062.
func (d Dialect) isDuplicate(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	switch d {
	case SQLite:
		return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "PRIMARY KEY constraint failed")
	case MySQL:
		return strings.Contains(s, "Error 1062")
	}
	return false
}
