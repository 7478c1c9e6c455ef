package dialplan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/sip"
)

// flakyStore wraps a Store; Rules fails while fail is set.
type flakyStore struct {
	Store
	fail atomic.Bool
}

var errDatabaseDown = errors.New("database is down")

func (s *flakyStore) Rules(ctx context.Context) ([]Rule, error) {
	if s.fail.Load() {
		return nil, errDatabaseDown
	}
	return s.Store.Rules(ctx)
}

func TestNewValidates(t *testing.T) {
	good := NewMemStore(re(1, 1, "^5", "voip"))
	failing := &flakyStore{Store: good}
	failing.fail.Store(true)
	tests := []struct {
		name  string
		cfg   Config
		store Store
		want  string
	}{
		{"nil store", Config{}, nil, "dialplan: nil store"},
		{"reject code out of range", Config{RejectCode: 200}, good, "dialplan: reject code 200: want 300..699"},
		{"field without Get", Config{Field: Field{Set: RequestURIUser.Set}}, good, "dialplan: Field has Set but no Get"},
		{"store fails on the first load", Config{}, failing, "dialplan: reload: database is down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.cfg, tt.store)
			if err == nil || err.Error() != tt.want {
				t.Errorf("New() = %v, %v; want error %q", p, err, tt.want)
			}
		})
	}
}

func TestReloadKeepsRulesWhenTheStoreFails(t *testing.T) {
	mem := NewMemStore(re(1, 1, "^5", "voip"))
	store := &flakyStore{Store: mem}
	var logs bytes.Buffer
	p, err := New(Config{}, store, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	mem.AddRule(context.Background(), re(2, 1, "^6", "voip"))
	store.fail.Store(true)
	rep, err := p.Reload(context.Background())
	if !errors.Is(err, errDatabaseDown) || !strings.HasPrefix(err.Error(), "dialplan: reload: ") {
		t.Fatalf("Reload() = %v, %v; want an error wrapping %v", rep, err, errDatabaseDown)
	}
	if _, ok := p.Translate(0, "5002"); !ok {
		t.Errorf("after a failed reload, 5002 no longer translates: the previous rules were dropped")
	}
	if _, ok := p.Translate(0, "6002"); ok {
		t.Errorf("after a failed reload, 6002 translates: got rules the reload never loaded")
	}
	if !strings.Contains(logs.String(), `level=WARN msg="dialplan: reload failed, keeping the current rules" error="database is down" rules=1`) {
		t.Errorf("log %q lacks the failed-reload warning", logs.String())
	}

	store.fail.Store(false)
	if rep, err := p.Reload(context.Background()); err != nil || rep.Loaded != 2 {
		t.Fatalf("Reload() = %v, %v; want 2 rules loaded", rep, err)
	}
	if res, ok := p.Translate(0, "6002"); !ok || res.RuleID != 2 {
		t.Errorf("after reloading, Translate(6002) = %+v, %v; want rule 2", res, ok)
	}
}

func TestReloadLogsDiscardedRules(t *testing.T) {
	var logs bytes.Buffer
	_, err := New(Config{}, NewMemStore(re(1, 1, "^5", "voip"), re(2, 1, `^(5)\1`, "bad")),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`level=WARN msg="dialplan: rule discarded" id=2 dpid=0 reason="match_exp \"^(5)\\\\1\": error parsing regexp: invalid escape sequence: ` + "`\\\\1`" + ` (Go's RE2 has no backreferences)"`,
		`level=INFO msg="dialplan: rules loaded" loaded=1 discarded=1 disabled=0`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s\ngot:\n%s", want, logs.String())
		}
	}
}

// toggleStore serves rule set A or B, switching at each read.
type toggleStore struct {
	Store
	a, b []Rule
	n    atomic.Int64
}

func (s *toggleStore) Rules(ctx context.Context) ([]Rule, error) {
	if s.n.Add(1)%2 == 0 {
		return s.a, nil
	}
	return s.b, nil
}

// TestReloadUnderConcurrentTranslations swaps two rule sets while readers
// translate: every reader sees one set or the other, never a mixture, and
// never waits. Run it with -race.
func TestReloadUnderConcurrentTranslations(t *testing.T) {
	var a, b []Rule
	for i := range 200 {
		a = append(a, with(re(i+1, 1, fmt.Sprintf("^%03d", i), "A"), func(r *Rule) { r.SubstExp, r.ReplExp = "^(.*)$", `a\1` }))
		b = append(b, with(re(1000+i, 1, fmt.Sprintf("^%03d", i), "B"), func(r *Rule) { r.ReplExp = "b" }))
	}
	store := &toggleStore{Store: NewMemStore(), a: a, b: b}
	p, err := New(Config{}, store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var translations atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			for i := w; ctx.Err() == nil; i++ {
				in := fmt.Sprintf("%03d%d", i%200, w)
				res, ok := p.Translate(0, in)
				wantA := Result{RuleID: i%200 + 1, Input: in, Output: "a" + in, Attrs: "A"}
				wantB := Result{RuleID: 1000 + i%200, Input: in, Output: "b", Attrs: "B"}
				if !ok || (res != wantA && res != wantB) {
					t.Errorf("Translate(%q) = %+v, %v; want %+v or %+v", in, res, ok, wantA, wantB)
					return
				}
				translations.Add(1)
			}
		})
	}
	for range 50 {
		if _, err := p.Reload(context.Background()); err != nil {
			t.Error(err)
		}
	}
	cancel()
	wg.Wait()
	if translations.Load() == 0 {
		t.Errorf("no translation ran during the reloads")
	}
}

