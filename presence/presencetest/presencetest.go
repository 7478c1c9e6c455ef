// Package presencetest is the conformance suite every presence.Store
// passes.
package presencetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
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
// ErrNotFound for what is not there, and the owner of each subscription
// (Subscription.Node): a node lists only its own. newStore returns an
// empty store for each call.
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
		got, err := s.Subscriptions(ctx, "")
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
		got, err := s.Subscriptions(ctx, "")
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
		if got, _ := s.Subscriptions(ctx, ""); len(got) != 2 {
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
		if got, _ := s.Subscriptions(ctx, ""); len(got) != 0 {
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
		got, _ := s.Subscriptions(ctx, "")
		if len(got) != 1 || got[0].RouteSet[0] != "sip:10.0.0.9;lr" {
			t.Fatalf("the store kept the caller's slice: %+v", got)
		}
	})
	t.Run("owned by node", func(t *testing.T) {
		s := newStore(t)
		single, a1, a2, b1 := Sample("single"), Sample("a1"), Sample("a2"), Sample("b1")
		a1.Node, a2.Node, b1.Node = "siena-1", "siena-1", "arezzo-1"
		for _, x := range []presence.Subscription{single, a1, a2, b1} {
			if err := s.Put(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		ids := func(node string) string {
			t.Helper()
			got, err := s.Subscriptions(ctx, node)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, g := range got {
				if g.Node != node {
					t.Errorf("Subscriptions(%q) returned one of node %q", node, g.Node)
				}
				out = append(out, g.EventID)
			}
			slices.Sort(out)
			return strings.Join(out, " ")
		}
		for _, tt := range []struct{ node, want string }{
			{"", "single"}, {"siena-1", "a1 a2"}, {"arezzo-1", "b1"}, {"grosseto-1", ""},
		} {
			if got := ids(tt.node); got != tt.want {
				t.Errorf("Subscriptions(%q): got [%s], want [%s]", tt.node, got, tt.want)
			}
		}
		got, _ := s.Subscriptions(ctx, "siena-1")
		for _, g := range got {
			if g.EventID == "a1" && !equal(g, a1) {
				t.Errorf("got %+v, want %+v", g, a1)
			}
		}
		// A Put of the same key by another node hands it over.
		a2.Node = "arezzo-1"
		if err := s.Put(ctx, a2); err != nil {
			t.Fatal(err)
		}
		if got, want := ids("siena-1")+"|"+ids("arezzo-1"), "a1|a2 b1"; got != want {
			t.Errorf("after the hand-over: got %s, want %s", got, want)
		}
		// Delete is by key, whoever owns it.
		if err := s.Delete(ctx, b1.Key); err != nil {
			t.Fatal(err)
		}
		if got := ids("arezzo-1"); got != "a2" {
			t.Errorf("after delete: got [%s], want [a2]", got)
		}
	})
}
