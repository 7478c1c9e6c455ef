package trunkcount_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/palio-voip/palio/cluster/trunkcount"
)

// redisURL returns PALIO_REDIS_URL, or skips the test when it is unset.
func redisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("PALIO_REDIS_URL")
	if u == "" {
		t.Skip("PALIO_REDIS_URL is unset: no Redis to test against (e.g. PALIO_REDIS_URL=redis://127.0.0.1:6379/0; .ci/run sets it)")
	}
	return u
}

var unsafe = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// testCluster returns a cluster name of its own for t, whose keys are
// deleted at its end, so that parallel tests and runs never share keys.
func testCluster(t testing.TB, url string) string {
	t.Helper()
	name := unsafe.ReplaceAllString(t.Name(), "-")
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	name = fmt.Sprintf("test-%s-%08x", name, rand.Uint32())
	t.Cleanup(func() {
		o, err := redis.ParseURL(url)
		if err != nil {
			return
		}
		rdb := redis.NewClient(o)
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		keys, _ := rdb.Keys(ctx, "palio:{"+name+"}:*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	return name
}

// newCounter returns node's counter in cluster, closed at t's end.
func newCounter(t testing.TB, cfg trunkcount.Config) *trunkcount.Counter {
	t.Helper()
	c, err := trunkcount.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func redisOptions(url string) (*redis.Options, error) { return redis.ParseURL(url) }
