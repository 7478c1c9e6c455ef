package registrar

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/palio-voip/palio/sip"
)

// ErrNotFound is returned by stores when the binding or subscriber asked
// for does not exist.
var ErrNotFound = errors.New("registrar: not found")

// Binding is one contact of an address-of-record (RFC 3261 §10): a row of
// OpenSIPS's location table. Column mapping: AOR → username[@domain]
// (split at the last '@' when use_domain is on), Contact → contact,
// Received → received, Path → path, Expires → expires (unix seconds, 0 for
// a permanent binding), Q → q, CallID → callid, CSeq → cseq, Updated →
// last_modified, Flags → flags, UserAgent → user_agent, Socket → socket,
// Methods → methods (a bitmask there), Instance → sip_instance.
type Binding struct {
	// AOR is the address-of-record: "user" or, with Config.UseDomain,
	// "user@domain" (see Registrar.AOR).
	AOR string
	// Contact is the contact URI as the phone sent it, without the angle
	// brackets and header parameters (expires, q): the key of the binding
	// within its AOR.
	Contact string
	// Received is the "ip:port" the REGISTER came from. When it differs
	// from the contact's host and port the phone is behind a NAT (or on a
	// connection-oriented transport), and requests for it are sent there.
	Received string
	// Transport is the transport the REGISTER came over: "UDP", "TCP",
	// "TLS", "WS" or "WSS".
	Transport string
	// Expires is when the binding lapses; the zero time means never (a
	// permanent binding for a static device, OpenSIPS's ul_add).
	Expires time.Time
	// Q is the contact's preference, 0 to 1 (RFC 3261 §20.10); 1 when the
	// Contact had no q parameter. Lookup orders contacts by it.
	Q float64
	// CallID and CSeq are those of the REGISTER that last wrote the
	// binding: they order refreshes (RFC 3261 §10.3 step 7).
	CallID string
	CSeq   uint32
	// UserAgent is the REGISTER's User-Agent header.
	UserAgent string
	// Path is the REGISTER's Path header values (RFC 3327), comma-joined,
	// when it had any: the proxies (or the cluster node, sip.Flows) the
	// phone is reached through. Lookup pre-loads them as the target's
	// route set (RFC 3327 §5.3).
	Path string
	// Instance is the Contact's +sip.instance parameter (RFC 5626), if any.
	Instance string
	// Socket is the local socket the phone registered on, as
	// "proto:ip:port"; the registrar leaves it empty (the sip package does
	// not expose the receiving listener yet).
	Socket string
	// Methods are the methods the phone accepts, from the REGISTER's Allow
	// header; nil means all.
	Methods []sip.Method
	// Flags is opaque to the registrar: OpenSIPS's branch flags column.
	Flags int
	// Updated is when the binding was last written (last_modified).
	Updated time.Time
}

// Permanent reports whether the binding never expires.
func (b Binding) Permanent() bool { return b.Expires.IsZero() }

// Expired reports whether the binding has lapsed at now.
func (b Binding) Expired(now time.Time) bool {
	return !b.Expires.IsZero() && !now.Before(b.Expires)
}

// clone returns b with its own copy of Methods, so that a stored binding
// never shares memory with the caller's.
func (b Binding) clone() Binding {
	b.Methods = slices.Clone(b.Methods)
	return b
}

// Store is the location service: the bindings of every AOR. It is the
// registrar's only state besides the nonce replay window; several
// registrars (nodes) may share one Store. Implementations must be safe for
// concurrent use. The registrar serialises its own writes per AOR; it does
// not need transactions from the store.
type Store interface {
	// Put inserts b, or replaces the binding with the same AOR and
	// Contact.
	Put(ctx context.Context, b Binding) error
	// Lookup returns the bindings of aor in no particular order, expired
	// ones included until DeleteExpired removes them; none is not an
	// error.
	Lookup(ctx context.Context, aor string) ([]Binding, error)
	// Delete removes the binding of aor with this contact, or returns
	// ErrNotFound.
	Delete(ctx context.Context, aor, contact string) error
	// DeleteExpired removes the bindings whose Expires is not zero and not
	// after now, and returns them.
	DeleteExpired(ctx context.Context, now time.Time) ([]Binding, error)
	// List returns every binding (the admin page, `location list`).
	List(ctx context.Context) ([]Binding, error)
	// Count returns how many bindings List would return, without reading
	// them (the registrar's gauge, recounted at every sweep).
	Count(ctx context.Context) (int, error)
}

