package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/palio-voip/palio/mediabox"
)

// MediaBoxStore is mediabox.Store over Palio's media box tables:
// palio_ivr_menus and palio_ivr_keys (a menu and its keys),
// palio_voicemail_boxes and palio_voicemail_msgs (a mailbox and its
// messages), palio_queues and palio_queue_members (a queue and its agents,
// in order). A menu or a queue is written in one transaction, its rows
// replaced whole; it is read in one statement, so a reader never sees half
// of a change. Writes to every table but the messages move the "mediabox"
// change counter (DB.Versions, DB.Watch).
//
// Names and numbers compare byte for byte, as in mediabox.MemStore (on
// MySQL the key columns are ascii_bin); a name mediabox's Validate would
// refuse (a space, a letter outside ASCII) is found nowhere. Timers are
// kept in whole seconds (Validate refuses a fraction), a message's time in
// Unix milliseconds and its length in whole milliseconds.
type MediaBoxStore struct{ db *DB }

var _ mediabox.Store = (*MediaBoxStore)(nil)

// MediaBox returns the media box's store of db: IVR menus, voicemail and
// queues.
func (db *DB) MediaBox() *MediaBoxStore { return &MediaBoxStore{db} }

// plainName reports whether s could name a menu, mailbox, queue or member
// that Validate accepted: printable ASCII without spaces. Other names are
// not looked up: MySQL's ascii columns would refuse to compare them, and
// its collations ignore trailing spaces.
func plainName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// parseStoredAction reads an action column as written ("" is none). It
// does not validate: what an external tool wrote is returned as it is,
// for the media box to check when it loads it.
func parseStoredAction(s string) mediabox.Action {
	if s == "" {
		return mediabox.Action{}
	}
	kind, arg, _ := strings.Cut(s, ":")
	return mediabox.Action{Kind: mediabox.ActionKind(kind), Arg: arg}
}

// maxAttempts bounds the tries of a write transaction that MySQL chose as
// a deadlock's victim (error 1213).
const maxAttempts = 5

// write runs fn in a write transaction and commits it: every write that
// moves the change counter goes through it. On MySQL the transaction is
// READ COMMITTED, so that it locks the rows it changes and no gaps or
// neighbours (under REPEATABLE READ, an agent logging in to one queue
// while another queue is replaced deadlocked on palio_changes' row, which
// every such write updates); one that InnoDB still rolls back as a
// deadlock's victim is tried again.
func (s *MediaBoxStore) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var opts *sql.TxOptions
	if s.db.dialect == MySQL {
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	for attempt := 1; ; attempt++ {
		err := func() error {
			tx, err := s.db.w.BeginTx(ctx, opts)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			if err := fn(tx); err != nil {
				return err
			}
			return tx.Commit()
		}()
		if err == nil || s.db.dialect != MySQL || attempt == maxAttempts || !strings.Contains(err.Error(), "Error 1213") {
			return err
		}
	}
}

const menuSelect = "SELECT m.id, m.prompt, m.timeout, m.retries, m.on_timeout, k.digit, k.action " +
	"FROM palio_ivr_menus m LEFT JOIN palio_ivr_keys k ON k.menu_id = m.id"

// scanMenus reads menuSelect's rows, ordered by menu.
func scanMenus(rows *sql.Rows) ([]mediabox.Menu, error) {
	defer rows.Close()
	var out []mediabox.Menu
	for rows.Next() {
		var m mediabox.Menu
		var timeout int64
		var onTimeout string
		var digit, action sql.NullString
		if err := rows.Scan(&m.ID, &m.Prompt, &timeout, &m.Retries, &onTimeout, &digit, &action); err != nil {
			return nil, err
		}
		if n := len(out); n == 0 || out[n-1].ID != m.ID {
			m.Timeout = time.Duration(timeout) * time.Second
			m.OnTimeout = parseStoredAction(onTimeout)
			m.Keys = map[string]mediabox.Action{}
			out = append(out, m)
		}
		if digit.Valid {
			out[len(out)-1].Keys[digit.String] = parseStoredAction(action.String)
		}
	}
	return out, rows.Err()
}

