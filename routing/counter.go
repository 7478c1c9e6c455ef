package routing

import "context"

// ChannelCounter counts the calls on trunks (gateways and carriers with a
// channel limit) across the nodes of a cluster, so that a 30-channel PRI
// never carries more than 30 calls however many routers send it calls
// (OpenSIPS: dialog profiles shared through cachedb). A Router given one
// (WithChannelCounter) asks it before each attempt on a capped trunk and
// reports its own counts to it; without one, each Router counts its own
// calls only.
//
// Each node is the authority on its own calls: it sends its counts as
// absolute values stamped with a sequence number that grows with every
// change (a later stamp replaces an earlier one, an earlier one arriving
// late is ignored), and the counter adds up the counts of the nodes that
// are alive. A node that stops reporting for the counter's expiry is taken
// as dead and its calls leave the totals, so a crashed node's channels
// come back within a bounded time. A counter is bound to one node's name
// when it is made; implementations must be safe for concurrent use.
//
// routingtest.TestChannelCounter is its conformance suite.
type ChannelCounter interface {
	// Reserve admits one more call, atomically for the cluster: counts are
	// this node's counts on each trunk the call would occupy (its gateway,
	// then its carriers), the new call included in Used. When, for every
	// trunk with Channels > 0, the other live nodes' calls plus this
	// node's latest counts fit within Channels, Reserve records counts as
	// the node's and returns full = -1. Otherwise it records nothing and
	// returns the index in counts of the first trunk that is full and the
	// calls on it across the cluster without the new one. Reserve is on
	// the hot path: one round trip to the engine at most.
	Reserve(ctx context.Context, seq int64, counts []TrunkCount) (full, used int, err error)
	// Report records counts as the node's (each unless a later one is
	// recorded already), marks the node alive for the counter's expiry,
	// forgets the counts of nodes that are no longer alive, and returns
	// the cluster's totals and trunk alarms, one per count, in order. The
	// alarm of a trunk is one for the cluster: the Report that sees the
	// trunk's Calls reach AlarmAt raises it (Changed), the one that sees
	// them fall below clears it, and every other report only sees it.
	Report(ctx context.Context, seq int64, counts []TrunkCount) ([]TrunkTotal, error)
}

// TrunkCount is one node's calls on a trunk.
type TrunkCount struct {
	// Carrier tells a carrier (dr_carriers, ID its carrierid) from a
	// gateway (ID its gwid).
	Carrier bool
	ID      string
	// Channels is the trunk's limit (0: none) and AlarmAt the calls at
	// which its alarm is raised (0: none).
	Channels, AlarmAt int
	// Used is the node's calls in progress and channels reserved for
	// attempts; Calls is the calls in progress alone, which the alarm
	// counts.
	Used, Calls int
}

// Key returns "gateway:ID" or "carrier:ID", a name of the trunk unique
// among gateways and carriers.
func (c TrunkCount) Key() string {
	if c.Carrier {
		return "carrier:" + c.ID
	}
	return "gateway:" + c.ID
}

// TrunkTotal is a trunk's state across the cluster, as Report returns it.
type TrunkTotal struct {
	// Used and Calls add up the live nodes' TrunkCounts.
	Used, Calls int
	// Alarm tells whether the trunk's alarm is raised for the cluster, and
	// Changed whether this report raised or cleared it.
	Alarm, Changed bool
}
