package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/palio-voip/palio/mediabox"
	"github.com/palio-voip/palio/mediabox/mediaboxtest"
	"github.com/palio-voip/palio/store/sqlite"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/palio-voip/palio/store/storetest"
)

func TestMediaBoxStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		mediaboxtest.TestStore(t, func(t *testing.T) mediabox.Store { return open(t).MediaBox() })
	})
}

// TestMediaBoxCounter: every write to the menus, mailboxes and queues
// moves the "mediabox" change counter, so that a running media box (or
// another node) reloads them; a message left, heard or deleted does not.
func TestMediaBoxCounter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		db := open(t)
		ctx := context.Background()
		st := db.MediaBox()
		last := func() int64 {
			t.Helper()
			v, err := db.Versions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n, ok := v["mediabox"]
			if !ok {
				t.Fatalf("palio_changes has no mediabox row: %v", v)
			}
			return n
		}
		menu := mediabox.Menu{ID: "5000", Prompt: "ivr-5000", Keys: map[string]mediabox.Action{"1": {Kind: mediabox.GoQueue, Arg: "5000"}}}
		queue := mediabox.Queue{ID: "5000", Members: []mediabox.Member{{Number: "5002"}, {Number: "5003"}}}
		var msg mediabox.Message
		before := last()
		for _, w := range []struct {
			name  string
			moves bool
			do    func() error
		}{
			{"menu stored", true, func() error { return st.PutMenu(ctx, menu) }},
			{"menu replaced", true, func() error { menu.Retries = 3; return st.PutMenu(ctx, menu) }},
			{"mailbox stored", true, func() error { return st.PutMailbox(ctx, mediabox.Mailbox{User: "5002", PIN: "1234"}) }},
			{"mailbox replaced", true, func() error { return st.PutMailbox(ctx, mediabox.Mailbox{User: "5002", PIN: "4321"}) }},
			{"queue stored", true, func() error { return st.PutQueue(ctx, queue) }},
			{"agent logged in", true, func() error { return st.SetAgent(ctx, "5000", "5003", true) }},
			{"message left", false, func() (err error) {
				msg, err = st.AddMessage(ctx, mediabox.Message{Mailbox: "5002", Caller: "5003", Time: time.Now(), Duration: time.Second, File: "m.wav"})
				return err
			}},
			{"message heard", false, func() error { return st.MarkHeard(ctx, "5002", msg.ID) }},
			{"message deleted", false, func() error { return st.DeleteMessage(ctx, "5002", msg.ID) }},
			{"queue deleted", true, func() error { return st.DeleteQueue(ctx, "5000") }},
			{"menu deleted", true, func() error { return st.DeleteMenu(ctx, "5000") }},
		} {
			if err := w.do(); err != nil {
				t.Fatalf("%s: %v", w.name, err)
			}
			now := last()
			switch {
			case w.moves && now <= before:
				t.Errorf("%s: the mediabox counter stayed at %d", w.name, now)
			case !w.moves && now != before:
				t.Errorf("%s: the mediabox counter moved from %d to %d", w.name, before, now)
			}
			before = now
		}
	})
}

// TestMediaBoxColumns: the rows as another tool sees them (SQLite): timers
// in whole seconds, a message's time in Unix milliseconds and its length
// in milliseconds, actions written kind:arg, members by position; and
// rows that tool writes read back.
func TestMediaBoxColumns(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "palio.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := db.MediaBox()
	if err := st.PutMenu(ctx, mediabox.Menu{ID: "5000", Prompt: "ivr-5000", Timeout: 7 * time.Second, Retries: 2,
		Keys: map[string]mediabox.Action{"9": {Kind: mediabox.Voicemail, Arg: "5002"}}, OnTimeout: mediabox.Action{Kind: mediabox.Hangup}}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutQueue(ctx, mediabox.Queue{ID: "5000", Members: []mediabox.Member{{Number: "5003", LoggedIn: true}, {Number: "5002"}},
		RingTimeout: 15 * time.Second, MaxWait: 5 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	when := time.UnixMilli(1741944413589)
	if _, err := st.AddMessage(ctx, mediabox.Message{Mailbox: "5002", Caller: "5003", Time: when.Add(700 * time.Microsecond), Duration: 12345678 * time.Microsecond, File: "a.wav"}); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var timeout, retries int
	var onTimeout, action string
	if err := raw.QueryRowContext(ctx, "SELECT m.timeout, m.retries, m.on_timeout, k.action FROM palio_ivr_menus m JOIN palio_ivr_keys k ON k.menu_id = m.id AND k.digit = '9'").
		Scan(&timeout, &retries, &onTimeout, &action); err != nil {
		t.Fatal(err)
	}
	if timeout != 7 || retries != 2 || onTimeout != "hangup" || action != "voicemail:5002" {
		t.Errorf("menu row: timeout %d retries %d on_timeout %q action %q, want 7 2 hangup voicemail:5002", timeout, retries, onTimeout, action)
	}
	var ring, wait int
	if err := raw.QueryRowContext(ctx, "SELECT ring_timeout, max_wait FROM palio_queues WHERE id = '5000'").Scan(&ring, &wait); err != nil || ring != 15 || wait != 300 {
		t.Errorf("queue row: ring_timeout %d max_wait %d %v, want 15 300", ring, wait, err)
	}
	var first string
	if err := raw.QueryRowContext(ctx, "SELECT number FROM palio_queue_members WHERE queue_id = '5000' ORDER BY position LIMIT 1").Scan(&first); err != nil || first != "5003" {
		t.Errorf("first member: %q %v, want 5003", first, err)
	}
	var created, durationMS int64
	if err := raw.QueryRowContext(ctx, "SELECT created, duration_ms FROM palio_voicemail_msgs").Scan(&created, &durationMS); err != nil || created != 1741944413589 || durationMS != 12345 {
		t.Errorf("message row: created %d duration_ms %d %v, want 1741944413589 12345", created, durationMS, err)
	}

	// Rows another tool writes.
	for _, q := range []string{
		"INSERT INTO palio_ivr_keys (menu_id, digit, action) VALUES ('5000', '0', 'repeat')",
		"INSERT INTO palio_voicemail_boxes (username, pin) VALUES ('5003', '0000')",
		"INSERT INTO palio_voicemail_msgs (mailbox, caller, created, duration_ms, file) VALUES ('5002', 'anonymous', 1741944413000, 500, 'b.wav')",
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	m, err := st.Menu(ctx, "5000")
	if err != nil || len(m.Keys) != 2 || m.Keys["0"] != (mediabox.Action{Kind: mediabox.Repeat}) {
		t.Errorf("menu with a key added by SQL: %+v %v", m, err)
	}
	if b, err := st.Mailbox(ctx, "5003"); err != nil || b != (mediabox.Mailbox{User: "5003", PIN: "0000"}) {
		t.Errorf("mailbox added by SQL: %+v %v", b, err)
	}
	msgs, err := st.Messages(ctx, "5002")
	if err != nil || len(msgs) != 2 || msgs[0].Caller != "anonymous" || msgs[0].Duration != 500*time.Millisecond || !msgs[1].Time.Equal(when) {
		t.Errorf("messages: %+v %v, want anonymous's (added by SQL, older) first", msgs, err)
	}
}
