// Package accountingtest is the conformance suite every accounting.Store
// and accounting.DepartmentStore passes.
package accountingtest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/accounting"
)

// base is a whole second, as the SQL stores keep times (DATETIME).
var base = time.Date(2026, 12, 4, 9, 30, 0, 0, time.Local)

// Sample returns n records of a day's calls, created a minute apart from
// 09:30 local time on 2026-12-04, in whole seconds: answered outgoing
// calls, busy and cancelled ones, an internal call, an incoming one, a
// caller that did not authenticate. Every field is set on the answered
// ones.
func Sample(n int) []accounting.CDR {
	out := make([]accounting.CDR, n)
	for i := range out {
		created := base.Add(time.Duration(i) * time.Minute)
		c := accounting.CDR{
			ID: fmt.Sprintf("%032d", i+1), Method: "INVITE",
			FromTag: fmt.Sprintf("ft%d", i), CallID: fmt.Sprintf("call-%d@10.0.0.2", i),
			Created: created, Caller: "5002@voip.unisi.it", From: "5002@voip.unisi.it",
			Dialled: "00577232111", Number: "00577232111", Class: "national",
			Gateway: "gw-siena-1", Carrier: "pstn-siena", Direction: accounting.Out,
		}
		switch i % 5 {
		case 0: // answered, 65.4 s
			c.ToTag, c.Code, c.Reason = fmt.Sprintf("tt%d", i), 200, "OK"
			c.Time, c.SetupTime = created.Add(3*time.Second), 3
			c.MSDuration, c.Duration = 65400, 66
			c.Hangup, c.Cause = accounting.HangupCaller, "bye-caller"
			c.Cost, c.Rate = 90000, 7
		case 1: // busy
			c.ToTag, c.Code, c.Reason = fmt.Sprintf("tt%d", i), 486, "Busy Here"
			c.Time, c.SetupTime = created.Add(2*time.Second), 2
			c.Hangup, c.Cause = accounting.HangupCallee, "rejected"
		case 2: // cancelled, internal
			c.Code, c.Reason = 487, "Request Terminated"
			c.Time, c.SetupTime = created.Add(9*time.Second), 9
			c.Callee, c.Dialled, c.Number, c.Class, c.Gateway, c.Carrier = "5003@voip.unisi.it", "5003", "5003", "voip", "", ""
			c.Direction = accounting.Internal
			c.Hangup, c.Cause = accounting.HangupCaller, "canceled"
		case 3: // incoming, answered by 5003, hung up by the callee
			c.ToTag, c.Code, c.Reason = fmt.Sprintf("tt%d", i), 200, "OK"
			c.Time, c.SetupTime = created.Add(time.Second), 1
			c.MSDuration, c.Duration = 1000, 1
			c.Caller, c.From = "", "0577232111@10.0.0.9"
			c.Callee, c.Dialled, c.Number, c.Class, c.Gateway, c.Carrier = "5003@voip.unisi.it", "5003", "5003", "voip", "", ""
			c.Direction = accounting.In
			c.Hangup, c.Cause = accounting.HangupCallee, "bye-callee"
		case 4: // refused before authenticating: a blocked account
			c.Code, c.Reason = 403, "Forbidden"
			c.Time = created
			c.Caller, c.From = "", "5009@voip.unisi.it"
			c.Dialled, c.Number, c.Class, c.Gateway, c.Carrier = "5003", "", "", "", ""
			c.Direction = accounting.In
			c.Hangup, c.Cause = accounting.HangupCallee, "rejected"
		}
		out[i] = c
	}
	return out
}

// diff describes how got differs from want, comparing times as instants.
func diff(got, want accounting.CDR) string {
	var d []string
	if !got.Time.Equal(want.Time) {
		d = append(d, fmt.Sprintf("Time: got %v, want %v", got.Time, want.Time))
	}
	if !got.Created.Equal(want.Created) {
		d = append(d, fmt.Sprintf("Created: got %v, want %v", got.Created, want.Created))
	}
	got.Time, want.Time, got.Created, want.Created = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		d = append(d, fmt.Sprintf("got %+v\nwant %+v", got, want))
	}
	return strings.Join(d, "; ")
}

