package sqlstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/palio-voip/palio/store/storetest"
)

// TestLocationWriteBackStress: phones register and unregister while
// write-back rounds commit every 2 ms and some lookups read the database
// slowly (longer than a round). After every acknowledged Put or Delete, a
// Lookup must show exactly the bindings acknowledged so far: none lost,
// none resurrected, whatever rounds committed while it read. Each phone
// (AOR) is driven by one goroutine, which therefore knows the truth.
func TestLocationWriteBackStress(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		for _, ttl := range []time.Duration{-1, 2 * time.Second} {
			t.Run(fmt.Sprintf("cache %v", ttl), func(t *testing.T) {
				stressWriteBack(t, open(t), sqlstore.LocationOptions{WriteBack: 2 * time.Millisecond, CacheTTL: ttl})
			})
		}
	})
}

// TestLocationMirrorStress: the same phones on a mirrored store, written
// through and written back, while the mirror reloads over and over (each
// reload slowed between its read and its swap): a lookup after every
// acknowledged write shows exactly the bindings acknowledged so far.
func TestLocationMirrorStress(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		for _, wb := range []time.Duration{0, 2 * time.Millisecond} {
			t.Run(fmt.Sprintf("write-back %v", wb), func(t *testing.T) {
				stressWriteBack(t, open(t), sqlstore.LocationOptions{WriteBack: wb, Mirror: true, CacheTTL: -1})
			})
		}
	})
}

func stressWriteBack(t *testing.T, db *sqlstore.DB, opts sqlstore.LocationOptions) {
	ctx := context.Background()
	s := db.Location(opts)
	defer s.Close()
	if opts.Mirror {
		if _, err := s.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		sqlstore.SetReloadHook(s, func() { time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond) })
		stop := make(chan struct{})
		reloaded := make(chan int)
		go func() {
			n := 0
			defer func() { reloaded <- n }()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Reload(ctx); err != nil {
					t.Error(err)
					return
				}
				n++
			}
		}()
		defer func() {
			close(stop)
			if n := <-reloaded; n < 2 {
				t.Errorf("only %d reloads ran beside the phones", n)
			}
		}()
	}
	var slow sync.Mutex
	sqlstore.SetReadHook(s, func() {
		// One lookup in four reads slowly: a round or three commit meanwhile.
		if rand.IntN(4) == 0 {
			slow.Lock() // keep the slow ones from piling up on SQLite's readers
			time.Sleep(time.Duration(2+rand.IntN(5)) * time.Millisecond)
			slow.Unlock()
		}
	})
	const phones, contacts = 8, 3
	deadline := time.Now().Add(time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, phones)
	for p := range phones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			aor := fmt.Sprintf("stress%d", p)
			have := map[string]bool{}
			for op := 0; time.Now().Before(deadline); op++ {
				c := fmt.Sprintf("sip:%s@192.0.2.%d:5060", aor, rand.IntN(contacts)+1)
				if have[c] && rand.IntN(2) == 0 {
					if err := s.Delete(ctx, aor, c); err != nil {
						errs <- fmt.Errorf("op %d: Delete %s: %w (have %v)", op, c, err, keys(have))
						return
					}
					delete(have, c)
				} else {
					b := registrar.Binding{AOR: aor, Contact: c, Transport: "UDP", Q: 1, CallID: "stress", CSeq: uint32(op + 1),
						Expires: time.Now().Add(time.Hour).Truncate(time.Second)}
					if err := s.Put(ctx, b); err != nil {
						errs <- fmt.Errorf("op %d: Put %s: %w", op, c, err)
						return
					}
					have[c] = true
				}
				bs, err := s.Lookup(ctx, aor)
				if err != nil {
					errs <- fmt.Errorf("op %d: Lookup: %w", op, err)
					return
				}
				var got []string
				for _, b := range bs {
					got = append(got, b.Contact)
				}
				slices.Sort(got)
				if want := keys(have); !slices.Equal(got, want) {
					errs <- fmt.Errorf("op %d: Lookup %s: got %v, want %v", op, aor, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
