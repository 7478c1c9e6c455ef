package presence

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/palio-voip/palio/snapshot"
)

// MessageSummary is the message-waiting event package (RFC 3842): the
// voicemail lamp of a phone.
const MessageSummary = "message-summary"

// MessageSummaryType is the content type of its NOTIFY bodies.
const MessageSummaryType = "application/simple-message-summary"

// contentTypeOf is the body type of an event package's NOTIFYs.
func contentTypeOf(pkg string) string {
	if pkg == MessageSummary {
		return MessageSummaryType
	}
	return ContentType
}

// Mailbox is the state of an account's voicemail box: the new and old
// voice messages, as a voicemail server (the media box) or an operator
// (`unisi mwi`) sets it.
type Mailbox struct {
	User, Domain string
	New, Old     int
}

// aor is the mailbox's AOR key.
func (m Mailbox) aor() string { return aorKey(m.User, m.Domain) }

// MessageSummaryBody is the RFC 3842 body for account (the mailbox's
// URI): Messages-Waiting yes when there are new messages, and the voice
// message counts.
func MessageSummaryBody(account string, m Mailbox) []byte {
	waiting := "no"
	if m.New > 0 {
		waiting = "yes"
	}
	return []byte("Messages-Waiting: " + waiting + "\r\nMessage-Account: " + account +
		"\r\nVoice-Message: " + strconv.Itoa(max(0, m.New)) + "/" + strconv.Itoa(max(0, m.Old)) + " (0/0)\r\n")
}

// current is the notice with s's package's present state. p.mu is held.
func (p *Presence) current(s *subscription) notice {
	if s.Event == MessageSummary {
		return notice{mailbox: p.boxes[s.aor]}
	}
	return notice{dialogs: p.state(s.aor)}
}

// SetMailbox records a mailbox's counts and notifies its message-summary
// watchers when they changed.
func (p *Presence) SetMailbox(m Mailbox) {
	if m.New < 0 || m.Old < 0 {
		return
	}
	aor := m.aor()
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.boxes[aor]; ok && old.New == m.New && old.Old == m.Old {
		return
	}
	p.boxes[aor] = m
	for s := range p.byAOR[aor] {
		if s.Event == MessageSummary {
			p.enqueue(s, notice{mailbox: m})
		}
	}
}

// PutMailbox checks m and sets it (SetMailbox): with it a Presence takes
// a voicemail server's counts as a MailboxStore would, and notifies at
// once.
func (p *Presence) PutMailbox(_ context.Context, m Mailbox) error {
	if err := CheckMailbox(m); err != nil {
		return err
	}
	p.SetMailbox(m)
	return nil
}

// Mailbox returns the counts recorded for user@domain.
func (p *Presence) Mailbox(user, domain string) (Mailbox, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.boxes[aorKey(user, domain)]
	return m, ok
}

// MailboxStore is where mailbox counts live between processes (the
// palio_mwi table, or memory): a voicemail server or an operator writes
// them, the presence server reads them (ReloadMailboxes).
type MailboxStore interface {
	// Mailboxes returns every mailbox's counts.
	Mailboxes(ctx context.Context) ([]Mailbox, error)
	// PutMailbox stores m's counts, replacing the mailbox's.
	PutMailbox(ctx context.Context, m Mailbox) error
}

// CheckMailbox reports why m cannot be stored.
func CheckMailbox(m Mailbox) error {
	switch {
	case m.User == "" || strings.ContainsAny(m.User, " \t@;:<>"):
		return fmt.Errorf("presence: mailbox %q: not a user", m.User)
	case m.New < 0 || m.Old < 0 || m.New > 9999 || m.Old > 9999:
		return fmt.Errorf("presence: mailbox %s: counts %d/%d: want 0 to 9999", m.User, m.New, m.Old)
	}
	return nil
}

// ReloadMailboxes reads ms and notifies the watchers of every mailbox
// whose counts changed (the example runs it when palio_mwi changes).
func (p *Presence) ReloadMailboxes(ctx context.Context, ms MailboxStore) (snapshot.Report, error) {
	start := time.Now()
	boxes, err := ms.Mailboxes(ctx)
	if err != nil {
		return snapshot.Report{Component: "mwi"}, fmt.Errorf("presence: mailboxes: %w", err)
	}
	for _, m := range boxes {
		p.SetMailbox(m)
	}
	return snapshot.Report{Component: "mwi", Loaded: len(boxes), Took: time.Since(start)}, nil
}

// MemMailboxes is a MailboxStore in memory.
type MemMailboxes struct {
	mu    sync.Mutex
	boxes map[string]Mailbox
}

var _ MailboxStore = (*MemMailboxes)(nil)

// NewMemMailboxes returns an empty MemMailboxes.
func NewMemMailboxes() *MemMailboxes { return &MemMailboxes{boxes: map[string]Mailbox{}} }

// Mailboxes returns every mailbox.
func (s *MemMailboxes) Mailboxes(ctx context.Context) ([]Mailbox, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Mailbox, 0, len(s.boxes))
	for _, m := range s.boxes {
		out = append(out, m)
	}
	return out, nil
}

// PutMailbox stores m.
func (s *MemMailboxes) PutMailbox(ctx context.Context, m Mailbox) error {
	if err := CheckMailbox(m); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.boxes[m.aor()] = m
	return nil
}
