package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/palio-voip/palio/accounting"
	"github.com/palio-voip/palio/alert"
	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/store/sqlstore"
)

// AccountingConfig is call accounting ([accounting]): a record of every
// call in acc and missed_calls, written in batches off the calls' path;
// during a database outage the records wait in the spool file.
type AccountingConfig struct {
	// Enabled records the calls (default true).
	Enabled bool `toml:"enabled"`
	// Spool is the file the records wait in while the database does not
	// take them; relative to the folder of the -db path (the SQLite
	// database's; with MySQL, -db still names the node's folder). Default
	// "cdr.spool".
	Spool string `toml:"spool"`
	// SpoolMaxMiB bounds the spool file (default 64 MiB, some 130 000
	// records); past it new records are dropped, counted and logged.
	SpoolMaxMiB int64 `toml:"spool_max_mib"`
	// Queue bounds the records waiting in memory for the writer (default
	// 10 000); a call that ends while it is full loses its record.
	Queue int `toml:"queue"`
	// BatchSize and FlushInterval: a batch is written when it has
	// BatchSize records or FlushInterval after its first (100, 1s).
	BatchSize     int      `toml:"batch_size"`
	FlushInterval Duration `toml:"flush_interval"`
	// WriteTimeout bounds a write; a batch that takes longer is spooled.
	WriteTimeout Duration `toml:"write_timeout"`
	// InternalClasses are the classes of numbers inside the university,
	// InternalSources the trusted address groups inside it (the media box,
	// the MD110s): they decide a call's direction.
	InternalClasses []string `toml:"internal_classes"`
	InternalSources []int    `toml:"internal_sources"`
	// DailyReport is the time of day ("HH:MM", local time) at which the
	// previous day's report (`report daily`) is sent as the daily-report
	// alert ([alerts]: the log, the webhook, Telegram); empty: none.
	DailyReport string `toml:"daily_report"`
	// DailyCSV, when set, is a folder that gets each day's records as
	// cdr-YYYY-MM-DD.csv at the same time; relative to the folder of the
	// -db path.
	DailyCSV string `toml:"daily_csv"`
}

// defaultAccounting is [accounting] with no file.
func defaultAccounting() AccountingConfig {
	return AccountingConfig{
		Enabled:         true,
		Spool:           "cdr.spool",
		SpoolMaxMiB:     64,
		Queue:           10000,
		BatchSize:       100,
		FlushInterval:   Duration{time.Second},
		WriteTimeout:    Duration{5 * time.Second},
		InternalClasses: []string{"voip", "legacy", "media"},
		InternalSources: []int{3, 4},
		DailyReport:     "00:15",
	}
}

// recorder returns the recorder's configuration for the store sc.
func (ac AccountingConfig) recorder(sc StoreConfig) (accounting.Config, error) {
	switch {
	case ac.Spool == "":
		return accounting.Config{}, errors.New("config: accounting.spool is empty")
	case ac.SpoolMaxMiB < 1:
		return accounting.Config{}, fmt.Errorf("config: accounting.spool_max_mib %d: at least 1", ac.SpoolMaxMiB)
	case ac.Queue < 1:
		return accounting.Config{}, fmt.Errorf("config: accounting.queue %d: at least 1", ac.Queue)
	case ac.BatchSize < 1 || ac.BatchSize > 1000:
		return accounting.Config{}, fmt.Errorf("config: accounting.batch_size %d: want 1 to 1000", ac.BatchSize)
	case ac.FlushInterval.Duration <= 0 || ac.WriteTimeout.Duration <= 0:
		return accounting.Config{}, errors.New("config: accounting.flush_interval and write_timeout must be positive")
	}
	spool := ac.Spool
	if !filepath.IsAbs(spool) {
		spool = filepath.Join(filepath.Dir(sc.SQLite), spool)
	}
	return accounting.Config{
		BatchSize: ac.BatchSize, FlushInterval: ac.FlushInterval.Duration, Queue: ac.Queue,
		Spool: spool, SpoolMax: ac.SpoolMaxMiB << 20, WriteTimeout: ac.WriteTimeout.Duration,
		InternalClasses: ac.InternalClasses, InternalSources: ac.InternalSources,
	}, nil
}

