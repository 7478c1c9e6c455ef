package guard_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/guard"
)

// clock is a test clock that moves when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logBuffer collects a logger's output.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// contains reports whether the log holds s.
func (l *logBuffer) contains(s string) bool { return strings.Contains(l.String(), s) }

// count counts the lines holding s.
func (l *logBuffer) count(s string) int { return strings.Count(l.String(), s) }

// env is a guard on a fake clock over a memory store, with its log and
// its events.
type env struct {
	g      *guard.Guard
	store  *guard.MemStore
	clock  *clock
	logs   *logBuffer
	reg    *prometheus.Registry
	mu     sync.Mutex
	events []guard.Event
}

// t0 is a Wednesday morning in Siena.
var t0 = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

func newEnv(t *testing.T, cfg guard.Config, store *guard.MemStore) *env {
	t.Helper()
	return newEnvWith(t, cfg, store)
}

// newEnvWith is newEnv with more options for guard.New.
func newEnvWith(t *testing.T, cfg guard.Config, store *guard.MemStore, opts ...guard.Option) *env {
	t.Helper()
	if store == nil {
		store = guard.NewMemStore()
	}
	if cfg.Fraud.Location == nil {
		cfg.Fraud.Location = time.UTC
	}
	e := &env{store: store, clock: newClock(t0), logs: &logBuffer{}, reg: prometheus.NewRegistry()}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g, err := guard.New(cfg, store, append([]guard.Option{guard.WithClock(e.clock), guard.WithLogger(log), guard.WithRegisterer(e.reg)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	g.Subscribe(func(ev guard.Event) {
		e.mu.Lock()
		e.events = append(e.events, ev)
		e.mu.Unlock()
	})
	e.g = g
	return e
}

// took returns the events so far, emptying the list.
func (e *env) took() []guard.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.events
	e.events = nil
	return out
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// waitStored waits until the store's bans satisfy ok.
func waitStored(t *testing.T, s guard.Store, ok func([]guard.Ban) bool) []guard.Ban {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		bans, err := s.Bans(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if ok(bans) {
			return bans
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store's bans never became as wanted: %+v", bans)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newLogger(w *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// metric returns the value of the counter or gauge name with the given
// label values (name=value pairs) in e's registry, or -1 when it has none.
func (e *env) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return -1
}

// metricsText is every metric of e's registry, one "name{labels} value"
// a line: two readings compare equal when nothing moved.
func (e *env) metricsText(t *testing.T) string {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			b.WriteString(mf.GetName())
			for _, l := range m.GetLabel() {
				b.WriteString(" " + l.GetName() + "=" + l.GetValue())
			}
			v := m.GetCounter().GetValue()
			if g := m.GetGauge(); g != nil {
				v = g.GetValue()
			}
			b.WriteString(" " + strconv.FormatFloat(v, 'g', -1, 64) + "\n")
		}
	}
	return b.String()
}
