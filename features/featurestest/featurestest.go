// Package featurestest is the conformance suite every features.Store
// passes.
package featurestest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/palio-voip/palio/features"
	"github.com/palio-voip/palio/sip"
)

// TestStore checks a Store: settings stored, replaced and removed when
// empty, every field kept; blacklist rows of both lists added, listed,
// refused twice, deleted from the right list; invalid input refused. The
// two lists may number their rows apart, as OpenSIPS's userblacklist and
// globalblacklist do: a row is known by its list and its ID.
// newStore returns an empty store for each call.
func TestStore(t *testing.T, newStore func(t *testing.T) features.Store) {
	ctx := context.Background()
	full := features.Settings{
		User: "5002", Domain: "voip.unisi.it",
		ForwardAlways: "0577232111", ForwardBusy: "5003", ForwardNoAnswer: "VM_5002", NoAnswerAfter: 20 * time.Second,
		ForwardUnreachable: "5004", DND: true, DNDAction: features.DNDVoicemail, AnonymousBlock: true,
		Secretary: "5009", SecretaryAllow: []string{"5010", "5011"}, RingBossAfter: 15 * time.Second, BossWhenSecretaryFails: true,
	}
	t.Run("settings round trip", func(t *testing.T) {
		s := newStore(t)
		if err := s.PutSettings(ctx, full); err != nil {
			t.Fatal(err)
		}
		other := features.Settings{User: "5001", Domain: "voip.unisi.it", DND: true}
		if err := s.PutSettings(ctx, other); err != nil {
			t.Fatal(err)
		}
		got, err := s.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("got %d rows, want 2: %+v", len(got), got)
		}
		byUser := map[string]features.Settings{got[0].User: got[0], got[1].User: got[1]}
		if !reflect.DeepEqual(byUser["5002"], full) {
			t.Errorf("5002: got %+v\nwant %+v", byUser["5002"], full)
		}
		if !reflect.DeepEqual(byUser["5001"], other) {
			t.Errorf("5001: got %+v\nwant %+v", byUser["5001"], other)
		}
	})
	t.Run("settings replaced and removed", func(t *testing.T) {
		s := newStore(t)
		if err := s.PutSettings(ctx, full); err != nil {
			t.Fatal(err)
		}
		less := features.Settings{User: "5002", Domain: "voip.unisi.it", ForwardBusy: "5003"}
		if err := s.PutSettings(ctx, less); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Settings(ctx); len(got) != 1 || !reflect.DeepEqual(got[0], less) {
			t.Fatalf("after replacing: %+v, want %+v", got, less)
		}
		if err := s.PutSettings(ctx, features.Settings{User: "5002", Domain: "voip.unisi.it"}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Settings(ctx); len(got) != 0 {
			t.Fatalf("empty settings left a row: %+v", got)
		}
	})
	t.Run("settings refused", func(t *testing.T) {
		s := newStore(t)
		for _, bad := range []features.Settings{
			{User: "5002", Domain: "voip.unisi.it", ForwardBusy: "5002"},
			{User: "5002", Domain: "voip.unisi.it", ForwardNoAnswer: "5003", NoAnswerAfter: 10 * time.Minute},
			{User: "5002", Domain: "voip.unisi.it", ForwardAlways: "50 02"},
			{User: "", Domain: "voip.unisi.it", DND: true},
			{User: "5002", Domain: "voip.unisi.it", DND: true, DNDAction: "ignore"},
		} {
			if err := s.PutSettings(ctx, bad); err == nil {
				t.Errorf("%+v: stored, want refused", bad)
			}
		}
		if got, _ := s.Settings(ctx); len(got) != 0 {
			t.Errorf("refused settings left rows: %+v", got)
		}
	})
	t.Run("blacklist updates", func(t *testing.T) {
		s := newStore(t)
		g, err := s.AddListEntry(ctx, features.ListEntry{Prefix: "0039899", Description: "premium rate"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddListEntry(ctx, features.ListEntry{Prefix: "112", Whitelist: true}); err != nil {
			t.Fatal(err)
		}
		u, err := s.AddListEntry(ctx, features.ListEntry{User: "5002", Domain: "voip.unisi.it", Prefix: "0577"})
		if err != nil {
			t.Fatal(err)
		}
		want := features.ListEntry{ID: g.ID, Prefix: "00398", Whitelist: true, Description: "premium, all"}
		if err := s.UpdateListEntry(ctx, want); err != nil {
			t.Fatalf("updating a global row: %v", err)
		}
		uw := features.ListEntry{ID: u.ID, User: "5002", Domain: "voip.unisi.it", Prefix: "0578"}
		if err := s.UpdateListEntry(ctx, uw); err != nil {
			t.Fatalf("updating a user row: %v", err)
		}
		got, err := s.ListEntries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, e := range got {
			if e == want || e == uw {
				found++
			}
		}
		if found != 2 || len(got) != 3 {
			t.Errorf("after the updates: got %+v, want %+v and %+v among 3 rows", got, want, uw)
		}
		for _, tc := range []struct {
			name string
			e    features.ListEntry
			want error
		}{
			{"a prefix another global row has", features.ListEntry{ID: g.ID, Prefix: "112"}, features.ErrExists},
			{"no such global row", features.ListEntry{ID: g.ID + u.ID + 100, Prefix: "0899"}, features.ErrNotFound},
			{"another account's row", features.ListEntry{ID: u.ID, User: "5003", Domain: "voip.unisi.it", Prefix: "0579"}, features.ErrNotFound},
		} {
			if err := s.UpdateListEntry(ctx, tc.e); !errors.Is(err, tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
			}
		}
		var fe *sip.FieldError
		if err := s.UpdateListEntry(ctx, features.ListEntry{ID: g.ID, Prefix: "08x"}); !errors.As(err, &fe) || fe.Field != "prefix" {
			t.Errorf("a bad prefix: got %v, want a FieldError for prefix", err)
		}
		if again, _ := s.ListEntries(ctx); len(again) != 3 || !slices.Contains(again, want) {
			t.Errorf("refused updates changed the rows: %+v", again)
		}
	})
	t.Run("blacklists", func(t *testing.T) {
		s := newStore(t)
		g, err := s.AddListEntry(ctx, features.ListEntry{Prefix: "0039899", Description: "premium rate"})
		if err != nil {
			t.Fatal(err)
		}
		w, err := s.AddListEntry(ctx, features.ListEntry{Prefix: "112", Whitelist: true, Description: "emergency"})
		if err != nil {
			t.Fatal(err)
		}
		u, err := s.AddListEntry(ctx, features.ListEntry{User: "5002", Domain: "voip.unisi.it", Prefix: "0577"})
		if err != nil {
			t.Fatal(err)
		}
		if g.ID == 0 || w.ID == 0 || u.ID == 0 {
			t.Fatalf("IDs not assigned: %d %d %d", g.ID, w.ID, u.ID)
		}
		if _, err := s.AddListEntry(ctx, features.ListEntry{Prefix: "0039899"}); !errors.Is(err, features.ErrExists) {
			t.Errorf("the same global prefix twice: %v, want ErrExists", err)
		}
		if _, err := s.AddListEntry(ctx, features.ListEntry{User: "5002", Domain: "voip.unisi.it", Prefix: "0577"}); !errors.Is(err, features.ErrExists) {
			t.Errorf("the same user prefix twice: %v, want ErrExists", err)
		}
		if _, err := s.AddListEntry(ctx, features.ListEntry{User: "5002", Domain: "VoIP.unisi.it", Prefix: "0577"}); !errors.Is(err, features.ErrExists) {
			t.Errorf("the same user prefix, the domain in capitals: %v, want ErrExists", err)
		}
		// The same prefix in another user's list is another row.
		if _, err := s.AddListEntry(ctx, features.ListEntry{User: "5003", Domain: "voip.unisi.it", Prefix: "0577"}); err != nil {
			t.Errorf("another user's prefix: %v", err)
		}
		if _, err := s.AddListEntry(ctx, features.ListEntry{Prefix: "05x"}); err == nil {
			t.Error("a prefix with a letter: stored")
		}
		// The two lists may number their rows apart (OpenSIPS's two
		// tables do): a row is known by its list and its ID.
		type key struct {
			global bool
			id     int
		}
		rows := func() map[key]features.ListEntry {
			t.Helper()
			got, err := s.ListEntries(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out := map[key]features.ListEntry{}
			for _, e := range got {
				k := key{e.Global(), e.ID}
				if _, dup := out[k]; dup {
					t.Fatalf("two rows with ID %d in one list: %+v", e.ID, got)
				}
				out[k] = e
			}
			return out
		}
		got := rows()
		n := 0
		for _, x := range []features.ListEntry{g, w, u} {
			if e, ok := got[key{x.Global(), x.ID}]; !ok {
				t.Errorf("row %d (global %v) not listed: %+v", x.ID, x.Global(), got)
			} else if n++; e != x {
				t.Errorf("row %d: got %+v, want %+v", e.ID, e, x)
			}
		}
		if len(got) != 4 || n != 3 {
			t.Fatalf("got %+v, want the 4 rows added", got)
		}
		// Deleting a user row's ID from the global list, where no row has
		// that ID, finds nothing.
		stray, strays := u, 0
		for i := 0; got[key{true, stray.ID}] != (features.ListEntry{}); i++ {
			if i > 4 {
				t.Fatalf("no user row with an ID the global list does not have: %+v", got)
			}
			stray, err = s.AddListEntry(ctx, features.ListEntry{User: "5004", Domain: "voip.unisi.it", Prefix: fmt.Sprintf("06%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			strays++
		}
		if err := s.DeleteListEntry(ctx, stray.ID, true); !errors.Is(err, features.ErrNotFound) {
			t.Errorf("deleting a user row from the global list: %v, want ErrNotFound", err)
		}
		if _, ok := rows()[key{false, stray.ID}]; !ok {
			t.Errorf("deleting user row %d from the global list removed it", stray.ID)
		}
		if err := s.DeleteListEntry(ctx, u.ID, false); err != nil {
			t.Fatal(err)
		}
		after := rows()
		if _, ok := after[key{false, u.ID}]; ok {
			t.Errorf("user row %d still listed after its deletion", u.ID)
		}
		for _, x := range []features.ListEntry{g, w} {
			if _, ok := after[key{true, x.ID}]; !ok {
				t.Errorf("deleting user row %d removed global row %d", u.ID, x.ID)
			}
		}
		if err := s.DeleteListEntry(ctx, g.ID, true); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteListEntry(ctx, g.ID, true); !errors.Is(err, features.ErrNotFound) {
			t.Errorf("deleting twice: %v, want ErrNotFound", err)
		}
		after = rows()
		if _, ok := after[key{true, w.ID}]; !ok || len(after) != 2+strays {
			t.Errorf("after deleting two: %+v, want the other %d", after, 2+strays)
		}
	})
}
