package mediabox

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ErrNotFound is returned by a store for a menu, mailbox, message or
// queue it does not hold.
var ErrNotFound = errors.New("mediabox: not found")

// ActionKind is what an IVR key (or a queue's fallback) does.
type ActionKind string

// The actions.
const (
	// Transfer calls Arg (a number dialled as the caller would dial it)
	// through the router and bridges the caller to it.
	Transfer ActionKind = "transfer"
	// GoMenu plays another menu (Arg: its ID).
	GoMenu ActionKind = "menu"
	// Voicemail takes a message for the mailbox Arg.
	Voicemail ActionKind = "voicemail"
	// GoQueue puts the caller in the queue Arg.
	GoQueue ActionKind = "queue"
	// Repeat plays the current menu again.
	Repeat ActionKind = "repeat"
	// Hangup says goodbye and ends the call.
	Hangup ActionKind = "hangup"
)

// Action is one step an IVR key leads to: a kind and its argument.
type Action struct {
	Kind ActionKind
	Arg  string
}

// String is the action's written form, "kind" or "kind:arg", as the CLI
// and the store write it.
func (a Action) String() string {
	if a.Arg == "" {
		return string(a.Kind)
	}
	return string(a.Kind) + ":" + a.Arg
}

// IsZero reports whether a is the empty action.
func (a Action) IsZero() bool { return a.Kind == "" && a.Arg == "" }

var (
	numberRE = regexp.MustCompile(`^[A-Za-z0-9_*#+.-]{1,64}$`)
	idRE     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
	digitRE  = regexp.MustCompile(`^[0-9*#]$`)
	pinRE    = regexp.MustCompile(`^[0-9]{4,8}$`)
)

// ParseAction reads an action's written form: transfer:NUMBER, menu:ID,
// voicemail:USER, queue:ID, repeat or hangup.
func ParseAction(s string) (Action, error) {
	kind, arg, _ := strings.Cut(strings.TrimSpace(s), ":")
	a := Action{Kind: ActionKind(kind), Arg: arg}
	return a, a.Validate()
}

// Validate reports why a cannot be carried out.
func (a Action) Validate() error {
	switch a.Kind {
	case Transfer, Voicemail:
		if !numberRE.MatchString(a.Arg) {
			return fmt.Errorf("mediabox: action %q: %s needs a number", a, a.Kind)
		}
	case GoMenu, GoQueue:
		if !idRE.MatchString(a.Arg) {
			return fmt.Errorf("mediabox: action %q: %s needs an ID (letters, digits, _ and -)", a, a.Kind)
		}
	case Repeat, Hangup:
		if a.Arg != "" {
			return fmt.Errorf("mediabox: action %q: %s takes no argument", a, a.Kind)
		}
	default:
		return fmt.Errorf("mediabox: action %q: unknown kind (want transfer, menu, voicemail, queue, repeat or hangup)", a)
	}
	return nil
}

// Menu is an IVR menu: a prompt, then the caller's key picks an action.
// A call to IVR_<ID> plays it.
type Menu struct {
	// ID names the menu (IVR_<ID> reaches it).
	ID string
	// Prompt is the prompt played (a name in the box's prompt set, or a
	// site prompt file's name without .wav).
	Prompt string
	// Keys maps a key (0-9, * or #) to its action.
	Keys map[string]Action
	// Timeout is how long the menu waits for a key after the prompt
	// (default DefaultDigitTimeout).
	Timeout time.Duration
	// Retries is how many times the menu is played again after a timeout
	// or an invalid key before OnTimeout: 0 is the default (2), NoRetries
	// plays it once only.
	Retries int
	// OnTimeout is what happens when the caller never presses a valid
	// key (default: goodbye and hang up).
	OnTimeout Action
}

// DefaultDigitTimeout is how long a menu waits for a key by default.
const DefaultDigitTimeout = 5 * time.Second

// MaxRetries bounds Menu.Retries.
const MaxRetries = 9

// NoRetries is the Menu.Retries of a menu played once only (0 being the
// default, DefaultRetries).
const NoRetries = -1

// DefaultRetries is the Menu.Retries a menu gets when it sets none.
const DefaultRetries = 2

