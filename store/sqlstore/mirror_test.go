package sqlstore_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/palio-voip/palio/store/storetest"
)

func contacts(t *testing.T, s *sqlstore.LocationStore, aor string) []string {
	t.Helper()
	bs, err := s.Lookup(context.Background(), aor)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range bs {
		out = append(out, b.Contact)
	}
	slices.Sort(out)
	return out
}

func bindingOf(aor, contact string, expires time.Time) registrar.Binding {
	return registrar.Binding{AOR: aor, Contact: contact, Transport: "UDP", Q: 1, CallID: "c-" + contact, CSeq: 1, Expires: expires}
}

// TestLocationMirror: a mirrored store answers from memory once loaded
// (before, from the database); another program's announced write bumps
// the change counter and reaches the mirror at the next Reload; an
// unannounced one does not move the counter; the store's own writes
// reach its mirror at once and do not move the counter either.
func TestLocationMirror(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		ctx := context.Background()
		db := open(t)
		hour := time.Now().Add(time.Hour)
		cli := db.Location(sqlstore.LocationOptions{CacheTTL: -1, Announce: true})
		defer cli.Close()
		quiet := db.Location(sqlstore.LocationOptions{CacheTTL: -1})
		defer quiet.Close()
		if err := cli.Put(ctx, bindingOf("5002", "sip:5002@192.0.2.1", hour)); err != nil {
			t.Fatal(err)
		}
		srv := db.Location(sqlstore.LocationOptions{Mirror: true, CacheTTL: -1})
		defer srv.Close()
		if got := contacts(t, srv, "5002"); len(got) != 1 {
			t.Fatalf("before its first reload the store reads the database: got %v", got)
		}
		rep, err := srv.Reload(ctx)
		if err != nil || rep.Loaded != 1 {
			t.Fatalf("reload: %+v %v", rep, err)
		}
		version := func() int64 {
			t.Helper()
			v, err := db.Versions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return v["location"]
		}
		v0 := version()

		// The server's own writes: in the mirror at once, no bump.
		if err := srv.Put(ctx, bindingOf("5003", "sip:5003@192.0.2.2", hour)); err != nil {
			t.Fatal(err)
		}
		if err := srv.Delete(ctx, "5002", "sip:5002@192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		if got := contacts(t, srv, "5003"); len(got) != 1 || len(contacts(t, srv, "5002")) != 0 {
			t.Fatalf("own writes not in the mirror: 5003 %v, 5002 %v", got, contacts(t, srv, "5002"))
		}
		if v := version(); v != v0 {
			t.Fatalf("the server's own writes moved the counter %d -> %d", v0, v)
		}

		// Another program's writes: not seen until Reload.
		if err := quiet.Put(ctx, bindingOf("5004", "sip:5004@192.0.2.3", hour)); err != nil {
			t.Fatal(err)
		}
		if v := version(); v != v0 {
			t.Fatalf("an unannounced write moved the counter %d -> %d", v0, v)
		}
		if err := cli.Put(ctx, bindingOf("5005", "sip:5005@192.0.2.4", hour)); err != nil {
			t.Fatal(err)
		}
		if err := cli.Delete(ctx, "5003", "sip:5003@192.0.2.2"); err != nil {
			t.Fatal(err)
		}
		if v := version(); v != v0+2 {
			t.Fatalf("two announced writes moved the counter %d -> %d, want +2", v0, v)
		}
		if got := contacts(t, srv, "5005"); len(got) != 0 {
			t.Fatalf("the mirror read the database: 5005 %v", got)
		}
		if _, err := srv.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		for aor, want := range map[string]int{"5002": 0, "5003": 0, "5004": 1, "5005": 1} {
			if got := contacts(t, srv, aor); len(got) != want {
				t.Errorf("after reload %s has %v, want %d binding(s)", aor, got, want)
			}
		}
		// An announced expiry sweep and a failed delete.
		if err := cli.Put(ctx, bindingOf("5006", "sip:5006@192.0.2.5", time.Now().Add(-time.Minute))); err != nil {
			t.Fatal(err)
		}
		v1 := version()
		if err := cli.Delete(ctx, "5999", "sip:5999@192.0.2.9"); err == nil {
			t.Fatal("deleting a binding that does not exist: no error")
		}
		if gone, err := cli.DeleteExpired(ctx, time.Now()); err != nil || len(gone) != 1 {
			t.Fatalf("expiry: %v %v", gone, err)
		}
		if v := version(); v != v1+1 {
			t.Fatalf("a failed delete and a sweep moved the counter %d -> %d, want +1 (the sweep)", v1, v)
		}
	})
}