// Menu returns the menu id with its keys, or mediabox.ErrNotFound.
func (s *MediaBoxStore) Menu(ctx context.Context, id string) (mediabox.Menu, error) {
	if !plainName(id) {
		return mediabox.Menu{}, mediabox.ErrNotFound
	}
	rows, err := s.db.r.QueryContext(ctx, menuSelect+" WHERE m.id = ?", id)
	if err != nil {
		return mediabox.Menu{}, fmt.Errorf("sqlstore: menu %s: %w", id, err)
	}
	menus, err := scanMenus(rows)
	if err != nil {
		return mediabox.Menu{}, fmt.Errorf("sqlstore: menu %s: %w", id, err)
	}
	if len(menus) == 0 {
		return mediabox.Menu{}, mediabox.ErrNotFound
	}
	return menus[0], nil
}

// Menus returns every menu, by ID.
func (s *MediaBoxStore) Menus(ctx context.Context) ([]mediabox.Menu, error) {
	rows, err := s.db.r.QueryContext(ctx, menuSelect+" ORDER BY m.id, k.digit")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: menus: %w", err)
	}
	menus, err := scanMenus(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: menus: %w", err)
	}
	return menus, nil
}

// PutMenu stores m (mediabox.Menu.Validate first), replacing the menu of
// its ID and all its keys in one transaction.
func (s *MediaBoxStore) PutMenu(ctx context.Context, m mediabox.Menu) error {
	if err := m.Validate(); err != nil {
		return err
	}
	cols := []string{"id", "prompt", "timeout", "retries", "on_timeout"}
	upsert := s.db.dialect.upsert("palio_ivr_menus", cols, cols[:1], cols[1:])
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, upsert, m.ID, m.Prompt, int64(m.Timeout/time.Second), m.Retries, m.OnTimeout.String()); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM palio_ivr_keys WHERE menu_id = ?", m.ID); err != nil {
			return err
		}
		for digit, a := range m.Keys {
			if _, err := tx.ExecContext(ctx, "INSERT INTO palio_ivr_keys (menu_id, digit, action) VALUES (?, ?, ?)", m.ID, digit, a.String()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlstore: menu %s: %w", m.ID, err)
	}
	return nil
}

// DeleteMenu removes the menu id and its keys, or returns
// mediabox.ErrNotFound.
func (s *MediaBoxStore) DeleteMenu(ctx context.Context, id string) error {
	if !plainName(id) {
		return mediabox.ErrNotFound
	}
	return s.deleteWhole(ctx, "menu", id, "DELETE FROM palio_ivr_menus WHERE id = ?", "DELETE FROM palio_ivr_keys WHERE menu_id = ?")
}

// deleteWhole deletes the row of id with the first statement (none is
// mediabox.ErrNotFound) and its dependent rows with the second, in one
// transaction.
func (s *MediaBoxStore) deleteWhole(ctx context.Context, what, id, main, rest string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, main, id)
		if err != nil {
			return err
		}
		if err := mustAffect(res, mediabox.ErrNotFound); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, rest, id)
		return err
	})
	if errors.Is(err, mediabox.ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("sqlstore: delete %s %s: %w", what, id, err)
	}
	return nil
}

// Mailbox returns user's mailbox, or mediabox.ErrNotFound.
func (s *MediaBoxStore) Mailbox(ctx context.Context, user string) (mediabox.Mailbox, error) {
	if !plainName(user) {
		return mediabox.Mailbox{}, mediabox.ErrNotFound
	}
	b := mediabox.Mailbox{}
	err := s.db.r.QueryRowContext(ctx, "SELECT username, pin, email, greeting FROM palio_voicemail_boxes WHERE username = ?", user).
		Scan(&b.User, &b.PIN, &b.Email, &b.Greeting)
	if errors.Is(err, sql.ErrNoRows) {
		return mediabox.Mailbox{}, mediabox.ErrNotFound
	}
	if err != nil {
		return mediabox.Mailbox{}, fmt.Errorf("sqlstore: mailbox %s: %w", user, err)
	}
	return b, nil
}

// PutMailbox stores b (mediabox.Mailbox.Validate first), replacing the
// user's mailbox settings; its messages stay.
func (s *MediaBoxStore) PutMailbox(ctx context.Context, b mediabox.Mailbox) error {
	if err := b.Validate(); err != nil {
		return err
	}
	cols := []string{"username", "pin", "email", "greeting"}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.db.dialect.upsert("palio_voicemail_boxes", cols, cols[:1], cols[1:]), b.User, b.PIN, b.Email, b.Greeting)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: mailbox %s: %w", b.User, err)
	}
	return nil
}

