package sqlstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/palio-voip/palio/store/storetest"
)

// TestLocationWriteBack: a write-back store answers from memory at once,
// writes its changes in rounds and at Close, and another store on the same
// database (another node) sees them once written.
func TestLocationWriteBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		ctx := context.Background()
		db := open(t)
		node := db.Location(sqlstore.LocationOptions{WriteBack: time.Hour, CacheTTL: -1})
		other := db.Location(sqlstore.LocationOptions{CacheTTL: -1})
		defer other.Close()
		has := func(s *sqlstore.LocationStore, aor, contact string) bool {
			t.Helper()
			bs, err := s.Lookup(ctx, aor)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range bs {
				if b.Contact == contact {
					return true
				}
			}
			return false
		}
		b := registrar.Binding{AOR: "5002", Contact: "sip:5002@192.0.2.7:5060", Transport: "UDP", Q: 1, CallID: "c1", CSeq: 1,
			Expires: time.Now().Add(time.Hour).Truncate(time.Second)}
		if err := node.Put(ctx, b); err != nil {
			t.Fatal(err)
		}
		if !has(node, "5002", b.Contact) {
			t.Fatal("the writing store does not see its own binding")
		}
		if has(other, "5002", b.Contact) {
			t.Fatal("the binding reached the database before its round")
		}
		node.Close() // writes what it holds
		if !has(other, "5002", b.Contact) {
			t.Fatal("Close did not write the binding")
		}

		// Rounds: a delete and a put reach the database without Close.
		node = db.Location(sqlstore.LocationOptions{WriteBack: 20 * time.Millisecond, CacheTTL: -1})
		defer node.Close()
		b2 := b
		b2.Contact, b2.CallID = "sip:5002@192.0.2.8:5060", "c2"
		if err := node.Put(ctx, b2); err != nil {
			t.Fatal(err)
		}
		if err := node.Delete(ctx, "5002", b.Contact); err != nil {
			t.Fatal(err)
		}
		if has(node, "5002", b.Contact) || !has(node, "5002", b2.Contact) {
			t.Fatal("the writing store does not see its own delete and put")
		}
		if err := node.Delete(ctx, "5002", "sip:nobody@192.0.2.9"); !errors.Is(err, registrar.ErrNotFound) {
			t.Errorf("deleting an unknown contact: got %v, want ErrNotFound", err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for has(other, "5002", b.Contact) || !has(other, "5002", b2.Contact) {
			if time.Now().After(deadline) {
				t.Fatal("the changes never reached the database")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// TestWriteBackCacheTTL: a write-back store keeps a lookup for WriteBack
// (another node's writes reach the database only that late anyway), not
// only the 2 s of a write-through one: a phone's refresh a few seconds
// after the last reads no row.
func TestWriteBackCacheTTL(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		ctx := context.Background()
		db := open(t)
		for _, tc := range []struct {
			writeBack time.Duration
			later     time.Duration
			reads     int
		}{
			{time.Minute, 30 * time.Second, 1}, // within WriteBack: from the cache
			{time.Minute, 61 * time.Second, 2}, // past it: read again
			{0, 3 * time.Second, 2},            // write-through: 2 s
			{0, 1500 * time.Millisecond, 1},    // write-through, within 2 s
		} {
			loc := db.Location(sqlstore.LocationOptions{WriteBack: tc.writeBack})
			now := time.Now()
			sqlstore.SetNow(loc, func() time.Time { return now })
			reads := 0
			sqlstore.SetReadHook(loc, func() { reads++ })
			b := registrar.Binding{AOR: "5002", Contact: "sip:5002@192.0.2.7:5060", Transport: "UDP", Q: 1, CallID: "c1", CSeq: 1,
				Expires: now.Add(time.Hour).Truncate(time.Second)}
			if err := loc.Put(ctx, b); err != nil {
				t.Fatal(err)
			}
			for _, at := range []time.Duration{0, tc.later} {
				now = now.Add(at)
				bs, err := loc.Lookup(ctx, "5002")
				if err != nil || len(bs) != 1 {
					t.Fatalf("lookup: %v, %v", bs, err)
				}
			}
			if reads != tc.reads {
				t.Errorf("write-back %v, lookups %v apart: %d reads of the database, want %d", tc.writeBack, tc.later, reads, tc.reads)
			}
			loc.Close()
		}
	})
}
