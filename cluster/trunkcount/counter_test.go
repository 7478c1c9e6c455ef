package trunkcount_test

import (
	"testing"
	"time"

	"github.com/palio-voip/palio/cluster/trunkcount"
	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/routing/routingtest"
)

func TestChannelCounter(t *testing.T) {
	url := redisURL(t)
	routingtest.TestChannelCounter(t, func(t *testing.T, expiry time.Duration) func(string) routing.ChannelCounter {
		cluster := testCluster(t, url)
		return func(node string) routing.ChannelCounter {
			return newCounter(t, trunkcount.Config{URL: url, Cluster: cluster, Node: node, Expiry: expiry})
		}
	})
}

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  trunkcount.Config
		want string
	}{
		{"ok", trunkcount.Config{URL: "redis://127.0.0.1:6379/0", Node: "a"}, ""},
		{"no URL", trunkcount.Config{Node: "a"}, "trunkcount: URL is empty: want a Redis server, e.g. redis://127.0.0.1:6379/0"},
		{"bad URL", trunkcount.Config{URL: "http://x", Node: "a"}, "trunkcount: URL: redis: invalid URL scheme: http"},
		{"no node", trunkcount.Config{URL: "redis://127.0.0.1:6379/0"}, `trunkcount: node "": want letters, digits, '.', '-' and '_', at most 32, starting with a letter or digit`},
		{"bad cluster", trunkcount.Config{URL: "redis://127.0.0.1:6379/0", Node: "a", Cluster: "a:b"}, `trunkcount: cluster "a:b": want letters, digits, '-' and '_'`},
		{"short expiry", trunkcount.Config{URL: "redis://127.0.0.1:6379/0", Node: "a", Expiry: time.Millisecond}, "trunkcount: expiry 1ms: want at least 500ms"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Check()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
