package features

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/palio-voip/palio/sip"
)

// DNDAction is what do-not-disturb does with a call.
type DNDAction string

// The do-not-disturb actions.
const (
	// DNDUnavailable answers 480 Temporarily Unavailable (the default).
	DNDUnavailable DNDAction = "unavailable"
	// DNDBusy answers 486 Busy Here.
	DNDBusy DNDAction = "busy"
	// DNDVoicemail sends the call to the account's voicemail
	// (Config.Voicemail).
	DNDVoicemail DNDAction = "voicemail"
)

// Settings are one local account's call services: a row of
// palio_features. The zero value of a field turns its service off.
type Settings struct {
	// User and Domain name the account.
	User, Domain string

	// ForwardAlways sends every call elsewhere (blind, unconditional).
	ForwardAlways string
	// ForwardBusy takes the calls the account's phones answer busy (486
	// or 600 from every branch).
	ForwardBusy string
	// ForwardNoAnswer takes the calls not answered within NoAnswerAfter
	// (default Config.NoAnswerAfter).
	ForwardNoAnswer string
	NoAnswerAfter   time.Duration
	// ForwardUnreachable takes the calls the account cannot take: no
	// phone registered, or its phones answer 408, 480 or 503.
	ForwardUnreachable string

	// DND turns do-not-disturb on; DNDAction says what it does (default
	// DNDUnavailable).
	DND       bool
	DNDAction DNDAction

	// AnonymousBlock refuses anonymous callers with 433 (RFC 5079).
	AnonymousBlock bool

	// Secretary makes the account a boss: its calls ring the secretary
	// (a local user) first. Calls from the secretary, and from the users
	// in SecretaryAllow, reach the boss directly. RingBossAfter, when
	// set, rings the boss too once the secretary has rung that long;
	// BossWhenSecretaryFails sends the call to the boss when the
	// secretary is busy or unreachable.
	Secretary              string
	SecretaryAllow         []string
	RingBossAfter          time.Duration
	BossWhenSecretaryFails bool
}

// Forward targets are numbers dialled as the forwarding account would
// dial them: an extension, an external number, or a media box name such
// as VM_5002.

// MaxNoAnswerAfter bounds NoAnswerAfter (and RingBossAfter): a forward on
// no answer later than this would outlast the Forwarder's Timer C.
const MaxNoAnswerAfter = 5 * time.Minute

// Empty reports whether s turns no service on (its row can go).
func (s Settings) Empty() bool {
	return s.ForwardAlways == "" && s.ForwardBusy == "" && s.ForwardNoAnswer == "" && s.ForwardUnreachable == "" &&
		!s.DND && !s.AnonymousBlock && s.Secretary == ""
}

// Validate reports why s cannot be stored: a user or target that is not
// a SIP user part, a forward or secretary that is the account itself, a
// timer outside 1 s to MaxNoAnswerAfter or not in whole seconds, an
// unknown DND action.
func (s Settings) Validate() error {
	if err := sip.CheckUserPart(s.User); err != nil {
		return fmt.Errorf("features: %w", err)
	}
	if strings.ContainsAny(s.Domain, " \t@;:<>/,") {
		return fmt.Errorf("features: %s: domain %q is not a host name", s.User, s.Domain)
	}
	for _, f := range []struct{ name, target string }{
		{"forward-always", s.ForwardAlways}, {"forward-busy", s.ForwardBusy},
		{"forward-noanswer", s.ForwardNoAnswer}, {"forward-unreachable", s.ForwardUnreachable},
		{"secretary", s.Secretary},
	} {
		if f.target == "" {
			continue
		}
		if err := checkTarget(f.target); err != nil {
			return fmt.Errorf("features: %s %s: %w", s.User, f.name, err)
		}
		if f.target == s.User {
			return fmt.Errorf("features: %s %s: the account itself (a call would loop)", s.User, f.name)
		}
	}
	for _, a := range s.SecretaryAllow {
		if err := sip.CheckUserPart(a); err != nil {
			return fmt.Errorf("features: %s secretary allow list: %w", s.User, err)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"noanswer-after", s.NoAnswerAfter}, {"ring-boss-after", s.RingBossAfter}} {
		if d.v != 0 && (d.v < time.Second || d.v > MaxNoAnswerAfter) {
			return fmt.Errorf("features: %s %s %v: want 1s to %v", s.User, d.name, d.v, MaxNoAnswerAfter)
		}
		if d.v%time.Second != 0 {
			return fmt.Errorf("features: %s %s %v: want whole seconds", s.User, d.name, d.v)
		}
	}
	switch s.DNDAction {
	case "", DNDUnavailable, DNDBusy, DNDVoicemail:
	default:
		return fmt.Errorf("features: %s: DND action %q is none of unavailable, busy, voicemail", s.User, s.DNDAction)
	}
	return nil
}

