package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/accounting/accountingtest"
	"github.com/palio-voip/palio/alert"
)

// stepClock is an accounting.DailyClock that a test steps: each After is
// handed to the test, which moves the time on and fires it.
type stepClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan stepWait
}

type stepWait struct {
	d  time.Duration
	ch chan time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waits <- stepWait{d, ch}
	return ch
}

// TestDailyReportAlert: with [accounting] daily_report and an [alerts]
// webhook, the server sends the previous day's report to the webhook at
// that time of day (the clock injected), and writes the day's records to
// daily_csv.
func TestDailyReportAlert(t *testing.T) {
	clock := &stepClock{now: time.Date(2026, 12, 5, 3, 0, 0, 0, time.Local), waits: make(chan stepWait, 4)}
	testDailyClock = clock
	t.Cleanup(func() { testDailyClock = nil })
	sink := newAlertSink(t)
	e := newExample(t, "[routing]\nprobe_interval = \"0s\"\n[accounting]\ndaily_report = \"06:30\"\ndaily_csv = \"reports\"\n[alerts]\nwebhook = \""+sink.URL+"/hook\"\nretries = 0\n")
	e.seedCDRs(t, accountingtest.Sample(10)) // 2026-12-04 from 09:30
	e.start()

	var w stepWait
	select {
	case w = <-clock.waits:
	case <-time.After(10 * time.Second):
		t.Fatal("the daily report was not scheduled")
	}
	if w.d != 3*time.Hour+30*time.Minute {
		t.Fatalf("the report is due in %v, want 3h30m (06:30)", w.d)
	}
	clock.mu.Lock()
	clock.now = clock.now.Add(w.d)
	clock.mu.Unlock()
	w.ch <- clock.Now()

	ev := sink.wait(t, alert.KindDailyReport, "2026-12-04", 10*time.Second)
	if ev.Fields["calls"] != "10" || ev.Severity != alert.SeverityInfo || !strings.Contains(ev.Message, "10 calls") {
		t.Errorf("daily report alert: %+v", ev)
	}
	b, err := os.ReadFile(filepath.Join(e.dir, "reports", "cdr-2026-12-04.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 11 {
		t.Errorf("CSV: %d lines, want the header and 10 records", n)
	}
	// The next one is scheduled a day later.
	select {
	case w = <-clock.waits:
		if w.d != 24*time.Hour {
			t.Errorf("next report due in %v, want 24h", w.d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the next daily report was not scheduled")
	}
}
