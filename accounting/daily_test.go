package accounting_test

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/accounting"
)

// fakeClock is a DailyClock the test moves: each After is handed to the
// test on waits, which fires it when it has moved the time on.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan fakeWait
}

type fakeWait struct {
	d  time.Duration
	ch chan time.Time
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, waits: make(chan fakeWait, 1)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waits <- fakeWait{d, ch}
	return ch
}

// next waits for the scheduler to wait, and returns how long it waits.
func (c *fakeClock) next(t *testing.T) fakeWait {
	t.Helper()
	select {
	case w := <-c.waits:
		return w
	case <-time.After(10 * time.Second):
		t.Fatal("the scheduler never waited")
		return fakeWait{}
	}
}

// fire moves the time on by w's duration and wakes the scheduler.
func (c *fakeClock) fire(w fakeWait) {
	c.mu.Lock()
	c.now = c.now.Add(w.d)
	now := c.now
	c.mu.Unlock()
	w.ch <- now
}

type sent struct {
	day time.Time
	rep accounting.Report
}

// TestDailySchedule: at the configured time of day the previous day's
// report is built and sent, its records written as CSV; then the next
// day's run is scheduled 24 hours on.
func TestDailySchedule(t *testing.T) {
	st := reportStore(t)
	dir := t.TempDir()
	reports := make(chan sent, 4)
	clock := newFakeClock(day.Add(24*time.Hour + 10*time.Hour)) // 2026-12-05 10:00
	d, err := accounting.NewDaily(accounting.DailyConfig{
		At:       6*time.Hour + 30*time.Minute,
		Location: time.Local,
		CSV:      accounting.CSVDir(dir),
		Options: func(ctx context.Context, from, to time.Time) (accounting.ReportOptions, error) {
			return accounting.ReportOptions{Departments: depts}, nil
		},
		Send: func(ctx context.Context, day time.Time, r accounting.Report) error {
			reports <- sent{day, r}
			return nil
		},
	}, st, accounting.WithDailyClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	w := clock.next(t)
	if want := 20*time.Hour + 30*time.Minute; w.d != want {
		t.Fatalf("first wait: got %v, want %v (until 2026-12-06 06:30)", w.d, want)
	}
	clock.fire(w)
	var got sent
	select {
	case got = <-reports:
	case <-time.After(10 * time.Second):
		t.Fatal("no report sent")
	}
	if want := day.AddDate(0, 0, 1); !got.day.Equal(want) {
		t.Errorf("report of %v, want %v", got.day, want)
	}
	// 2026-12-05 holds one call: ID 7, 75 s, out, cost 1250000.
	if want := tot(1, 1, 0, 1, 0, 75, 1250000); got.rep.Total != want {
		t.Errorf("totals: got %+v, want %+v", got.rep.Total, want)
	}
	msg, fields := got.rep.Summary()
	if fields["calls"] != "1" || fields["seconds"] != "75" || fields["top_destination"] != "000442079460000" || msg == "" {
		t.Errorf("summary: %q %v", msg, fields)
	}
	if w := clock.next(t); w.d != 24*time.Hour {
		t.Errorf("second wait: got %v, want 24h", w.d)
	}
	f, err := os.Open(filepath.Join(dir, "cdr-2026-12-05.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Errorf("CSV: got %d rows, want the header and one record", len(rows))
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".cdr-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestDailyNext: the time of day is wall-clock time in the location, across
// daylight-saving changes, and a run due now is due tomorrow.
func TestDailyNext(t *testing.T) {
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	d, err := accounting.NewDaily(accounting.DailyConfig{At: 6*time.Hour + 30*time.Minute, Location: rome,
		Send: func(context.Context, time.Time, accounting.Report) error { return nil }}, accounting.NewMemStore(),
		accounting.WithDailyClock(newFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, rome))))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, tc := range []struct {
		name     string
		now, due time.Time
	}{
		{"later today", time.Date(2026, 12, 5, 1, 0, 0, 0, rome), time.Date(2026, 12, 5, 6, 30, 0, 0, rome)},
		{"tomorrow", time.Date(2026, 12, 5, 10, 0, 0, 0, rome), time.Date(2026, 12, 6, 6, 30, 0, 0, rome)},
		{"due now", time.Date(2026, 12, 5, 6, 30, 0, 0, rome), time.Date(2026, 12, 6, 6, 30, 0, 0, rome)},
		{"into summer time", time.Date(2026, 3, 28, 12, 0, 0, 0, rome), time.Date(2026, 3, 29, 6, 30, 0, 0, rome)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := d.Next(tc.now); !got.Equal(tc.due) {
				t.Errorf("Next(%v): got %v, want %v", tc.now, got, tc.due)
			}
		})
	}
	if got := d.Next(time.Date(2026, 3, 28, 12, 0, 0, 0, rome)).Sub(time.Date(2026, 3, 28, 12, 0, 0, 0, rome)); got != 17*time.Hour+30*time.Minute {
		t.Errorf("across the change to summer time: %v, want 17h30m (an hour less)", got)
	}
}

// TestDailyConfig: a Send is required, the time of day is within a day.
func TestDailyConfig(t *testing.T) {
	send := func(context.Context, time.Time, accounting.Report) error { return nil }
	for _, tc := range []struct {
		name string
		cfg  accounting.DailyConfig
	}{
		{"no send", accounting.DailyConfig{}},
		{"negative", accounting.DailyConfig{At: -time.Minute, Send: send}},
		{"a day", accounting.DailyConfig{At: 24 * time.Hour, Send: send}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d, err := accounting.NewDaily(tc.cfg, accounting.NewMemStore()); err == nil {
				d.Close()
				t.Fatal("accepted")
			}
		})
	}
}
