package routing_test

import (
	"testing"
	"time"

	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/routing/routingtest"
)

func TestMemChannels(t *testing.T) {
	routingtest.TestChannelCounter(t, func(t *testing.T, expiry time.Duration) func(string) routing.ChannelCounter {
		return routing.NewMemChannels(expiry).Node
	})
}
