package sip_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestFeed(t *testing.T) {
	leakCheck(t)
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dropped_total"}, []string{"subscriber"})
	f := sip.NewFeed[int](sip.FeedConfig{Name: "test", Logger: testLogger(), Dropped: dropped})

	var syncGot []int
	unsubSync := f.Subscribe(func(n int) { syncGot = append(syncGot, n) })

	// A slow asynchronous subscriber with a queue of 4: held on the first
	// event, it sees the next 4 and loses the rest.
	release := make(chan struct{})
	var mu sync.Mutex
	var slowGot []int
	f.Subscribe(func(n int) {
		if n == 0 {
			<-release
		}
		mu.Lock()
		slowGot = append(slowGot, n)
		mu.Unlock()
	}, sip.Async(4), sip.SubscriberName("slow"))

	// A panicking subscriber hurts nobody.
	var panics atomic.Int32
	f.Subscribe(func(n int) {
		if n == 1 {
			panics.Add(1)
			panic("subscriber bug")
		}
	})

	f.Publish(0)
	// Wait until the slow subscriber holds event 0, so that its queue is empty.
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	for i := 1; i <= 10; i++ {
		f.Publish(i)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Publish waited %v for a slow subscriber", d)
	}
	if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}; len(syncGot) != len(want) {
		t.Errorf("sync subscriber: got %v, want %v", syncGot, want)
	}
	if got := counterValue(t, dropped.WithLabelValues("slow")); got != 6 {
		t.Errorf("dropped: got %v, want 6", got)
	}
	close(release)
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		mu.Lock()
		n := len(slowGot)
		mu.Unlock()
		if n == 5 {
			break
		}
	}
	unsubSync()
	f.Publish(11)
	if n := len(syncGot); n != 11 {
		t.Errorf("an unsubscribed subscriber got event %d", syncGot[n-1])
	}
	f.Close() // delivers what is queued, then stops the goroutine
	mu.Lock()
	defer mu.Unlock()
	want := []int{0, 1, 2, 3, 4, 11}
	if len(slowGot) != len(want) {
		t.Fatalf("slow subscriber: got %v, want %v", slowGot, want)
	}
	for i := range want {
		if slowGot[i] != want[i] {
			t.Fatalf("slow subscriber: got %v, want %v (in order)", slowGot, want)
		}
	}
	if panics.Load() != 1 {
		t.Errorf("panicking subscriber ran %d times, want 1", panics.Load())
	}
	if f.Len() != 0 {
		t.Errorf("after Close: %d subscribers", f.Len())
	}
	f.Subscribe(func(int) { t.Error("a subscriber after Close was called") })
	f.Publish(12)
}

// TestFeedSubscribeAfter: a late subscriber gets the state it catches up
// on before the events published after it, synchronous or not, and a
// queue of 2 keeps its room for 2 new events behind that state.
func TestFeedSubscribeAfter(t *testing.T) {
	leakCheck(t)
	f := sip.NewFeed[int](sip.FeedConfig{Name: "test", Logger: testLogger()})
	defer f.Close()
	f.Publish(-1) // before anyone: nobody gets it
	var syncGot []int
	f.SubscribeAfter([]int{1, 2, 3}, func(n int) { syncGot = append(syncGot, n) })
	if len(syncGot) != 3 {
		t.Fatalf("sync subscriber had %v when SubscribeAfter returned, want [1 2 3]", syncGot)
	}
	got := make(chan int, 16)
	f.SubscribeAfter([]int{1, 2, 3}, func(n int) { got <- n }, sip.Async(2))
	f.Publish(4)
	f.Publish(5)
	var asyncGot []int
	for range 5 {
		select {
		case n := <-got:
			asyncGot = append(asyncGot, n)
		case <-time.After(5 * time.Second):
			t.Fatalf("async subscriber got only %v", asyncGot)
		}
	}
	for i, n := range asyncGot {
		if n != i+1 {
			t.Fatalf("async subscriber got %v, want [1 2 3 4 5]", asyncGot)
		}
	}
	if want := []int{1, 2, 3, 4, 5}; len(syncGot) != len(want) || syncGot[3] != 4 || syncGot[4] != 5 {
		t.Errorf("sync subscriber got %v, want %v", syncGot, want)
	}
}