// checkTarget reports why target is not a number a call can be sent to:
// digits (with *, # and a leading +), or a media box name (VM_, IVR_ or
// FAX_ and digits).
func checkTarget(target string) error {
	t := target
	for _, p := range []string{"VM_", "IVR_", "FAX_"} {
		if rest, ok := strings.CutPrefix(t, p); ok {
			t = rest
			break
		}
	}
	t = strings.TrimPrefix(t, "+")
	if t == "" || len(t) > 32 {
		return fmt.Errorf("%q is not a number", target)
	}
	for _, c := range t {
		if !(c >= '0' && c <= '9' || c == '*' || c == '#') {
			return fmt.Errorf("%q is not a number", target)
		}
	}
	return nil
}

// ListEntry is one row of a blacklist: OpenSIPS's userblacklist (User
// set) or globalblacklist (User empty). The longest Prefix matching a
// number decides; a Whitelist row lets the number through (emergency
// numbers in a list that blocks a whole range).
type ListEntry struct {
	ID           int
	User, Domain string
	Prefix       string
	Whitelist    bool
	Description  string
}

// Global reports whether e belongs to the global list.
func (e ListEntry) Global() bool { return e.User == "" }

// MaxDescription is the longest description a blacklist row keeps
// (globalblacklist.description, VARCHAR(255)).
const MaxDescription = 255

// Validate reports why e cannot be stored: a prefix that is empty, too
// long (64, OpenSIPS's column) or not made of dial characters; a user
// that is no SIP user part; a description longer than MaxDescription
// bytes, not UTF-8 or with control characters (a tab aside). The error
// is a *sip.FieldError naming the field at fault: "prefix", "user" or
// "description".
func (e ListEntry) Validate() error {
	if e.Prefix == "" || len(e.Prefix) > 64 {
		return &sip.FieldError{Field: "prefix", Err: fmt.Errorf("features: blacklist prefix %q: want 1 to 64 characters", e.Prefix)}
	}
	for _, c := range e.Prefix {
		if !(c >= '0' && c <= '9' || c == '+' || c == '*' || c == '#') {
			return &sip.FieldError{Field: "prefix", Err: fmt.Errorf("features: blacklist prefix %q: want digits, +, * or #", e.Prefix)}
		}
	}
	if e.User != "" {
		if err := sip.CheckUserPart(e.User); err != nil {
			return &sip.FieldError{Field: "user", Err: fmt.Errorf("features: blacklist: %w", err)}
		}
	}
	if len(e.Description) > MaxDescription {
		return &sip.FieldError{Field: "description", Err: fmt.Errorf("features: blacklist description: longer than %d bytes", MaxDescription)}
	}
	if !utf8.ValidString(e.Description) || strings.ContainsFunc(e.Description, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
		return &sip.FieldError{Field: "description", Err: fmt.Errorf("features: blacklist description %q: control characters or invalid UTF-8", e.Description)}
	}
	return nil
}

// ErrNotFound is returned by a Store for a row it does not have.
var ErrNotFound = errors.New("features: not found")

// ErrExists is returned by Store.AddListEntry for a prefix the list
// already has.
var ErrExists = errors.New("features: already exists")

// Store is where the services' settings live: palio_features,
// userblacklist and globalblacklist, or memory.
type Store interface {
	// Settings returns every account's settings.
	Settings(ctx context.Context) ([]Settings, error)
	// PutSettings stores s, replacing the account's settings; settings
	// that turn nothing on (Empty) remove the account's row.
	PutSettings(ctx context.Context, s Settings) error
	// ListEntries returns every blacklist row, the global list's and
	// every user's.
	ListEntries(ctx context.Context) ([]ListEntry, error)
	// AddListEntry stores a row (ErrExists for a prefix already in that
	// list) and returns it with its ID.
	AddListEntry(ctx context.Context, e ListEntry) (ListEntry, error)
	// DeleteListEntry removes the row with id from the global list (global)
	// or the users' list.
	DeleteListEntry(ctx context.Context, id int, global bool) error
	// UpdateListEntry replaces the prefix, whitelist flag and description
	// of the row e.ID of e's list (Validate first): the global list when
	// e.User is empty, else that account's list (a row of another
	// account's is not found). ErrNotFound without such a row, ErrExists
	// when another row of that list has the prefix.
	UpdateListEntry(ctx context.Context, e ListEntry) error
}
