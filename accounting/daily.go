package accounting

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// DailyConfig says when the daily report is made and where it goes: the
// seed's "daily reports of incoming and outgoing calls and their length",
// sent every morning without anyone running `report daily`.
type DailyConfig struct {
	// At is the time of day, after midnight in Location, at which the
	// previous day's report is built (default 00:15: calls that began
	// before midnight and ended after it have been written by then).
	// Hours, minutes and seconds are taken as wall-clock time, so a
	// daylight-saving change does not move the report.
	At time.Duration
	// Location is where days begin and end (default time.Local).
	Location *time.Location
	// Options, when set, returns a day's report options (departments,
	// the blocked-account check); the period is set by the scheduler.
	Options func(ctx context.Context, from, to time.Time) (ReportOptions, error)
	// Send delivers the report (an embedding program publishes it as an
	// alert: see Report.Summary). Required.
	Send func(ctx context.Context, day time.Time, r Report) error
	// CSV, when set, opens where the day's records go as CSV (ExportCSV),
	// before the report is sent; CSVDir makes one writing files.
	CSV func(day time.Time) (io.WriteCloser, error)
	// Timeout bounds one day's work: reading the records, the CSV, Send
	// (default 5 minutes).
	Timeout time.Duration
}

// DailyClock tells the time and waits: the real clock, or a test's.
type DailyClock interface {
	Now() time.Time
	// After is time.After.
	After(d time.Duration) <-chan time.Time
}

// DailyOption configures a Daily.
type DailyOption func(*Daily)

// WithDailyLogger sets the logger; the default is slog.Default().
func WithDailyLogger(l *slog.Logger) DailyOption { return func(d *Daily) { d.log = l } }

// WithDailyClock replaces the real clock (tests).
func WithDailyClock(c DailyClock) DailyOption { return func(d *Daily) { d.clock = c } }

