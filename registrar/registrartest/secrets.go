package registrartest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/palio-voip/palio/registrar"
)

// TestSecrets runs the conformance suite of registrar.SecretStore.
// newNodes must return n stores on one fresh, empty database, as n nodes
// (or n restarts of one) would open it: separate handles on the same data
// (a memory store returns itself n times).
func TestSecrets(t *testing.T, newNodes func(t *testing.T, n int) []registrar.SecretStore) {
	ctx := context.Background()
	secret := func(t *testing.T, s registrar.SecretStore, name string) []byte {
		t.Helper()
		v, err := s.Secret(ctx, name)
		if err != nil {
			t.Fatalf("Secret(%q): %v", name, err)
		}
		return v
	}

	t.Run("created once, then kept", func(t *testing.T) {
		s := newNodes(t, 1)[0]
		first := secret(t, s, registrar.NonceSecret)
		if len(first) != registrar.SecretSize {
			t.Fatalf("a new secret: got %d bytes, want %d", len(first), registrar.SecretSize)
		}
		if bytes.Equal(first, make([]byte, registrar.SecretSize)) {
			t.Fatalf("a new secret is all zeros")
		}
		want := bytes.Clone(first)
		first[0] ^= 0xff // the caller's copy is its own
		if again := secret(t, s, registrar.NonceSecret); !bytes.Equal(again, want) {
			t.Errorf("asked again: got %x, want the first %x", again, want)
		}
	})

	t.Run("names are separate", func(t *testing.T) {
		s := newNodes(t, 1)[0]
		a, b := secret(t, s, "a"), secret(t, s, "b")
		if bytes.Equal(a, b) {
			t.Errorf("secrets a and b are both %x, want two secrets", a)
		}
	})

	t.Run("shared by the nodes", func(t *testing.T) {
		nodes := newNodes(t, 2)
		a := secret(t, nodes[0], registrar.NonceSecret)
		if b := secret(t, nodes[1], registrar.NonceSecret); !bytes.Equal(a, b) {
			t.Errorf("node 2: got %x, want node 1's %x", b, a)
		}
	})

	// Nodes starting together on an empty database: each finds no secret
	// and creates one, and all must end up with the one stored.
	t.Run("concurrent first creation yields one secret", func(t *testing.T) {
		const n, rounds = 4, 5
		nodes := newNodes(t, n)
		for round := range rounds {
			name := fmt.Sprintf("race-%d", round)
			got := make([][]byte, n*2)
			errs := make([]error, n*2)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range got {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					got[i], errs[i] = nodes[i%n].Secret(ctx, name)
				}()
			}
			close(start)
			wg.Wait()
			for i := range got {
				if errs[i] != nil {
					t.Fatalf("round %d, caller %d: %v", round, i, errs[i])
				}
				if !bytes.Equal(got[i], got[0]) || len(got[i]) != registrar.SecretSize {
					t.Fatalf("round %d: caller %d got %x, caller 0 got %x: want one secret of %d bytes",
						round, i, got[i], got[0], registrar.SecretSize)
				}
			}
			if later := secret(t, nodes[0], name); !bytes.Equal(later, got[0]) {
				t.Fatalf("round %d: asked later: got %x, want %x", round, later, got[0])
			}
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		s := newNodes(t, 1)[0]
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if v, err := s.Secret(cctx, registrar.NonceSecret); err == nil {
			t.Errorf("got %x and no error, want the context's error", v)
		}
	})
}