// AddMessage stores m and returns it with its ID, one higher than any
// given before (AUTOINCREMENT: the ID of a deleted message is not given
// again). The time is kept to the millisecond, as is the length; a caller
// longer than the column (255) is cut.
func (s *MediaBoxStore) AddMessage(ctx context.Context, m mediabox.Message) (mediabox.Message, error) {
	if !plainName(m.Mailbox) {
		return mediabox.Message{}, fmt.Errorf("sqlstore: voicemail message: mailbox %q: not a user", m.Mailbox)
	}
	m.Caller = truncate(m.Caller, 255)
	res, err := s.db.w.ExecContext(ctx, "INSERT INTO palio_voicemail_msgs (mailbox, caller, created, duration_ms, file, heard) VALUES (?, ?, ?, ?, ?, ?)",
		m.Mailbox, m.Caller, m.Time.UnixMilli(), m.Duration.Milliseconds(), m.File, m.Heard)
	if err != nil {
		return mediabox.Message{}, fmt.Errorf("sqlstore: voicemail message for %s: %w", m.Mailbox, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return mediabox.Message{}, fmt.Errorf("sqlstore: voicemail message for %s: %w", m.Mailbox, err)
	}
	m.ID = id
	m.Time = m.Time.Truncate(time.Millisecond)
	m.Duration = m.Duration.Truncate(time.Millisecond)
	return m, nil
}

// Messages returns user's messages, oldest first (of two left in the same
// millisecond, the first stored).
func (s *MediaBoxStore) Messages(ctx context.Context, user string) ([]mediabox.Message, error) {
	if !plainName(user) {
		return nil, nil
	}
	rows, err := s.db.r.QueryContext(ctx, "SELECT id, mailbox, caller, created, duration_ms, file, heard FROM palio_voicemail_msgs "+
		"WHERE mailbox = ? ORDER BY created, id", user)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: messages of %s: %w", user, err)
	}
	defer rows.Close()
	var out []mediabox.Message
	for rows.Next() {
		var m mediabox.Message
		var created, duration int64
		if err := rows.Scan(&m.ID, &m.Mailbox, &m.Caller, &created, &duration, &m.File, &m.Heard); err != nil {
			return nil, fmt.Errorf("sqlstore: messages of %s: %w", user, err)
		}
		m.Time = time.UnixMilli(created)
		m.Duration = time.Duration(duration) * time.Millisecond
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: messages of %s: %w", user, err)
	}
	return out, nil
}

// MarkHeard marks user's message id heard, or returns mediabox.ErrNotFound
// (also for another mailbox's message).
func (s *MediaBoxStore) MarkHeard(ctx context.Context, user string, id int64) error {
	return s.messageExec(ctx, "UPDATE palio_voicemail_msgs SET heard = 1 WHERE id = ? AND mailbox = ?", "mark message %d heard", user, id)
}

// DeleteMessage removes user's message id, or returns mediabox.ErrNotFound
// (also for another mailbox's message).
func (s *MediaBoxStore) DeleteMessage(ctx context.Context, user string, id int64) error {
	return s.messageExec(ctx, "DELETE FROM palio_voicemail_msgs WHERE id = ? AND mailbox = ?", "delete message %d", user, id)
}

func (s *MediaBoxStore) messageExec(ctx context.Context, q, what, user string, id int64) error {
	if !plainName(user) {
		return mediabox.ErrNotFound
	}
	res, err := s.db.w.ExecContext(ctx, q, id, user)
	if err == nil {
		err = mustAffect(res, mediabox.ErrNotFound)
	}
	if err != nil && !errors.Is(err, mediabox.ErrNotFound) {
		return fmt.Errorf("sqlstore: %s of %s: %w", fmt.Sprintf(what, id), user, err)
	}
	return err
}

const queueSelect = "SELECT q.id, q.strategy, q.music, q.announce_position, q.ring_timeout, q.max_wait, q.on_timeout, m.number, m.logged_in " +
	"FROM palio_queues q LEFT JOIN palio_queue_members m ON m.queue_id = q.id"

