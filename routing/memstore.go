package routing

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
)

// MemStore is a Store in memory, for tests and for programs that keep
// their routing tables in code or in a file of their own.
type MemStore struct {
	mu      sync.Mutex
	d       Data
	history map[string][]StateChange // per gateway, oldest first
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns a MemStore holding a copy of d.
func NewMemStore(d Data) *MemStore {
	s := &MemStore{}
	s.Set(d)
	return s
}

// Set replaces everything the store holds with a copy of d; a Reload
// makes the Router use it.
func (s *MemStore) Set(d Data) {
	d = d.Clone()
	slices.SortStableFunc(d.Gateways, func(a, b Gateway) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortStableFunc(d.Carriers, func(a, b Carrier) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortStableFunc(d.Rules, func(a, b Rule) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortStableFunc(d.Groups, func(a, b GroupMember) int { return cmp.Compare(a.ID, b.ID) })
	s.mu.Lock()
	s.d = d
	s.mu.Unlock()
}

// Load returns a copy of everything the store holds.
func (s *MemStore) Load(ctx context.Context) (Data, error) {
	if err := ctx.Err(); err != nil {
		return Data{}, fmt.Errorf("routing: load: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.d.Clone(), nil
}

// SetGatewayState stores the state of gateway gwid.
func (s *MemStore) SetGatewayState(ctx context.Context, gwid string, state State) error {
	return s.updateGateway(ctx, gwid, "state", func(g *Gateway) { g.State = state })
}

// SetGatewayStateUnlessDisabled stores the state of gateway gwid unless
// it is StateDisabled, and reports whether it did.
func (s *MemStore) SetGatewayStateUnlessDisabled(ctx context.Context, gwid string, state State) (bool, error) {
	stored := false
	err := s.updateGateway(ctx, gwid, "state", func(g *Gateway) {
		if g.State != StateDisabled {
			g.State, stored = state, true
		}
	})
	return stored, err
}

// SetCarrierState stores the state of carrier id.
func (s *MemStore) SetCarrierState(ctx context.Context, id string, state State) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("routing: set carrier %s state: %w", id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.d.Carriers {
		if s.d.Carriers[i].CarrierID == id {
			s.d.Carriers[i].State = state
			return nil
		}
	}
	return fmt.Errorf("routing: set carrier %s state: %w", id, ErrNotFound)
}

// SetGatewayAddress stores the address and attrs of gateway gwid.
func (s *MemStore) SetGatewayAddress(ctx context.Context, gwid, address, attrs string) error {
	return s.updateGateway(ctx, gwid, "address", func(g *Gateway) { g.Address, g.Attrs = address, attrs })
}

// SetGatewayTLS stores the TLS settings of gateway gwid.
func (s *MemStore) SetGatewayTLS(ctx context.Context, gwid string, t GatewayTLS) error {
	return s.updateGateway(ctx, gwid, "tls", func(g *Gateway) { g.TLS = t })
}

// updateGateway applies set to the row of gwid; what names the change in
// errors.
func (s *MemStore) updateGateway(ctx context.Context, gwid, what string, set func(*Gateway)) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("routing: set gateway %s %s: %w", gwid, what, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.d.Gateways {
		if s.d.Gateways[i].GWID == gwid {
			set(&s.d.Gateways[i])
			return nil
		}
	}
	return fmt.Errorf("routing: set gateway %s %s: %w", gwid, what, ErrNotFound)
}

// AddStateChange records c, keeping the last HistoryKeep of its gateway.
func (s *MemStore) AddStateChange(ctx context.Context, c StateChange) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("routing: gateway %s history: %w", c.Gateway, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.history == nil {
		s.history = map[string][]StateChange{}
	}
	h := append(s.history[c.Gateway], c)
	if len(h) > HistoryKeep {
		h = slices.Clone(h[len(h)-HistoryKeep:])
	}
	s.history[c.Gateway] = h
	return nil
}

// StateHistory returns the last n changes of gwid, newest first.
func (s *MemStore) StateHistory(ctx context.Context, gwid string, n int) ([]StateChange, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("routing: gateway %s history: %w", gwid, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.history[gwid]
	out := make([]StateChange, 0, min(n, len(h)))
	for i := len(h) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, h[i])
	}
	return out, nil
}
