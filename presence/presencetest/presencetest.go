// Package presencetest is the conformance suite every presence.Store
// passes.
package presencetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/palio-voip/palio/presence"
)

// Sample returns a subscription as the Presence stores it, for n.
func Sample(n string) presence.Subscription {
	return presence.Subscription{
		Key:           presence.Key{CallID: "cid-" + n, ToTag: "ps-" + n, FromTag: "w-" + n},
		PresentityURI: "sip:5002@voip.unisi.it",
		WatcherUser:   "5003", WatcherDomain: "voip.unisi.it",
		WatcherURI: "sip:5003@voip.unisi.it", ToURI: "sip:5002@voip.unisi.it",
		Event: "dialog", EventID: n,
		LocalCSeq: 3, RemoteCSeq: 2,
		Contact:  "sip:5003@10.0.0.3:5060",
		RouteSet: []string{"sip:10.0.0.9;lr"},
		Received: "10.0.0.3:5060", Transport: "UDP",
		LocalContact: "sip:10.0.0.1:5060",
		Expires:      time.Unix(1_800_000_000, 0).UTC(),
		Version:      4,
	}
}

// TestStore checks a Store: putting, listing, replacing by Key, deleting,
// and ErrNotFound for what is not there. newStore returns an empty store
// for each call.
func TestStore(t *testing.T, newStore func(t *testing.T) presence.Store) {
	ctx := context.Background()
	// equal compares a and b, times by instant (a store may give back
	// another location) and an empty route set as nil.
	equal := func(a, b presence.Subscription) bool {
		if !a.Expires.Equal(b.Expires) || len(a.RouteSet) != len(b.RouteSet) {
			return false
		}
		a.Expires, b.Expires = time.Time{}, time.Time{}
		if len(a.RouteSet) == 0 {
			a.RouteSet, b.RouteSet = nil, nil
		}
		return reflect.DeepEqual(a, b)
	}
	t.Run("put and list", func(t *testing.T) {
		s := newStore(t)
		a, b := Sample("a"), Sample("b")
		b.RouteSet = nil
		for _, x := range []presence.Subscription{a, b} {
			if err := s.Put(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Subscriptions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, func(x, y presence.Subscription) int {
			if x.CallID < y.CallID {
				return -1
			}
			return 1
		})
		if len(got) != 2 || !equal(got[0], a) || !equal(got[1], b) {
			t.Fatalf("got %+v, want [%+v %+v]", got, a, b)
		}
	})
	t.Run("put replaces by key", func(t *testing.T) {
		s := newStore(t)
		a := Sample("a")
		if err := s.Put(ctx, a); err != nil {
			t.Fatal(err)
		}
		a.Expires = a.Expires.Add(time.Hour)
		a.RemoteCSeq, a.Version = 9, 7
		a.Contact = "sip:5003@10.0.0.4:5062"
		if err := s.Put(ctx, a); err != nil {
			t.Fatal(err)
		}
		got, err := s.Subscriptions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !equal(got[0], a) {
			t.Fatalf("got %+v, want [%+v]", got, a)
		}
		// Another From tag is another subscription.
		b := Sample("a")
		b.FromTag = "other"
		if err := s.Put(ctx, b); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Subscriptions(ctx); len(got) != 2 {
			t.Errorf("got %d subscriptions, want 2", len(got))
		}
	})
	t.Run("delete", func(t *testing.T) {
		s := newStore(t)
		a := Sample("a")
		if err := s.Put(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, a.Key); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Subscriptions(ctx); len(got) != 0 {
			t.Errorf("after delete: got %+v, want none", got)
		}
		if err := s.Delete(ctx, a.Key); !errors.Is(err, presence.ErrNotFound) {
			t.Errorf("second delete: got %v, want ErrNotFound", err)
		}
	})
	t.Run("returned values are copies", func(t *testing.T) {
		s := newStore(t)
		a := Sample("a")
		if err := s.Put(ctx, a); err != nil {
			t.Fatal(err)
		}
		a.RouteSet[0] = "sip:changed"
		got, _ := s.Subscriptions(ctx)
		if len(got) != 1 || got[0].RouteSet[0] != "sip:10.0.0.9;lr" {
			t.Fatalf("the store kept the caller's slice: %+v", got)
		}
	})
}