// TestLocationMirrorReloadRace: the writes a store makes while its reload
// reads the table are in the mirror after it, whether the read saw them
// or not, and one that deletes a binding the read saw stays deleted.
func TestLocationMirrorReloadRace(t *testing.T) {
	for _, wb := range []time.Duration{0, time.Hour} {
		t.Run("writeback="+wb.String(), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
				ctx := context.Background()
				db := open(t)
				hour := time.Now().Add(time.Hour)
				srv := db.Location(sqlstore.LocationOptions{Mirror: true, CacheTTL: -1, WriteBack: wb})
				defer srv.Close()
				if _, err := srv.Reload(ctx); err != nil {
					t.Fatal(err)
				}
				for _, c := range []string{"sip:5002@192.0.2.1", "sip:5002@192.0.2.2"} {
					if err := srv.Put(ctx, bindingOf("5002", c, hour)); err != nil {
						t.Fatal(err)
					}
				}
				sqlstore.SetReloadHook(srv, func() {
					sqlstore.SetReloadHook(srv, nil)
					if err := srv.Put(ctx, bindingOf("5002", "sip:5002@192.0.2.3", hour)); err != nil {
						t.Error(err)
					}
					if err := srv.Delete(ctx, "5002", "sip:5002@192.0.2.1"); err != nil {
						t.Error(err)
					}
				})
				if _, err := srv.Reload(ctx); err != nil {
					t.Fatal(err)
				}
				want := []string{"sip:5002@192.0.2.2", "sip:5002@192.0.2.3"}
				if got := contacts(t, srv, "5002"); !slices.Equal(got, want) {
					t.Fatalf("after a reload with writes during its read: %v, want %v", got, want)
				}
				if _, err := srv.Reload(ctx); err != nil { // and what the database holds
					t.Fatal(err)
				}
				if got := contacts(t, srv, "5002"); !slices.Equal(got, want) {
					t.Fatalf("the database holds %v, want %v", got, want)
				}
			})
		})
	}
}

// TestLocationMirrorExpiry: DeleteExpired removes from the mirror the
// bindings it deleted, and a refresh that reached the mirror with a later
// expiry is not removed by a sweep that read the old one.
func TestLocationMirrorExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		ctx := context.Background()
		db := open(t)
		srv := db.Location(sqlstore.LocationOptions{Mirror: true, CacheTTL: -1})
		defer srv.Close()
		if _, err := srv.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		past := time.Now().Add(-time.Minute)
		for _, c := range []string{"sip:5002@192.0.2.1", "sip:5002@192.0.2.2"} {
			if err := srv.Put(ctx, bindingOf("5002", c, past)); err != nil {
				t.Fatal(err)
			}
		}
		if err := srv.Put(ctx, bindingOf("5003", "sip:5003@192.0.2.3", time.Time{})); err != nil { // permanent
			t.Fatal(err)
		}
		gone, err := srv.DeleteExpired(ctx, time.Now())
		if err != nil || len(gone) != 2 {
			t.Fatalf("expiry: %v %v", gone, err)
		}
		if got := contacts(t, srv, "5002"); len(got) != 0 {
			t.Fatalf("expired bindings left in the mirror: %v", got)
		}
		if got := contacts(t, srv, "5003"); len(got) != 1 {
			t.Fatalf("the permanent binding left the mirror: %v", got)
		}
	})
}

// TestImportLocationAnnounces: importing location rows bumps the change
// counter, so that a running server's mirror reloads.
func TestImportLocationAnnounces(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		ctx := context.Background()
		db := open(t)
		v0, err := db.Versions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tsv := "username\tcontact\texpires\n5002\tsip:5002@192.0.2.1:5060\t0\n"
		rep, err := db.ImportTSV(ctx, "location", strings.NewReader(tsv), sqlstore.ImportOptions{})
		if err != nil || !rep.Committed {
			t.Fatalf("import: %+v %v", rep, err)
		}
		v1, err := db.Versions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v1["location"] != v0["location"]+1 {
			t.Fatalf("location counter %d -> %d after an import, want +1", v0["location"], v1["location"])
		}
	})
}
