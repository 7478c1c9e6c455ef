package registrar_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip/siptest"
)

// A restart keeps the nonces phones hold good when the secret comes from
// the store: registrar A issues a nonce, B (A restarted, or another node)
// on the same store accepts it. C, whose secret is another (configured, or
// random without a store), cannot check it: it answers 401 with
// stale=true, logged at Debug, never the bad-nonce warning that fail2ban
// bans on.
func TestNonceSecretFromStore(t *testing.T) {
	ctx := context.Background()
	store := registrar.NewMemStore()
	if err := store.AddSubscriber(ctx, registrar.NewSubscriber("5002", domain, "secret")); err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	node := func(cfg registrar.Config, opts ...registrar.Option) (*registrar.Registrar, *logBuffer) {
		logs := &logBuffer{}
		log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		opts = append([]registrar.Option{registrar.WithClock(clk.Now), registrar.WithLogger(log)}, opts...)
		r, err := registrar.New(cfg, store, store, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r, logs
	}
	a, _ := node(registrar.Config{}, registrar.WithSecretStore(store))
	_, err := siptest.Serve(ctx, a, registerReq(t, "5002", "c1", 1))
	chal := challengeOf(err, "")
	if chal == nil {
		t.Fatalf("got %v, want a challenge", err)
	}
	a.Close()

	tests := []struct {
		name  string
		cfg   registrar.Config
		opts  []registrar.Option
		want  int
		stale bool
	}{
		{"restarted on the store", registrar.Config{}, []registrar.Option{registrar.WithSecretStore(store)}, 200, false},
		{"a configured secret overrides the store's", registrar.Config{Secret: []byte("fedcba9876543210fedcba9876543210")},
			[]registrar.Option{registrar.WithSecretStore(store)}, 401, true},
		{"no store: a random secret", registrar.Config{}, nil, 401, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, logs := node(tt.cfg, tt.opts...)
			p := newPhone(t, r, "5002", "secret")
			p.chal = chal
			req := registerReq(t, "5002", "c1", 2+i, "Contact: <sip:5002@10.0.0.5>")
			req.AppendHeader(sipmsg.NewHeader("Authorization", p.credentials(req)))
			rec, err := siptest.Serve(ctx, r, req)
			if got := siptest.Code(rec, err); got != tt.want {
				t.Fatalf("the old nonce: got %d (%v), want %d\n%s", got, err, tt.want, logs.String())
			}
			if tt.want != 401 {
				return
			}
			if c := challengeOf(err, ""); c == nil || c.Stale != tt.stale {
				t.Errorf("got %+v, want a challenge with stale=%v", c, tt.stale)
			}
			if l := logs.String(); strings.Contains(l, "level=WARN") || !reasonLogged(l, registrar.ReasonStaleNonce) ||
				!strings.Contains(l, `level=DEBUG msg="registrar: auth failed"`) {
				t.Errorf("got log\n%s\nwant reason=stale-nonce at Debug and no warning", l)
			}
			// The phone's way: it answers the stale challenge at once.
			rec, err = p.send(registerReq(t, "5002", "c1", 10+i, "Contact: <sip:5002@10.0.0.5>"))
			if got := siptest.Code(rec, err); got != 200 {
				t.Errorf("after the stale challenge: got %d (%v), want 200", got, err)
			}
		})
	}
}

type failingSecrets struct{}

func (failingSecrets) Secret(context.Context, string) ([]byte, error) {
	return nil, errors.New("database is down")
}

type shortSecrets struct{}

func (shortSecrets) Secret(context.Context, string) ([]byte, error) { return []byte("short"), nil }

// New fails, saying why, when the store cannot give a usable secret; a
// configured secret does not need the store.
func TestNonceSecretStoreFailure(t *testing.T) {
	store := registrar.NewMemStore()
	for _, tt := range []struct {
		name    string
		secrets registrar.SecretStore
		want    string
	}{
		{"store down", failingSecrets{}, "registrar: nonce secret: database is down"},
		{"short secret", shortSecrets{}, "registrar: nonce secret (store) of 5 bytes: want at least 16"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := registrar.New(registrar.Config{}, store, store, registrar.WithSecretStore(tt.secrets))
			if err == nil {
				r.Close()
				t.Fatalf("got no error, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("got %q, want %q", err, tt.want)
			}
			r, err = registrar.New(registrar.Config{Secret: []byte("0123456789abcdef")}, store, store, registrar.WithSecretStore(tt.secrets))
			if err != nil {
				t.Fatalf("with a configured secret: got %v, want no error", err)
			}
			r.Close()
		})
	}
}
