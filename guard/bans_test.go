package guard_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

var authCfg = guard.Config{
	Flood: guard.FloodConfig{Off: true},
	Auth: guard.AuthConfig{
		PerIP:   guard.Limit{Failures: 5, Window: time.Minute, Ban: time.Hour},
		PerUser: guard.Limit{Failures: 8, Window: 10 * time.Minute, Ban: 10 * time.Minute},
	},
}

// TestAuthBanPerIP: the fifth counted failure within a minute bans the
// source for an hour: nothing of it is heard, the ban is stored, logged
// once in fail2ban's shape and published; the hour over, it is lifted and
// deleted from the store.
func TestAuthBanPerIP(t *testing.T) {
	e := newEnv(t, authCfg, nil)
	src := netip.MustParseAddr("203.0.113.9")
	for i := range 4 {
		e.g.AuthFailed(src, "500"+string(rune('1'+i)), "wrong-password")
		e.clock.Advance(10 * time.Second)
	}
	e.g.AuthFailed(src, "5002", "stale-nonce") // not counted
	if v := e.g.Admit(ap("203.0.113.9:5060"), "udp"); v != sip.Pass {
		t.Fatalf("after 4 failures: %v, want Pass", v)
	}
	e.g.AuthFailed(src, "5002", "unknown-user")
	if v := e.g.Admit(ap("203.0.113.9:5060"), "udp"); v != sip.Drop {
		t.Fatalf("after 5 failures in 40 s: %v, want Drop", v)
	}
	if v := e.g.Admit(ap("203.0.113.10:5060"), "udp"); v != sip.Pass {
		t.Fatalf("another source: %v, want Pass", v)
	}
	line := `level=WARN msg="guard: banned" src=203.0.113.9 kind=ip until=2026-12-02T10:00:40Z reason="5 auth failures in 1m0s (the last: unknown-user for \"5002\")"`
	if n := e.logs.count(line); n != 1 {
		t.Errorf("the ban line %d times, want once:\n%s", n, e.logs)
	}
	evs := e.took()
	if len(evs) != 1 || evs[0].Kind != guard.EventBanned || evs[0].Ban.Kind != guard.BanIP || !evs[0].Ban.Until.Equal(t0.Add(40*time.Second+time.Hour)) {
		t.Fatalf("events: %+v", evs)
	}
	waitStored(t, e.store, func(bs []guard.Ban) bool { return len(bs) == 1 && bs[0].Subject == "203.0.113.9" })

	e.clock.Advance(time.Hour)
	e.g.Sweep()
	if v := e.g.Admit(ap("203.0.113.9:5060"), "udp"); v != sip.Pass {
		t.Fatalf("after the hour: %v, want Pass", v)
	}
	if evs := e.took(); len(evs) != 1 || evs[0].Kind != guard.EventUnbanned || evs[0].Why != "expired" {
		t.Fatalf("events: %+v", evs)
	}
	waitStored(t, e.store, func(bs []guard.Ban) bool { return len(bs) == 0 })
}

// TestAuthFailuresOutsideWindow: failures spread wider than the window do
// not ban.
func TestAuthFailuresOutsideWindow(t *testing.T) {
	e := newEnv(t, authCfg, nil)
	src := netip.MustParseAddr("203.0.113.9")
	for range 20 {
		e.g.AuthFailed(src, "", "wrong-password")
		e.clock.Advance(16 * time.Second)
	}
	if l := e.g.List(); len(l) != 0 {
		t.Fatalf("bans: %+v", l)
	}
}

// TestAuthExempt: a trusted source is never banned.
func TestAuthExempt(t *testing.T) {
	cfg := authCfg
	cfg.Exempt = func(netip.AddrPort) bool { return true }
	e := newEnv(t, cfg, nil)
	for range 10 {
		e.g.AuthFailed(netip.MustParseAddr("198.51.100.11"), "x", "wrong-password")
	}
	for _, b := range e.g.List() {
		if b.Kind == guard.BanIP {
			t.Fatalf("a trusted source banned: %+v", b)
		}
	}
}

