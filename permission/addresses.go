package permission

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/palio-voip/palio/snapshot"
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

	snap snapshot.Value[table]
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

// Reload reads the store into a new snapshot and swaps it in, with the
// rules of package snapshot. Rows that cannot work are skipped, logged and
// listed in the report with the reason (see ValidateAddress); a store
// error keeps the running table.
func (a *Addresses) Reload(ctx context.Context) (snapshot.Report, error) {
	start := time.Now()
	rep := snapshot.Report{Component: "permission"}
	err := a.snap.Reload(ctx, func(ctx context.Context) (*table, error) {
		rows, err := a.store.Addresses(ctx)
		if err != nil {
			return nil, err
		}
		t, discards := compile(rows)
		rep.Loaded, rep.Discarded = t.n, discards
		return t, nil
	})
	if err != nil {
		a.metrics.reloads.WithLabelValues("error").Inc()
		return snapshot.Report{Component: "permission"}, fmt.Errorf("permission: reload addresses: %w", err)
	}
	rep.Took = time.Since(start)
	for _, d := range rep.Discarded {
		a.log.Warn("permission: address row skipped", "id", d.ID, "reason", d.Reason)
	}
	a.metrics.reloads.WithLabelValues("ok").Inc()
	a.metrics.entries.Set(float64(rep.Loaded))
	a.metrics.discarded.Set(float64(len(rep.Discarded)))
	a.log.Info("permission: addresses loaded", "rows", rep.Loaded, "skipped", len(rep.Discarded))
	return rep, nil
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