func read(t *testing.T, s accounting.Store, f accounting.Filter) []accounting.CDR {
	t.Helper()
	var out []accounting.CDR
	if err := s.CDRs(context.Background(), f, func(c accounting.CDR) error {
		out = append(out, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func ids(list []accounting.CDR) string {
	var s []string
	for _, c := range list {
		s = append(s, strings.TrimLeft(c.ID, "0"))
	}
	return strings.Join(s, ",")
}

// TestStore checks a Store: records written with every field and read
// back in order, each in acc and the unanswered ones in missed_calls
// too; a batch written twice stored once; the filter by period, account
// and limit; fn's error returned; the rate table's rows added, replaced,
// deleted, refused when invalid. newStore returns an empty store for each
// call.
func TestStore(t *testing.T, newStore func(t *testing.T) accounting.Store) {
	ctx := context.Background()
	t.Run("records round trip", func(t *testing.T) {
		s := newStore(t)
		want := Sample(5)
		if err := s.WriteCDRs(ctx, want); err != nil {
			t.Fatal(err)
		}
		got := read(t, s, accounting.Filter{})
		if len(got) != len(want) {
			t.Fatalf("acc: got %d records, want %d", len(got), len(want))
		}
		for i := range want {
			if d := diff(got[i], want[i]); d != "" {
				t.Errorf("acc record %d: %s", i, d)
			}
		}
		missed := read(t, s, accounting.Filter{Missed: true})
		if g, w := ids(missed), "2,3,5"; g != w {
			t.Fatalf("missed_calls: got records %s, want %s", g, w)
		}
		for _, m := range missed {
			i := strings.TrimLeft(m.ID, "0")[0] - '1'
			if d := diff(m, want[i]); d != "" {
				t.Errorf("missed_calls record %d: %s", i, d)
			}
		}
	})
	t.Run("written twice, stored once", func(t *testing.T) {
		s := newStore(t)
		batch := Sample(3)
		for range 2 {
			if err := s.WriteCDRs(ctx, batch); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.WriteCDRs(ctx, Sample(4)); err != nil { // three again, one new
			t.Fatal(err)
		}
		if g, w := ids(read(t, s, accounting.Filter{})), "1,2,3,4"; g != w {
			t.Errorf("acc: got %s, want %s", g, w)
		}
		if g, w := ids(read(t, s, accounting.Filter{Missed: true})), "2,3"; g != w {
			t.Errorf("missed_calls: got %s, want %s", g, w)
		}
	})
	t.Run("order", func(t *testing.T) {
		s := newStore(t)
		all := Sample(6)
		// Written out of order; two created in the same second read in
		// the order written.
		all[5].Created = all[2].Created
		for _, i := range []int{4, 0, 2, 5, 3, 1} {
			if err := s.WriteCDRs(ctx, all[i:i+1]); err != nil {
				t.Fatal(err)
			}
		}
		if g, w := ids(read(t, s, accounting.Filter{})), "1,2,3,6,4,5"; g != w {
			t.Errorf("got %s, want %s", g, w)
		}
	})
	t.Run("filter", func(t *testing.T) {
		s := newStore(t)
		if err := s.WriteCDRs(ctx, Sample(10)); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name string
			f    accounting.Filter
			want string
		}{
			{"from inclusive", accounting.Filter{From: base.Add(7 * time.Minute)}, "8,9,10"},
			{"to exclusive", accounting.Filter{To: base.Add(2 * time.Minute)}, "1,2"},
			{"period", accounting.Filter{From: base.Add(2 * time.Minute), To: base.Add(4*time.Minute + time.Second)}, "3,4,5"},
			{"caller or callee", accounting.Filter{User: "5003"}, "3,4,8,9"},
			{"caller by AOR", accounting.Filter{User: "5002@voip.unisi.it"}, "1,2,3,6,7,8"},
			{"unauthenticated caller by From", accounting.Filter{User: "5009"}, "5,10"},
			{"a dialled number is not an account", accounting.Filter{User: "00577232111"}, ""},
			{"user and period", accounting.Filter{User: "5003", From: base.Add(5 * time.Minute)}, "8,9"},
			{"limit", accounting.Filter{Limit: 3}, "1,2,3"},
			{"missed of a user", accounting.Filter{User: "5003", Missed: true}, "3,8"},
			{"a LIKE pattern is no wildcard", accounting.Filter{User: "50_2"}, ""},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if g := ids(read(t, s, tt.f)); g != tt.want {
					t.Errorf("got %q, want %q", g, tt.want)
				}
			})
		}
	})
	t.Run("many in one batch", func(t *testing.T) {
		s := newStore(t)
		if err := s.WriteCDRs(ctx, Sample(450)); err != nil {
			t.Fatal(err)
		}
		if n := len(read(t, s, accounting.Filter{})); n != 450 {
			t.Errorf("got %d records, want 450", n)
		}
		if n := len(read(t, s, accounting.Filter{Missed: true})); n != 270 {
			t.Errorf("got %d missed, want 270", n)
		}
	})
	t.Run("fn's error stops", func(t *testing.T) {
		s := newStore(t)
		if err := s.WriteCDRs(ctx, Sample(5)); err != nil {
			t.Fatal(err)
		}
		stop := errors.New("enough")
		n := 0
		err := s.CDRs(ctx, accounting.Filter{}, func(accounting.CDR) error {
			n++
			if n == 2 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 2 {
			t.Errorf("got %v after %d records, want %v after 2", err, n, stop)
		}
	})
	t.Run("rates", func(t *testing.T) {
		s := newStore(t)
		national := accounting.Rate{Class: "national", PerMinute: 15000, ConnectFee: 50000, Initial: 60, Increment: 60, Description: "Italy, fixed"}
		r1, err := s.PutRate(ctx, national)
		if err != nil {
			t.Fatal(err)
		}
		mobile := accounting.Rate{Class: "mobile", Prefix: "03", PerMinute: 120000, Initial: 1, Increment: 1}
		r2, err := s.PutRate(ctx, mobile)
		if err != nil {
			t.Fatal(err)
		}
		free := accounting.Rate{Prefix: "00800", Free: true, Initial: 0, Increment: 1, Description: "toll-free"}
		r3, err := s.PutRate(ctx, free)
		if err != nil {
			t.Fatal(err)
		}
		if r1.ID == 0 || r2.ID == 0 || r3.ID == 0 || r1.ID == r2.ID || r2.ID == r3.ID {
			t.Fatalf("IDs: %d %d %d", r1.ID, r2.ID, r3.ID)
		}
		national.ID, mobile.ID, free.ID = r1.ID, r2.ID, r3.ID
		got, err := s.Rates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := []accounting.Rate{national, mobile, free}; !reflect.DeepEqual(got, want) {
			t.Fatalf("rates:\ngot  %+v\nwant %+v", got, want)
		}
		national.PerMinute, national.Initial, national.Increment = 12000, 1, 1
		if _, err := s.PutRate(ctx, national); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutRate(ctx, accounting.Rate{Class: "mobile", Prefix: "03", Increment: 1}); !errors.Is(err, accounting.ErrExists) {
			t.Errorf("a second rate for a class and prefix: %v, want ErrExists", err)
		}
		if _, err := s.PutRate(ctx, accounting.Rate{ID: national.ID, Class: "mobile", Prefix: "03", Increment: 1}); !errors.Is(err, accounting.ErrExists) {
			t.Errorf("a rate changed to another's class and prefix: %v, want ErrExists", err)
		}
		if _, err := s.PutRate(ctx, accounting.Rate{Class: "Mobile", Prefix: "03", Increment: 1}); err != nil {
			t.Errorf("classes compare byte for byte: %v", err)
		} else {
			got, _ := s.Rates(ctx)
			s.DeleteRate(ctx, got[len(got)-1].ID)
		}
		if _, err := s.PutRate(ctx, accounting.Rate{ID: 999, Class: "x", Increment: 1}); !errors.Is(err, accounting.ErrNotFound) {
			t.Errorf("replacing a rate that is not there: %v, want ErrNotFound", err)
		}
		if err := s.DeleteRate(ctx, mobile.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteRate(ctx, mobile.ID); !errors.Is(err, accounting.ErrNotFound) {
			t.Errorf("deleting twice: %v, want ErrNotFound", err)
		}
		got, _ = s.Rates(ctx)
		if want := []accounting.Rate{national, free}; !reflect.DeepEqual(got, want) {
			t.Fatalf("after replace and delete:\ngot  %+v\nwant %+v", got, want)
		}
		for _, bad := range []accounting.Rate{
			{Class: "national", PerMinute: -1, Increment: 1},
			{Class: "national", Increment: 0},
			{Prefix: "05x7", Increment: 1},
			{Class: "two words", Increment: 1},
			{Class: "città", Increment: 1},
		} {
			if _, err := s.PutRate(ctx, bad); err == nil {
				t.Errorf("%+v: stored, want refused", bad)
			}
		}
		if got, _ := s.Rates(ctx); len(got) != 2 {
			t.Errorf("refused rates left rows: %+v", got)
		}
	})
}

// TestDepartments checks a DepartmentStore: departments set, replaced,
// removed by an empty name, listed by user and domain; invalid ones
// refused.
func TestDepartments(t *testing.T, newStore func(t *testing.T) accounting.DepartmentStore) {
	ctx := context.Background()
	s := newStore(t)
	for _, d := range []accounting.Department{
		{User: "5003", Domain: "voip.unisi.it", Department: "Economia"},
		{User: "5002", Domain: "voip.unisi.it", Department: "Ingegneria"},
		{User: "5004", Domain: "voip.unisi.it", Department: "Lettere"},
		{User: "5002", Domain: "voip.unisi.it", Department: "Rettorato"},
		{User: "5004", Domain: "voip.unisi.it"},
	} {
		if err := s.SetDepartment(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Departments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []accounting.Department{
		{User: "5002", Domain: "voip.unisi.it", Department: "Rettorato"},
		{User: "5003", Domain: "voip.unisi.it", Department: "Economia"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	for _, bad := range []accounting.Department{
		{User: "", Domain: "voip.unisi.it", Department: "x"},
		{User: "5002", Domain: "voip.unisi.it", Department: strings.Repeat("x", 65)},
		{User: "5002", Domain: "voip.unisi.it", Department: "a\tb"},
	} {
		if err := s.SetDepartment(ctx, bad); err == nil {
			t.Errorf("%+v: stored, want refused", bad)
		}
	}
}
