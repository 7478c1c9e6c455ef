package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/palio-voip/palio/registrar"
)

// writeBack holds the location changes of a write-back store until they
// are written: per AOR and contact, the latest Put or Delete.
//
// A lookup reads the database, then applies what the database may not
// have yet. What that is depends on when its read began: the changes
// pending and in flight, and every round committed after the read began,
// since the read's snapshot may or may not hold it (SQLite's WAL and
// MariaDB's InnoDB give a read the database as of some moment after it
// began). So rounds are numbered, a lookup notes the number of the last
// round committed before it reads (beginRead), and a committed round is
// kept for as long as a lookup that began before it is still reading,
// however long that read takes; then it goes (trim). Applying a round the
// read already saw changes nothing: its changes are the latest of their
// bindings unless a later round, in flight or pending, changes them again,
// and those are applied after it.
type writeBack struct {
	mu       sync.Mutex
	pending  map[string]map[string]wbOp // not yet written
	inflight map[string]map[string]wbOp // being written
	// seq counts the rounds committed; rounds holds those a lookup still
	// reading may have missed, oldest first; readers counts the lookups
	// reading, by the seq they began at.
	seq     uint64
	rounds  []wbRound
	readers map[uint64]int

	flushMu sync.Mutex // one round at a time
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// wbRound is one committed round of changes.
type wbRound struct {
	seq uint64
	ops map[string]map[string]wbOp
}

// wbOp is a change to one binding: b, or its deletion.
type wbOp struct {
	b   registrar.Binding
	del bool
}

func newWriteBack() *writeBack {
	return &writeBack{pending: map[string]map[string]wbOp{}, readers: map[uint64]int{},
		stop: make(chan struct{}), done: make(chan struct{})}
}

func (w *writeBack) add(aor, contact string, op wbOp) {
	w.mu.Lock()
	m := w.pending[aor]
	if m == nil {
		m = map[string]wbOp{}
		w.pending[aor] = m
	}
	m[contact] = op
	w.mu.Unlock()
}

// beginRead registers a lookup about to read the database and returns
// the number of the last round committed: what the read is sure to see.
// Every beginRead is followed by one overlay.
func (w *writeBack) beginRead() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.readers[w.seq]++
	return w.seq
}

// overlay applies to bindings, read from the database by a lookup that
// began at round start, the changes of aor the read may have missed,
// oldest first, and ends the read.
func (w *writeBack) overlay(aor string, start uint64, bindings []registrar.Binding) []registrar.Binding {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.rounds {
		if r.seq > start {
			bindings = applyOps(bindings, r.ops[aor])
		}
	}
	bindings = applyOps(bindings, w.inflight[aor])
	bindings = applyOps(bindings, w.pending[aor])
	if w.readers[start]--; w.readers[start] <= 0 {
		delete(w.readers, start)
	}
	w.trimLocked()
	return bindings
}

// applyOps applies one round's changes of an AOR to its bindings.
func applyOps(bindings []registrar.Binding, ops map[string]wbOp) []registrar.Binding {
	for contact, op := range ops {
		i := -1
		for j := range bindings {
			if bindings[j].Contact == contact {
				i = j
				break
			}
		}
		switch {
		case op.del && i >= 0:
			bindings = append(bindings[:i], bindings[i+1:]...)
		case !op.del && i >= 0:
			bindings[i] = cloneBinding(op.b)
		case !op.del:
			bindings = append(bindings, cloneBinding(op.b))
		}
	}
	return bindings
}

// trimLocked drops the rounds no reading lookup can have missed: those
// committed before the oldest read began (all of them when none reads).
func (w *writeBack) trimLocked() {
	oldest := w.seq
	for s := range w.readers {
		oldest = min(oldest, s)
	}
	i := 0
	for i < len(w.rounds) && w.rounds[i].seq <= oldest {
		i++
	}
	if i > 0 {
		w.rounds = slices.Delete(w.rounds, 0, i)
	}
}

// writeBackLoop writes the pending changes every interval until Close.
func (s *LocationStore) writeBackLoop(interval time.Duration) {
	defer close(s.wb.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.wb.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*interval+5*time.Second)
			if err := s.flush(ctx); err != nil {
				s.log.Error("sqlstore: location write-back failed; the bindings stay in memory and are retried", "error", err)
			}
			cancel()
		}
	}
}

// flush writes the pending changes of a write-back store in one
// transaction. If it fails they stay pending, under any newer change.
func (s *LocationStore) flush(ctx context.Context) error {
	w := s.wb
	if w == nil {
		return nil
	}
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	ops := w.pending
	w.pending = map[string]map[string]wbOp{}
	w.inflight = ops
	w.mu.Unlock()
	if len(ops) == 0 {
		w.mu.Lock()
		w.inflight = nil
		w.mu.Unlock()
		return nil
	}
	st, err := s.db.writeStmt(ctx, s.putQuery)
	if err == nil {
		err = s.batch.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
			put := tx.StmtContext(ctx, st)
			for aor, m := range ops {
				user, domain := splitAOR(aor)
				for contact, op := range m {
					var err error
					if op.del {
						_, err = tx.ExecContext(ctx, deleteBindingQuery, user, domain, domain, contact)
					} else {
						_, err = put.ExecContext(ctx, putArgs(op.b)...)
					}
					if err != nil {
						return fmt.Errorf("%s %s: %w", aor, contact, err)
					}
				}
			}
			return s.announce(ctx, tx)
		})
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inflight = nil
	if err != nil {
		for aor, m := range ops {
			newer := w.pending[aor]
			if newer == nil {
				w.pending[aor] = m
				continue
			}
			for contact, op := range m {
				if _, ok := newer[contact]; !ok {
					newer[contact] = op
				}
			}
		}
		return fmt.Errorf("sqlstore: location write-back: %w", err)
	}
	w.seq++
	if len(w.readers) > 0 {
		// A lookup reading now may have read before this commit.
		w.rounds = append(w.rounds, wbRound{seq: w.seq, ops: ops})
	}
	return nil
}
