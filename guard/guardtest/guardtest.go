// Package guardtest is the conformance suite every guard.Store passes.
package guardtest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/palio-voip/palio/guard"
)

// TestStore checks a Store: bans stored, listed, replaced by kind and
// subject, deleted (ErrNotFound when absent), their times kept to the
// millisecond and a zero Until kept zero; fraud rules added with a new ID,
// every field kept, replaced, deleted, listed by ID; invalid bans and
// rules refused. newStore returns an empty store for each call.
func TestStore(t *testing.T, newStore func(t *testing.T) guard.Store) {
	ctx := context.Background()
	created := time.Date(2026, 12, 2, 9, 0, 0, 123_000_000, time.UTC)
	ipBan := guard.Ban{Kind: guard.BanIP, Subject: "203.0.113.9", Reason: `10 auth failures in 1m0s (the last: wrong-password for "5002")`,
		Created: created, Until: created.Add(time.Hour)}
	fraudBan := guard.Ban{Kind: guard.BanFraud, Subject: "5002", Reason: "total-calls 100 >= 100 (rule 3, prefix \"000\")", Created: created}
	userBan := guard.Ban{Kind: guard.BanUser, Subject: "5002", Reason: "20 auth failures", Created: created, Until: created.Add(10 * time.Minute)}
	v6Ban := guard.Ban{Kind: guard.BanIP, Subject: "2001:db8::7", Reason: "r", Created: created, Until: created.Add(time.Minute)}

	same := func(t *testing.T, got, want []guard.Ban) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("got %d bans %+v, want %d %+v", len(got), got, len(want), want)
		}
		byKey := map[string]guard.Ban{}
		for _, b := range got {
			byKey[string(b.Kind)+" "+b.Subject] = b
		}
		for _, w := range want {
			g, ok := byKey[string(w.Kind)+" "+w.Subject]
			if !ok {
				t.Fatalf("missing %s %s in %+v", w.Kind, w.Subject, got)
			}
			if g.Reason != w.Reason || !g.Created.Equal(w.Created) || !g.Until.Equal(w.Until) || g.Until.IsZero() != w.Until.IsZero() {
				t.Errorf("%s %s: got %+v, want %+v", w.Kind, w.Subject, g, w)
			}
		}
	}

	t.Run("bans round trip", func(t *testing.T) {
		s := newStore(t)
		for _, b := range []guard.Ban{ipBan, fraudBan, userBan, v6Ban} {
			if err := s.PutBan(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Bans(ctx)
		if err != nil {
			t.Fatal(err)
		}
		same(t, got, []guard.Ban{ipBan, fraudBan, userBan, v6Ban})
	})
	t.Run("ban replaced and deleted", func(t *testing.T) {
		s := newStore(t)
		if err := s.PutBan(ctx, ipBan); err != nil {
			t.Fatal(err)
		}
		longer := ipBan
		longer.Until = created.Add(24 * time.Hour)
		longer.Reason = "again"
		if err := s.PutBan(ctx, longer); err != nil {
			t.Fatal(err)
		}
		got, _ := s.Bans(ctx)
		same(t, got, []guard.Ban{longer})
		if err := s.DeleteBan(ctx, guard.BanUser, ipBan.Subject); !errors.Is(err, guard.ErrNotFound) {
			t.Errorf("deleting another kind's ban: %v, want ErrNotFound", err)
		}
		if err := s.DeleteBan(ctx, guard.BanIP, ipBan.Subject); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteBan(ctx, guard.BanIP, ipBan.Subject); !errors.Is(err, guard.ErrNotFound) {
			t.Errorf("deleting twice: %v, want ErrNotFound", err)
		}
		if got, _ := s.Bans(ctx); len(got) != 0 {
			t.Errorf("after delete: %+v", got)
		}
	})
	t.Run("bans refused", func(t *testing.T) {
		s := newStore(t)
		for _, b := range []guard.Ban{
			{Kind: guard.BanIP, Subject: "not-an-ip", Created: created},
			{Kind: guard.BanUser, Subject: "a b", Created: created},
			{Kind: guard.BanFlood, Subject: "203.0.113.9", Created: created},
			{Kind: "other", Subject: "x", Created: created},
			{Kind: guard.BanIP, Subject: "203.0.113.9"},
		} {
			if err := s.PutBan(ctx, b); err == nil {
				t.Errorf("accepted %+v", b)
			}
		}
		if got, _ := s.Bans(ctx); len(got) != 0 {
			t.Errorf("stored: %+v", got)
		}
	})

	full := guard.Rule{Profile: 1, Prefix: "000", StartHour: "22:00", EndHour: "06:59", Days: "Mon-Fri",
		CallsPerMinute: guard.Threshold{Warning: 2, Critical: 5}, CallDuration: guard.Threshold{Warning: 3600, Critical: 7200},
		TotalCalls: guard.Threshold{Warning: 5, Critical: 10}, ConcurrentCalls: guard.Threshold{Warning: 1, Critical: 2},
		SequentialCalls: guard.Threshold{Warning: 3, Critical: 6}, TotalMinutes: guard.Threshold{Warning: 60, Critical: 120}}
	t.Run("rules round trip", func(t *testing.T) {
		s := newStore(t)
		a, err := s.PutRule(ctx, full)
		if err != nil {
			t.Fatal(err)
		}
		if a.ID == 0 {
			t.Fatal("no ID given")
		}
		other := guard.Rule{Profile: 1, Prefix: "", TotalCalls: guard.Threshold{Critical: 500}}
		b, err := s.PutRule(ctx, other)
		if err != nil {
			t.Fatal(err)
		}
		if b.ID == a.ID {
			t.Fatalf("two rules with ID %d", a.ID)
		}
		got, err := s.Rules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantA, wantB := full, other
		wantA.ID, wantB.ID = a.ID, b.ID
		want := []guard.Rule{wantA, wantB}
		if a.ID > b.ID {
			want = []guard.Rule{wantB, wantA}
		}
		norm := func(rs []guard.Rule) []guard.Rule {
			for i := range rs {
				// The SQL tables keep OpenSIPS's defaults for empty hours and days.
				if rs[i].StartHour == "00:00" {
					rs[i].StartHour = ""
				}
				if rs[i].EndHour == "23:59" {
					rs[i].EndHour = ""
				}
				if rs[i].Days == "Mon-Sun" {
					rs[i].Days = ""
				}
			}
			return rs
		}
		if !reflect.DeepEqual(norm(got), norm(want)) {
			t.Errorf("got %+v\nwant %+v", got, want)
		}
	})
	t.Run("rule replaced and deleted", func(t *testing.T) {
		s := newStore(t)
		a, err := s.PutRule(ctx, full)
		if err != nil {
			t.Fatal(err)
		}
		a.TotalCalls = guard.Threshold{Warning: 7, Critical: 9}
		if _, err := s.PutRule(ctx, a); err != nil {
			t.Fatal(err)
		}
		got, _ := s.Rules(ctx)
		if len(got) != 1 || got[0].TotalCalls != a.TotalCalls {
			t.Fatalf("after replacing: %+v", got)
		}
		ghost := a
		ghost.ID = a.ID + 100
		if _, err := s.PutRule(ctx, ghost); !errors.Is(err, guard.ErrNotFound) {
			t.Errorf("replacing a rule that is not there: %v, want ErrNotFound", err)
		}
		if err := s.DeleteRule(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteRule(ctx, a.ID); !errors.Is(err, guard.ErrNotFound) {
			t.Errorf("deleting twice: %v, want ErrNotFound", err)
		}
		if got, _ := s.Rules(ctx); len(got) != 0 {
			t.Errorf("after delete: %+v", got)
		}
	})
	t.Run("rules refused", func(t *testing.T) {
		s := newStore(t)
		for _, r := range []guard.Rule{
			{Prefix: "00x"},
			{StartHour: "7:00"},
			{TotalCalls: guard.Threshold{Warning: 9, Critical: 3}},
		} {
			if _, err := s.PutRule(ctx, r); err == nil {
				t.Errorf("accepted %+v", r)
			}
		}
	})
}