// register is a REGISTER from src with credentials for user (or none).
func register(t *testing.T, src, user string) *sip.Request {
	t.Helper()
	raw := "REGISTER sip:voip.unisi.it SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + src + ";branch=z9hG4bK" + sipmsg.GenerateTagN(8) + "\r\n" +
		"From: <sip:" + user + "@voip.unisi.it>;tag=1\r\nTo: <sip:" + user + "@voip.unisi.it>\r\n" +
		"Call-ID: " + sipmsg.GenerateTagN(10) + "\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n"
	if user != "" {
		raw += `Authorization: Digest username="` + user + `", realm="voip.unisi.it", nonce="n", uri="sip:voip.unisi.it", response="00"` + "\r\n"
	}
	raw += "Content-Length: 0\r\n\r\n"
	m, err := sipmsg.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	r := m.(*sip.Request)
	r.SetSource(src)
	return r
}

// TestAuthBanPerUser: failures for one account from many sources, each
// under the per-source limit, lock the account: the Bans stage refuses its
// credentials with 403, from anywhere, and lets other accounts through.
func TestAuthBanPerUser(t *testing.T) {
	e := newEnv(t, authCfg, nil)
	for i := range 8 {
		e.g.AuthFailed(netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)}), "5002", "wrong-password")
	}
	ok := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		return w.WriteResponse(sip.NewResponse(r, 200, "OK"))
	})
	h := e.g.Bans(ok)
	for _, tt := range []struct {
		user string
		want int
	}{{"5002", 403}, {"5003", 200}, {"", 200}} {
		rec := siptest.NewRecorder()
		err := h.ServeSIP(context.Background(), rec, register(t, "10.0.0.5:5060", tt.user))
		if got := siptest.Code(rec, err); got != tt.want {
			t.Errorf("REGISTER with credentials of %q: got %d, want %d", tt.user, got, tt.want)
		}
	}
	if n := e.logs.count(`msg="guard: banned" user=5002 kind=user`); n != 1 {
		t.Errorf("the user ban logged %d times:\n%s", n, e.logs)
	}
}

// TestBansStageSourceBan: without the gate, the Bans stage still refuses
// a banned source (503).
func TestBansStageSourceBan(t *testing.T) {
	e := newEnv(t, authCfg, nil)
	for range 5 {
		e.g.AuthFailed(netip.MustParseAddr("203.0.113.9"), "5002", "wrong-password")
	}
	h := e.g.Bans(sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		t.Fatal("a banned source's request went on")
		return nil
	}))
	rec := siptest.NewRecorder()
	if got := siptest.Code(rec, h.ServeSIP(context.Background(), rec, register(t, "203.0.113.9:5060", ""))); got != 503 {
		t.Fatalf("got %d, want 503", got)
	}
}

