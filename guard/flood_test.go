package guard_test

import (
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/sip"
)

// TestFloodBlocks follows one flood through pike's algorithm: a source
// is blocked at the density-th packet of a sampling unit, stays blocked
// while it keeps sending, and is unblocked once a whole unit went by
// below the density (the unit after it stops: pike's swap); other sources
// are heard throughout; the block is logged once, and published.
func TestFloodBlocks(t *testing.T) {
	e := newEnv(t, guard.Config{Flood: guard.FloodConfig{SamplingUnit: time.Second, Density: 10}}, nil)
	flooder, phone := ap("127.0.0.2:5060"), ap("127.0.0.1:5070")
	for i := 1; i <= 9; i++ {
		if v := e.g.Admit(flooder, "udp"); v != sip.Pass {
			t.Fatalf("packet %d of a unit with density 10: %v, want Pass", i, v)
		}
	}
	if v := e.g.Admit(flooder, "udp"); v != sip.Drop {
		t.Fatalf("the 10th packet: %v, want Drop", v)
	}
	for range 100 {
		if v := e.g.Admit(flooder, "udp"); v != sip.Drop {
			t.Fatalf("a blocked source's packet: %v, want Drop", v)
		}
		if e.clock.Now().Nanosecond()%(200*int(time.Millisecond)) == 0 {
			if v := e.g.Admit(phone, "udp"); v != sip.Pass {
				t.Fatalf("another source during the flood: %v, want Pass", v)
			}
		}
		e.clock.Advance(time.Millisecond)
	}
	if n := e.logs.count(`msg="guard: flood blocked" src=127.0.0.2`); n != 1 {
		t.Errorf("the block was logged %d times, want once:\n%s", n, e.logs)
	}
	evs := e.took()
	if len(evs) != 1 || evs[0].Kind != guard.EventBanned || evs[0].Ban.Kind != guard.BanFlood || evs[0].Ban.Subject != "127.0.0.2" {
		t.Fatalf("events: got %+v, want one flood ban of 127.0.0.2", evs)
	}
	if l := e.g.List(); len(l) != 1 || l[0].Kind != guard.BanFlood {
		t.Errorf("List: got %+v, want the flood block", l)
	}
	if fb := e.g.FloodBlocks(); len(fb) != 1 || fb[0].Subject != "127.0.0.2" || fb[0].Created.IsZero() || !fb[0].Until.IsZero() || !strings.Contains(fb[0].Reason, "packets in 1s") {
		t.Errorf("FloodBlocks: got %+v, want 127.0.0.2's block", fb)
	}
	// The flood goes on, slower but above the density, in the next unit.
	e.clock.Advance(time.Second)
	for range 20 {
		if v := e.g.Admit(flooder, "udp"); v != sip.Drop {
			t.Fatalf("still flooding: %v, want Drop", v)
		}
	}
	// It stops. The unit after still has the last unit's count (pike's
	// previous count), the one after that does not.
	e.clock.Advance(time.Second)
	e.g.Sweep()
	if v := e.g.Admit(flooder, "udp"); v != sip.Drop {
		t.Fatalf("one unit after the flood: %v, want Drop", v)
	}
	e.clock.Advance(time.Second)
	e.g.Sweep()
	if v := e.g.Admit(flooder, "udp"); v != sip.Pass {
		t.Fatalf("two units after the flood: %v, want Pass", v)
	}
	evs = e.took()
	if len(evs) != 1 || evs[0].Kind != guard.EventUnbanned || evs[0].Why != "flood over" {
		t.Fatalf("events: got %+v, want the flood's end", evs)
	}
	if n := e.logs.count(`msg="guard: flood over" src=127.0.0.2`); n != 1 {
		t.Errorf("the end was logged %d times, want once", n)
	}
	if fb := e.g.FloodBlocks(); len(fb) != 0 {
		t.Errorf("FloodBlocks after the flood: %+v", fb)
	}
}

