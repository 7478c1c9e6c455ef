package mediabox_test

import (
	"context"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/mediabox/mediaboxtest"
)

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// TestFiveHundredCallsLeaveNothing: 500 IVR calls, ten at a time, each
// hung up by the caller once the prompt sounds; afterwards the box
// serves no call and holds no more goroutines or descriptors than
// before.
func TestFiveHundredCallsLeaveNothing(t *testing.T) {
	r := newRig(t, nil)
	caller := mediaboxtest.NewPhone(t, "5001")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	warm := func() {
		leg, err := caller.Call(ctx, r.uri("IVR_5000"))
		if err != nil {
			t.Fatal(err)
		}
		leg.WaitSound(5 * time.Second)
		leg.Hangup()
	}
	warm()
	waitCalls(t, r.box, 0)
	time.Sleep(500 * time.Millisecond)
	g0, fd0 := runtime.NumGoroutine(), openFDs(t)

	const calls, parallel = 500, 10
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	work := make(chan int)
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				leg, err := caller.Call(ctx, r.uri("IVR_5000"))
				if err != nil {
					errs <- err
					continue
				}
				if err := leg.WaitSound(5 * time.Second); err != nil {
					errs <- err
				}
				leg.Hangup()
			}
		}()
	}
	for i := range calls {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed++; failed <= 3 {
			t.Error(err)
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d calls failed", failed, calls)
	}
	waitCalls(t, r.box, 0)
	var g, fd int
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		g, fd = runtime.NumGoroutine(), openFDs(t)
		if g <= g0+5 && fd <= fd0+5 {
			return
		}
	}
	t.Fatalf("after %d calls: %d goroutines (%d before), %d descriptors (%d before)", calls, g, g0, fd, fd0)
}
