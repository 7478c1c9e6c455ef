package guard

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
)

// TestReloadAfterTheWrite: a reload that runs after a ban's write
// returned, and before the persister took it off pending, reads the
// store as it is: a ban the operator deleted in that window stays lifted
// (the window guard/TestReloadOperatorUnban fell into, now and then).
func TestReloadAfterTheWrite(t *testing.T) {
	ctx := context.Background()
	store := NewMemStore()
	g, err := New(Config{Flood: FloodConfig{Off: true}, Auth: AuthConfig{PerIP: Limit{Failures: 1, Window: time.Minute, Ban: time.Hour}}},
		store, WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	written, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	g.banMu.Lock()
	g.pers.afterWrite = func() { close(written); <-release }
	g.banMu.Unlock()

	src := netip.MustParseAddrPort("203.0.113.9:5060")
	g.AuthFailed(src.Addr(), "5002", "wrong-password")
	<-written
	if bans, err := store.Bans(ctx); err != nil || len(bans) != 1 {
		t.Fatalf("the store after the write: %v %v", bans, err)
	}
	if err := store.DeleteBan(ctx, BanIP, src.Addr().String()); err != nil { // the operator's unban
		t.Fatal(err)
	}
	if _, err := g.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if v := g.Admit(src, "udp"); v != sip.Pass {
		t.Errorf("after the operator's unban and a reload: %v, want Pass (the written ban restored)", v)
	}
}
