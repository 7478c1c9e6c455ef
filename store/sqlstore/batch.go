package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// batcher commits writes in groups: each caller hands in its statements
// and waits for the commit of the transaction they went into. With one
// SQLite writer, 200 REGISTERs arriving together cost one transaction (and
// one WAL write) instead of 200 queued ones; each REGISTER is still
// answered only once its binding is durable, so a database that fails
// fails the REGISTER, and nothing acknowledged is lost.
//
// Writes that arrive one at a time still cost a transaction each, and a
// SQLite transaction is mostly fixed cost (the WAL locks taken and
// released, the frames written): at 800 REGISTERs/s, 1.25 ms apart, the
// commit took 37 % of the process's CPU with one write per transaction.
// So when writes come closer together than delay, the first of a batch
// waits up to delay for others to join it (PostgreSQL's commit_delay,
// MySQL's binlog_group_commit_sync_delay); a write that comes alone, at
// a light load, is committed at once.
type batcher struct {
	db    *sql.DB
	max   int
	delay time.Duration // <= 0: never wait
	reqs  chan *batchOp
	stop  chan struct{}
	wg    sync.WaitGroup
	// last is when the previous write arrived (run's goroutine only).
	last time.Time
	// commits counts the transactions committed, waits the batches that
	// waited for company (tests and the benchmark read them).
	commits, waits atomic.Int64
}

type batchOp struct {
	ctx context.Context
	fn  func(ctx context.Context, tx *sql.Tx) error
	// committed, when set, runs on the batcher's goroutine once the
	// write is committed, in commit order, whether or not the caller
	// still waits (doThen).
	committed func()
	done      chan error
}

var errBatcherClosed = errors.New("sqlstore: store closed")

func newBatcher(db *sql.DB, max int, delay time.Duration) *batcher {
	b := &batcher{db: db, max: max, delay: delay, reqs: make(chan *batchOp, max*4), stop: make(chan struct{})}
	b.wg.Add(1)
	go b.run()
	return b
}

// do runs fn inside a group transaction and returns its outcome once the
// transaction committed (or failed).
func (b *batcher) do(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return b.doThen(ctx, fn, nil)
}

// doThen is do, and committed runs once the write is committed: what a
// store keeps of its own writes in memory (the mirror, the lookup cache)
// follows the database in commit order, also when the caller's context
// ended while the write was already in a transaction that committed.
func (b *batcher) doThen(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error, committed func()) error {
	op := &batchOp{ctx: ctx, fn: fn, committed: committed, done: make(chan error, 1)}
	select {
	case b.reqs <- op:
	case <-b.stop:
		return errBatcherClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
		// The write may still commit; the caller stops waiting.
		return ctx.Err()
	}
}

func (b *batcher) close() {
	select {
	case <-b.stop:
		return
	default:
	}
	close(b.stop)
	b.wg.Wait()
}

func (b *batcher) run() {
	defer b.wg.Done()
	batch := make([]*batchOp, 0, b.max)
	var timer *time.Timer
	if b.delay > 0 {
		timer = time.NewTimer(time.Hour)
		timer.Stop()
		defer timer.Stop()
	}
	for {
		select {
		case <-b.stop:
			for {
				select {
				case op := <-b.reqs:
					op.done <- errBatcherClosed
				default:
					return
				}
			}
		case op := <-b.reqs:
			batch = append(batch[:0], op)
			busy := false
			if b.delay > 0 {
				now := time.Now()
				busy = now.Sub(b.last) < b.delay
				b.last = now
			}
		fill:
			for len(batch) < b.max {
				select {
				case op := <-b.reqs:
					batch = append(batch, op)
				default:
					break fill
				}
			}
			if busy && len(batch) < b.max {
				b.waits.Add(1)
				batch = b.wait(batch, timer)
			}
			b.commit(batch)
		}
	}
}

// wait adds to batch the writes that arrive within delay, until it is
// full or the batcher stops.
func (b *batcher) wait(batch []*batchOp, timer *time.Timer) []*batchOp {
	timer.Reset(b.delay)
	defer timer.Stop()
	for len(batch) < b.max {
		select {
		case op := <-b.reqs:
			batch = append(batch, op)
			b.last = time.Now()
		case <-timer.C:
			return batch
		case <-b.stop:
			return batch
		}
	}
	return batch
}

// commit runs a batch in one transaction; if it fails, each operation is
// retried in a transaction of its own, so that one bad write fails alone.
func (b *batcher) commit(batch []*batchOp) {
	live := batch[:0:0]
	for _, op := range batch {
		if err := op.ctx.Err(); err != nil {
			op.done <- err
			continue
		}
		live = append(live, op)
	}
	if len(live) == 0 {
		return
	}
	if err := b.tx(live); err == nil {
		for _, op := range live {
			op.finish(nil)
		}
		return
	} else if len(live) == 1 {
		live[0].done <- err
		return
	}
	for _, op := range live {
		op.finish(b.tx([]*batchOp{op}))
	}
}

// finish runs op's committed hook if its write committed, then hands
// the outcome to its caller.
func (op *batchOp) finish(err error) {
	if err == nil && op.committed != nil {
		op.committed()
	}
	op.done <- err
}

// tx runs ops in one transaction. Their statements run under contexts
// that cannot be cancelled (context.WithoutCancel of each caller's): a
// caller whose context ends stops waiting (do), but its statement, a
// short write, is not interrupted; interrupting it rolled back the
// writes of every other caller in the group, which were then committed
// one by one, and failed the caller's own write though it may have been
// the one to make it durable.
func (b *batcher) tx(ops []*batchOp) error {
	ctx := context.Background()
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	for _, op := range ops {
		if err := op.fn(context.WithoutCancel(op.ctx), tx); err != nil {
			tx.Rollback()
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit: %w", err)
	}
	b.commits.Add(1)
	return nil
}