// blockingStore holds Rules until released, counting the calls in it.
type blockingStore struct {
	Store
	entered chan struct{}
	release chan struct{}
	inside  atomic.Int32
	most    atomic.Int32
}

func (s *blockingStore) Rules(ctx context.Context) ([]Rule, error) {
	n := s.inside.Add(1)
	defer s.inside.Add(-1)
	for {
		m := s.most.Load()
		if n <= m || s.most.CompareAndSwap(m, n) {
			break
		}
	}
	s.entered <- struct{}{}
	<-s.release
	return s.Store.Rules(ctx)
}

func TestReloadsRunOneAtATime(t *testing.T) {
	store := &blockingStore{Store: NewMemStore(re(1, 1, "^5", "voip")), entered: make(chan struct{}, 4), release: make(chan struct{})}
	go func() { <-store.entered; store.release <- struct{}{} }() // let New's load through
	p, err := New(Config{}, store)
	if err != nil {
		t.Fatal(err)
	}

	first := make(chan error, 1)
	go func() { _, err := p.Reload(context.Background()); first <- err }()
	<-store.entered // the first reload is reading the store

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = p.Reload(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for the running reload") {
		t.Errorf("Reload while another runs, with a short deadline: got %v, want a deadline error while waiting", err)
	}

	second := make(chan error, 1)
	go func() { _, err := p.Reload(context.Background()); second <- err }()
	select {
	case <-store.entered:
		t.Fatalf("a second reload read the store while the first was still running")
	case <-time.After(20 * time.Millisecond):
	}
	store.release <- struct{}{}
	if err := <-first; err != nil {
		t.Errorf("first reload: %v", err)
	}
	<-store.entered
	store.release <- struct{}{}
	if err := <-second; err != nil {
		t.Errorf("second reload: %v", err)
	}
	if m := store.most.Load(); m != 1 {
		t.Errorf("at most %d reloads read the store at once, want 1", m)
	}
}

func TestPlanClock(t *testing.T) {
	now := monday
	p, err := New(Config{}, NewMemStore(
		with(re(1, 1, "^5", "office"), func(r *Rule) { r.TimeRec = officeHours }),
		re(2, 2, "^5", "after hours"),
	), WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := p.Translate(0, "5002"); res.Attrs != "office" {
		t.Errorf("Monday 09:00: got %q, want office", res.Attrs)
	}
	now = monday.AddDate(0, 0, 5) // Saturday
	if res, _ := p.Translate(0, "5002"); res.Attrs != "after hours" {
		t.Errorf("Saturday 09:00: got %q, want after hours", res.Attrs)
	}
	if e := p.Explain(0, "5002"); !e.At.Equal(now) || e.Result.Attrs != "after hours" || e.Candidates[0].Verdict != OutOfTime {
		t.Errorf("Explain on Saturday: got %v, want rule 1 out of time and rule 2 winning", e)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	store := &flakyStore{Store: NewMemStore(
		re(1, 1, "^5", "voip"),
		with(re(2, 1, "^0", "national"), func(r *Rule) { r.SubstExp, r.ReplExp = `^0(.*)`, `+39\1` }),
		with(re(3, 1, "^9", "broken"), func(r *Rule) { r.SubstExp, r.ReplExp = `^1`, `x` }),
		with(re(4, 1, "^7", "off"), func(r *Rule) { r.Disabled = true }),
		re(5, 1, "^(?=8)", "bad"),
	)}
	p, err := New(Config{}, store, WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{"5002", "5003", "0577", "999", "123"} {
		p.Translate(0, in)
	}
	store.fail.Store(true)
	p.Reload(context.Background())
	// A second Plan on the same registry shares the collectors.
	if _, err := New(Config{}, NewMemStore(), WithRegisterer(reg)); err != nil {
		t.Fatalf("second Plan on the same registry: %v", err)
	}

	got := gather(t, reg)
	want := map[string]float64{
		`palio_dialplan_translations_total{outcome="match"}`:        2,
		`palio_dialplan_translations_total{outcome="rewrite"}`:      1,
		`palio_dialplan_translations_total{outcome="subst_failed"}`: 1,
		`palio_dialplan_translations_total{outcome="no_match"}`:     1,
		`palio_dialplan_reloads_total{outcome="ok"}`:                2,
		`palio_dialplan_reloads_total{outcome="error"}`:             1,
		`palio_dialplan_rules{state="loaded"}`:                      0, // the second Plan's empty store
		`palio_dialplan_reload_duration_seconds_count`:              2,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if got["palio_dialplan_last_reload_success_timestamp_seconds"] < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last reload timestamp = %v, want about now", got["palio_dialplan_last_reload_success_timestamp_seconds"])
	}
}

func TestMetricsRuleGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, err := New(Config{}, NewMemStore(
		re(1, 1, "^5", "voip"),
		with(re(4, 1, "^7", "off"), func(r *Rule) { r.Disabled = true }),
		re(5, 1, "^(?=8)", "bad"),
	), WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	got := gather(t, reg)
	for k, v := range map[string]float64{
		`palio_dialplan_rules{state="loaded"}`:    1,
		`palio_dialplan_rules{state="discarded"}`: 1,
		`palio_dialplan_rules{state="disabled"}`:  1,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// gather flattens a registry into name{labels} → value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := mf.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

var _ sip.Handler = (*capture)(nil)