// Daily makes the daily report at a set time of day: the previous day's
// calls are read from the store, written as CSV when asked, added up
// (BuildReport) and handed to Send. A day whose time passed while the
// program was not running is not made up for (`report daily -date` makes
// any day's); a failed day is logged at Error and not retried.
type Daily struct {
	cfg   DailyConfig
	store Store
	log   *slog.Logger
	clock DailyClock

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

type realDailyClock struct{}

func (realDailyClock) Now() time.Time                         { return time.Now() }
func (realDailyClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// NewDaily checks cfg and starts the schedule; Close stops it.
func NewDaily(cfg DailyConfig, st Store, opts ...DailyOption) (*Daily, error) {
	if cfg.Send == nil {
		return nil, errors.New("accounting: daily report: no Send")
	}
	if st == nil {
		return nil, errors.New("accounting: daily report: no store")
	}
	if cfg.At == 0 {
		cfg.At = 15 * time.Minute
	}
	if cfg.At < 0 || cfg.At >= 24*time.Hour {
		return nil, fmt.Errorf("accounting: daily report: time of day %v: want 0 to 23:59:59", cfg.At)
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	d := &Daily{cfg: cfg, store: st, log: slog.Default(), clock: realDailyClock{}, stop: make(chan struct{}), done: make(chan struct{})}
	for _, o := range opts {
		o(d)
	}
	go d.run()
	return d, nil
}

// Next returns the first time the report is due after now.
func (d *Daily) Next(now time.Time) time.Time {
	now = now.In(d.cfg.Location)
	h, m, s := int(d.cfg.At/time.Hour), int(d.cfg.At/time.Minute%60), int(d.cfg.At/time.Second%60)
	t := time.Date(now.Year(), now.Month(), now.Day(), h, m, s, 0, d.cfg.Location)
	if !t.After(now) {
		t = time.Date(now.Year(), now.Month(), now.Day()+1, h, m, s, 0, d.cfg.Location)
	}
	return t
}

func (d *Daily) run() {
	defer close(d.done)
	for {
		now := d.clock.Now()
		next := d.Next(now)
		select {
		case <-d.stop:
			return
		case <-d.clock.After(next.Sub(now)):
		}
		// The report of the day before the one the run falls on.
		t := next.In(d.cfg.Location)
		day := time.Date(t.Year(), t.Month(), t.Day()-1, 0, 0, 0, 0, d.cfg.Location)
		ctx, cancel := context.WithTimeout(context.Background(), d.cfg.Timeout)
		go func() { // Close cancels a day in progress
			select {
			case <-d.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		if err := d.Run(ctx, day); err != nil {
			d.log.Error("accounting: daily report failed", "day", day.Format(time.DateOnly), "error", err)
		}
		cancel()
	}
}

// Run makes the report of day (any time within it) at once: CSV, report,
// Send. The schedule calls it; an operator command may too.
func (d *Daily) Run(ctx context.Context, day time.Time) error {
	from, to := Day(day, d.cfg.Location)
	opts := ReportOptions{}
	if d.cfg.Options != nil {
		var err error
		if opts, err = d.cfg.Options(ctx, from, to); err != nil {
			return fmt.Errorf("accounting: daily report options: %w", err)
		}
	}
	opts.From, opts.To, opts.Location = from, to, d.cfg.Location
	if d.cfg.CSV != nil {
		w, err := d.cfg.CSV(from)
		if err != nil {
			return fmt.Errorf("accounting: daily csv: %w", err)
		}
		_, err = ExportCSV(ctx, w, d.store, Filter{From: from, To: to}, d.cfg.Location)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("accounting: daily csv: %w", err)
		}
	}
	rep, err := BuildReport(ctx, d.store, opts)
	if err != nil {
		return fmt.Errorf("accounting: daily report: %w", err)
	}
	if err := d.cfg.Send(ctx, from, rep); err != nil {
		return fmt.Errorf("accounting: daily report: send: %w", err)
	}
	d.log.Info("accounting: daily report sent", "day", from.Format(time.DateOnly), "calls", rep.Total.Calls)
	return nil
}

// Close stops the schedule (a report being made is cancelled).
func (d *Daily) Close() error {
	d.once.Do(func() { close(d.stop) })
	<-d.done
	return nil
}

// CSVDir returns a DailyConfig.CSV writing each day's records to
// dir/cdr-YYYY-MM-DD.csv: written to a temporary file first and renamed
// when complete, so a reader never sees half a day.
func CSVDir(dir string) func(day time.Time) (io.WriteCloser, error) {
	return func(day time.Time) (io.WriteCloser, error) {
		name := filepath.Join(dir, "cdr-"+day.Format(time.DateOnly)+".csv")
		f, err := os.CreateTemp(dir, ".cdr-*.csv.tmp")
		if err != nil {
			return nil, err
		}
		return &renameOnClose{f: f, name: name}, nil
	}
}

// renameOnClose is a temporary file given its name when closed.
type renameOnClose struct {
	f    *os.File
	name string
}

func (r *renameOnClose) Write(p []byte) (int, error) { return r.f.Write(p) }

func (r *renameOnClose) Close() error {
	err := r.f.Sync()
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(r.f.Name(), 0o644)
	}
	if err == nil {
		return os.Rename(r.f.Name(), r.name)
	}
	os.Remove(r.f.Name())
	return err
}

// Summary says what the report adds up to in one line, for people ("1234
// calls (1100 answered): 300 in, 500 out, 434 internal; 2345.5 minutes;
// cost 12.34"), and in fields for machines (the Totals, plus the top
// class, gateway and destination): what an alert of the day's report
// carries.
func (r Report) Summary() (message string, fields map[string]string) {
	t := r.Total
	message = fmt.Sprintf("%d calls (%d answered): %d in, %d out, %d internal; %.1f minutes; cost %s",
		t.Calls, t.Answered, t.In, t.Out, t.Internal, t.Minutes(), t.Cost)
	if t.Transit > 0 {
		message += fmt.Sprintf("; %d transit", t.Transit)
	}
	if n := len(r.Blocked); n > 0 {
		message += fmt.Sprintf("; %d calls of blocked accounts", n)
	}
	itoa := strconv.Itoa
	fields = map[string]string{
		"from": r.From.Format(time.RFC3339), "to": r.To.Format(time.RFC3339),
		"calls": itoa(t.Calls), "answered": itoa(t.Answered),
		"in": itoa(t.In), "out": itoa(t.Out), "internal": itoa(t.Internal), "transit": itoa(t.Transit),
		"seconds": strconv.FormatInt(t.Seconds, 10), "cost": t.Cost.String(),
		"blocked": itoa(len(r.Blocked)),
	}
	if len(r.Destinations) > 0 {
		fields["top_destination"] = r.Destinations[0].Key
	}
	return message, fields
}

// ParseTimeOfDay reads a DailyConfig.At written "HH:MM" or "HH:MM:SS"
// (24-hour clock).
func ParseTimeOfDay(s string) (time.Duration, error) {
	for _, layout := range []string{"15:04", "15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second, nil
		}
	}
	return 0, fmt.Errorf("accounting: time of day %q: want HH:MM or HH:MM:SS", s)
}
