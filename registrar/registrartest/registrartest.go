// Package registrartest is the conformance suite of the registrar's store
// interfaces, in the manner of testing/fstest: every implementation of
// registrar.Store, registrar.Subscribers and registrar.SecretStore
// (memory, SQLite, MariaDB) runs the same tests.
//
//	func TestMemStore(t *testing.T) {
//		registrartest.TestStore(t, func(t *testing.T) registrar.Store { return registrar.NewMemStore() })
//	}
//
// The suite asks only what OpenSIPS's tables can keep: times to the
// second (expires is unix seconds, last_modified a DATETIME), q to two
// decimals, methods among the standard ones (a bitmask there).
package registrartest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
)

// base is the suite's "now": whole seconds, UTC.
var base = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// full returns a binding with every field set.
func full(aor, contact string, expires time.Time) registrar.Binding {
	return registrar.Binding{
		AOR:       aor,
		Contact:   contact,
		Received:  "198.51.100.7:40522",
		Transport: "TCP",
		Expires:   expires,
		Q:         0.5,
		CallID:    "a84b4c76e66710@pc33",
		CSeq:      314159,
		UserAgent: "snom760/10.1.54.13",
		Path:      "<sip:edge.unisi.it;lr>",
		Instance:  "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>",
		Socket:    "udp:10.0.0.1:5060",
		Methods:   []sip.Method{sip.INVITE, sip.ACK, sip.CANCEL, sip.BYE},
		Flags:     4,
		Updated:   base.Add(-time.Minute),
	}
}

// sameBinding reports how got differs from want, or "".
func sameBinding(got, want registrar.Binding) string {
	var diffs []string
	check := func(name string, ok bool, g, w any) {
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s: got %v, want %v", name, g, w))
		}
	}
	check("AOR", got.AOR == want.AOR, got.AOR, want.AOR)
	check("Contact", got.Contact == want.Contact, got.Contact, want.Contact)
	check("Received", got.Received == want.Received, got.Received, want.Received)
	check("Transport", got.Transport == want.Transport, got.Transport, want.Transport)
	check("Expires", got.Expires.Equal(want.Expires), got.Expires, want.Expires)
	check("Q", got.Q == want.Q, got.Q, want.Q)
	check("CallID", got.CallID == want.CallID, got.CallID, want.CallID)
	check("CSeq", got.CSeq == want.CSeq, got.CSeq, want.CSeq)
	check("UserAgent", got.UserAgent == want.UserAgent, got.UserAgent, want.UserAgent)
	check("Path", got.Path == want.Path, got.Path, want.Path)
	check("Instance", got.Instance == want.Instance, got.Instance, want.Instance)
	check("Socket", got.Socket == want.Socket, got.Socket, want.Socket)
	check("Methods", sameMethods(got.Methods, want.Methods), got.Methods, want.Methods)
	check("Flags", got.Flags == want.Flags, got.Flags, want.Flags)
	check("Updated", got.Updated.Equal(want.Updated), got.Updated, want.Updated)
	return strings.Join(diffs, "; ")
}

// sameMethods compares method sets (a bitmask column keeps no order).
func sameMethods(a, b []sip.Method) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func contactsOf(list []registrar.Binding) []string {
	var out []string
	for _, b := range list {
		out = append(out, b.AOR+" "+b.Contact)
	}
	slices.Sort(out)
	return out
}

