package accounting

import (
	"context"
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"
)

// CSVHeader names the columns ExportCSV and CSVWriter write: acc's, then
// Palio's (the SQL column names without the palio_ prefix).
var CSVHeader = []string{
	"id", "method", "from_tag", "to_tag", "callid", "sip_code", "sip_reason", "time", "duration", "ms_duration",
	"setuptime", "created", "caller", "from", "callee", "dialled", "number", "class", "gateway", "carrier",
	"direction", "hangup", "cause", "cost", "rate",
}

// dateTime is how times are written: acc's DATETIME, local time.
const dateTime = "2006-01-02 15:04:05"

// CSVWriter writes records as CSV (RFC 4180), the header first.
type CSVWriter struct {
	w      *csv.Writer
	loc    *time.Location
	header bool
}

// NewCSVWriter returns a writer of records to w, their times in loc
// (nil: time.Local).
func NewCSVWriter(w io.Writer, loc *time.Location) *CSVWriter {
	if loc == nil {
		loc = time.Local
	}
	return &CSVWriter{w: csv.NewWriter(w), loc: loc}
}

// Write writes c (after the header, the first time).
func (cw *CSVWriter) Write(c CDR) error {
	if !cw.header {
		cw.header = true
		if err := cw.w.Write(CSVHeader); err != nil {
			return err
		}
	}
	return cw.w.Write([]string{
		c.ID, c.Method, safeCell(c.FromTag), safeCell(c.ToTag), safeCell(c.CallID), strconv.Itoa(c.Code), c.Reason,
		c.Time.In(cw.loc).Format(dateTime), strconv.Itoa(c.Duration), strconv.FormatInt(c.MSDuration, 10),
		strconv.Itoa(c.SetupTime), c.Created.In(cw.loc).Format(dateTime),
		safeCell(c.Caller), safeCell(c.From), safeCell(c.Callee), safeCell(c.Dialled), safeCell(c.Number),
		safeCell(c.Class), safeCell(c.Gateway), safeCell(c.Carrier), string(c.Direction), c.Hangup, c.Cause,
		c.Cost.String(), strconv.Itoa(c.Rate),
	})
}

// Flush writes what is buffered and returns any error met.
func (cw *CSVWriter) Flush() error {
	if !cw.header {
		cw.header = true
		if err := cw.w.Write(CSVHeader); err != nil {
			return err
		}
	}
	cw.w.Flush()
	return cw.w.Error()
}

// safeCell keeps a spreadsheet from taking a value that came from a
// caller (a From user, a tag) for a formula: one starting with =, @, a
// tab or a carriage return, or with + or - and not a number, gets a
// leading apostrophe.
func safeCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '@', '\t', '\r':
		return "'" + s
	case '+', '-':
		if strings.Trim(s[1:], "0123456789") != "" {
			return "'" + s
		}
	}
	return s
}

// ExportCSV writes the records f selects from st to w as CSV, times in
// loc (nil: time.Local), and returns how many it wrote.
func ExportCSV(ctx context.Context, w io.Writer, st Store, f Filter, loc *time.Location) (int, error) {
	cw := NewCSVWriter(w, loc)
	n := 0
	err := st.CDRs(ctx, f, func(c CDR) error {
		n++
		return cw.Write(c)
	})
	if err != nil {
		return n, err
	}
	return n, cw.Flush()
}
