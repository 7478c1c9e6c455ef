package registrar_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/registrar/registrartest"
)

func TestMemStore(t *testing.T) {
	registrartest.TestStore(t, func(t *testing.T) registrar.Store { return registrar.NewMemStore() })
}

func TestMemStoreSubscribers(t *testing.T) {
	registrartest.TestSubscribers(t, func(t *testing.T, accounts ...registrar.Subscriber) registrar.Subscribers {
		s := registrar.NewMemStore()
		for _, a := range accounts {
			if err := s.AddSubscriber(context.Background(), a); err != nil {
				t.Fatal(err)
			}
		}
		return s
	})
}

// Registrars sharing a MemStore (nodes, or restarts within one process)
// share its secrets.
func TestMemStoreSecrets(t *testing.T) {
	registrartest.TestSecrets(t, func(t *testing.T, n int) []registrar.SecretStore {
		s := registrar.NewMemStore()
		nodes := make([]registrar.SecretStore, n)
		for i := range nodes {
			nodes[i] = s
		}
		return nodes
	})
}

// The admin helpers of the memory store: add, block, list, delete.
func TestMemStoreAdmin(t *testing.T) {
	ctx := context.Background()
	s := registrar.NewMemStore()
	for _, u := range []string{"5009", "5002"} {
		if err := s.AddSubscriber(ctx, registrar.NewSubscriber(u, "voip.unisi.it", "pw")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetBlocked(ctx, "5002", "VOIP.unisi.it", true); err != nil {
		t.Fatalf("SetBlocked: %v", err)
	}
	if got, _ := s.Subscriber(ctx, "5002", "voip.unisi.it"); !got.Blocked {
		t.Errorf("got %+v, want 5002 blocked", got)
	}
	if err := s.SetBlocked(ctx, "5999", "voip.unisi.it", true); !errors.Is(err, registrar.ErrNotFound) {
		t.Errorf("SetBlocked of an unknown account: got %v, want ErrNotFound", err)
	}
	list, err := s.ListSubscribers(ctx)
	if err != nil || len(list) != 2 || list[0].Username != "5002" || list[1].Username != "5009" {
		t.Errorf("ListSubscribers: got %+v, %v; want 5002 and 5009 in order", list, err)
	}
	if err := s.DeleteSubscriber(ctx, "5002", "voip.unisi.it"); err != nil {
		t.Fatalf("DeleteSubscriber: %v", err)
	}
	if _, err := s.Subscriber(ctx, "5002", ""); !errors.Is(err, registrar.ErrNotFound) {
		t.Errorf("after DeleteSubscriber: got %v, want ErrNotFound", err)
	}
	if err := s.DeleteSubscriber(ctx, "5002", "voip.unisi.it"); !errors.Is(err, registrar.ErrNotFound) {
		t.Errorf("second DeleteSubscriber: got %v, want ErrNotFound", err)
	}
}

func TestHA1(t *testing.T) {
	tests := []struct {
		user, realm, pw, alg string
		want                 string
	}{
		// RFC 2617 §3.5's example user, computed independently with md5sum/sha256sum.
		{"Mufasa", "testrealm@host.com", "Circle Of Life", "", "939e7578ed9e3c518a452acee763bce9"},
		{"Mufasa", "testrealm@host.com", "Circle Of Life", "MD5", "939e7578ed9e3c518a452acee763bce9"},
		{"Mufasa", "http-auth@example.org", "Circle of Life", "SHA-256", "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232"},
	}
	for _, tt := range tests {
		got, err := registrar.HA1(tt.user, tt.realm, tt.pw, tt.alg)
		if err != nil || got != tt.want {
			t.Errorf("HA1(%s, %s, %s, %q): got %s %v, want %s", tt.user, tt.realm, tt.pw, tt.alg, got, err, tt.want)
		}
	}
	if _, err := registrar.HA1("u", "r", "p", "SHA-512"); err == nil {
		t.Errorf("HA1 with SHA-512: got no error, want one")
	}
	s := registrar.NewSubscriber("Mufasa", "testrealm@host.com", "Circle Of Life")
	if s.HA1 != tests[0].want || s.Password != "" || len(s.HA1SHA256) != 64 {
		t.Errorf("NewSubscriber: got %+v, want both HA1 columns and no plaintext", s)
	}
}

func TestBindingSameAs(t *testing.T) {
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	b := registrar.Binding{AOR: "5002", Contact: "sip:5002@10.0.0.2", Transport: "UDP", Q: 1, Expires: at, CallID: "a", CSeq: 1}
	same := b
	same.CallID, same.CSeq, same.Transport, same.Expires = "b", 9, "udp", at.In(time.FixedZone("CET", 3600))
	if !b.SameAs(same) {
		t.Error("a binding differing in Call-ID, CSeq, transport case and zone: SameAs = false")
	}
	for name, mod := range map[string]func(*registrar.Binding){
		"contact":  func(x *registrar.Binding) { x.Contact = "sip:5002@10.0.0.3" },
		"received": func(x *registrar.Binding) { x.Received = "192.0.2.1:4000" },
		"q":        func(x *registrar.Binding) { x.Q = 0.5 },
		"expires":  func(x *registrar.Binding) { x.Expires = time.Time{} },
	} {
		o := b
		mod(&o)
		if b.SameAs(o) {
			t.Errorf("bindings differing in %s: SameAs = true", name)
		}
	}
}
