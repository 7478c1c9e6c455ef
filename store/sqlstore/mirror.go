package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/snapshot"
)

// mirror is the whole location table in memory (LocationOptions.Mirror):
// what OpenSIPS's and Kamailio's usrloc keep in db_mode 1, where every
// lookup is answered from memory and only the writes reach the database.
//
// The store applies each of its writes to the mirror once the database
// took it. Reload replaces the mirror with the table as read; the writes
// of this store applied while it reads are kept aside and applied again
// on top of what it read, since the read may or may not have seen them (a
// write is applied after its commit, so one applied before the reload
// began is in what it reads). Applying a write twice changes nothing.
type mirror struct {
	reloadMu sync.Mutex // one reload at a time

	mu sync.RWMutex
	// loaded is false until the first Reload: lookups read the database.
	loaded bool
	m      map[string][]registrar.Binding
	// reloading is true while a reload reads; since holds the writes
	// applied meanwhile.
	reloading bool
	since     []mirrorOp
}

// mirrorOp is one write applied to the mirror: a binding put, deleted, or
// deleted as expired at expiredAt (only if it still is: a refresh that
// reached the mirror first keeps it).
type mirrorOp struct {
	b         registrar.Binding
	del       bool
	expiredAt time.Time
}

// lookup returns aor's bindings from the mirror, and whether it is loaded.
func (mi *mirror) lookup(aor string) ([]registrar.Binding, bool) {
	mi.mu.RLock()
	defer mi.mu.RUnlock()
	if !mi.loaded {
		return nil, false
	}
	return cloneBindings(mi.m[aor]), true
}

// apply applies one of the store's writes, taken by the database.
func (mi *mirror) apply(op mirrorOp) {
	mi.mu.Lock()
	defer mi.mu.Unlock()
	if !mi.loaded && !mi.reloading {
		return // the first reload reads it
	}
	if mi.reloading {
		mi.since = append(mi.since, op)
	}
	if mi.loaded {
		applyMirrorOp(mi.m, op)
	}
}

// applyMirrorOp applies op to m.
func applyMirrorOp(m map[string][]registrar.Binding, op mirrorOp) {
	aor := op.b.AOR
	bs := m[aor]
	i := -1
	for j := range bs {
		if bs[j].Contact == op.b.Contact {
			i = j
			break
		}
	}
	switch {
	case op.del && i >= 0 && (op.expiredAt.IsZero() || expiredBy(bs[i], op.expiredAt)):
		// A new slice: lookups hand out clones, but keep the stored
		// slices immutable all the same.
		nb := make([]registrar.Binding, 0, len(bs)-1)
		nb = append(append(nb, bs[:i]...), bs[i+1:]...)
		if len(nb) == 0 {
			delete(m, aor)
		} else {
			m[aor] = nb
		}
	case op.del:
	default:
		m[aor] = withBinding(bs, op.b)
	}
}

// expiredBy reports whether b lapsed by t to the second, as the expires
// column compares.
func expiredBy(b registrar.Binding, t time.Time) bool {
	return !b.Expires.IsZero() && b.Expires.Unix() <= t.Unix()
}

// Reload reads the whole location table into the store's mirror
// (LocationOptions.Mirror): at start, and whenever the table's change
// counter moves (another program wrote a binding: the CLI, or a tool that
// bumps the counter as LocationOptions.Announce does). Until the first
// Reload succeeds the store reads the database as one without a mirror
// does. A write-back store writes what it holds first. Without a mirror
// Reload only clears the lookup cache.
func (s *LocationStore) Reload(ctx context.Context) (snapshot.Report, error) {
	start := s.now()
	rep := snapshot.Report{Component: "location"}
	if s.mir == nil {
		for i := range s.cache {
			sh := &s.cache[i]
			sh.mu.Lock()
			clear(sh.m)
			sh.gen++
			sh.mu.Unlock()
		}
		rep.Loaded = -1
		return rep, nil
	}
	mi := s.mir
	mi.reloadMu.Lock()
	defer mi.reloadMu.Unlock()
	mi.mu.Lock()
	mi.reloading, mi.since = true, nil
	mi.mu.Unlock()
	m, n, err := s.readAll(ctx)
	if s.reloadHook != nil {
		s.reloadHook()
	}
	mi.mu.Lock()
	defer mi.mu.Unlock()
	since := mi.since
	mi.reloading, mi.since = false, nil
	if err != nil {
		return rep, fmt.Errorf("sqlstore: location reload: %w", err)
	}
	for _, op := range since {
		applyMirrorOp(m, op)
	}
	mi.m, mi.loaded = m, true
	rep.Loaded, rep.Took = n, s.now().Sub(start)
	return rep, nil
}

// readAll reads every binding, grouped by AOR (a write-back store's
// pending changes written first).
func (s *LocationStore) readAll(ctx context.Context) (map[string][]registrar.Binding, int, error) {
	if err := s.flush(ctx); err != nil {
		return nil, 0, err
	}
	rows, err := s.db.r.QueryContext(ctx, "SELECT "+strings.Join(locationCols, ", ")+" FROM location")
	if err != nil {
		return nil, 0, err
	}
	bs, err := scanBindings(rows)
	if err != nil {
		return nil, 0, err
	}
	m := make(map[string][]registrar.Binding, len(bs))
	for _, b := range bs {
		m[b.AOR] = append(m[b.AOR], b)
	}
	return m, len(bs), nil
}

// announceQuery bumps the location change counter (LocationOptions.Announce,
// and the import of location rows).
const announceQuery = "UPDATE palio_changes SET version = version + 1 WHERE name = 'location'"

// announce bumps the counter in tx when the store announces its writes.
func (s *LocationStore) announce(ctx context.Context, tx *sql.Tx) error {
	if !s.announceWrites {
		return nil
	}
	_, err := tx.ExecContext(ctx, announceQuery)
	return err
}
