package routing

import (
	"context"
	"errors"
)

// ErrNotFound is returned for a gateway or carrier id the store or the
// Router does not hold.
var ErrNotFound = errors.New("routing: not found")

// Store holds the routing tables: OpenSIPS's dr_gateways, dr_carriers,
// dr_rules and dr_groups, plus the channel limits (palio_dr_limits in SQL
// stores). The Router reads everything at New and at each Reload, never
// per call, and writes back gateway and carrier states (OpenSIPS's
// persistent_state), the history of gateway state changes, and, when an
// operator sets them, a gateway's address and TLS settings.
// Implementations must be safe for concurrent use. routingtest.TestStore
// checks an implementation's behaviour.
type Store interface {
	// Load returns every row of every table: gateways and carriers by
	// ascending ID, rules by ascending ID, group members by ascending ID.
	// The result shares nothing with the store.
	Load(ctx context.Context) (Data, error)
	// SetGatewayState stores the state of the gateway whose GWID is gwid,
	// or fails with ErrNotFound.
	SetGatewayState(ctx context.Context, gwid string, state State) error
	// SetGatewayStateUnlessDisabled stores state as SetGatewayState
	// does, unless the stored state is StateDisabled: what probes and
	// calls find (StateActive, StateInactive) never undoes an operator's
	// disable, made by another process (the CLI) or node since the
	// Router last loaded the tables. It reports whether it stored state,
	// or fails with ErrNotFound. The check and the write are one atomic
	// step.
	SetGatewayStateUnlessDisabled(ctx context.Context, gwid string, state State) (bool, error)
	// SetCarrierState stores the state of the carrier whose CarrierID is
	// id, or fails with ErrNotFound.
	SetCarrierState(ctx context.Context, id string, state State) error
	// SetGatewayAddress stores the address and attrs of the gateway whose
	// GWID is gwid (Router.SetGatewayAddress: a new address, and attrs
	// without the placeholder mark), or fails with ErrNotFound. An empty
	// attrs is stored as the column's empty value (NULL in SQL).
	SetGatewayAddress(ctx context.Context, gwid, address, attrs string) error
	// SetGatewayTLS stores the TLS settings of the gateway whose GWID is
	// gwid (Router.SetGatewayTLS), or fails with ErrNotFound. The zero
	// GatewayTLS clears them.
	SetGatewayTLS(ctx context.Context, gwid string, t GatewayTLS) error
	// AddStateChange records c in the history of its gateway, dropping
	// the oldest changes of that gateway beyond HistoryKeep (writers
	// adding at the same moment, the nodes of a cluster, may leave a few
	// more, which the next one drops). The gateway need not be in the
	// tables (it may have been removed since).
	AddStateChange(ctx context.Context, c StateChange) error
	// StateHistory returns the last n changes recorded for gwid, newest
	// first (by the order they were added); none for an unknown gwid.
	StateHistory(ctx context.Context, gwid string, n int) ([]StateChange, error)
}
