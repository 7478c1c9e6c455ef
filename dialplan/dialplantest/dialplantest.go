// Package dialplantest checks implementations of dialplan.Store, in the
// manner of testing/fstest: a store package runs TestStore against its
// implementation, and every implementation behaves alike.
//
//	func TestStore(t *testing.T) {
//		dialplantest.TestStore(t, func(t *testing.T) dialplan.Store {
//			return newEmptyStore(t)
//		})
//	}
package dialplantest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/dialplan"
)

// TestStore runs the conformance suite against the stores newStore
// returns. Each subtest calls newStore once and expects an empty store.
// The values used fit OpenSIPS's column sizes (match_exp and subst_exp 64
// characters, repl_exp 32, timerec and attrs 255).
func TestStore(t *testing.T, newStore func(t *testing.T) dialplan.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s dialplan.Store)
	}{
		{"Empty", testEmpty},
		{"AddAssignsIDs", testAddAssignsIDs},
		{"RoundTrip", testRoundTrip},
		{"AddExplicitID", testAddExplicitID},
		{"Update", testUpdate},
		{"Delete", testDelete},
		{"RulesByID", testRulesByID},
		{"ResultsAreCopies", testResultsAreCopies},
		{"CanceledContext", testCanceledContext},
		{"ConcurrentAdds", testConcurrentAdds},
		{"UniSI", testUniSI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

// full is a rule with every column set.
var full = dialplan.Rule{
	DPID:       3,
	Priority:   -2,
	MatchOp:    dialplan.Fnmatch,
	MatchExp:   `^0(577|575)\d{6}$ [a-z]* \1 $rU 'quoted' "double"`,
	MatchFlags: dialplan.FlagCaseInsensitive,
	SubstExp:   `^0(577|575)(\d{6})$`,
	ReplExp:    `+39\1\2`,
	TimeRec:    "Europe/Rome|20260105T080000||PT10H|weekly|||MO,TU,WE,TH,FR",
	Disabled:   true,
	Attrs:      "national;gw=siena",
}

// bare is a rule with every optional column empty (NULL in SQL).
var bare = dialplan.Rule{DPID: 0, Priority: 0, MatchOp: dialplan.Equal, MatchExp: "5002"}

func ctx() context.Context { return context.Background() }

func mustAdd(t *testing.T, s dialplan.Store, r dialplan.Rule) dialplan.Rule {
	t.Helper()
	got, err := s.AddRule(ctx(), r)
	if err != nil {
		t.Fatalf("AddRule(%+v): %v", r, err)
	}
	return got
}

func mustRules(t *testing.T, s dialplan.Store) []dialplan.Rule {
	t.Helper()
	rules, err := s.Rules(ctx())
	if err != nil {
		t.Fatalf("Rules: %v", err)
	}
	return rules
}

func ids(rules []dialplan.Rule) []int {
	out := make([]int, 0, len(rules))
	for _, r := range rules {
		out = append(out, r.ID)
	}
	return out
}

func testEmpty(t *testing.T, s dialplan.Store) {
	if rules := mustRules(t, s); len(rules) != 0 {
		t.Errorf("Rules of a new store: got %d rules, want 0", len(rules))
	}
	if _, err := s.Rule(ctx(), 1); !errors.Is(err, dialplan.ErrNotFound) {
		t.Errorf("Rule(1) of a new store: got %v, want ErrNotFound", err)
	}
	if err := s.UpdateRule(ctx(), dialplan.Rule{ID: 1, MatchExp: "1"}); !errors.Is(err, dialplan.ErrNotFound) {
		t.Errorf("UpdateRule(id 1) of a new store: got %v, want ErrNotFound", err)
	}
	if err := s.DeleteRule(ctx(), 1); !errors.Is(err, dialplan.ErrNotFound) {
		t.Errorf("DeleteRule(1) of a new store: got %v, want ErrNotFound", err)
	}
}

func testAddAssignsIDs(t *testing.T, s dialplan.Store) {
	a := mustAdd(t, s, bare)
	b := mustAdd(t, s, full)
	if a.ID <= 0 || b.ID <= 0 || a.ID == b.ID {
		t.Fatalf("AddRule with ID 0 twice: got ids %d and %d, want two distinct positive ids", a.ID, b.ID)
	}
	wantA, wantB := bare, full
	wantA.ID, wantB.ID = a.ID, b.ID
	if a != wantA || b != wantB {
		t.Errorf("AddRule returned %+v and %+v, want %+v and %+v", a, b, wantA, wantB)
	}
	if got := ids(mustRules(t, s)); !reflect.DeepEqual(got, []int{a.ID, b.ID}) && !reflect.DeepEqual(got, []int{b.ID, a.ID}) {
		t.Errorf("Rules: got ids %v, want %d and %d", got, a.ID, b.ID)
	}
}

func testRoundTrip(t *testing.T, s dialplan.Store) {
	for _, r := range []dialplan.Rule{full, bare} {
		added := mustAdd(t, s, r)
		got, err := s.Rule(ctx(), added.ID)
		if err != nil {
			t.Fatalf("Rule(%d): %v", added.ID, err)
		}
		if got != added {
			t.Errorf("Rule(%d) = %+v, want %+v", added.ID, got, added)
		}
	}
	rules := mustRules(t, s)
	if len(rules) != 2 {
		t.Fatalf("Rules: got %d rules, want 2", len(rules))
	}
	for _, r := range rules {
		want := full
		if r.MatchOp == dialplan.Equal {
			want = bare
		}
		want.ID = r.ID
		if r != want {
			t.Errorf("Rules returned %+v, want %+v", r, want)
		}
	}
}

func testAddExplicitID(t *testing.T, s dialplan.Store) {
	r := bare
	r.ID = 100
	if got := mustAdd(t, s, r); got.ID != 100 {
		t.Errorf("AddRule with ID 100: stored as %d", got.ID)
	}
	if _, err := s.AddRule(ctx(), r); !errors.Is(err, dialplan.ErrExists) {
		t.Errorf("AddRule with ID 100 again: got %v, want ErrExists", err)
	}
	if got := mustAdd(t, s, bare); got.ID <= 100 {
		t.Errorf("AddRule with ID 0 after id 100: got id %d, want one above 100", got.ID)
	}
	if n := len(mustRules(t, s)); n != 2 {
		t.Errorf("Rules: got %d rules, want 2 (the duplicate must not be stored)", n)
	}
}

func testUpdate(t *testing.T, s dialplan.Store) {
	r := mustAdd(t, s, bare)
	other := mustAdd(t, s, bare)
	changed := full
	changed.ID = r.ID
	if err := s.UpdateRule(ctx(), changed); err != nil {
		t.Fatalf("UpdateRule: %v", err)
	}
	if got, err := s.Rule(ctx(), r.ID); err != nil || got != changed {
		t.Errorf("Rule(%d) after UpdateRule = %+v, %v; want %+v", r.ID, got, err, changed)
	}
	if got, err := s.Rule(ctx(), other.ID); err != nil || got != other {
		t.Errorf("UpdateRule changed another rule: Rule(%d) = %+v, %v; want %+v", other.ID, got, err, other)
	}
	changed.ID = other.ID + r.ID + 1000
	if err := s.UpdateRule(ctx(), changed); !errors.Is(err, dialplan.ErrNotFound) {
		t.Errorf("UpdateRule of an unknown id: got %v, want ErrNotFound", err)
	}
	if n := len(mustRules(t, s)); n != 2 {
		t.Errorf("Rules: got %d rules, want 2 (an update must not add)", n)
	}
}

func testDelete(t *testing.T, s dialplan.Store) {
	a := mustAdd(t, s, bare)
	b := mustAdd(t, s, full)
	if err := s.DeleteRule(ctx(), a.ID); err != nil {
		t.Fatalf("DeleteRule(%d): %v", a.ID, err)
	}
	if _, err := s.Rule(ctx(), a.ID); !errors.Is(err, dialplan.ErrNotFound) {
		t.Errorf("Rule(%d) after DeleteRule: got %v, want ErrNotFound", a.ID, err)
	}
	if got := ids(mustRules(t, s)); !reflect.DeepEqual(got, []int{b.ID}) {
		t.Errorf("Rules after DeleteRule: got ids %v, want [%d]", got, b.ID)
	}
	if err := s.DeleteRule(ctx(), a.ID); !errors.Is(err, dialplan.ErrNotFound) {
		t.Errorf("DeleteRule(%d) again: got %v, want ErrNotFound", a.ID, err)
	}
}

func testRulesByID(t *testing.T, s dialplan.Store) {
	for _, id := range []int{30, 10, 20} {
		r := bare
		r.ID, r.Priority = id, -id // priority order is not id order
		mustAdd(t, s, r)
	}
	if got := ids(mustRules(t, s)); !reflect.DeepEqual(got, []int{10, 20, 30}) {
		t.Errorf("Rules: got ids %v, want [10 20 30]", got)
	}
}

func testResultsAreCopies(t *testing.T, s dialplan.Store) {
	r := mustAdd(t, s, full)
	rules := mustRules(t, s)
	rules[0].MatchExp = "changed"
	got, err := s.Rule(ctx(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	got.Attrs = "changed"
	if again, _ := s.Rule(ctx(), r.ID); again != r {
		t.Errorf("changing returned rules changed the store: got %+v, want %+v", again, r)
	}
}

func testCanceledContext(t *testing.T, s dialplan.Store) {
	c, cancel := context.WithCancel(ctx())
	cancel()
	if _, err := s.Rules(c); err == nil {
		t.Errorf("Rules with a cancelled context: got nil error")
	}
	if _, err := s.AddRule(c, bare); err == nil {
		t.Errorf("AddRule with a cancelled context: got nil error")
	}
	if n := len(mustRules(t, s)); n != 0 {
		t.Errorf("AddRule with a cancelled context stored %d rules, want 0", n)
	}
}

func testConcurrentAdds(t *testing.T, s dialplan.Store) {
	const workers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				r := bare
				r.MatchExp = fmt.Sprintf("%d%02d", w, i)
				if _, err := s.AddRule(ctx(), r); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent AddRule: %v", err)
	}
	rules := mustRules(t, s)
	seen := map[int]bool{}
	for _, r := range rules {
		if seen[r.ID] {
			t.Errorf("id %d given twice", r.ID)
		}
		seen[r.ID] = true
	}
	if len(rules) != workers*each {
		t.Errorf("Rules: got %d rules, want %d", len(rules), workers*each)
	}
}

// unisi is the University of Siena's dialplan table.
var unisi = []dialplan.Rule{
	{ID: 25, Priority: 1, MatchOp: dialplan.Regex, MatchExp: `^6.{3}$`, Attrs: "voip"},
	{ID: 2, Priority: 1, MatchOp: dialplan.Regex, MatchExp: `^5.{3}$`, Attrs: "voip"},
	{ID: 3, Priority: 2, MatchOp: dialplan.Regex, MatchExp: `^0(([0-2][4-9])[1-9]|80)[0-9].*`, Attrs: "national"},
	{ID: 6, Priority: 1, MatchOp: dialplan.Regex, MatchExp: `^2([1-2][4-9]).{2}$`, Attrs: "legacy"},
	{ID: 10, Priority: 1, MatchOp: dialplan.Regex, MatchExp: `^80.*`, Attrs: "legacy"},
	{ID: 13, Priority: 1, MatchOp: dialplan.Regex, MatchExp: `^88.*`, Attrs: "media"},
	{ID: 14, Priority: 1, MatchOp: dialplan.Regex, MatchExp: `^05771530(.{3})$`, Attrs: "toip"},
	{ID: 15, Priority: 1, MatchOp: dialplan.Regex, MatchExp: `^03[0-9]{7,10}$`, Attrs: "mobile"},
	{ID: 16, Priority: 2, MatchOp: dialplan.Regex, MatchExp: `^000([1-9])[0-9].*`, Attrs: "international"},
}

// testUniSI loads UniSI's table through the store into a Plan: the
// expressions survive the store intact.
func testUniSI(t *testing.T, s dialplan.Store) {
	for _, r := range unisi {
		mustAdd(t, s, r)
	}
	monday := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	p, err := dialplan.New(dialplan.Config{}, s, dialplan.WithClock(func() time.Time { return monday }))
	if err != nil {
		t.Fatal(err)
	}
	if rep := p.Rules().Report(); rep.Loaded != len(unisi) {
		t.Fatalf("Plan over the store: %v, want %d rules loaded", rep, len(unisi))
	}
	for number, class := range map[string]string{
		"5002": "voip", "00575123456": "national", "03351234567": "mobile",
		"00044207946000": "international", "88100": "media", "05771530123": "toip", "21456": "legacy",
	} {
		if res, ok := p.Translate(0, number); !ok || res.Attrs != class {
			t.Errorf("Translate(0, %s) = %+v, %v; want class %s", number, res, ok, class)
		}
	}
}
