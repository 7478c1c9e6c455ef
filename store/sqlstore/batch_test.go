package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/palio-voip/palio/store/storetest"
)

// waitCommits waits up to 30 s for the store's group commit counters to
// meet cond, and fails the test with what otherwise.
func waitCommits(t *testing.T, loc *sqlstore.LocationStore, what string, cond func(commits, waits int64) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, w := sqlstore.Commits(loc)
		if cond(c, w) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: commits=%d waits=%d", what, c, w)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLocationCommitDelay: a write that comes alone is committed at once;
// one that follows another within CommitDelay waits for company and shares
// its transaction with the writes that arrive meanwhile; Close commits a
// batch that is waiting. The delay is an hour, so a write that waited
// when it should not have would hang the test, and no outcome depends on
// how fast the machine is: the batch ends by filling up (Batch) or by
// Close.
func TestLocationCommitDelay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		ctx := context.Background()
		db := open(t)
		loc := db.Location(sqlstore.LocationOptions{CommitDelay: time.Hour, Batch: 2, CacheTTL: -1})
		binding := func(i int) registrar.Binding {
			return registrar.Binding{AOR: fmt.Sprint(5000 + i), Contact: fmt.Sprintf("sip:%d@192.0.2.7:5060", 5000+i),
				Transport: "UDP", Q: 1, CallID: fmt.Sprint("c", i), CSeq: 1, Expires: time.Now().Add(time.Hour)}
		}
		put := func(i int) <-chan error {
			ch := make(chan error, 1)
			go func() { ch <- loc.Put(ctx, binding(i)) }()
			return ch
		}

		// Alone: committed at once.
		if err := loc.Put(ctx, binding(1)); err != nil {
			t.Fatal(err)
		}
		if c, w := sqlstore.Commits(loc); c != 1 || w != 0 {
			t.Fatalf("a lone write: commits=%d waits=%d, want 1 and 0", c, w)
		}
		// Close behind it: waits, and the next write fills the batch.
		second := put(2)
		waitCommits(t, loc, "the second write never waited", func(_, w int64) bool { return w == 1 })
		select {
		case err := <-second:
			t.Fatalf("the waiting write returned before its batch was committed: %v", err)
		default:
		}
		third := put(3)
		for _, ch := range []<-chan error{second, third} {
			if err := <-ch; err != nil {
				t.Fatal(err)
			}
		}
		if c, w := sqlstore.Commits(loc); c != 2 || w != 1 {
			t.Fatalf("two writes in one batch: commits=%d waits=%d, want 2 and 1", c, w)
		}
		// Waiting at Close: committed, not lost.
		fourth := put(4)
		waitCommits(t, loc, "the fourth write never waited", func(_, w int64) bool { return w == 2 })
		loc.Close()
		if err := <-fourth; err != nil {
			t.Fatalf("the write waiting at Close: %v", err)
		}
		other := db.Location(sqlstore.LocationOptions{CacheTTL: -1})
		defer other.Close()
		for i := 1; i <= 4; i++ {
			bs, err := other.Lookup(ctx, binding(i).AOR)
			if err != nil || len(bs) != 1 {
				t.Fatalf("binding %d after Close: %v %v", i, bs, err)
			}
		}
	})
}

// TestGroupCommitOutlivesACaller: a caller whose context ends while its
// write runs inside a group transaction does not roll the group back;
// the write of the caller that shared the transaction and its own are
// both committed, in one transaction.
func TestGroupCommitOutlivesACaller(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		ctx := context.Background()
		db := open(t)
		loc := db.Location(sqlstore.LocationOptions{CommitDelay: time.Hour, Batch: 2, CacheTTL: -1})
		defer loc.Close()
		first := registrar.Binding{AOR: "5001", Contact: "sip:5001@192.0.2.7:5060", Transport: "UDP", Q: 1,
			CallID: "c1", CSeq: 1, Expires: time.Now().Add(time.Hour)}
		if err := loc.Put(ctx, first); err != nil { // alone: committed at once
			t.Fatal(err)
		}
		// The next write comes within the delay and waits for company.
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		quitter := make(chan error, 1)
		go func() {
			quitter <- sqlstore.GroupWrite(loc, cctx, func(ctx context.Context, tx *sql.Tx) error {
				cancel() // the caller gives up while its statement runs
				_, err := tx.ExecContext(ctx, "INSERT INTO location (username, contact, expires) VALUES (?, ?, ?)",
					"5009", "sip:5009@192.0.2.9:5060", time.Now().Add(time.Hour).Unix())
				return err
			})
		}()
		waitCommits(t, loc, "the second write never waited for company", func(_, w int64) bool { return w == 1 })
		second := first
		second.AOR, second.Contact, second.CallID = "5002", "sip:5002@192.0.2.7:5060", "c2"
		if err := loc.Put(ctx, second); err != nil { // fills the batch
			t.Fatal(err)
		}
		<-quitter // nil or context.Canceled: the caller stopped waiting
		if c, _ := sqlstore.Commits(loc); c != 2 {
			t.Errorf("commits = %d, want 2 (the lone write, then the group in one transaction)", c)
		}
		var n int
		if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM location WHERE username = ?", "5009").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("the write of the caller that gave up: %d rows, want 1", n)
		}
	})
}

// TestMirrorFollowsCommitOfAGoneCaller: a REGISTER whose context ends
// while its write is in a group transaction that commits is in the
// mirror afterwards, as it is in the database: the mirror follows the
// commit, not the caller's return.
func TestMirrorFollowsCommitOfAGoneCaller(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		ctx := context.Background()
		db := open(t)
		loc := db.Location(sqlstore.LocationOptions{CommitDelay: time.Hour, Batch: 2, CacheTTL: -1, Mirror: true})
		defer loc.Close()
		if _, err := loc.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		first := registrar.Binding{AOR: "5001", Contact: "sip:5001@192.0.2.7:5060", Transport: "UDP", Q: 1,
			CallID: "c1", CSeq: 1, Expires: time.Now().Add(time.Hour)}
		if err := loc.Put(ctx, first); err != nil { // alone: committed at once
			t.Fatal(err)
		}
		second := first
		second.AOR, second.Contact, second.CallID = "5002", "sip:5002@192.0.2.7:5060", "c2"
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		gone := make(chan error, 1)
		go func() { gone <- loc.Put(cctx, second) }() // waits for company
		waitCommits(t, loc, "the second write never waited for company", func(_, w int64) bool { return w == 1 })
		// The next write fills the batch and, inside the transaction,
		// after the REGISTER's statement ran, its caller gives up.
		if err := sqlstore.GroupWrite(loc, ctx, func(ctx context.Context, tx *sql.Tx) error {
			cancel()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		<-gone // nil or context.Canceled
		var n int
		if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM location WHERE username = ?", "5002").Scan(&n); err != nil || n != 1 {
			t.Fatalf("the database: %d rows of 5002 (%v), want 1", n, err)
		}
		bs, err := loc.Lookup(ctx, second.AOR)
		if err != nil || len(bs) != 1 || bs[0].Contact != second.Contact {
			t.Errorf("the mirror: %v (%v), want the committed binding", bs, err)
		}
	})
}