// scanQueues reads queueSelect's rows, ordered by queue and position.
func scanQueues(rows *sql.Rows) ([]mediabox.Queue, error) {
	defer rows.Close()
	var out []mediabox.Queue
	for rows.Next() {
		var q mediabox.Queue
		var strategy, onTimeout string
		var ring, wait int64
		var number sql.NullString
		var loggedIn sql.NullBool
		if err := rows.Scan(&q.ID, &strategy, &q.Music, &q.AnnouncePosition, &ring, &wait, &onTimeout, &number, &loggedIn); err != nil {
			return nil, err
		}
		if n := len(out); n == 0 || out[n-1].ID != q.ID {
			q.Strategy = mediabox.Strategy(strategy)
			q.RingTimeout = time.Duration(ring) * time.Second
			q.MaxWait = time.Duration(wait) * time.Second
			q.OnTimeout = parseStoredAction(onTimeout)
			out = append(out, q)
		}
		if number.Valid {
			last := &out[len(out)-1]
			last.Members = append(last.Members, mediabox.Member{Number: number.String, LoggedIn: loggedIn.Bool})
		}
	}
	return out, rows.Err()
}

// Queue returns the queue id with its members in order, or
// mediabox.ErrNotFound.
func (s *MediaBoxStore) Queue(ctx context.Context, id string) (mediabox.Queue, error) {
	if !plainName(id) {
		return mediabox.Queue{}, mediabox.ErrNotFound
	}
	rows, err := s.db.r.QueryContext(ctx, queueSelect+" WHERE q.id = ? ORDER BY m.position", id)
	if err != nil {
		return mediabox.Queue{}, fmt.Errorf("sqlstore: queue %s: %w", id, err)
	}
	queues, err := scanQueues(rows)
	if err != nil {
		return mediabox.Queue{}, fmt.Errorf("sqlstore: queue %s: %w", id, err)
	}
	if len(queues) == 0 {
		return mediabox.Queue{}, mediabox.ErrNotFound
	}
	return queues[0], nil
}

// Queues returns every queue, by ID, with its members in order.
func (s *MediaBoxStore) Queues(ctx context.Context) ([]mediabox.Queue, error) {
	rows, err := s.db.r.QueryContext(ctx, queueSelect+" ORDER BY q.id, m.position")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: queues: %w", err)
	}
	queues, err := scanQueues(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: queues: %w", err)
	}
	return queues, nil
}

// PutQueue stores q (mediabox.Queue.Validate first), replacing the queue
// of its ID and all its members (their order is their position) in one
// transaction.
func (s *MediaBoxStore) PutQueue(ctx context.Context, q mediabox.Queue) error {
	if err := q.Validate(); err != nil {
		return err
	}
	cols := []string{"id", "strategy", "music", "announce_position", "ring_timeout", "max_wait", "on_timeout"}
	upsert := s.db.dialect.upsert("palio_queues", cols, cols[:1], cols[1:])
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, upsert, q.ID, string(q.Strategy), q.Music, q.AnnouncePosition,
			int64(q.RingTimeout/time.Second), int64(q.MaxWait/time.Second), q.OnTimeout.String()); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM palio_queue_members WHERE queue_id = ?", q.ID); err != nil {
			return err
		}
		for i, m := range q.Members {
			if _, err := tx.ExecContext(ctx, "INSERT INTO palio_queue_members (queue_id, position, number, logged_in) VALUES (?, ?, ?, ?)",
				q.ID, i+1, m.Number, m.LoggedIn); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlstore: queue %s: %w", q.ID, err)
	}
	return nil
}

// DeleteQueue removes the queue id and its members, or returns
// mediabox.ErrNotFound.
func (s *MediaBoxStore) DeleteQueue(ctx context.Context, id string) error {
	if !plainName(id) {
		return mediabox.ErrNotFound
	}
	return s.deleteWhole(ctx, "queue", id, "DELETE FROM palio_queues WHERE id = ?", "DELETE FROM palio_queue_members WHERE queue_id = ?")
}

// SetAgent logs the member number of queue in or out (one row: agents
// logging in at once do not undo each other); mediabox.ErrNotFound when
// the queue has no such member.
func (s *MediaBoxStore) SetAgent(ctx context.Context, queue, number string, loggedIn bool) error {
	if !plainName(queue) || !plainName(number) {
		return mediabox.ErrNotFound
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE palio_queue_members SET logged_in = ? WHERE queue_id = ? AND number = ?", loggedIn, queue, number)
		if err != nil {
			return err
		}
		return mustAffect(res, mediabox.ErrNotFound)
	})
	if err != nil && !errors.Is(err, mediabox.ErrNotFound) {
		return fmt.Errorf("sqlstore: queue %s agent %s: %w", queue, number, err)
	}
	return err
}
