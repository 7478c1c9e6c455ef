// Package admintest is the conformance suite every admin.Store,
// admin.LoginStore and admin.AccountInfoStore passes.
package admintest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/admin"
	"github.com/palio-voip/palio/sip"
)

// TestStore checks a Store: the notice empty at first, replaced, kept to
// the millisecond, refused when invalid; audit entries appended with
// increasing IDs, listed newest first, filtered by who, limited.
// newStore returns an empty store for each call.
func TestStore(t *testing.T, newStore func(t *testing.T) admin.Store) {
	ctx := context.Background()
	at := time.Date(2026, 12, 5, 9, 30, 0, 123_000_000, time.UTC)

	t.Run("notice", func(t *testing.T) {
		s := newStore(t)
		n, err := s.Notice(ctx)
		if err != nil || n.Text != "" {
			t.Fatalf("empty store: got %+v, %v; want no notice", n, err)
		}
		want := admin.Notice{Text: "Manutenzione domenica 8–10\nthe phones may reboot", Updated: at, By: "admin"}
		for _, put := range []admin.Notice{{Text: "first", Updated: at.Add(-time.Hour), By: "x"}, want} {
			if err := s.SetNotice(ctx, put); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Notice(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got.Text != want.Text || !got.Updated.Equal(want.Updated) || got.By != want.By {
			t.Errorf("got %+v, want %+v", got, want)
		}
		if err := s.SetNotice(ctx, admin.Notice{Text: strings.Repeat("x", admin.MaxNoticeLen+1)}); err == nil {
			t.Error("a notice over MaxNoticeLen was stored")
		}
	})

	t.Run("audit", func(t *testing.T) {
		s := newStore(t)
		var ids []int64
		for i, e := range []admin.AuditEntry{
			{Time: at, Who: "admin", Action: "account.create", Target: "5200@voip.unisi.it", Detail: "classes=local"},
			{Time: at.Add(time.Second), Who: "5002", Action: "features.set", Target: "5002@voip.unisi.it", Detail: "forward-busy=5003"},
			{Time: at.Add(2 * time.Second), Who: "admin", Action: "gateway.disable", Target: "gw-siena-1"},
		} {
			got, err := s.AddAudit(ctx, e)
			if err != nil {
				t.Fatal(err)
			}
			if i > 0 && got.ID <= ids[i-1] {
				t.Errorf("entry %d: ID %d not after %d", i, got.ID, ids[i-1])
			}
			ids = append(ids, got.ID)
		}
		all, err := s.Audit(ctx, admin.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 3 || all[0].Action != "gateway.disable" || all[2].Action != "account.create" {
			t.Fatalf("got %+v, want the three entries newest first", all)
		}
		if e := all[1]; e.ID != ids[1] || e.Who != "5002" || e.Target != "5002@voip.unisi.it" || e.Detail != "forward-busy=5003" || !e.Time.Equal(at.Add(time.Second)) {
			t.Errorf("got %+v, want every field kept", e)
		}
		mine, err := s.Audit(ctx, admin.AuditFilter{Who: "admin", Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(mine) != 1 || mine[0].Action != "gateway.disable" {
			t.Errorf("who=admin limit=1: got %+v", mine)
		}
	})
}

// TestLoginStore checks a LoginStore: logins stored, replaced, listed by
// name, deleted (ErrNotFound when absent), invalid ones refused.
func TestLoginStore(t *testing.T, newStore func(t *testing.T) admin.LoginStore) {
	ctx := context.Background()
	at := time.Date(2026, 12, 5, 9, 30, 0, 0, time.UTC)
	boss := admin.Login{Name: "admin", Scope: admin.ScopeAdmin, Hash: "$2a$10$abc", Updated: at}
	user := admin.Login{Name: "5002", Scope: admin.ScopeUser, Account: "5002", Domain: "voip.unisi.it", Hash: "$2a$10$def", Updated: at}

	t.Run("round trip", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Login(ctx, "admin"); !errors.Is(err, admin.ErrNotFound) {
			t.Fatalf("empty store: got %v, want ErrNotFound", err)
		}
		for _, l := range []admin.Login{boss, user} {
			if err := s.PutLogin(ctx, l); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Login(ctx, "5002")
		if err != nil {
			t.Fatal(err)
		}
		if got.Scope != user.Scope || got.Account != user.Account || got.Domain != user.Domain || got.Hash != user.Hash || !got.Updated.Equal(at) {
			t.Errorf("got %+v, want %+v", got, user)
		}
		boss2 := boss
		boss2.Hash = "$2a$10$xyz"
		if err := s.PutLogin(ctx, boss2); err != nil {
			t.Fatal(err)
		}
		list, err := s.Logins(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Name != "5002" || list[1].Name != "admin" || list[1].Hash != boss2.Hash {
			t.Errorf("got %+v, want 5002 then admin (replaced)", list)
		}
		if err := s.DeleteLogin(ctx, "5002"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteLogin(ctx, "5002"); !errors.Is(err, admin.ErrNotFound) {
			t.Errorf("second delete: got %v, want ErrNotFound", err)
		}
	})

	t.Run("invalid", func(t *testing.T) {
		s := newStore(t)
		for _, l := range []admin.Login{
			{Name: "", Scope: admin.ScopeAdmin, Hash: "h"},
			{Name: "a b", Scope: admin.ScopeAdmin, Hash: "h"},
			{Name: "x", Scope: "root", Hash: "h"},
			{Name: "x", Scope: admin.ScopeUser, Hash: "h"},
			{Name: "x", Scope: admin.ScopeAdmin},
		} {
			if err := s.PutLogin(ctx, l); err == nil {
				t.Errorf("%+v stored", l)
			}
		}
	})
}

// TestAccountInfoStore checks an AccountInfoStore: an account without
// info reads as a zero owner and note; an info is stored (non-ASCII text
// and the longest owner and note kept whole), replaced, found with the
// domain in another case, listed by username, removed by an empty info
// and by DeleteAccountInfo (twice: no error); an invalid info is refused
// with its field and changes nothing.
func TestAccountInfoStore(t *testing.T, newStore func(t *testing.T) admin.AccountInfoStore) {
	ctx := context.Background()
	const dom = "voip.unisi.it"
	mario := admin.AccountInfo{Username: "5002", Domain: dom, Owner: "Mario Rossi", Note: "studio 12, piano terra — chiedere in portineria"}
	long := admin.AccountInfo{Username: "5003", Domain: dom, Owner: strings.Repeat("è", admin.MaxOwnerLen), Note: strings.Repeat("n", admin.MaxNoteLen)}
	infos := func(s admin.AccountInfoStore) string {
		t.Helper()
		list, err := s.AccountInfos(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, i := range list {
			out = append(out, i.Username+"@"+strings.ToLower(i.Domain)+"="+i.Owner)
		}
		return strings.Join(out, ",")
	}

	t.Run("info round trip", func(t *testing.T) {
		s := newStore(t)
		got, err := s.AccountInfo(ctx, "5002", dom)
		if err != nil || got.Owner != "" || got.Note != "" {
			t.Fatalf("empty store: got %+v, %v; want no owner nor note", got, err)
		}
		for _, i := range []admin.AccountInfo{{Username: "5002", Domain: dom, Owner: "first"}, mario, long} {
			if err := s.PutAccountInfo(ctx, i); err != nil {
				t.Fatalf("%+v: %v", i, err)
			}
		}
		for _, want := range []admin.AccountInfo{mario, long} {
			got, err := s.AccountInfo(ctx, want.Username, strings.ToUpper(want.Domain))
			if err != nil {
				t.Fatal(err)
			}
			if got.Username != want.Username || !strings.EqualFold(got.Domain, want.Domain) || got.Owner != want.Owner || got.Note != want.Note {
				t.Errorf("got %+v, want %+v", got, want)
			}
		}
		if got, err := s.AccountInfo(ctx, "5002", "other.example"); err != nil || !got.IsZero() {
			t.Errorf("5002 in another domain: got %+v, %v; want none", got, err)
		}
		if got, want := infos(s), "5002@voip.unisi.it=Mario Rossi,5003@voip.unisi.it="+long.Owner; got != want {
			t.Errorf("listed %s, want %s", got, want)
		}
		if err := s.PutAccountInfo(ctx, admin.AccountInfo{Username: "5002", Domain: dom}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteAccountInfo(ctx, "5003", dom); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteAccountInfo(ctx, "5003", dom); err != nil {
			t.Errorf("deleting again: %v, want no error", err)
		}
		if got := infos(s); got != "" {
			t.Errorf("after the removals: listed %s, want none", got)
		}
	})

	t.Run("info invalid", func(t *testing.T) {
		s := newStore(t)
		if err := s.PutAccountInfo(ctx, mario); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			field string
			info  admin.AccountInfo
		}{
			{"username", admin.AccountInfo{Username: "50 02", Domain: dom, Owner: "x"}},
			{"domain", admin.AccountInfo{Username: "5002", Owner: "x"}},
			{"owner", admin.AccountInfo{Username: "5002", Domain: dom, Owner: strings.Repeat("o", admin.MaxOwnerLen+1)}},
			{"owner", admin.AccountInfo{Username: "5002", Domain: dom, Owner: "Mario\x00Rossi"}},
			{"owner", admin.AccountInfo{Username: "5002", Domain: dom, Owner: "Mario\xffRossi"}},
			{"note", admin.AccountInfo{Username: "5002", Domain: dom, Note: strings.Repeat("n", admin.MaxNoteLen+1)}},
			{"note", admin.AccountInfo{Username: "5002", Domain: dom, Note: "line one\nline two"}},
		} {
			err := s.PutAccountInfo(ctx, tc.info)
			if f, ok := sip.FieldOf(err); !ok || f != tc.field {
				t.Errorf("%+v: got %v, want a FieldError naming %s", tc.info, err, tc.field)
			}
		}
		if got, _ := s.AccountInfo(ctx, "5002", dom); got.Owner != mario.Owner || got.Note != mario.Note {
			t.Errorf("after the refusals: got %+v, want %+v", got, mario)
		}
	})
}
