package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/palio-voip/palio/registrar"
)

// writeBack holds the location changes of a write-back store until they
// are written: per AOR and contact, the latest Put or Delete.
type writeBack struct {
	mu       sync.Mutex
	pending  map[string]map[string]wbOp // not yet written
	inflight map[string]map[string]wbOp // being written
	// flushed is the last round written. A lookup that read the database
	// just before that round committed still applies it, so that it does
	// not miss a change that is in neither the database it read nor in
	// pending: it is kept one round.
	flushed map[string]map[string]wbOp

	flushMu sync.Mutex // one round at a time
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// wbOp is a change to one binding: b, or its deletion.
type wbOp struct {
	b   registrar.Binding
	del bool
}

func newWriteBack() *writeBack {
	return &writeBack{pending: map[string]map[string]wbOp{}, stop: make(chan struct{}), done: make(chan struct{})}
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

// overlay applies to bindings read from the database the changes of aor
// not yet there, oldest first.
func (w *writeBack) overlay(aor string, bindings []registrar.Binding) []registrar.Binding {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ops := range []map[string]map[string]wbOp{w.flushed, w.inflight, w.pending} {
		for contact, op := range ops[aor] {
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
	}
	return bindings
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
		w.inflight, w.flushed = nil, nil
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
			return nil
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
	w.flushed = ops
	return nil
}
