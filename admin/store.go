package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/palio-voip/palio/sip"
)

// ErrNotFound is returned by a Store for a login it does not have.
var ErrNotFound = errors.New("admin: not found")

// Notice is the global notice the page shows every user (the seed's
// "avviso": a maintenance window, a changed number). An empty Text is no
// notice.
type Notice struct {
	Text string `json:"text"`
	// Updated is when it was set, By who set it.
	Updated time.Time `json:"updated,omitzero"`
	By      string    `json:"by,omitempty"`
}

// MaxNoticeLen bounds a notice's text, in bytes.
const MaxNoticeLen = 2000

// Validate reports a notice the page cannot show: longer than
// MaxNoticeLen or with control characters other than newlines.
func (n Notice) Validate() error {
	if len(n.Text) > MaxNoticeLen {
		return fmt.Errorf("admin: notice: %d bytes, at most %d", len(n.Text), MaxNoticeLen)
	}
	if strings.ContainsFunc(n.Text, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\r' && r != '\t' }) {
		return errors.New("admin: notice: control characters")
	}
	return nil
}

// AuditEntry is one write done through the API: who, what, when. The
// audit log keeps every one (a row of palio_admin_audit).
type AuditEntry struct {
	// ID is assigned by the store.
	ID int64 `json:"id"`
	// Time is when the write was done; Who the login that did it.
	Time time.Time `json:"time"`
	Who  string    `json:"who"`
	// Action names the write ("account.create", "gateway.disable"),
	// Target what it was done to ("5002@voip.unisi.it"), Detail the
	// values given (never a password).
	Action string `json:"action"`
	Target string `json:"target"`
	Detail string `json:"detail,omitempty"`
}

// AuditFilter selects audit entries: all when zero.
type AuditFilter struct {
	// Who keeps one login's entries.
	Who string
	// Limit keeps the newest Limit entries; 0 means all.
	Limit int
}

// Store is where the admin keeps what is its own: the global notice and
// the audit log. Implementations must be safe for concurrent use.
type Store interface {
	// Notice returns the notice; a zero Notice when none was set.
	Notice(ctx context.Context) (Notice, error)
	// SetNotice replaces the notice.
	SetNotice(ctx context.Context, n Notice) error
	// AddAudit appends e and returns it with its ID.
	AddAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	// Audit returns the entries f selects, newest first.
	Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}

// Login is a local login of the admin page: an administrator, or a user
// who owns a SIP account. Only a hash of its password is kept (bcrypt).
type Login struct {
	// Name is what the login types in the form ("admin", "5002").
	Name  string `json:"name"`
	Scope Scope  `json:"scope"`
	// Account and Domain name the SIP account a user login owns.
	Account string `json:"account,omitempty"`
	Domain  string `json:"domain,omitempty"`
	// Hash is the password's bcrypt hash; never served.
	Hash string `json:"-"`
	// Updated is when the login was last written.
	Updated time.Time `json:"updated,omitzero"`
}

// Validate reports a login that cannot be stored: a name that is empty,
// too long or has spaces or control characters, an unknown scope, a user
// login without an account, or no hash.
func (l Login) Validate() error {
	if l.Name == "" || len(l.Name) > 64 || strings.ContainsFunc(l.Name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("admin: login name %q: want 1 to 64 characters without spaces", l.Name)
	}
	switch l.Scope {
	case ScopeAdmin:
	case ScopeUser:
		if l.Account == "" {
			return fmt.Errorf("admin: login %s: a user login needs its account", l.Name)
		}
	default:
		return fmt.Errorf("admin: login %s: scope %q: want admin or user", l.Name, l.Scope)
	}
	if l.Hash == "" {
		return fmt.Errorf("admin: login %s: no password hash", l.Name)
	}
	return nil
}

// LoginStore keeps the local logins. Implementations must be safe for
// concurrent use.
type LoginStore interface {
	// Login returns the login called name, or ErrNotFound.
	Login(ctx context.Context, name string) (Login, error)
	// PutLogin stores l (Validate first), replacing a login of its name.
	PutLogin(ctx context.Context, l Login) error
	// DeleteLogin removes a login, or returns ErrNotFound.
	DeleteLogin(ctx context.Context, name string) error
	// Logins returns every login, by name.
	Logins(ctx context.Context) ([]Login, error)
}

// Bounds of an account's AccountInfo, in characters (the columns of
// palio_account_info).
const (
	MaxOwnerLen = 128
	MaxNoteLen  = 255
)

// AccountInfo is what the page shows of an account beside its SIP data
// (UniSI's front end had both): the person who owns it ("Mario Rossi")
// and a free-text note ("phone in room 12, ask the porter"). Username and
// Domain name the account as the subscriber table does. It is the
// admin's own data: the router never reads it.
type AccountInfo struct {
	Username string `json:"username"`
	Domain   string `json:"domain"`
	Owner    string `json:"owner"`
	Note     string `json:"note"`
}

// IsZero reports an info with neither owner nor note (a store keeps no
// row for it).
func (i AccountInfo) IsZero() bool { return i.Owner == "" && i.Note == "" }

// Validate reports an info that cannot be stored, as a *sip.FieldError
// naming the field: "username" (not a SIP user part), "domain" (empty,
// longer than 64 bytes or with spaces), "owner" (longer than MaxOwnerLen
// characters) or "note" (longer than MaxNoteLen); an owner or note that is
// not UTF-8 or has control characters (a newline too: both show in a
// table's cell) is refused with its field.
func (i AccountInfo) Validate() error {
	if err := sip.CheckUserPart(i.Username); err != nil {
		return &sip.FieldError{Field: "username", Err: fmt.Errorf("admin: account info: %w", err)}
	}
	if i.Domain == "" || len(i.Domain) > 64 || strings.ContainsFunc(i.Domain, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return &sip.FieldError{Field: "domain", Err: fmt.Errorf("admin: account info: domain %q: want 1 to 64 characters without spaces", i.Domain)}
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"owner", i.Owner, MaxOwnerLen}, {"note", i.Note, MaxNoteLen}} {
		if n := utf8.RuneCountInString(f.v); n > f.max {
			return &sip.FieldError{Field: f.name, Err: fmt.Errorf("admin: %s: %d characters, longer than %d", f.name, n, f.max)}
		}
		if !utf8.ValidString(f.v) || strings.ContainsFunc(f.v, unicode.IsControl) {
			return &sip.FieldError{Field: f.name, Err: fmt.Errorf("admin: %s %q: control characters or invalid UTF-8", f.name, f.v)}
		}
	}
	return nil
}

// AccountInfoStore keeps the accounts' AccountInfo (owner and note).
// Usernames compare exactly, domains without case. Implementations must
// be safe for concurrent use.
type AccountInfoStore interface {
	// AccountInfo returns the info of username@domain: a zero Owner and
	// Note when it has none (never ErrNotFound).
	AccountInfo(ctx context.Context, username, domain string) (AccountInfo, error)
	// AccountInfos returns every account's info, by username and domain.
	AccountInfos(ctx context.Context) ([]AccountInfo, error)
	// PutAccountInfo stores i (Validate first), replacing the account's;
	// an info without owner and note removes it.
	PutAccountInfo(ctx context.Context, i AccountInfo) error
	// DeleteAccountInfo removes the info of username@domain (when the
	// account is deleted); none there is not an error.
	DeleteAccountInfo(ctx context.Context, username, domain string) error
}
