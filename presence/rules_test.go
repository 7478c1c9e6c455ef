package presence_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/palio-voip/palio/presence"
)

// TestWatchRules: a deny rule stops its watcher; an allow rule turns the
// account's watchers into a list; rules are checked as stored; a reload
// changes the next SUBSCRIBEs.
func TestWatchRules(t *testing.T) {
	rg := newRig(t, presence.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs := presence.NewMemRules()
	for _, bad := range []presence.WatchRule{
		{User: "5002", Domain: domain, Watcher: "5003"},
		{User: "5002", Domain: domain, Watcher: "5002@" + domain},
		{User: "", Domain: domain, Watcher: "5003@" + domain},
	} {
		if err := rs.PutWatchRule(ctx, bad); err == nil {
			t.Errorf("%+v stored", bad)
		}
	}
	code := func(watcher, user string) int {
		t.Helper()
		_, res, err := rg.phone(watcher).Subscribe(ctx, "sip:"+user+"@"+domain, "dialog", 3600)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode
	}
	rs.PutWatchRule(ctx, presence.WatchRule{User: "5002", Domain: domain, Watcher: "5003@" + domain, Allow: false})
	if _, err := rg.pres.ReloadRules(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if c := code("5003", "5002"); c != 403 {
		t.Errorf("denied watcher: %d, want 403", c)
	}
	if c := code("5004", "5002"); c != 202 {
		t.Errorf("another watcher: %d, want 202", c)
	}
	rs.PutWatchRule(ctx, presence.WatchRule{User: "5001", Domain: domain, Watcher: "5004@" + domain, Allow: true})
	rg.pres.ReloadRules(ctx, rs)
	if c := code("5004", "5001"); c != 202 {
		t.Errorf("allowed watcher: %d, want 202", c)
	}
	if c := code("5003", "5001"); c != 403 {
		t.Errorf("a watcher not on the allow list: %d, want 403", c)
	}
	if err := rs.DeleteWatchRule(ctx, "5002", domain, "5003@"+domain); err != nil {
		t.Fatal(err)
	}
	if err := rs.DeleteWatchRule(ctx, "5002", domain, "5003@"+domain); !errors.Is(err, presence.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	rg.pres.ReloadRules(ctx, rs)
	if c := code("5003", "5002"); c != 202 {
		t.Errorf("after the deny rule went: %d, want 202", c)
	}
}
