package provisioning_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/palio-voip/palio/provisioning"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// TestResyncNotify: `device resync` reaches the phone. siptest phones
// register through a real proxy (UDP, and TCP for the Yealink); Resync
// sends each device's vendor NOTIFY — check-sync for SNOM and Yealink,
// resync for Cisco — through the proxy to the contact its line
// registered, and reports the phone's 200. A device whose lines are not
// registered, or whose account has several contacts none of which can
// be told to be it, gets none. Requests queued in the store
// (RequestResync, as the CLI leaves them) are sent by ResyncPending.
func TestResyncNotify(t *testing.T) {
	siptest.LeakCheck(t)
	s := newSite(t, provisioning.Config{})
	reg, err := registrar.New(registrar.Config{}, s.subs, s.subs, registrar.WithLogger(siptest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	proxy := siptest.NewProxy(t, siptest.ProxyConfig{Register: reg, Stages: []sip.Middleware{reg.Lookup}})
	p, err := provisioning.New(provisioning.Config{Domain: domain}, s.store, s.subs, provisioning.WithResync(proxy.Server, reg), provisioning.WithLogger(siptest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := siptest.Context(t, 20*time.Second)
	register := func(user, network, addr string) *siptest.UA {
		t.Helper()
		ua := siptest.NewUA(t, siptest.WithUser(user), siptest.WithTransport(network))
		res, err := ua.Register(ctx, addr, "sip:"+user+"@"+domain, "unisi"+user, 300)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("REGISTER %s: %v %v", user, res, err)
		}
		return ua
	}
	snom := register("5002", "udp", proxy.Addr("udp"))
	ata := register("5009", "udp", proxy.Addr("udp"))
	yealink := register("5003", "tcp", proxy.Addr("tcp"))

	tests := []struct {
		name  string
		mac   string
		phone *siptest.UA
		event string
	}{
		{"snom 760", "000413a1b2c3", snom, "check-sync;reboot=false"},
		{"cisco spa112", "00e16d4a12f3", ata, "resync"},
		{"yealink over tcp", yealinkMAC, yealink, "check-sync;reboot=false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(tt.phone.Received(sip.NOTIFY))
			res, err := p.Resync(ctx, mustMAC(t, tt.mac))
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 1 || res[0].Status != 200 || res[0].Err != nil {
				t.Fatalf("results %+v, want one 200", res)
			}
			got := tt.phone.Received(sip.NOTIFY)
			if len(got) != before+1 {
				t.Fatalf("the phone got %d NOTIFYs, want %d", len(got), before+1)
			}
			n := got[len(got)-1]
			if ev := n.GetHeader("Event"); ev == nil || ev.Value() != tt.event {
				t.Errorf("Event %v, want %q", ev, tt.event)
			}
			if ss := n.GetHeader("Subscription-State"); ss == nil || ss.Value() != "terminated" {
				t.Errorf("Subscription-State %v, want terminated", ss)
			}
		})
	}
	t.Run("not registered", func(t *testing.T) {
		if _, err := p.Resync(ctx, mustMAC(t, d735MAC)); !errors.Is(err, provisioning.ErrNotRegistered) {
			t.Errorf("got %v, want ErrNotRegistered", err)
		}
	})
	t.Run("which phone cannot be told", func(t *testing.T) {
		// 5002 on a second phone, and the device last fetched from
		// elsewhere: neither phone is sent a check-sync.
		second := register("5002", "udp", proxy.Addr("udp"))
		d, _ := s.store.Device(ctx, mustMAC(t, "000413a1b2c3"))
		if err := s.store.RecordFetch(ctx, provisioning.Fetch{MAC: d.MAC, Time: time.Now(), IP: "10.9.9.9"}); err != nil {
			t.Fatal(err)
		}
		before := len(snom.Received(sip.NOTIFY))
		if _, err := p.Resync(ctx, d.MAC); !errors.Is(err, provisioning.ErrNotRegistered) {
			t.Errorf("got %v, want ErrNotRegistered", err)
		}
		if n := len(snom.Received(sip.NOTIFY)) + len(second.Received(sip.NOTIFY)); n != before {
			t.Errorf("a NOTIFY went out: %d, want %d", n, before)
		}
		// From the address the phones fetch from: both are the device's
		// address; both get it.
		s.store.RecordFetch(ctx, provisioning.Fetch{MAC: d.MAC, Time: time.Now(), IP: "127.0.0.1"})
		res, err := p.Resync(ctx, d.MAC)
		if err != nil || len(res) != 2 {
			t.Errorf("by the fetch address: %+v %v, want 2 NOTIFYs", res, err)
		}
	})
	t.Run("queued", func(t *testing.T) {
		before := len(ata.Received(sip.NOTIFY))
		if err := s.store.RequestResync(ctx, mustMAC(t, "00e16d4a12f3")); err != nil {
			t.Fatal(err)
		}
		n, err := p.ResyncPending(ctx, s.store)
		if err != nil || n != 1 {
			t.Fatalf("ResyncPending: %d %v", n, err)
		}
		if got := len(ata.Received(sip.NOTIFY)); got != before+1 {
			t.Errorf("the ATA got %d NOTIFYs, want %d", got, before+1)
		}
		if n, _ := p.ResyncPending(ctx, s.store); n != 0 {
			t.Errorf("taken twice: %d", n)
		}
	})
	t.Run("without a SIP server", func(t *testing.T) {
		if _, err := s.p.Resync(context.Background(), mustMAC(t, "00e16d4a12f3")); !errors.Is(err, provisioning.ErrNoResync) {
			t.Errorf("got %v, want ErrNoResync", err)
		}
	})
}
