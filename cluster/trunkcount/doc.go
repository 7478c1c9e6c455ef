// Package trunkcount shares the routing package's trunk channel counts
// between the nodes of a cluster through Redis, so that with N nodes a
// 30-channel trunk never carries more than 30 calls (issue 22). It is a
// routing.ChannelCounter: the Router asks it before each attempt on a
// capped gateway or carrier and reports its own counts to it.
//
// Each node is the authority on its own calls: its counts go to Redis as
// absolute values stamped with a growing sequence, in one hash per trunk
// (a field per node), and a Lua script adds up the fields of the nodes
// that are alive (a sorted set of node expiries, refreshed by every
// report, on Redis's clock). A reservation is one script: it checks every
// trunk of the attempt and records the node's new counts, atomically. A
// node that stops reporting for Config.Expiry is dropped, with its
// counts: the bound on the time a dead node's calls hold channels. The
// trunk alarm is one per cluster, a field of a shared hash set and
// cleared by the report that sees the crossing.
//
// Redis rather than NATS: admission needs an atomic read-check-write over
// the counts of every node, which a Lua script gives in one round trip;
// NATS carries events (package cluster), not shared state.
//
//	counter, err := trunkcount.New(trunkcount.Config{
//		URL:     "redis://127.0.0.1:6379/0",
//		Cluster: "unisi",
//		Node:    "siena-1",
//	}, trunkcount.WithLogger(log), trunkcount.WithRegisterer(reg))
//	if err != nil {
//		return err
//	}
//	defer counter.Close()
//	router, err := routing.New(cfg, store, routing.WithChannelCounter(counter))
//
// When Redis is unreachable or slow, the Router falls back to the node's
// own counts (see routing.WithChannelCounter); this package never retries
// and never makes a call wait beyond the Router's deadline.
package trunkcount
