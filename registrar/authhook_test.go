package registrar_test

import (
	"net/netip"
	"sync"
	"testing"

	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// TestAuthFailureHook: WithAuthFailures is told of each failure the log
// has, with the source IP, the digest username and the reason; a first
// request without credentials and a success tell it nothing.
func TestAuthFailureHook(t *testing.T) {
	var mu sync.Mutex
	var got []registrar.AuthFailure
	e := newEnv(t, registrar.Config{}, registrar.WithAuthFailures(func(f registrar.AuthFailure) {
		mu.Lock()
		got = append(got, f)
		mu.Unlock()
	}))
	guess := newPhone(t, e.reg, "5002", "guess")
	if rec, err := guess.send(registerReq(t, "5002", "h1", 1, "Contact: <sip:5002@10.0.0.5>")); siptest.Code(rec, err) != 401 {
		t.Fatalf("wrong password: got %d, want 401", siptest.Code(rec, err))
	}
	right := newPhone(t, e.reg, "5001", "secret")
	if rec, err := right.send(registerReq(t, "5001", "h2", 1, "Contact: <sip:5001@10.0.0.5>")); siptest.Code(rec, err) != 200 {
		t.Fatalf("right password: got %d, want 200", siptest.Code(rec, err))
	}
	mu.Lock()
	defer mu.Unlock()
	want := registrar.AuthFailure{Source: netip.MustParseAddr("10.0.0.5"), User: "5002", Realm: "voip.unisi.it",
		Method: sip.REGISTER, Reason: registrar.ReasonWrongPassword}
	if len(got) != 1 || got[0] != want {
		t.Errorf("got %+v, want [%+v]", got, want)
	}
}
