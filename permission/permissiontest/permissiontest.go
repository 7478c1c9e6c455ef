// Package permissiontest is the conformance suite every
// permission.AddressStore passes.
package permissiontest

import (
	"context"
	"errors"
	"testing"

	"github.com/palio-voip/palio/permission"
)

// TestAddressStore checks an AddressStore: add, list in ID order with every
// field kept, delete, and ErrNotFound for a missing row. newStore returns
// an empty store for each call.
func TestAddressStore(t *testing.T, newStore func(t *testing.T) permission.AddressStore) {
	ctx := context.Background()
	s := newStore(t)
	gw, err := s.AddAddress(ctx, permission.Address{Group: 1, IP: "10.10.1.1", Mask: 32, Port: 5060, Proto: "udp", Pattern: "sip:*", ContextInfo: "gw-siena"})
	if err != nil {
		t.Fatal(err)
	}
	if gw.ID == 0 {
		t.Error("AddAddress did not assign an ID")
	}
	lan, err := s.AddAddress(ctx, permission.Address{Group: 2, IP: "2001:db8::", Mask: 32, Proto: "any"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Addresses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != gw || got[1] != lan {
		t.Fatalf("got %+v, want [%+v %+v]", got, gw, lan)
	}
	if err := s.DeleteAddress(ctx, gw.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Addresses(ctx); len(got) != 1 || got[0] != lan {
		t.Errorf("after delete: %+v", got)
	}
	if err := s.DeleteAddress(ctx, gw.ID); !errors.Is(err, permission.ErrNotFound) {
		t.Errorf("delete again: got %v, want ErrNotFound", err)
	}
}
