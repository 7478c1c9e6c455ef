package sqlstore_test

import (
	"errors"
	"testing"

	"github.com/palio-voip/palio/presence"
	"github.com/palio-voip/palio/presence/presencetest"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/palio-voip/palio/store/storetest"
)

// TestPresenceRouteSet: a route set of several entries, one with a comma
// inside its <>, comes back as it went in.
func TestPresenceRouteSet(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		s := open(t).Presence()
		sub := presencetest.Sample("r")
		sub.RouteSet = []string{"<sip:10.0.0.9;lr>", "<sip:proxy.example;lr;x=a,b>", "<sip:10.0.0.10;lr>"}
		if err := s.Put(t.Context(), sub); err != nil {
			t.Fatal(err)
		}
		got, err := s.Subscriptions(t.Context(), "")
		if err != nil || len(got) != 1 {
			t.Fatalf("%v %v", got, err)
		}
		if r := got[0].RouteSet; len(r) != 3 || r[1] != "<sip:proxy.example;lr;x=a,b>" {
			t.Errorf("route set: %q", r)
		}
	})
}

// TestMailboxStore: counts stored, replaced and read back; bad counts
// refused; every write moves the "mwi" change counter.
func TestMailboxStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		db := open(t)
		s := db.Mailboxes()
		ctx := t.Context()
		v0, err := db.Versions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutMailbox(ctx, presence.Mailbox{User: "5002", Domain: "voip.unisi.it", New: 1, Old: 2}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutMailbox(ctx, presence.Mailbox{User: "5002", Domain: "voip.unisi.it", New: 3, Old: 2}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutMailbox(ctx, presence.Mailbox{User: "5002", Domain: "voip.unisi.it", New: -1}); err == nil {
			t.Error("negative counts stored")
		}
		got, err := s.Mailboxes(ctx)
		if err != nil || len(got) != 1 || got[0].New != 3 || got[0].Old != 2 {
			t.Fatalf("mailboxes: %+v %v", got, err)
		}
		v1, err := db.Versions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v1["mwi"] == v0["mwi"] {
			t.Errorf("the mwi counter did not move: %v → %v", v0["mwi"], v1["mwi"])
		}
	})
}

// TestWatchRuleStore: rules stored, replaced, listed, deleted (ErrNotFound
// the second time); bad rules refused; the counter moves.
func TestWatchRuleStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		db := open(t)
		s := db.WatchRules()
		ctx := t.Context()
		v0, _ := db.Versions(ctx)
		r := presence.WatchRule{User: "5002", Domain: "voip.unisi.it", Watcher: "5003@voip.unisi.it"}
		if err := s.PutWatchRule(ctx, r); err != nil {
			t.Fatal(err)
		}
		r.Allow = true
		if err := s.PutWatchRule(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.PutWatchRule(ctx, presence.WatchRule{User: "5002", Domain: "voip.unisi.it", Watcher: "5003"}); err == nil {
			t.Error("a watcher without a domain stored")
		}
		got, err := s.WatchRules(ctx)
		if err != nil || len(got) != 1 || got[0] != r {
			t.Fatalf("rules: %+v %v, want [%+v]", got, err, r)
		}
		if err := s.DeleteWatchRule(ctx, "5002", "voip.unisi.it", "5003@voip.unisi.it"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteWatchRule(ctx, "5002", "voip.unisi.it", "5003@voip.unisi.it"); !errors.Is(err, presence.ErrNotFound) {
			t.Errorf("second delete: %v, want ErrNotFound", err)
		}
		if v1, _ := db.Versions(ctx); v1["watchrules"] == v0["watchrules"] {
			t.Error("the watchrules counter did not move")
		}
	})
}
