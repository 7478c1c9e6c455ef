// Package cluster shares state between the Palio nodes of one site over
// engines the site already runs, so that several nodes behave as one
// router. This version shares dialog events: every node sees every other
// node's call state changes (busy lamps, the live calls list, fraud
// checks), within milliseconds on a LAN.
//
// Which engine carries what, and why:
//
//   - NATS carries the dialog events (Bus): fire-and-forget fan-out to
//     every node with sub-millisecond latency, no state kept by the
//     engine, reconnection handled by nats.go. A lost event is noticed
//     (sequence numbers, heartbeats) and repaired by a snapshot of the
//     sender's active dialogs, so at-most-once delivery is enough.
//   - NATS also carries the guard's decisions (Bus.GuardPeers, for
//     guard.Share): a ban or a flood block on one node is enforced by all
//     within milliseconds.
//   - The live calls list is the cluster's (Calls: this node's table and
//     the other nodes' calls from their events, each naming its node); an
//     operator's hang-up of another node's call is a NATS request to that
//     node, which sends the BYEs (Bus.Hangup, WithHanger).
//   - The fraud figures count every node's calls: guard.FollowCalls(bus).
//   - MariaDB stays the data store: accounts, location, rules, gateway
//     states and presence subscriptions (each node reloads only the
//     subscriptions it owns, active_watchers.sharing_tag).
//   - Registrations need no engine: a binding in the shared location table
//     carries a Path through the node holding the phone's connection
//     (sip.Flows), and SIP's own loose routing takes a call entering
//     another node there.
//   - Redis carries the trunk channel counts cluster-wide: package
//     cluster/trunkcount, a routing.ChannelCounter (an atomic
//     check-and-record in one Lua script per call attempt).
//
// OpenSIPS does the same with clusterer (BIN replication of dialogs) and
// cachedb; Kamailio with DMQ. Palio uses a broker instead of a node-to-node
// protocol of its own.
//
// A node publishes its dialog table and hands the other nodes' events to
// presence, which then notifies its watchers of calls on every node:
//
//	bus, err := cluster.NewBus(cluster.Config{
//		URL:     "nats://127.0.0.1:4222",
//		Cluster: "unisi",
//		Node:    "siena-1",
//	}, srv.Dialogs(), cluster.WithLogger(log), cluster.WithRegisterer(reg))
//	if err != nil {
//		return err
//	}
//	defer bus.Close()
//	pres, err := presence.New(presence.Config{Node: "siena-1"}, store, srv,
//		presence.WithDialogSource(bus))
//
// The Bus never delivers a node's own events back to it, and never makes a
// call wait for NATS: see Bus for the bounds and what happens when NATS is
// unreachable.
package cluster