// startAccounting builds the call recorder over the store, following the
// server's dialog table, and returns the stage that records the calls
// refused before the Forwarder (nothing when accounting is off). The app
// closes the recorder after the server and before the database, so that
// the calls the server ends as it closes are written.
func (a *app) startAccounting(dialogs *sip.Dialogs) (sip.Middleware, error) {
	if !a.cfg.Accounting.Enabled {
		return func(next sip.Handler) sip.Handler { return next }, nil
	}
	cfg, err := a.cfg.Accounting.recorder(a.cfg.Store)
	if err != nil {
		return nil, err
	}
	rec, err := accounting.New(cfg, a.db.Accounting(), accounting.WithLogger(a.log), accounting.WithRegisterer(a.reg),
		accounting.WithCarrier(carrierOf(a.router)))
	if err != nil {
		return nil, err
	}
	if err := a.startDailyReport(); err != nil {
		rec.Close()
		return nil, err
	}
	stop := rec.Watch(dialogs)
	a.add(component{name: "accounting", tables: []string{"rates"}, reload: rec.ReloadRates, close: func() {
		stop()
		rec.Close()
	}})
	return rec.Wrap, nil
}

// testDailyClock, when set by a test, is the daily report's clock.
var testDailyClock accounting.DailyClock

// startDailyReport schedules the daily report ([accounting] daily_report)
// as an alert.
func (a *app) startDailyReport() error {
	ac := a.cfg.Accounting
	if ac.DailyReport == "" {
		return nil
	}
	at, err := accounting.ParseTimeOfDay(ac.DailyReport)
	if err != nil {
		return fmt.Errorf("config: accounting.daily_report: %w", err)
	}
	cfg := accounting.DailyConfig{
		At: at,
		Options: func(ctx context.Context, from, to time.Time) (accounting.ReportOptions, error) {
			return reportOptions(ctx, a.db, a.domain, from, to)
		},
		Send: func(ctx context.Context, day time.Time, r accounting.Report) error {
			msg, fields := r.Summary()
			a.publish(alert.Event{Kind: alert.KindDailyReport, Subject: day.Format(time.DateOnly), Message: msg, Fields: fields})
			return nil
		},
	}
	if dir := ac.DailyCSV; dir != "" {
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(filepath.Dir(a.cfg.Store.SQLite), dir)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("config: accounting.daily_csv: %w", err)
		}
		cfg.CSV = accounting.CSVDir(dir)
	}
	opts := []accounting.DailyOption{accounting.WithDailyLogger(a.log)}
	if testDailyClock != nil {
		opts = append(opts, accounting.WithDailyClock(testDailyClock))
	}
	d, err := accounting.NewDaily(cfg, a.db.Accounting(), opts...)
	if err != nil {
		return err
	}
	a.add(component{name: "daily report", close: func() { d.Close() }})
	return nil
}

// carrierOf returns the carrier a gateway belongs to by the routing
// tables (the first carrier listing it), read again at most every 5 s.
func carrierOf(r *routing.Router) func(gateway string) string {
	var mu sync.Mutex
	var byGW map[string]string
	var read time.Time
	return func(gw string) string {
		mu.Lock()
		defer mu.Unlock()
		if byGW == nil || time.Since(read) > 5*time.Second {
			byGW, read = map[string]string{}, time.Now()
			for _, c := range r.Carriers() {
				list, _ := routing.ParseGWList(c.GWList)
				for _, e := range list {
					if _, ok := byGW[e.ID]; !ok && !e.Carrier {
						byGW[e.ID] = c.CarrierID
					}
				}
			}
		}
		return byGW[gw]
	}
}

// TrunkUsage is a gateway's or carrier's calls in progress against its
// channels, as routing counts them (its alarm included).
type TrunkUsage struct {
	Gateway  string `json:"gateway,omitempty"`
	Carrier  string `json:"carrier,omitempty"`
	State    string `json:"state"`
	Calls    int    `json:"calls"`
	Channels int    `json:"channels"` // 0: no limit
	Alarm    bool   `json:"alarm"`
}

// trunkUsage returns every gateway's and carrier's usage.
func trunkUsage(r *routing.Router) []TrunkUsage {
	var out []TrunkUsage
	for _, g := range r.Gateways() {
		out = append(out, TrunkUsage{Gateway: g.GWID, State: g.State.String(), Calls: g.Calls, Channels: g.Channels, Alarm: g.Alarm})
	}
	for _, c := range r.Carriers() {
		out = append(out, TrunkUsage{Carrier: c.CarrierID, State: c.State.String(), Calls: c.Calls, Channels: c.Channels, Alarm: c.Alarm})
	}
	return out
}

