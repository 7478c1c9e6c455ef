package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
	"github.com/palio-voip/palio/store/storetest"
)

// TestNonceSecretInStore: the example signs nonces with the secret kept in
// its store. A nonce node A issued is good on node B (same database, both
// running) and on A after a restart; a node configured with a secret of
// its own answers it with stale=true (the phone retries on a fresh nonce
// without asking its user).
func TestNonceSecretInStore(t *testing.T) {
	for _, tt := range []struct {
		name  string
		store func(t *testing.T, cfg *Config)
	}{
		{"sqlite", func(t *testing.T, cfg *Config) { cfg.Store.SQLite = filepath.Join(t.TempDir(), "unisi.db") }},
		{"mysql", func(t *testing.T, cfg *Config) { cfg.Store.MySQL = storetest.MySQLDSN(t) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			tt.store(t, &cfg)
			ctx := context.Background()
			// open starts a node; the function it returns stops it (once).
			open := func(cfg Config) (*app, func()) {
				t.Helper()
				a, err := serverApp(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
				if err != nil {
					t.Fatal(err)
				}
				stop := sync.OnceFunc(a.close)
				t.Cleanup(stop)
				return a, stop
			}
			cseq := uint32(1)
			register := func(a *app, chal *digest.Challenge) (int, *digest.Challenge) {
				t.Helper()
				req := siptest.NewRequest(sip.REGISTER, "sip:5002@voip.unisi.it")
				cseq++
				req.CSeq().SeqNo = cseq
				if chal != nil {
					cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: req.Recipient.String(),
						Username: "5002", Password: "unisi5002", Count: 1})
					if err != nil {
						t.Fatal(err)
					}
					req.AppendHeader(sipmsg.NewHeader("Authorization", cred.String()))
				}
				rec, err := siptest.Serve(ctx, a.regr, req)
				var next *digest.Challenge
				if se, ok := sip.AsStatus(err); ok && se.Response != nil {
					if h := se.Response.GetHeader("WWW-Authenticate"); h != nil {
						next, _ = digest.ParseChallenge(h.Value())
					}
				}
				return siptest.Code(rec, err), next
			}

			a, stopA := open(cfg)
			code, chal := register(a, nil)
			if code != 401 || chal == nil {
				t.Fatalf("first REGISTER: got %d, want 401 with a challenge", code)
			}
			b, stopB := open(cfg)
			if code, _ := register(b, chal); code != 200 {
				t.Fatalf("node A's nonce on node B: got %d, want 200", code)
			}
			stopA()
			stopB()
			restarted, _ := open(cfg)
			if code, _ := register(restarted, chal); code != 200 {
				t.Fatalf("node A's nonce after a restart: got %d, want 200", code)
			}
			own := cfg
			own.Registrar.Secret = "a secret of this node alone"
			other, _ := open(own)
			code, fresh := register(other, chal)
			if code != 401 || fresh == nil || !fresh.Stale {
				t.Fatalf("on a node with its own secret: got %d %+v, want 401 with stale=true", code, fresh)
			}
		})
	}
}