// TestFloodBelowDensity: a source that never sends the density in one
// unit is never blocked, however long it goes on.
func TestFloodBelowDensity(t *testing.T) {
	e := newEnv(t, guard.Config{Flood: guard.FloodConfig{SamplingUnit: time.Second, Density: 10}}, nil)
	src := ap("192.0.2.7:5060")
	for i := range 1000 {
		if v := e.g.Admit(src, "udp"); v != sip.Pass {
			t.Fatalf("packet %d at 8 a unit: %v", i, v)
		}
		e.clock.Advance(time.Second / 8)
	}
}

// TestFloodExempt: a trusted source (a gateway) is never blocked, and the
// guard asks about it at most once per unit while it is over the density.
func TestFloodExempt(t *testing.T) {
	var asked atomic.Int64
	gw := ap("198.51.100.11:5060")
	cfg := guard.Config{Flood: guard.FloodConfig{SamplingUnit: time.Second, Density: 5}, Exempt: func(src netip.AddrPort) bool {
		asked.Add(1)
		return src == gw
	}}
	e := newEnv(t, cfg, nil)
	for range 3 {
		for range 100 {
			if v := e.g.Admit(gw, "udp"); v != sip.Pass {
				t.Fatalf("a trusted source: %v, want Pass", v)
			}
		}
		e.clock.Advance(time.Second)
	}
	if n := asked.Load(); n != 3 {
		t.Errorf("Exempt was asked %d times in 3 units, want 3", n)
	}
	// Floods count per address: another port of the gateway's address,
	// not trusted, is blocked while the address is over the density.
	if v := e.g.Admit(ap("198.51.100.11:5061"), "udp"); v != sip.Drop {
		t.Errorf("an untrusted port of a hot address: %v, want Drop", v)
	}
}

// TestFloodRefuse: with Refuse, blocked sources get sip.Refuse (the
// server answers 503).
func TestFloodRefuse(t *testing.T) {
	e := newEnv(t, guard.Config{Refuse: true, Flood: guard.FloodConfig{SamplingUnit: time.Second, Density: 2}}, nil)
	src := ap("192.0.2.9:5060")
	e.g.Admit(src, "udp")
	if v := e.g.Admit(src, "tcp"); v != sip.Refuse {
		t.Fatalf("got %v, want Refuse", v)
	}
}

// TestFloodIPv6Prefix: IPv6 sources count per /64, all of which an
// attacker holds.
func TestFloodIPv6Prefix(t *testing.T) {
	e := newEnv(t, guard.Config{Flood: guard.FloodConfig{SamplingUnit: time.Second, Density: 10}}, nil)
	for i := range 9 {
		if v := e.g.Admit(ap(fmt.Sprintf("[2001:db8::%x]:5060", i+1)), "udp"); v != sip.Pass {
			t.Fatalf("packet %d: %v", i, v)
		}
	}
	if v := e.g.Admit(ap("[2001:db8::ffff]:5060"), "udp"); v != sip.Drop {
		t.Fatalf("the 10th packet from the /64: %v, want Drop", v)
	}
	if v := e.g.Admit(ap("[2001:db8:0:1::1]:5060"), "udp"); v != sip.Pass {
		t.Fatalf("another /64: %v, want Pass", v)
	}
}

// TestFloodOff: with the flood check off every source is heard.
func TestFloodOff(t *testing.T) {
	e := newEnv(t, guard.Config{Flood: guard.FloodConfig{Off: true}}, nil)
	for range 1000 {
		if v := e.g.Admit(ap("192.0.2.1:5060"), "udp"); v != sip.Pass {
			t.Fatalf("got %v", v)
		}
	}
}

// TestFloodUnban: an operator's Unban ends a flood block at once.
func TestFloodUnban(t *testing.T) {
	e := newEnv(t, guard.Config{Flood: guard.FloodConfig{SamplingUnit: time.Second, Density: 3}}, nil)
	src := ap("192.0.2.1:5060")
	for range 5 {
		e.g.Admit(src, "udp")
	}
	if err := e.g.Unban(t.Context(), guard.BanFlood, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if v := e.g.Admit(src, "udp"); v != sip.Pass {
		t.Fatalf("after Unban: %v", v)
	}
	if err := e.g.Unban(t.Context(), guard.BanFlood, "192.0.2.1"); err != guard.ErrNotFound {
		t.Errorf("a second Unban: %v, want ErrNotFound", err)
	}
}