// TestStore runs the conformance suite of registrar.Store. newStore must
// return an empty store each time it is called.
func TestStore(t *testing.T, newStore func(t *testing.T) registrar.Store) {
	ctx := context.Background()

	t.Run("PutLookupRoundTrip", func(t *testing.T) {
		s := newStore(t)
		want := full("5002", "sip:5002@192.168.1.20:5060;line=r13vjkwh", base.Add(time.Hour))
		if err := s.Put(ctx, want); err != nil {
			t.Fatalf("Put: %v", err)
		}
		got, err := s.Lookup(ctx, "5002")
		if err != nil || len(got) != 1 {
			t.Fatalf("Lookup: got %v, %v; want one binding", got, err)
		}
		if d := sameBinding(got[0], want); d != "" {
			t.Errorf("Lookup: %s", d)
		}
	})

	t.Run("PermanentBinding", func(t *testing.T) {
		s := newStore(t)
		b := registrar.Binding{AOR: "6000", Contact: "sip:6000@172.20.1.26", Q: 1, Updated: base}
		if err := s.Put(ctx, b); err != nil {
			t.Fatalf("Put: %v", err)
		}
		got, err := s.Lookup(ctx, "6000")
		if err != nil || len(got) != 1 || !got[0].Expires.IsZero() {
			t.Fatalf("Lookup: got %+v, %v; want one binding with zero Expires", got, err)
		}
		gone, err := s.DeleteExpired(ctx, base.Add(100*365*24*time.Hour))
		if err != nil || len(gone) != 0 {
			t.Errorf("DeleteExpired: got %v, %v; want a permanent binding never to expire", gone, err)
		}
	})

	t.Run("PutReplacesSameContact", func(t *testing.T) {
		s := newStore(t)
		first := full("5002", "sip:5002@10.0.0.5", base.Add(time.Hour))
		second := first
		second.CSeq, second.Expires, second.Received = first.CSeq+1, base.Add(2*time.Hour), "203.0.113.4:5060"
		for _, b := range []registrar.Binding{first, second} {
			if err := s.Put(ctx, b); err != nil {
				t.Fatalf("Put: %v", err)
			}
		}
		got, err := s.Lookup(ctx, "5002")
		if err != nil || len(got) != 1 {
			t.Fatalf("Lookup: got %d bindings (%v), want 1", len(got), err)
		}
		if d := sameBinding(got[0], second); d != "" {
			t.Errorf("after replacing: %s", d)
		}
	})

	t.Run("AORsAreSeparate", func(t *testing.T) {
		s := newStore(t)
		for _, b := range []registrar.Binding{
			full("5002", "sip:5002@10.0.0.5", base.Add(time.Hour)),
			full("5002", "sip:5002@10.0.0.6", base.Add(time.Hour)),
			full("5009", "sip:5009@10.0.0.5", base.Add(time.Hour)),
			full("5002@voip.unisi.it", "sip:5002@10.0.0.7", base.Add(time.Hour)),
		} {
			if err := s.Put(ctx, b); err != nil {
				t.Fatalf("Put: %v", err)
			}
		}
		got, err := s.Lookup(ctx, "5002")
		want := []string{"5002 sip:5002@10.0.0.5", "5002 sip:5002@10.0.0.6"}
		if err != nil || !slices.Equal(contactsOf(got), want) {
			t.Errorf("Lookup 5002: got %q (%v), want %q", contactsOf(got), err, want)
		}
		got, err = s.Lookup(ctx, "5002@voip.unisi.it")
		want = []string{"5002@voip.unisi.it sip:5002@10.0.0.7"}
		if err != nil || !slices.Equal(contactsOf(got), want) {
			t.Errorf("Lookup 5002@voip.unisi.it: got %q (%v), want %q", contactsOf(got), err, want)
		}
	})

	t.Run("LookupUnknown", func(t *testing.T) {
		s := newStore(t)
		got, err := s.Lookup(ctx, "nobody")
		if err != nil || len(got) != 0 {
			t.Errorf("got %v, %v; want no bindings and no error", got, err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := newStore(t)
		for _, c := range []string{"sip:5002@10.0.0.5", "sip:5002@10.0.0.6"} {
			if err := s.Put(ctx, full("5002", c, base.Add(time.Hour))); err != nil {
				t.Fatalf("Put: %v", err)
			}
		}
		if err := s.Delete(ctx, "5002", "sip:5002@10.0.0.5"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		got, _ := s.Lookup(ctx, "5002")
		if want := []string{"5002 sip:5002@10.0.0.6"}; !slices.Equal(contactsOf(got), want) {
			t.Errorf("after Delete: got %q, want %q", contactsOf(got), want)
		}
		if err := s.Delete(ctx, "5002", "sip:5002@10.0.0.5"); !errors.Is(err, registrar.ErrNotFound) {
			t.Errorf("Delete of a missing binding: got %v, want ErrNotFound", err)
		}
		if err := s.Delete(ctx, "nobody", "sip:x@y"); !errors.Is(err, registrar.ErrNotFound) {
			t.Errorf("Delete for a missing AOR: got %v, want ErrNotFound", err)
		}
	})

	t.Run("DeleteExpired", func(t *testing.T) {
		s := newStore(t)
		bs := []registrar.Binding{
			full("5002", "sip:5002@10.0.0.1", base.Add(-time.Hour)),   // expired
			full("5002", "sip:5002@10.0.0.2", base),                   // expires exactly now: expired
			full("5002", "sip:5002@10.0.0.3", base.Add(time.Second)),  // alive
			full("5009", "sip:5009@10.0.0.4", base.Add(-time.Second)), // expired
		}
		perm := full("5009", "sip:5009@10.0.0.5", time.Time{}) // permanent
		for _, b := range append(bs, perm) {
			if err := s.Put(ctx, b); err != nil {
				t.Fatalf("Put: %v", err)
			}
		}
		gone, err := s.DeleteExpired(ctx, base)
		if err != nil {
			t.Fatalf("DeleteExpired: %v", err)
		}
		want := []string{"5002 sip:5002@10.0.0.1", "5002 sip:5002@10.0.0.2", "5009 sip:5009@10.0.0.4"}
		if !slices.Equal(contactsOf(gone), want) {
			t.Errorf("DeleteExpired returned %q, want %q", contactsOf(gone), want)
		}
		for _, g := range gone {
			if g.CallID != bs[0].CallID || g.Received != bs[0].Received {
				t.Errorf("DeleteExpired returned %+v, want whole bindings", g)
			}
		}
		all, err := s.List(ctx)
		want = []string{"5002 sip:5002@10.0.0.3", "5009 sip:5009@10.0.0.5"}
		if err != nil || !slices.Equal(contactsOf(all), want) {
			t.Errorf("List after DeleteExpired: got %q (%v), want %q", contactsOf(all), err, want)
		}
		if n, err := s.Count(ctx); err != nil || n != len(want) {
			t.Errorf("Count after DeleteExpired: got %d, %v; want %d", n, err, len(want))
		}
		if gone, err := s.DeleteExpired(ctx, base); err != nil || len(gone) != 0 {
			t.Errorf("second DeleteExpired: got %v, %v; want nothing", gone, err)
		}
	})

	t.Run("List", func(t *testing.T) {
		s := newStore(t)
		if all, err := s.List(ctx); err != nil || len(all) != 0 {
			t.Fatalf("List of an empty store: got %v, %v", all, err)
		}
		if n, err := s.Count(ctx); err != nil || n != 0 {
			t.Fatalf("Count of an empty store: got %d, %v", n, err)
		}
		want := full("5002", "sip:5002@10.0.0.5", base.Add(time.Hour))
		if err := s.Put(ctx, want); err != nil {
			t.Fatal(err)
		}
		all, err := s.List(ctx)
		if err != nil || len(all) != 1 {
			t.Fatalf("List: got %v, %v; want one binding", all, err)
		}
		if d := sameBinding(all[0], want); d != "" {
			t.Errorf("List: %s", d)
		}
	})

	t.Run("NoAliasing", func(t *testing.T) {
		s := newStore(t)
		b := full("5002", "sip:5002@10.0.0.5", base.Add(time.Hour))
		if err := s.Put(ctx, b); err != nil {
			t.Fatal(err)
		}
		b.Methods[0] = "PUBLISH" // the caller's slice, after Put
		got, _ := s.Lookup(ctx, "5002")
		got[0].Methods[1] = "PUBLISH" // a result, after Lookup
		again, _ := s.Lookup(ctx, "5002")
		if len(again) != 1 || !sameMethods(again[0].Methods, full("", "", time.Time{}).Methods) {
			t.Errorf("stored methods changed through a caller's slice: got %v", again)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		const n = 8
		errs := make(chan error, n*4)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				aor := fmt.Sprintf("50%02d", i)
				for j := range 3 {
					c := fmt.Sprintf("sip:%s@10.0.%d.%d", aor, i, j)
					if err := s.Put(ctx, full(aor, c, base.Add(time.Duration(j-1)*time.Hour))); err != nil {
						errs <- err
					}
					if _, err := s.Lookup(ctx, aor); err != nil {
						errs <- err
					}
				}
				if _, err := s.DeleteExpired(ctx, base); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent use: %v", err)
		}
		all, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range all {
			if b.Expired(base) {
				t.Errorf("an expired binding survived DeleteExpired: %s %s", b.AOR, b.Contact)
			}
		}
		if len(all) != n { // one live binding per AOR (j=2)
			t.Errorf("got %d bindings, want %d", len(all), n)
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		s := newStore(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Put(cctx, full("5002", "sip:5002@10.0.0.5", base.Add(time.Hour))); err == nil {
			t.Errorf("Put with a cancelled context: got no error, want the context's")
		}
		if _, err := s.Lookup(cctx, "5002"); err == nil {
			t.Errorf("Lookup with a cancelled context: got no error, want the context's")
		}
	})
}

// TestSubscribers runs the conformance suite of registrar.Subscribers.
// newSubs must return a store holding exactly the given accounts.
func TestSubscribers(t *testing.T, newSubs func(t *testing.T, accounts ...registrar.Subscriber) registrar.Subscribers) {
	ctx := context.Background()
	alice := registrar.Subscriber{
		Username: "5002", Domain: "voip.unisi.it", Password: "secret",
		HA1:            "2c2e9a5c0f2d2f1b0e63c8a1e6f02a4b",
		HA1SHA256:      "7d9f0e6c1a5b4e3f2d1c0b9a8f7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c",
		Classes:        []string{"local", "national", "mobile"},
		InboundClasses: []string{"local"},
	}
	blocked := registrar.Subscriber{Username: "5003", Domain: "voip.unisi.it", HA1: "00", Blocked: true}
	other := registrar.Subscriber{Username: "5002", Domain: "zz.example", HA1: "11"}

	same := func(got, want registrar.Subscriber) string {
		var d []string
		if got.Username != want.Username || !strings.EqualFold(got.Domain, want.Domain) {
			d = append(d, fmt.Sprintf("account: got %s@%s, want %s@%s", got.Username, got.Domain, want.Username, want.Domain))
		}
		if got.Password != want.Password || got.HA1 != want.HA1 || got.HA1SHA256 != want.HA1SHA256 {
			d = append(d, "credentials differ")
		}
		if got.Blocked != want.Blocked {
			d = append(d, fmt.Sprintf("Blocked: got %v, want %v", got.Blocked, want.Blocked))
		}
		g, w := slices.Sorted(slices.Values(got.Classes)), slices.Sorted(slices.Values(want.Classes))
		if !slices.Equal(g, w) {
			d = append(d, fmt.Sprintf("Classes: got %v, want %v", g, w))
		}
		g, w = slices.Sorted(slices.Values(got.InboundClasses)), slices.Sorted(slices.Values(want.InboundClasses))
		if !slices.Equal(g, w) {
			d = append(d, fmt.Sprintf("InboundClasses: got %v, want %v", g, w))
		}
		return strings.Join(d, "; ")
	}

	t.Run("ByUsernameAndDomain", func(t *testing.T) {
		s := newSubs(t, alice, blocked, other)
		for _, want := range []registrar.Subscriber{alice, blocked, other} {
			got, err := s.Subscriber(ctx, want.Username, want.Domain)
			if err != nil {
				t.Errorf("Subscriber(%s, %s): %v", want.Username, want.Domain, err)
				continue
			}
			if d := same(got, want); d != "" {
				t.Errorf("Subscriber(%s, %s): %s", want.Username, want.Domain, d)
			}
		}
	})

	t.Run("ByUsernameAlone", func(t *testing.T) {
		s := newSubs(t, other, alice)
		got, err := s.Subscriber(ctx, "5002", "")
		if err != nil {
			t.Fatalf("Subscriber(5002, \"\"): %v", err)
		}
		if d := same(got, alice); d != "" {
			t.Errorf("Subscriber(5002, \"\"): want the first domain in order: %s", d)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newSubs(t, alice)
		for _, q := range [][2]string{{"5999", "voip.unisi.it"}, {"5999", ""}, {"5002", "other.example"}} {
			if _, err := s.Subscriber(ctx, q[0], q[1]); !errors.Is(err, registrar.ErrNotFound) {
				t.Errorf("Subscriber(%s, %s): got %v, want ErrNotFound", q[0], q[1], err)
			}
		}
	})

	t.Run("NoAliasing", func(t *testing.T) {
		s := newSubs(t, alice)
		got, err := s.Subscriber(ctx, "5002", "voip.unisi.it")
		if err != nil || len(got.Classes) == 0 {
			t.Fatalf("got %+v, %v", got, err)
		}
		got.Classes[0] = "international"
		again, _ := s.Subscriber(ctx, "5002", "voip.unisi.it")
		if slices.Contains(again.Classes, "international") {
			t.Errorf("stored classes changed through a result: %v", again.Classes)
		}
	})
}
