package routing_test

import (
	"context"
	"fmt"
	"time"

	"github.com/palio-voip/palio/routing"
)

// Two nodes share a 2-channel PRI through a counter engine: each counts
// its own calls, the engine admits against the sum of the live nodes'.
// Routers do this themselves with routing.WithChannelCounter; the Redis
// engine for nodes on several machines is cluster/trunkcount.
func ExampleMemChannels() {
	engine := routing.NewMemChannels(5 * time.Second)
	siena1, siena2 := engine.Node("siena-1"), engine.Node("siena-2")
	ctx := context.Background()
	pri := func(used int) []routing.TrunkCount {
		return []routing.TrunkCount{{ID: "gw-siena", Channels: 2, Used: used, Calls: used}}
	}

	full, _, _ := siena1.Reserve(ctx, 1, pri(1)) // siena-1's first call
	fmt.Println("siena-1, 1st call:", full < 0)
	full, _, _ = siena2.Reserve(ctx, 1, pri(1)) // siena-2's first call
	fmt.Println("siena-2, 1st call:", full < 0)
	full, used, _ := siena2.Reserve(ctx, 2, pri(2)) // a third call in all
	fmt.Printf("siena-2, 2nd call: %v (%d of 2 in use)\n", full < 0, used)
	tot, _ := siena1.Report(ctx, 3, pri(0)) // siena-1's call ended
	fmt.Println("in use across the cluster:", tot[0].Used)
	// Output:
	// siena-1, 1st call: true
	// siena-2, 1st call: true
	// siena-2, 2nd call: false (2 of 2 in use)
	// in use across the cluster: 1
}