// accountingAPI serves the live calls, the trunks' usage and the reports
// as JSON on the example's HTTP server, for the admin page and for
// `unisi calls` (the operator commands work on the store; these need the
// running server):
//
//	GET  /api/calls                   the calls in progress ([]accounting.LiveCall), the
//	                                  other nodes' too in a cluster (their node named)
//	POST /api/calls/{callid}/hangup   hang up a call (BYE both ends, or CANCEL while it rings);
//	                                  ?reason=TEXT; Content-Type: application/json; another
//	                                  node's call is hung up by that node (502 when it cannot be)
//	GET  /api/trunks                  gateways and carriers: calls, channels, alarm
//	GET  /api/report?from=&to=&user=  accounting.Report of a period (dates or times)
//
// The hang-up wants Content-Type application/json, which an HTML form
// cannot send: a page in the operator's browser cannot post one.
func (a *app) accountingAPI(mux *http.ServeMux, srv *sip.Server) {
	mux.HandleFunc("GET /api/calls", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.calls.LiveCalls(time.Now()))
	})
	mux.HandleFunc("POST /api/calls/{callid}/hangup", func(w http.ResponseWriter, r *http.Request) {
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
			writeJSON(w, http.StatusUnsupportedMediaType, apiError{"send Content-Type: application/json"})
			return
		}
		reason := r.URL.Query().Get("reason")
		if reason == "" {
			reason = "hung up by the operator"
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		n, err := a.calls.Hangup(ctx, r.PathValue("callid"), reason)
		switch {
		case errors.Is(err, sip.ErrNoDialog):
			writeJSON(w, http.StatusNotFound, apiError{"no call in progress with that Call-ID"})
		case err != nil && n == 0:
			// Another node's call, and that node did not end it.
			writeJSON(w, http.StatusBadGateway, apiError{err.Error()})
		case err != nil:
			// Ended here; an end did not confirm its BYE.
			writeJSON(w, http.StatusOK, map[string]any{"hung_up": n, "warning": err.Error()})
		default:
			writeJSON(w, http.StatusOK, map[string]any{"hung_up": n})
		}
	})
	mux.HandleFunc("GET /api/trunks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, trunkUsage(a.router))
	})
	mux.HandleFunc("GET /api/report", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		from, to, err := period(q.Get("from"), q.Get("to"), time.Now())
		if err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
			return
		}
		opts, err := reportOptions(r.Context(), a.db, a.domain, from, to)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
			return
		}
		opts.User = q.Get("user")
		rep, err := accounting.BuildReport(r.Context(), a.db.Accounting(), opts)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, rep)
	})
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// reportOptions are the report's departments and blocked accounts, from
// the store.
func reportOptions(ctx context.Context, db *sqlstore.DB, domain string, from, to time.Time) (accounting.ReportOptions, error) {
	depts, err := db.Accounting().Departments(ctx)
	if err != nil {
		return accounting.ReportOptions{}, err
	}
	subs, err := db.Subscribers(-1).ListSubscribers(ctx)
	if err != nil {
		return accounting.ReportOptions{}, err
	}
	blocked := map[string]bool{}
	for _, s := range subs {
		if s.Blocked && (domain == "" || strings.EqualFold(s.Domain, domain)) {
			blocked[s.Username] = true
		}
	}
	return accounting.ReportOptions{From: from, To: to, Departments: depts, Blocked: func(u string) bool { return blocked[u] }}, nil
}

// period reads a report's bounds: dates (the -to date is included) or
// times; from defaults to today's midnight, to to the end of from's day.
func period(fromArg, toArg string, now time.Time) (from, to time.Time, err error) {
	if fromArg == "" {
		from, _ = accounting.Day(now, time.Local)
	} else if from, err = parseWhen(fromArg, false); err != nil {
		return from, to, err
	}
	if toArg == "" {
		_, to = accounting.Day(from, time.Local)
	} else if to, err = parseWhen(toArg, true); err != nil {
		return from, to, err
	}
	if !to.After(from) {
		return from, to, fmt.Errorf("the period ends (%s) before it begins (%s)", to.Format("2006-01-02 15:04"), from.Format("2006-01-02 15:04"))
	}
	return from, to, nil
}

// parseWhen reads a date ("2026-12-04": its midnight, or with endOfDay
// the next midnight, so that a -to date is included) or a local time
// ("2026-12-04 15:30", "2026-12-04T15:30:00", RFC 3339).
func parseWhen(s string, endOfDay bool) (time.Time, error) {
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		if endOfDay {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04", time.DateTime, "2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("time %q: want a date (2026-12-04) or a time (2026-12-04 15:30)", s)
}
