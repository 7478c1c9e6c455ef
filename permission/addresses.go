package permission

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Match is the address row a check found.
type Match struct {
	ID          int
	Group       int
	ContextInfo string
}

// The outcomes of CheckAddress other than a match (OpenSIPS's -1 and -2).
var (
	ErrNoMatch      = errors.New("permission: no matching address")
	ErrUnknownGroup = errors.New("permission: no such group")
)

// Option configures an Addresses.
type Option func(*Addresses)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(a *Addresses) { a.log = l } }

// WithRegisterer registers the metrics (palio_permission_*) with r.
func WithRegisterer(r prometheus.Registerer) Option { return func(a *Addresses) { a.reg = r } }

// Addresses is the source-address ACL of a site (OpenSIPS's address table),
// loaded from a store into an immutable snapshot: exact hosts in a hash,
// subnets in a prefix trie per family, no limit on their number.
type Addresses struct {
	store   AddressStore
	log     *slog.Logger
	reg     prometheus.Registerer
	metrics *metrics

	snap     atomic.Pointer[table]
	reloadMu sync.Mutex
}

// NewAddresses returns the ACL of store, loaded once.
func NewAddresses(store AddressStore, opts ...Option) (*Addresses, error) {
	a := &Addresses{store: store}
	for _, o := range opts {
		o(a)
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.metrics = newMetrics(a.reg)
	a.snap.Store(&table{byGrp: map[int]*groupTable{}})
	if _, err := a.Reload(context.Background()); err != nil {
		return nil, err
	}
	return a, nil
}

// Reload reads the store into a new snapshot and swaps it in. Rows that
// cannot work are skipped, logged and returned with the reason; a store
// error keeps the running table. Reloads run one at a time.
func (a *Addresses) Reload(ctx context.Context) ([]Discard, error) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	rows, err := a.store.Addresses(ctx)
	if err != nil {
		a.metrics.reloads.WithLabelValues("error").Inc()
		return nil, fmt.Errorf("permission: reload addresses: %w", err)
	}
	t, discards := compile(rows)
	for _, d := range discards {
		a.log.Warn("permission: address row skipped", "id", d.ID, "reason", d.Reason)
	}
	a.snap.Store(t)
	a.metrics.reloads.WithLabelValues("ok").Inc()
	a.metrics.entries.Set(float64(t.n))
	a.metrics.discarded.Set(float64(len(discards)))
	a.log.Info("permission: addresses loaded", "rows", t.n, "skipped", len(discards))
	return discards, nil
}

// Len returns the number of rows in the running snapshot.
func (a *Addresses) Len() int { return a.snap.Load().n }

// CheckAddress reports whether ip (source port port, transport proto, the
// checked URI uri) belongs to group, OpenSIPS's check_address: group 0
// means any group, tried in ascending order; port 0 and proto "any" match
// any row; a row's pattern must match uri when both are set. It returns
// ErrNoMatch, or ErrUnknownGroup for a group the table does not have.
func (a *Addresses) CheckAddress(group int, ip netip.Addr, port int, proto, uri string) (Match, error) {
	t := a.snap.Load()
	ip = ip.Unmap()
	proto = strings.ToLower(proto)
	if group != 0 {
		g, ok := t.byGrp[group]
		if !ok {
			return Match{}, ErrUnknownGroup
		}
		if e, ok := g.match(ip, port, proto, uri); ok {
			return Match{e.id, e.group, e.info}, nil
		}
		return Match{}, ErrNoMatch
	}
	for _, gid := range t.groups {
		if e, ok := t.byGrp[gid].match(ip, port, proto, uri); ok {
			return Match{e.id, e.group, e.info}, nil
		}
	}
	return Match{}, ErrNoMatch
}

// SourceGroup returns the lowest group that ip and port belong to, any
// transport and pattern (OpenSIPS's get_source_group).
func (a *Addresses) SourceGroup(ip netip.Addr, port int) (Match, bool) {
	m, err := a.CheckAddress(0, ip, port, "any", "")
	return m, err == nil
}
