package guard

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/palio-voip/palio/sip"
)

// BanKind says what a ban is about and why it came.
type BanKind string

// The kinds of ban.
const (
	// BanFlood is a source over the flood threshold (pike). It lives in
	// the memory of the node that saw the flood and ends when the flood
	// does; it is never stored.
	BanFlood BanKind = "flood"
	// BanIP is a source address that failed authentication too often
	// (AuthConfig.PerIP): nothing from it is heard until Until.
	BanIP BanKind = "ip"
	// BanUser is an account whose authentication failed too often
	// (AuthConfig.PerUser): requests with its credentials are refused
	// until Until.
	BanUser BanKind = "user"
	// BanFraud is an account whose outbound calls a critical fraud
	// threshold blocked: until an operator clears it (Until is zero).
	BanFraud BanKind = "fraud"
)

// Valid reports whether k is one of the kinds.
func (k BanKind) Valid() bool {
	switch k {
	case BanFlood, BanIP, BanUser, BanFraud:
		return true
	}
	return false
}

// Ban is a source or an account the guard refuses: a row of
// palio_guard_bans (flood bans excepted).
type Ban struct {
	Kind BanKind
	// Subject is the IP address (BanFlood, BanIP) or the account's user
	// name (BanUser, BanFraud: the digest username, the caller's user).
	Subject string
	// Reason says why, for the operator: "10 auth failures in 1m0s
	// (wrong-password for 5002)", "total-calls 100 >= 100 (rule 3,
	// prefix 000)".
	Reason string
	// Created is when the ban began; Until when it ends (zero: until an
	// operator clears it, or, for BanFlood, while the flood lasts).
	Created, Until time.Time
}

// Active reports whether b applies at now.
func (b Ban) Active(now time.Time) bool { return b.Until.IsZero() || now.Before(b.Until) }

// Validate reports why b cannot be stored.
func (b Ban) Validate() error {
	switch b.Kind {
	case BanIP, BanFlood:
		if _, err := netip.ParseAddr(b.Subject); err != nil {
			return fmt.Errorf("guard: %s ban: %q is not an IP address", b.Kind, b.Subject)
		}
	case BanUser, BanFraud:
		if err := sip.CheckUserPart(b.Subject); err != nil {
			return fmt.Errorf("guard: %s ban: %w", b.Kind, err)
		}
	default:
		return fmt.Errorf("guard: ban kind %q: want ip, user or fraud", b.Kind)
	}
	if b.Kind == BanFlood {
		return errors.New("guard: flood bans are not stored")
	}
	if len(b.Reason) > 255 {
		return fmt.Errorf("guard: ban reason of %d bytes: at most 255", len(b.Reason))
	}
	if b.Created.IsZero() {
		return errors.New("guard: ban without a creation time")
	}
	return nil
}

// ErrNotFound is returned by a Store for a ban or a rule it does not have.
var ErrNotFound = errors.New("guard: not found")

// Store keeps the bans that outlive a restart (auth bans, fraud blocks)
// and the fraud rules: palio_guard_bans and OpenSIPS's fraud_detection in
// SQL, or a MemStore.
type Store interface {
	// Bans returns every stored ban, expired ones included.
	Bans(ctx context.Context) ([]Ban, error)
	// PutBan stores b (Validate first), replacing the ban of the same
	// kind and subject.
	PutBan(ctx context.Context, b Ban) error
	// DeleteBan removes the ban of kind on subject, or returns ErrNotFound.
	DeleteBan(ctx context.Context, kind BanKind, subject string) error
	// Rules returns every fraud rule, by ID.
	Rules(ctx context.Context) ([]Rule, error)
	// PutRule stores r (Validate first): a new rule when r.ID is 0 (the
	// rule returned has its ID), else the rule with that ID is replaced
	// (ErrNotFound when there is none).
	PutRule(ctx context.Context, r Rule) (Rule, error)
	// DeleteRule removes the rule with id, or returns ErrNotFound.
	DeleteRule(ctx context.Context, id int) error
}