// Validate reports why m cannot be stored.
func (m Menu) Validate() error {
	if !idRE.MatchString(m.ID) {
		return fmt.Errorf("mediabox: menu %q: want an ID of letters, digits, _ and -", m.ID)
	}
	if !idRE.MatchString(m.Prompt) {
		return fmt.Errorf("mediabox: menu %s: prompt %q: want a prompt name", m.ID, m.Prompt)
	}
	if m.Timeout < 0 || m.Timeout > time.Minute || m.Timeout%time.Second != 0 {
		return fmt.Errorf("mediabox: menu %s: timeout %s: want whole seconds up to 1m", m.ID, m.Timeout)
	}
	if m.Retries < NoRetries || m.Retries > MaxRetries {
		return fmt.Errorf("mediabox: menu %s: retries %d: want %d (none), 0 (the default, %d) to %d", m.ID, m.Retries, NoRetries, DefaultRetries, MaxRetries)
	}
	if len(m.Keys) == 0 {
		return fmt.Errorf("mediabox: menu %s: no keys", m.ID)
	}
	for _, k := range slices.Sorted(mapKeys(m.Keys)) {
		if !digitRE.MatchString(k) {
			return fmt.Errorf("mediabox: menu %s: key %q: want 0-9, * or #", m.ID, k)
		}
		if err := m.Keys[k].Validate(); err != nil {
			return fmt.Errorf("mediabox: menu %s: key %s: %w", m.ID, k, err)
		}
	}
	if !m.OnTimeout.IsZero() {
		if err := m.OnTimeout.Validate(); err != nil {
			return fmt.Errorf("mediabox: menu %s: on timeout: %w", m.ID, err)
		}
	}
	return nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Mailbox is a user's voicemail box.
type Mailbox struct {
	// User is the account (VM_<User> reaches the box).
	User string
	// PIN opens the box from the voicemail menu (4 to 8 digits). A box
	// without one takes messages, but its menu stays shut until an
	// operator sets one.
	PIN string
	// Email, when set, receives each new message with its WAV attached.
	Email string
	// Greeting is the file name of the user's recorded greeting in the
	// spool ("" plays the default greeting).
	Greeting string
}

// Validate reports why b cannot be stored.
func (b Mailbox) Validate() error {
	if !numberRE.MatchString(b.User) {
		return fmt.Errorf("mediabox: mailbox %q: not a user", b.User)
	}
	if b.PIN != "" && !pinRE.MatchString(b.PIN) {
		return fmt.Errorf("mediabox: mailbox %s: PIN: want 4 to 8 digits", b.User)
	}
	if b.Email != "" && (strings.Count(b.Email, "@") != 1 || strings.ContainsAny(b.Email, " \t\r\n<>,;")) {
		return fmt.Errorf("mediabox: mailbox %s: e-mail %q: not an address", b.User, b.Email)
	}
	if b.Greeting != "" && (strings.ContainsAny(b.Greeting, `/\`) || !strings.HasSuffix(b.Greeting, ".wav")) {
		return fmt.Errorf("mediabox: mailbox %s: greeting %q: want a .wav file name in the spool", b.User, b.Greeting)
	}
	return nil
}

// Message is one voicemail message.
type Message struct {
	// ID numbers the message in its store.
	ID int64
	// Mailbox is the user it was left for.
	Mailbox string
	// Caller is who left it (the From user, or "anonymous").
	Caller string
	// Time is when it was left.
	Time time.Time
	// Duration is its length (whole milliseconds).
	Duration time.Duration
	// File is the WAV's name in the mailbox's spool folder.
	File string
	// Heard is set once the user has listened to it: new messages are
	// the unheard ones.
	Heard bool
}

// Strategy is how a queue rings its agents.
type Strategy string

// The strategies.
const (
	// RingAll rings every logged-in agent at once; the first to answer
	// takes the call.
	RingAll Strategy = "ringall"
	// RoundRobin rings one agent at a time, starting after the agent who
	// took the last call.
	RoundRobin Strategy = "roundrobin"
)

// Queue is a call queue: callers wait with music on hold until an agent
// answers.
type Queue struct {
	// ID names the queue (QUEUE_<ID> reaches it).
	ID string
	// Strategy says how agents are rung (default RingAll).
	Strategy Strategy
	// Members are the agents' numbers, dialled through the router.
	Members []Member
	// Music is the prompt played while waiting (default "moh").
	Music string
	// AnnouncePosition tells callers their place in the queue.
	AnnouncePosition bool
	// RingTimeout is how long one agent (or, ring-all, every agent) is
	// rung before the next attempt (default 15s).
	RingTimeout time.Duration
	// MaxWait is how long a caller waits at most (default 5m); then
	// OnTimeout runs (default: goodbye and hang up).
	MaxWait   time.Duration
	OnTimeout Action
}

// Member is an agent of a queue.
type Member struct {
	// Number is dialled through the router to reach the agent.
	Number string
	// LoggedIn agents are rung; agents log in and out with the feature
	// codes (AGENTIN_<queue>, AGENTOUT_<queue>).
	LoggedIn bool
}

// Validate reports why q cannot be stored.
func (q Queue) Validate() error {
	if !idRE.MatchString(q.ID) {
		return fmt.Errorf("mediabox: queue %q: want an ID of letters, digits, _ and -", q.ID)
	}
	switch q.Strategy {
	case "", RingAll, RoundRobin:
	default:
		return fmt.Errorf("mediabox: queue %s: strategy %q: want ringall or roundrobin", q.ID, q.Strategy)
	}
	if q.Music != "" && !idRE.MatchString(q.Music) {
		return fmt.Errorf("mediabox: queue %s: music %q: want a prompt name", q.ID, q.Music)
	}
	seen := map[string]bool{}
	for _, m := range q.Members {
		if !numberRE.MatchString(m.Number) {
			return fmt.Errorf("mediabox: queue %s: member %q: not a number", q.ID, m.Number)
		}
		if seen[m.Number] {
			return fmt.Errorf("mediabox: queue %s: member %s listed twice", q.ID, m.Number)
		}
		seen[m.Number] = true
	}
	if q.RingTimeout < 0 || q.RingTimeout > 5*time.Minute || q.RingTimeout%time.Second != 0 {
		return fmt.Errorf("mediabox: queue %s: ring timeout %s: want whole seconds up to 5m", q.ID, q.RingTimeout)
	}
	if q.MaxWait < 0 || q.MaxWait > time.Hour || q.MaxWait%time.Second != 0 {
		return fmt.Errorf("mediabox: queue %s: max wait %s: want whole seconds up to 1h", q.ID, q.MaxWait)
	}
	if !q.OnTimeout.IsZero() {
		if err := q.OnTimeout.Validate(); err != nil {
			return fmt.Errorf("mediabox: queue %s: on timeout: %w", q.ID, err)
		}
	}
	return nil
}

// MenuStore holds the IVR menus.
type MenuStore interface {
	// Menu returns the menu id, or ErrNotFound.
	Menu(ctx context.Context, id string) (Menu, error)
	// Menus returns every menu, by ID.
	Menus(ctx context.Context) ([]Menu, error)
	// PutMenu stores m (validated), replacing the menu of its ID.
	PutMenu(ctx context.Context, m Menu) error
	// DeleteMenu removes the menu id, or returns ErrNotFound.
	DeleteMenu(ctx context.Context, id string) error
}

// VoicemailStore holds the mailboxes and their messages.
type VoicemailStore interface {
	// Mailbox returns user's mailbox, or ErrNotFound.
	Mailbox(ctx context.Context, user string) (Mailbox, error)
	// PutMailbox stores b (validated), replacing the user's mailbox
	// settings and keeping its messages.
	PutMailbox(ctx context.Context, b Mailbox) error
	// AddMessage stores m and returns it with its ID.
	AddMessage(ctx context.Context, m Message) (Message, error)
	// Messages returns user's messages, oldest first.
	Messages(ctx context.Context, user string) ([]Message, error)
	// MarkHeard marks a message heard, or returns ErrNotFound.
	MarkHeard(ctx context.Context, user string, id int64) error
	// DeleteMessage removes a message, or returns ErrNotFound.
	DeleteMessage(ctx context.Context, user string, id int64) error
}

// QueueStore holds the call queues and their agents.
type QueueStore interface {
	// Queue returns the queue id, or ErrNotFound.
	Queue(ctx context.Context, id string) (Queue, error)
	// Queues returns every queue, by ID.
	Queues(ctx context.Context) ([]Queue, error)
	// PutQueue stores q (validated), replacing the queue of its ID.
	PutQueue(ctx context.Context, q Queue) error
	// DeleteQueue removes the queue id, or returns ErrNotFound.
	DeleteQueue(ctx context.Context, id string) error
	// SetAgent logs a member of a queue in or out; ErrNotFound when the
	// queue has no such member.
	SetAgent(ctx context.Context, queue, number string, loggedIn bool) error
}

// Store is everything the media box keeps: menus, mailboxes and queues.
type Store interface {
	MenuStore
	VoicemailStore
	QueueStore
}