// Subscriber is an account that may register and call: a row of
// OpenSIPS's subscriber table (username, domain, password, ha1,
// ha1_sha256) plus what Palio keeps beside it (palio_subscriber, grp).
type Subscriber struct {
	// Username and Domain identify the account (5002, voip.unisi.it).
	Username, Domain string
	// Password is the plaintext password, used only with
	// Config.AllowPlaintext (OpenSIPS's calculate_ha1).
	Password string
	// HA1 is MD5(username:realm:password), hex; HA1SHA256 the same with
	// SHA-256 (RFC 7616, RFC 8760). The realm is the one the registrar
	// challenges with: Config.Realm, or the domain (see NewSubscriber).
	HA1, HA1SHA256 string
	// Blocked refuses the account (403) however right its password: the
	// seed's "Account bloccato".
	Blocked bool
	// Classes are the call classes the account may call (local,
	// national, mobile, international); InboundClasses those it may be
	// called from. The registrar only carries them, in the Identity, for
	// the permission stage.
	Classes        []string
	InboundClasses []string
}

// SameAs reports whether writing b over o would change what routing
// sees: the same AOR and contact with the same received address,
// transport, q, path, instance and expiry (both permanent, or the same
// instant). The CLI says "unchanged" then, instead of refreshing.
func (b Binding) SameAs(o Binding) bool {
	return b.AOR == o.AOR && b.Contact == o.Contact && b.Received == o.Received &&
		strings.EqualFold(b.Transport, o.Transport) && b.Q == o.Q && b.Path == o.Path &&
		b.Instance == o.Instance && b.Expires.Equal(o.Expires)
}

// clone returns s with its own copies of the class slices.
func (s Subscriber) clone() Subscriber {
	s.Classes = slices.Clone(s.Classes)
	s.InboundClasses = slices.Clone(s.InboundClasses)
	return s
}

// Subscribers gives the registrar the credentials of accounts.
type Subscribers interface {
	// Subscriber returns the account username@domain, or ErrNotFound. An
	// empty domain matches the account by username alone (OpenSIPS with
	// use_domain off); when several domains hold the username, the
	// implementation returns the first by domain order.
	Subscriber(ctx context.Context, username, domain string) (Subscriber, error)
}

// NonceSecret is the name under which a SecretStore keeps the key that
// signs the registrar's nonces.
const NonceSecret = "registrar.nonce"

// SecretSize is the length in bytes of a secret a SecretStore creates.
const SecretSize = 32

// SecretStore keeps secrets that outlive a process and that every node on
// the store shares: the key that signs nonces (NonceSecret), so that a
// nonce issued before a restart, or by another node, is still good.
// Implementations must be safe for concurrent use.
type SecretStore interface {
	// Secret returns the secret called name, creating it first, with
	// SecretSize random bytes, when there is none. Creation is atomic:
	// concurrent first calls, within a process or from several nodes on
	// one database, all return the one secret that was stored (insert if
	// absent, then read back).
	Secret(ctx context.Context, name string) ([]byte, error)
}

// Validate says what is wrong with an account before it is stored: a user
// that a SIP URI cannot carry as it is (empty, with '@', ':', ';', a space
// or a control character), a domain that is not a host name or address, no
// way to authenticate (no password and no HA1), or a call class that is
// not a plain word. Nil means it can be stored. The operator commands and
// the admin API check accounts with it.
func (s Subscriber) Validate() error {
	if err := sip.CheckUserPart(s.Username); err != nil {
		return fmt.Errorf("registrar: account: %w", err)
	}
	if s.Domain == "" || strings.ContainsAny(s.Domain, " @;:<>/\t") {
		return fmt.Errorf("registrar: account %s: domain %q is not a host name", s.Username, s.Domain)
	}
	if s.Password == "" && s.HA1 == "" && s.HA1SHA256 == "" {
		return fmt.Errorf("registrar: account %s@%s: no password and no HA1", s.Username, s.Domain)
	}
	for _, list := range [][]string{s.Classes, s.InboundClasses} {
		for _, c := range list {
			if c == "" || strings.ContainsAny(c, " ,;\t") {
				return fmt.Errorf("registrar: account %s@%s: class %q is not a word", s.Username, s.Domain, c)
			}
		}
	}
	return nil
}
