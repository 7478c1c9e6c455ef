package snapshot_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palio-voip/palio/snapshot"
)

func TestValue(t *testing.T) {
	var v snapshot.Value[int]
	if v.Load() != nil {
		t.Fatal("a zero Value holds something")
	}
	one := 1
	if err := v.Reload(context.Background(), func(context.Context) (*int, error) { return &one, nil }); err != nil {
		t.Fatal(err)
	}
	if got := *v.Load(); got != 1 {
		t.Fatalf("got %d, want 1", got)
	}
	// A failed reload keeps what runs.
	boom := errors.New("database down")
	if err := v.Reload(context.Background(), func(context.Context) (*int, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("got %v, want %v", err, boom)
	}
	if got := *v.Load(); got != 1 {
		t.Fatalf("after a failed reload: got %d, want 1", got)
	}
}

// Reloads run one at a time; one that cannot start gives up with ctx.
func TestValueOneReloadAtATime(t *testing.T) {
	var v snapshot.Value[int]
	var running, most atomic.Int32
	release := make(chan struct{})
	load := func(context.Context) (*int, error) {
		n := running.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		<-release
		running.Add(-1)
		x := int(n)
		return &x, nil
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = v.Reload(context.Background(), load)
		}()
	}
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := v.Reload(ctx, load); err == nil {
		t.Error("a reload that waited past its context: no error")
	}
	close(release)
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d reloads ran at once, want 1", most.Load())
	}
}

func TestReportString(t *testing.T) {
	r := snapshot.Report{Component: "dialplan", Loaded: 9, Discarded: []snapshot.Discard{{Table: "dialplan", ID: "4", Reason: "match_exp: bad regexp"}}}
	if got := r.String(); got != "dialplan: 9 loaded, 1 discarded" {
		t.Errorf("got %q", got)
	}
	if got := r.Discarded[0].String(); got != "dialplan 4: match_exp: bad regexp" {
		t.Errorf("got %q", got)
	}
}
