package registrar_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
)

// TestAsCaller: the dry run's stand-in takes the caller from the store:
// a blocked or unknown account is refused, a trusted source needs none,
// and the identity reaches the next stages and the call's record.
func TestAsCaller(t *testing.T) {
	ctx := context.Background()
	store := registrar.NewMemStore()
	for _, u := range []string{"5002", "5009"} {
		s := registrar.NewSubscriberIn(u, "voip.unisi.it", "voip.unisi.it", "pw")
		s.Classes = []string{"local"}
		if err := store.AddSubscriber(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.SetBlocked(ctx, "5009", "voip.unisi.it", true); err != nil {
		t.Fatal(err)
	}
	trusted := func(ctx context.Context, r *sip.Request) bool { return r.Source() == "198.51.100.11:5060" }
	reg, err := registrar.New(registrar.Config{Realm: "voip.unisi.it", TrustedSource: trusted}, store, store, registrar.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	tests := []struct {
		name, from, src, text string
		caller                string
	}{
		{"account", "5002", "172.20.1.26:5060", "auth\tcaller 5002@voip.unisi.it, classes local\nrequest\tINVITE sip:5003@voip.unisi.it\nresult\t200 OK (dry run: would forward)\n", "5002@voip.unisi.it"},
		{"blocked", "5009", "172.20.1.26:5060", "result\t403 Account Blocked\n", ""},
		{"unknown", "7777", "172.20.1.26:5060", "result\t403 Forbidden: unknown user 7777\n", ""},
		{"trusted source", "x", "198.51.100.11:5060", "auth\tnot needed (trusted source)\nrequest\tINVITE sip:5003@voip.unisi.it\nresult\t200 OK (dry run: would forward)\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := sip.NewDryRunInvite("5003", tt.from, "voip.unisi.it", tt.src)
			if err != nil {
				t.Fatal(err)
			}
			var seen string
			check := func(next sip.Handler) sip.Handler {
				return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
					if id, ok := registrar.IdentityFrom(ctx); ok {
						seen = id.Username + "@" + id.Domain
					}
					return next.ServeSIP(ctx, w, r)
				})
			}
			d, err := sip.RunDry(ctx, sip.Chain(reg.AsCaller(tt.from), check), req)
			if err != nil {
				t.Fatal(err)
			}
			if got := d.String(); got != tt.text {
				t.Errorf("got\n%s\nwant\n%s", got, tt.text)
			}
			if seen != tt.caller {
				t.Errorf("identity after the stand-in: %q, want %q", seen, tt.caller)
			}
		})
	}
}
