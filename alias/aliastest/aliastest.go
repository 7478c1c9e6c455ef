// Package aliastest is the conformance suite every alias.Store passes.
package aliastest

import (
	"context"
	"errors"
	"testing"

	"github.com/palio-voip/palio/alias"
)

// TestStore checks a Store: adding, listing in ID order, refusing a
// duplicate alias, deleting, and ErrNotFound for what is not there.
// newStore returns an empty store for each call.
func TestStore(t *testing.T, newStore func(t *testing.T) alias.Store) {
	ctx := context.Background()
	t.Run("add and list", func(t *testing.T) {
		s := newStore(t)
		fax, err := s.Add(ctx, alias.Alias{AliasUsername: "5500", AliasDomain: "voip.unisi.it", Username: "FAX_5500", Domain: "voip.unisi.it"})
		if err != nil {
			t.Fatal(err)
		}
		if fax.ID == 0 {
			t.Error("Add did not assign an ID")
		}
		ivr, err := s.Add(ctx, alias.Alias{AliasUsername: "5000", AliasDomain: "voip.unisi.it", Username: "IVR_5000", Domain: "voip.unisi.it"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Aliases(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0] != fax || got[1] != ivr {
			t.Fatalf("got %+v, want [%+v %+v]", got, fax, ivr)
		}
	})
	t.Run("duplicate alias", func(t *testing.T) {
		s := newStore(t)
		a := alias.Alias{AliasUsername: "5500", AliasDomain: "voip.unisi.it", Username: "FAX_5500", Domain: "voip.unisi.it"}
		if _, err := s.Add(ctx, a); err != nil {
			t.Fatal(err)
		}
		a.Username = "other"
		if _, err := s.Add(ctx, a); !errors.Is(err, alias.ErrExists) {
			t.Errorf("second add: got %v, want ErrExists", err)
		}
		// The same alias under another domain is another alias.
		a.AliasDomain = "arezzo.unisi.it"
		if _, err := s.Add(ctx, a); err != nil {
			t.Errorf("same user, other domain: %v", err)
		}
	})
	t.Run("delete", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Add(ctx, alias.Alias{AliasUsername: "5500", AliasDomain: "d", Username: "FAX_5500", Domain: "d"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "5500", "d"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Aliases(ctx); len(got) != 0 {
			t.Errorf("after delete: %+v", got)
		}
		if err := s.Delete(ctx, "5500", "d"); !errors.Is(err, alias.ErrNotFound) {
			t.Errorf("delete again: got %v, want ErrNotFound", err)
		}
	})
}
