package accounting_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/accounting"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

var errDown = errors.New("database is down")

// ended returns the dialog of an answered call of 90 s that ended now.
func ended(i int) sip.Dialog {
	now := time.Now()
	return sip.Dialog{
		CallID: fmt.Sprintf("c%d@test", i), FromTag: fmt.Sprintf("f%d", i), ToTag: "t",
		From: "sip:5002@voip.unisi.it", To: "sip:00577232111@voip.unisi.it", RequestURI: "sip:00577232111@voip.unisi.it",
		State: sip.DialogTerminated, Created: now.Add(-95 * time.Second), Answered: now.Add(-90 * time.Second), Ended: now,
		Cause: sip.CauseByeCallee, Code: 200,
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func count(t *testing.T, st accounting.Store) (n int, ids map[string]bool) {
	t.Helper()
	ids = map[string]bool{}
	if err := st.CDRs(context.Background(), accounting.Filter{}, func(c accounting.CDR) error {
		n++
		ids[c.ID] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n, ids
}

// TestOutage: while the store fails, records go to the spool file and
// the calls are not held up; when it answers again they are written,
// each once, and the spool is emptied. The metrics say so.
func TestOutage(t *testing.T) {
	siptest.LeakCheck(t)
	st := accounting.NewMemStore()
	st.FailWrites(errDown)
	reg := prometheus.NewRegistry()
	spool := filepath.Join(t.TempDir(), "cdr.spool")
	var logs syncBuffer
	rec, err := accounting.New(accounting.Config{Spool: spool, FlushInterval: 10 * time.Millisecond, RetryInterval: 20 * time.Millisecond},
		st, accounting.WithRegisterer(reg), accounting.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	start := time.Now()
	for i := range 250 {
		rec.Record(ended(i))
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("recording 250 calls took %v with the store down", d)
	}
	waitFor(t, "250 records in the spool", func() bool { return rec.Stats().Spooled == 250 })
	if st, _ := os.Stat(spool); st.Size() < 250*300 {
		t.Errorf("the spool file has %d bytes for 250 records", st.Size())
	}
	if n, _ := count(t, st); n != 0 {
		t.Fatalf("%d records written while the store is down", n)
	}
	if v := value(t, reg, "palio_accounting_spooled_cdrs"); v != 250 {
		t.Errorf("palio_accounting_spooled_cdrs = %v, want 250", v)
	}
	if !strings.Contains(logs.String(), "cannot write call records") {
		t.Errorf("the outage is not logged:\n%s", logs.String())
	}

	st.FailWrites(nil)
	waitFor(t, "the spool written", func() bool { return rec.Stats().Spooled == 0 && rec.Stats().Written == 250 })
	n, ids := count(t, st)
	if n != 250 || len(ids) != 250 {
		t.Errorf("the store has %d records (%d distinct), want 250", n, len(ids))
	}
	if st, _ := os.Stat(spool); st.Size() > 64 {
		t.Errorf("the spool file still has %d bytes", st.Size())
	}
	for _, m := range []struct {
		name, label string
		want        float64
	}{{"palio_accounting_cdrs_total", "spooled", 250}, {"palio_accounting_cdrs_total", "written", 250}, {"palio_accounting_cdrs_total", "dropped", 0}} {
		if v := labelled(t, reg, m.name, m.label); v != m.want {
			t.Errorf("%s{result=%q} = %v, want %v", m.name, m.label, v, m.want)
		}
	}
	if v := value(t, reg, "palio_accounting_write_errors_total"); v < 1 {
		t.Errorf("palio_accounting_write_errors_total = %v, want at least 1", v)
	}
	// The recorder logs the end of the outage after it has updated the
	// counters the wait above reads, so the line may come a moment later.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "the store takes call records again"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the end of the outage is not logged:\n%s", logs.String())
		}
	}
}

// TestSpoolSurvivesRestart: records spooled when the recorder closes
// with the store down are written by the next recorder on the same spool.
func TestSpoolSurvivesRestart(t *testing.T) {
	siptest.LeakCheck(t)
	st := accounting.NewMemStore()
	st.FailWrites(errDown)
	spool := filepath.Join(t.TempDir(), "cdr.spool")
	cfg := accounting.Config{Spool: spool, WriteTimeout: 50 * time.Millisecond}
	rec, err := accounting.New(cfg, st, accounting.WithLogger(siptest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		rec.Record(ended(i))
	}
	rec.Close()
	if s := rec.Stats(); s.Spooled != 30 || s.Dropped != 0 {
		t.Fatalf("after Close with the store down: %+v, want 30 spooled", s)
	}
	rec.Record(ended(99)) // after Close: dropped
	if s := rec.Stats(); s.Dropped != 1 {
		t.Errorf("a record after Close: %+v, want 1 dropped", s)
	}

	st.FailWrites(nil)
	rec, err = accounting.New(cfg, st, accounting.WithLogger(siptest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	waitFor(t, "the spool of the last run written", func() bool { s := rec.Stats(); return s.Spooled == 0 && s.Written == 30 })
	if n, ids := count(t, st); n != 30 || len(ids) != 30 {
		t.Errorf("the store has %d records (%d distinct), want 30", n, len(ids))
	}
}

// TestCloseWritesQueue: Close writes every record queued before it
// returns, in batches.
func TestCloseWritesQueue(t *testing.T) {
	siptest.LeakCheck(t)
	st := accounting.NewMemStore()
	rec, err := accounting.New(accounting.Config{FlushInterval: time.Hour, BatchSize: 1000}, st, accounting.WithLogger(siptest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2500 {
		rec.Record(ended(i))
	}
	rec.Close()
	if n, ids := count(t, st); n != 2500 || len(ids) != 2500 {
		t.Errorf("after Close the store has %d records (%d distinct), want 2500", n, len(ids))
	}
}

// TestBatchWrittenWhenFull: a full batch is written at once, without
// waiting for the flush tick; fewer records wait for it (or for Close).
func TestBatchWrittenWhenFull(t *testing.T) {
	siptest.LeakCheck(t)
	st := accounting.NewMemStore()
	rec, err := accounting.New(accounting.Config{FlushInterval: time.Hour, BatchSize: 10}, st, accounting.WithLogger(siptest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 3; round++ {
		for i := range 10 {
			rec.Record(ended(round*100 + i))
		}
		waitFor(t, fmt.Sprintf("batch %d written", round), func() bool { n, _ := count(t, st); return n == 10*round })
	}
	for i := range 5 {
		rec.Record(ended(1000 + i))
	}
	time.Sleep(50 * time.Millisecond)
	if n, _ := count(t, st); n != 30 {
		t.Errorf("%d records written with half a batch queued and the flush an hour away, want 30", n)
	}
	if s := rec.Stats(); s.Queued != 5 || s.Written != 30 {
		t.Errorf("stats %+v, want 5 queued and 30 written", s)
	}
	rec.Close()
	if n, ids := count(t, st); n != 35 || len(ids) != 35 {
		t.Errorf("after Close the store has %d records (%d distinct), want 35", n, len(ids))
	}
}

// slowStore holds every write until released: a database that hangs.
type slowStore struct {
	*accounting.MemStore
	release chan struct{}
}

func (s slowStore) WriteCDRs(ctx context.Context, cdrs []accounting.CDR) error {
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.MemStore.WriteCDRs(ctx, cdrs)
}

// TestQueueFull: a store that hangs never holds up a call; the records
// that do not fit in the queue are dropped, counted and logged, and the
// rest are written once it answers.
func TestQueueFull(t *testing.T) {
	siptest.LeakCheck(t)
	st := slowStore{accounting.NewMemStore(), make(chan struct{})}
	var logs syncBuffer
	rec, err := accounting.New(accounting.Config{Queue: 10, BatchSize: 5, FlushInterval: 5 * time.Millisecond, WriteTimeout: time.Minute},
		st, accounting.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 100 {
		rec.Record(ended(i))
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("recording 100 calls took %v with the store hanging", d)
	}
	s := rec.Stats()
	if s.Dropped < 80 {
		t.Errorf("stats with a hanging store and a queue of 10: %+v, want at least 80 dropped", s)
	}
	if !strings.Contains(logs.String(), "call records lost") {
		t.Errorf("the drop is not logged:\n%s", logs.String())
	}
	close(st.release)
	rec.Close()
	n, _ := count(t, st)
	if s := rec.Stats(); int64(n) != s.Written || s.Written+s.Dropped != 100 {
		t.Errorf("after Close: %d in the store, stats %+v; want written + dropped = 100", n, s)
	}
}

// TestSpoolFull: when the spool file reaches its bound, new records are
// dropped and counted; those in it stay.
func TestSpoolFull(t *testing.T) {
	siptest.LeakCheck(t)
	st := accounting.NewMemStore()
	st.FailWrites(errDown)
	var logs syncBuffer
	rec, err := accounting.New(accounting.Config{Spool: filepath.Join(t.TempDir(), "cdr.spool"), SpoolMax: 8192, FlushInterval: 5 * time.Millisecond, RetryInterval: 10 * time.Millisecond},
		st, accounting.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	for i := range 100 {
		rec.Record(ended(i))
	}
	waitFor(t, "every record spooled or dropped", func() bool { s := rec.Stats(); return s.Queued == 0 && int64(s.Spooled)+s.Dropped == 100 })
	s := rec.Stats()
	if s.Spooled < 5 || s.Spooled > 25 || s.Dropped == 0 {
		t.Errorf("an 8 KiB spool: %+v", s)
	}
	if !strings.Contains(logs.String(), "the spool is full") {
		t.Errorf("the drop is not logged:\n%s", logs.String())
	}
	st.FailWrites(nil)
	waitFor(t, "the spool written", func() bool { return rec.Stats().Spooled == 0 })
	if n, _ := count(t, st); n != s.Spooled {
		t.Errorf("the store got %d records, want the %d spooled", n, s.Spooled)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// value returns the value of the metric name (without labels): a
// gauge's or a counter's.
func value(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			m := f.GetMetric()[0]
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// labelled returns the value of name{result=label}.
func labelled(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
