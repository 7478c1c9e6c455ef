package dialplan_test

import (
	"context"
	"testing"

	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/dialplan/dialplantest"
)

func TestMemStore(t *testing.T) {
	dialplantest.TestStore(t, func(t *testing.T) dialplan.Store { return dialplan.NewMemStore() })
}

func TestNewMemStoreSeeds(t *testing.T) {
	s := dialplan.NewMemStore(
		dialplan.Rule{MatchExp: "a"},
		dialplan.Rule{ID: 7, MatchExp: "b"},
		dialplan.Rule{MatchExp: "c"},
		dialplan.Rule{ID: 7, MatchExp: "b2"},
	)
	rules, err := s.Rules(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rules {
		got = append(got, string(rune('0'+r.ID))+r.MatchExp)
	}
	want := []string{"7b2", "8a", "9c"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("seeded rules: got %q, want %q (ids 0 numbered after the highest given, the later duplicate kept)", got, want)
	}
}
