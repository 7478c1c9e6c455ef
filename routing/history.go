package routing

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// HistoryKeep is how many state changes of each gateway a Store keeps:
// adding one more drops the oldest.
const HistoryKeep = 50

// StateChange is one change of a gateway's state, as the Router that made
// it records it in the store (Store.AddStateChange): the history that
// "gateway show" prints. Changes a reload took from the store
// (CauseReload) are not recorded again: the Router that wrote the state
// recorded it.
type StateChange struct {
	// Gateway is the GWID.
	Gateway string
	// Time is when the change was made.
	Time time.Time
	// From and To are the states left and entered.
	From, To State
	// Cause says why (probe, call, operator, probing-off), and Reason
	// what was seen ("408 Request Timeout", a transport error).
	Cause  Cause
	Reason string
	// Node names the Router that made the change (Config.Node).
	Node string
}

// GatewayHistory returns the last n recorded state changes of gateway
// gwid, newest first (all that the store keeps when n ≤ 0), read from the
// store: those of every Router on it.
func (r *Router) GatewayHistory(ctx context.Context, gwid string, n int) ([]StateChange, error) {
	if n <= 0 || n > HistoryKeep {
		n = HistoryKeep
	}
	h, err := r.store.StateHistory(ctx, gwid, n)
	if err != nil {
		return nil, fmt.Errorf("routing: gateway %s history: %w", gwid, err)
	}
	return h, nil
}

// storeGatewayState returns the store write of an operator's gateway
// state change (SetGatewayEnabled): the state, then, for an event (Kind
// set), the change in the gateway's history.
func (r *Router) storeGatewayState(ev Event) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := r.store.SetGatewayState(ctx, ev.Gateway, ev.State); err != nil || ev.Kind == 0 {
			return err
		}
		return r.storeGatewayHistory(ev)(ctx)
	}
}

// storeFoundState returns the store write of a state change that probes,
// calls or ClearInactive found: the state and its history entry, unless
// an operator disabled the gateway in the store since the tables were
// loaded (from the CLI, or on another node), which such a change must not
// undo; the next reload applies that disable here. A gateway removed
// from the store since is not an error.
func (r *Router) storeFoundState(ev Event) func(context.Context) error {
	return func(ctx context.Context) error {
		stored, err := r.store.SetGatewayStateUnlessDisabled(ctx, ev.Gateway, ev.State)
		switch {
		case errors.Is(err, ErrNotFound):
			return nil
		case err != nil:
			return err
		case !stored:
			r.m.stateRefused.Inc()
			r.log.Info("routing: gateway "+ev.Gateway+" is disabled in the store: "+ev.String()+" not stored (the next reload disables it here)",
				"gateway", ev.Gateway)
			return nil
		}
		return r.storeGatewayHistory(ev)(ctx)
	}
}

// storeGatewayHistory returns the store write of a state change that
// stays this Router's (Config.LocalProbeState): its history entry only.
func (r *Router) storeGatewayHistory(ev Event) func(context.Context) error {
	return func(ctx context.Context) error {
		return r.store.AddStateChange(ctx, StateChange{Gateway: ev.Gateway, Time: ev.Time, From: ev.Previous, To: ev.State,
			Cause: ev.Cause, Reason: ev.Detail, Node: r.cfg.Node})
	}
}
