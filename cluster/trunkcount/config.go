package trunkcount

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config says which Redis holds the counts, which cluster they belong to
// and which node this is. Zero values take the defaults noted.
type Config struct {
	// URL is the Redis server, "redis://[user:password@]host:port/db" or
	// "rediss://" for TLS ("redis://127.0.0.1:6379/0"). Required.
	URL string
	// Cluster names the group of nodes that share their counts: its keys
	// are "palio:{<Cluster>}:…", so several clusters can share one Redis.
	// Letters, digits, '-' and '_'. Default "default".
	Cluster string
	// Node names this node, unique within the cluster. Letters, digits,
	// '.', '-' and '_', at most 32. Required.
	Node string
	// Expiry is how long the node's counts stay counted without a report
	// from it (routing.Config.CounterInterval, 1 s by default): the bound
	// on the time a dead node's calls hold channels. Default 5 s; at
	// least 500 ms.
	Expiry time.Duration
}

var (
	nodeName    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)
	clusterName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// Check reports what is wrong with c, naming the field. Zero values that
// have defaults are fine.
func (c Config) Check() error {
	if c.URL == "" {
		return errors.New("trunkcount: URL is empty: want a Redis server, e.g. redis://127.0.0.1:6379/0")
	}
	if _, err := redis.ParseURL(c.URL); err != nil {
		return fmt.Errorf("trunkcount: URL: %w", err)
	}
	if c.Cluster != "" && !clusterName.MatchString(c.Cluster) {
		return fmt.Errorf("trunkcount: cluster %q: want letters, digits, '-' and '_'", c.Cluster)
	}
	if !nodeName.MatchString(c.Node) {
		return fmt.Errorf("trunkcount: node %q: want letters, digits, '.', '-' and '_', at most 32, starting with a letter or digit", c.Node)
	}
	if c.Expiry != 0 && c.Expiry < 500*time.Millisecond {
		return fmt.Errorf("trunkcount: expiry %v: want at least 500ms", c.Expiry)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Cluster == "" {
		c.Cluster = "default"
	}
	if c.Expiry == 0 {
		c.Expiry = 5 * time.Second
	}
	return c
}
