package guard_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/sip"
)

// A source over the flood density is refused before anything is parsed;
// a password guesser is banned; a user over a critical fraud threshold has
// its outbound calls blocked until an operator clears it.
func Example() {
	store := guard.NewMemStore(guard.Rule{ID: 1, Prefix: "000", TotalCalls: guard.Threshold{Warning: 1, Critical: 2}})
	g, err := guard.New(guard.Config{
		Flood: guard.FloodConfig{SamplingUnit: 2 * time.Second, Density: 3},
		Auth:  guard.AuthConfig{PerIP: guard.Limit{Failures: 2, Window: time.Minute, Ban: time.Hour}},
		Fraud: guard.FraudConfig{Block: true},
	}, store, guard.WithClock(fixed{}), guard.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		panic(err)
	}
	defer g.Close()
	g.Subscribe(func(e guard.Event) { fmt.Println("event:", e) })

	// Wire it: sip.NewServer(cfg, sip.WithSourceGate(g)); g.Bans before
	// authentication, g.Wrap after it; the registrar's
	// WithAuthFailures(func(f registrar.AuthFailure) { g.AuthFailed(f.Source, f.User, f.Reason) }).
	flooder := netip.MustParseAddrPort("198.51.100.7:5060")
	for i := 1; i <= 4; i++ {
		fmt.Println("packet", i, g.Admit(flooder, "udp"))
	}

	guesser := netip.MustParseAddr("203.0.113.9")
	g.AuthFailed(guesser, "5002", "wrong-password")
	g.AuthFailed(guesser, "5002", "wrong-password")
	fmt.Println("guesser:", g.Admit(netip.AddrPortFrom(guesser, 5060), "udp"))

	caller := sip.CallerIdentity{User: "5001", Domain: "voip.unisi.it"}
	for i := 1; i <= 2; i++ {
		_, err := g.Begin(context.Background(), nil, caller, "000442079460000")
		fmt.Println("call", i, err)
	}
	// Output:
	// packet 1 pass
	// packet 2 pass
	// event: banned flood 198.51.100.7: 3 packets in 2s (density 3), while the flood lasts
	// packet 3 drop
	// packet 4 drop
	// event: banned ip 203.0.113.9: 2 auth failures in 1m0s (the last: wrong-password for "5002"), until 2026-12-02T10:00:00Z
	// guesser: drop
	// event: fraud-warning 5001 total-calls 1 >= 1 (rule 1, prefix "000", calling 000442079460000)
	// call 1 <nil>
	// event: fraud-critical 5001 total-calls 2 >= 2 (rule 1, prefix "000", calling 000442079460000): outbound calls blocked
	// event: banned fraud 5001: total-calls 2 >= 2 (rule 1, prefix "000", calling 000442079460000), until cleared
	// call 2 sip: 403 Forbidden: Blocked by Fraud Check
}

// fixed is a clock that stands still.
type fixed struct{}

func (fixed) Now() time.Time { return time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC) }
