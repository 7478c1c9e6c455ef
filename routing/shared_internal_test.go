package routing

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSharedAlarmOnce: three Routers share their counts; calls on two of
// them take a 10-channel gateway to 8: the alarm is raised once for the
// cluster, every Router shows it, and it is cleared once.
func TestSharedAlarmOnce(t *testing.T) {
	engine := NewMemChannels(time.Minute)
	var mu sync.Mutex
	var events []string
	var routers []*Router
	for i := range 3 {
		r, err := New(Config{VolatileState: true, CounterInterval: 50 * time.Millisecond}, NewMemStore(capData()),
			WithChannelCounter(engine.Node(fmt.Sprint("n", i))))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		r.Subscribe(func(ev Event) {
			if ev.Gateway == "pri-1" {
				mu.Lock()
				events = append(events, fmt.Sprintf("n%d %s", i, ev))
				mu.Unlock()
			}
		})
		routers = append(routers, r)
	}
	alarm := func(r *Router) bool {
		for _, g := range r.Gateways() {
			if g.GWID == "pri-1" {
				return g.Alarm
			}
		}
		return false
	}
	waitAll := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for _, r := range routers {
			for alarm(r) != want {
				if time.Now().After(deadline) {
					t.Fatalf("alarm never became %v on every Router", want)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	for i := range 4 {
		start(routers[0], fmt.Sprint("sa-", i), "pri-1")
		start(routers[1], fmt.Sprint("sb-", i), "pri-1")
	}
	waitAll(true)
	end(routers[1], "sb-0", "pri-1")
	waitAll(false)
	// Events are delivered on each Router's goroutine: Close drains them.
	for _, r := range routers {
		r.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	raised, cleared := 0, 0
	for _, ev := range events {
		switch {
		case strings.Contains(ev, "alarm cleared, 7 of 10"):
			cleared++
		case strings.Contains(ev, "alarm, 8 of 10"):
			raised++
		}
	}
	if raised != 1 || cleared != 1 || len(events) != 2 {
		t.Errorf("alarm events across 3 Routers: got %q, want one raised at 8 of 10 and one cleared at 7", events)
	}
}
