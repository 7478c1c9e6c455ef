package mediabox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/palio-voip/palio/presence"
)

// greetingFile is the name of a mailbox's recorded greeting in its spool
// folder.
const greetingFile = "greeting.wav"

// MaxGreeting bounds a recorded greeting.
const MaxGreeting = time.Minute

// folder is user's spool folder.
func (b *Box) folder(user string) string { return filepath.Join(b.cfg.Spool, user) }

// MessageFile is the path of a message's WAV (m.File in its mailbox's
// spool folder).
func (b *Box) MessageFile(m Message) string { return filepath.Join(b.folder(m.Mailbox), m.File) }

// writeSpool writes a WAV into user's folder through a temporary file, so
// that a full disk leaves no half file behind.
func (b *Box) writeSpool(user, name string, wav []byte) error {
	dir := b.folder(user)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".rec-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(wav)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}

// leaveMessage plays the mailbox's greeting, records a message and
// stores it.
func (c *call) leaveMessage(box Mailbox) error {
	b := c.box
	msgs, err := b.store.Messages(c.ctx, box.User)
	if err != nil {
		return err
	}
	if len(msgs) >= b.cfg.MaxMessages {
		if err := c.play(false, "vm-full"); err != nil {
			return err
		}
		return c.goodbye()
	}
	greeted := false
	if box.Greeting != "" {
		if data, err := os.ReadFile(filepath.Join(b.folder(box.User), box.Greeting)); err == nil {
			if err := c.playFile(data, false); err == nil {
				greeted = true
			} else if errors.Is(err, errHungUp) {
				return nil
			}
		}
	}
	if !greeted {
		if err := c.play(false, "vm-greeting"); err != nil {
			return ignoreHangup(err)
		}
	}
	if err := c.play(false, "beep"); err != nil {
		return ignoreHangup(err)
	}
	start := time.Now()
	pcm, hungUp := c.record(b.cfg.MaxMessage)
	if d := pcmDuration(len(pcm)); d < b.cfg.MinMessage {
		c.log.Info("mediabox: message too short, not kept", "mailbox", box.User, "duration", d)
		if hungUp {
			return nil
		}
		return c.goodbye()
	}
	m, err := b.storeMessage(context.WithoutCancel(c.ctx), box, c.caller, start, pcm)
	if err != nil {
		c.log.Error("mediabox: message lost", "mailbox", box.User, "error", err)
		if hungUp {
			return nil
		}
		return c.unavailable()
	}
	c.log.Info("mediabox: message left", "mailbox", box.User, "id", m.ID, "duration", m.Duration)
	if hungUp {
		return nil
	}
	return ignoreHangup(c.play(false, "vm-saved"))
}

func ignoreHangup(err error) error {
	if errors.Is(err, errHungUp) {
		return nil
	}
	return err
}

// storeMessage writes a recording to the spool, records it in the store,
// publishes the mailbox's counts and queues the e-mail.
func (b *Box) storeMessage(ctx context.Context, box Mailbox, caller string, at time.Time, pcm []byte) (Message, error) {
	if caller == "" {
		caller = "anonymous"
	}
	unlock := b.mailbox.lock(box.User)
	defer unlock()
	name := fmt.Sprintf("msg-%d-%s.wav", at.UnixMilli(), strconv.FormatInt(int64(len(pcm)), 36))
	wav := EncodeWAV(pcm)
	if err := b.writeSpool(box.User, name, wav); err != nil {
		return Message{}, fmt.Errorf("mediabox: spool: %w", err)
	}
	m := Message{Mailbox: box.User, Caller: caller, Time: at.Truncate(time.Millisecond),
		Duration: pcmDuration(len(pcm)).Truncate(time.Millisecond), File: name}
	m, err := b.store.AddMessage(ctx, m)
	if err != nil {
		_ = os.Remove(filepath.Join(b.folder(box.User), name))
		return Message{}, fmt.Errorf("mediabox: store message: %w", err)
	}
	b.m.messages.Inc()
	b.publish(ctx, box.User)
	if box.Email != "" {
		b.mailer.send(box, m, wav)
	}
	return m, nil
}

// Counts returns user's new (unheard) and old message counts.
func (b *Box) Counts(ctx context.Context, user string) (newMsgs, oldMsgs int, err error) {
	msgs, err := b.store.Messages(ctx, user)
	if err != nil {
		return 0, 0, err
	}
	for _, m := range msgs {
		if m.Heard {
			oldMsgs++
		} else {
			newMsgs++
		}
	}
	return newMsgs, oldMsgs, nil
}

// publish sends user's counts to the MWI sinks.
func (b *Box) publish(ctx context.Context, user string) {
	if len(b.mwi) == 0 {
		return
	}
	n, o, err := b.Counts(ctx, user)
	if err != nil {
		b.log.Warn("mediabox: message counts", "mailbox", user, "error", err)
		return
	}
	mb := presence.Mailbox{User: user, Domain: b.cfg.Domain, New: n, Old: o}
	for _, s := range b.mwi {
		if err := s.PutMailbox(ctx, mb); err != nil {
			b.log.Warn("mediabox: message-waiting not published", "mailbox", user, "error", err)
		}
	}
}

// Publish sends user's message counts to the MWI sinks (after an
// operator changed the messages, or at start-up).
func (b *Box) Publish(ctx context.Context, user string) { b.publish(ctx, user) }

// voicemailMenu lets the caller listen to and delete their messages and
// record their greeting, once they gave their PIN.
func (c *call) voicemailMenu() error {
	b := c.box
	box, err := b.store.Mailbox(c.ctx, c.caller)
	if err != nil || b.cfg.Spool == "" {
		if !errors.Is(err, ErrNotFound) && err != nil {
			c.log.Warn("mediabox: mailbox", "error", err)
		}
		return ignoreHangup(c.then(c.play(false, "vm-unavailable"), c.goodbye))
	}
	if box.PIN == "" {
		return ignoreHangup(c.then(c.play(false, "vm-locked"), c.goodbye))
	}
	ok := false
	for try := 0; try < 3 && !ok; try++ {
		if err := c.play(true, "vm-pin"); err != nil {
			return ignoreHangup(err)
		}
		pin, err := c.collect(8, 10*time.Second)
		if err != nil {
			return ignoreHangup(err)
		}
		if pin == box.PIN {
			ok = true
			break
		}
		c.log.Info("mediabox: wrong voicemail PIN", "mailbox", box.User)
		c.flushDigits()
		if err := c.play(false, "vm-badpin"); err != nil {
			return ignoreHangup(err)
		}
	}
	if !ok {
		return ignoreHangup(c.goodbye())
	}
	for range 20 { // bounded: a caller pressing keys forever
		n, o, err := b.Counts(c.ctx, box.User)
		if err != nil {
			return err
		}
		if err := c.announceCounts(n, o); err != nil {
			return ignoreHangup(err)
		}
		if err := c.play(true, "vm-main"); err != nil {
			return ignoreHangup(err)
		}
		d, err := c.digit(DefaultDigitTimeout)
		if err != nil {
			return ignoreHangup(err)
		}
		switch d {
		case '1':
			if err := c.listen(box.User); err != nil {
				return ignoreHangup(err)
			}
		case '0':
			if err := c.recordGreeting(box); err != nil {
				return ignoreHangup(err)
			}
		case '*', 0:
			return ignoreHangup(c.goodbye())
		default:
			if err := c.play(false, "invalid"); err != nil {
				return ignoreHangup(err)
			}
		}
		c.flushDigits()
	}
	return ignoreHangup(c.goodbye())
}

// then runs next when err is nil.
func (c *call) then(err error, next func() error) error {
	if err != nil {
		return err
	}
	return next()
}

// announceCounts says "you have N new messages, M saved messages".
func (c *call) announceCounts(newMsgs, oldMsgs int) error {
	if newMsgs == 0 && oldMsgs == 0 {
		return c.play(true, "vm-nomsg")
	}
	if err := c.play(true, "vm-youhave"); err != nil {
		return err
	}
	if err := c.sayNumber(newMsgs); err != nil {
		return err
	}
	if err := c.play(true, "vm-new"); err != nil {
		return err
	}
	if oldMsgs > 0 {
		if err := c.sayNumber(oldMsgs); err != nil {
			return err
		}
		return c.play(true, "vm-old")
	}
	return nil
}

// listen plays the messages, new ones first, each followed by its menu.
func (c *call) listen(user string) error {
	b := c.box
	msgs, err := b.store.Messages(c.ctx, user)
	if err != nil {
		return err
	}
	order := make([]Message, 0, len(msgs))
	for _, heard := range []bool{false, true} {
		for _, m := range msgs {
			if m.Heard == heard {
				order = append(order, m)
			}
		}
	}
	for _, m := range order {
		for replay := true; replay; {
			replay = false
			c.flushDigits()
			data, err := os.ReadFile(b.MessageFile(m))
			if err != nil {
				c.log.Warn("mediabox: message file unreadable", "mailbox", user, "id", m.ID, "error", err)
			} else if err := c.playFile(data, true); err != nil {
				return err
			}
			if !m.Heard {
				if err := b.store.MarkHeard(c.ctx, user, m.ID); err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
				m.Heard = true
				b.publish(c.ctx, user)
			}
			if err := c.play(true, "vm-msgmenu"); err != nil {
				return err
			}
			d, err := c.digit(DefaultDigitTimeout)
			if err != nil {
				return err
			}
			switch d {
			case '1':
				replay = true
			case '7':
				if err := b.DeleteMessage(c.ctx, user, m.ID); err != nil {
					return err
				}
				if err := c.play(false, "vm-deleted"); err != nil {
					return err
				}
			}
		}
	}
	return c.play(false, "vm-end")
}

// DeleteMessage removes a message and its WAV, and publishes the
// mailbox's counts.
func (b *Box) DeleteMessage(ctx context.Context, user string, id int64) error {
	if err := RemoveMessage(ctx, b.store, b.cfg.Spool, user, id); err != nil {
		var fe *FileError
		if !errors.As(err, &fe) {
			return err
		}
		b.log.Warn("mediabox: message file not removed", "mailbox", user, "id", id, "error", fe.Err)
	}
	b.publish(ctx, user)
	return nil
}

// FileError is a message deleted from the store whose WAV could not be
// removed from the spool.
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string {
	return fmt.Sprintf("mediabox: message file %s not removed: %v", e.Path, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// RemoveMessage deletes user's message id from st and its WAV from the
// spool folder (Config.Spool), as a box does; for tools that work on a
// box's store and spool without running it. ErrNotFound: no such
// message. A *FileError: the message is gone from the store but its
// file stayed (a file already missing is not an error).
func RemoveMessage(ctx context.Context, st VoicemailStore, spool, user string, id int64) error {
	msgs, err := st.Messages(ctx, user)
	if err != nil {
		return err
	}
	var file string
	for _, m := range msgs {
		if m.ID == id && m.File != "" && spool != "" {
			file = filepath.Join(spool, user, m.File)
		}
	}
	if err := st.DeleteMessage(ctx, user, id); err != nil {
		return err
	}
	if file != "" {
		if err := os.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
			return &FileError{Path: file, Err: err}
		}
	}
	return nil
}

// recordGreeting records the caller's greeting and makes it the
// mailbox's.
func (c *call) recordGreeting(box Mailbox) error {
	b := c.box
	if err := c.play(false, "vm-recgreeting", "beep"); err != nil {
		return err
	}
	pcm, hungUp := c.record(MaxGreeting)
	if hungUp {
		return errHungUp
	}
	if pcmDuration(len(pcm)) < b.cfg.MinMessage {
		return c.play(false, "invalid")
	}
	unlock := b.mailbox.lock(box.User)
	err := b.writeSpool(box.User, greetingFile, EncodeWAV(pcm))
	if err == nil {
		box.Greeting = greetingFile
		err = b.store.PutMailbox(c.ctx, box)
	}
	unlock()
	if err != nil {
		c.log.Error("mediabox: greeting not saved", "mailbox", box.User, "error", err)
		return c.play(false, "unavailable")
	}
	return c.play(false, "vm-greetingsaved")
}

// keyedMutex serialises work per key.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