// TestReloadOperatorUnban: a ban an operator deletes from the store (the
// unban command of another process) is lifted at the next reload, with
// an event of Origin store; the failures that made it count afresh.
func TestReloadOperatorUnban(t *testing.T) {
	e := newEnv(t, authCfg, nil)
	src := netip.MustParseAddr("203.0.113.9")
	for range 5 {
		e.g.AuthFailed(src, "5002", "wrong-password")
	}
	waitStored(t, e.store, func(bs []guard.Ban) bool { return len(bs) == 1 })
	e.took()
	if err := e.store.DeleteBan(context.Background(), guard.BanIP, "203.0.113.9"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.g.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := e.g.Admit(ap("203.0.113.9:5060"), "udp"); v != sip.Pass {
		t.Fatalf("after the operator's unban: %v", v)
	}
	evs := e.took()
	if len(evs) != 1 || evs[0].Kind != guard.EventUnbanned || evs[0].Origin != guard.OriginStore || evs[0].Why != "cleared" {
		t.Fatalf("events: %+v", evs)
	}
	for range 4 {
		e.g.AuthFailed(src, "5003", "wrong-password")
	}
	if len(e.g.List()) != 0 {
		t.Errorf("4 failures after the unban banned again: the count did not start afresh")
	}
}

// TestRestartKeepsBans: a new guard over the store of an old one has its
// bans in force; an expired one is not.
func TestRestartKeepsBans(t *testing.T) {
	store := guard.NewMemStore()
	ctx := context.Background()
	for _, b := range []guard.Ban{
		{Kind: guard.BanIP, Subject: "203.0.113.9", Reason: "r", Created: t0.Add(-time.Minute), Until: t0.Add(time.Hour)},
		{Kind: guard.BanIP, Subject: "203.0.113.10", Reason: "r", Created: t0.Add(-2 * time.Hour), Until: t0.Add(-time.Hour)},
		{Kind: guard.BanFraud, Subject: "5002", Reason: "r", Created: t0.Add(-24 * time.Hour)},
	} {
		if err := store.PutBan(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t, authCfg, store)
	if v := e.g.Admit(ap("203.0.113.9:5060"), "udp"); v != sip.Drop {
		t.Errorf("a stored ban: %v, want Drop", v)
	}
	if v := e.g.Admit(ap("203.0.113.10:5060"), "udp"); v != sip.Pass {
		t.Errorf("an expired stored ban: %v, want Pass", v)
	}
	got := e.g.List()
	if len(got) != 2 || got[0].Kind != guard.BanFraud || got[1].Subject != "203.0.113.9" {
		t.Errorf("List: %+v", got)
	}
	waitStored(t, store, func(bs []guard.Ban) bool { return len(bs) == 2 })
}

// slowStore holds PutBan until released.
type slowStore struct {
	*guard.MemStore
	release chan struct{}
	once    sync.Once
}

func (s *slowStore) PutBan(ctx context.Context, b guard.Ban) error {
	<-s.release
	return s.MemStore.PutBan(ctx, b)
}

// TestReloadKeepsUnwrittenBans: a reload while a ban is still on its way
// to the store keeps it.
func TestReloadKeepsUnwrittenBans(t *testing.T) {
	store := &slowStore{MemStore: guard.NewMemStore(), release: make(chan struct{})}
	e := &env{clock: newClock(t0), logs: &logBuffer{}}
	g, err := guard.New(authCfg, store, guard.WithClock(e.clock), guard.WithLogger(newLogger(e.logs)))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	defer close(store.release)
	for range 5 {
		g.AuthFailed(netip.MustParseAddr("203.0.113.9"), "5002", "wrong-password")
	}
	if _, err := g.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := g.Admit(ap("203.0.113.9:5060"), "udp"); v != sip.Drop {
		t.Fatalf("a ban not yet stored, after a reload: %v, want Drop", v)
	}
}

// failingStore fails every write.
type failingStore struct{ *guard.MemStore }

func (failingStore) PutBan(context.Context, guard.Ban) error { return errors.New("disk full") }

// TestStoreDown: a ban the store refuses holds in memory, and says so.
func TestStoreDown(t *testing.T) {
	logs := &logBuffer{}
	c := newClock(t0)
	g, err := guard.New(authCfg, failingStore{guard.NewMemStore()}, guard.WithClock(c), guard.WithLogger(newLogger(logs)))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		g.AuthFailed(netip.MustParseAddr("203.0.113.9"), "5002", "wrong-password")
	}
	g.Close() // writes the queue
	if !strings.Contains(logs.String(), "guard: ban not stored") {
		t.Errorf("no line about the failed write:\n%s", logs)
	}
	if v := g.Admit(ap("203.0.113.9:5060"), "udp"); v != sip.Drop {
		t.Errorf("the ban: %v, want Drop", v)
	}
}
