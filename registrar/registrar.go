package registrar

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// Config is the registrar's behaviour. The zero value is OpenSIPS's
// defaults: MD5 digest, realm from the To/From domain, expires 3600
// (min 60, no max), unlimited contacts, 30 s nonces, 404 for users not
// registered, AOR by username alone.
type Config struct {
	// Realm is the digest realm; empty means the To domain for REGISTER and
	// the From domain for other requests (OpenSIPS's www_authorize("")).
	Realm string

	// DefaultExpires is the lifetime of a contact whose REGISTER gives
	// none (no expires parameter, no Expires header); default 3600 s.
	DefaultExpires time.Duration
	// MinExpires is the shortest lifetime granted; default 60 s, negative
	// for none. A shorter one is raised to it silently, as OpenSIPS does,
	// unless MinExpiresReject.
	MinExpires time.Duration
	// MinExpiresReject answers a too short expiry with 423 Interval Too
	// Brief and a Min-Expires header (RFC 3261 §10.3 step 7) instead of
	// raising it.
	MinExpiresReject bool
	// MaxExpires caps the lifetime granted; 0 means no cap.
	MaxExpires time.Duration

	// MaxContacts limits the contacts of one AOR; 0 means no limit. A
	// REGISTER that would exceed it gets 503 "Too many registered
	// contacts", unless EvictOldest.
	MaxContacts int
	// EvictOldest makes room for new contacts by dropping the least
	// recently updated ones (OpenSIPS's force-registration).
	EvictOldest bool
	// CSeqWindow is how long a REGISTER repeating the CSeq of the one that
	// wrote a binding (same contact and Call-ID) counts as a
	// retransmission (200, no update); after it, 400. Default 20 s
	// (OpenSIPS's cseq_delay). It also bounds how long a REGISTER
	// repeated byte for byte, nonce count included, is taken for a
	// retransmission rather than a replay (see ServeSIP).
	CSeqWindow time.Duration

	// NonceExpiry is how long a nonce may be used; an older one gets a new
	// challenge with stale=true. Default 30 s.
	NonceExpiry time.Duration
	// Secret signs nonces (HMAC-SHA-256), at least 16 bytes. Every node of
	// a cluster needs the same one to accept the others' nonces, and a
	// restart keeps the nonces phones hold valid only if the secret
	// stays. Empty means the one a SecretStore (WithSecretStore) keeps
	// under NonceSecret, generated once and shared by every node on the
	// store; with no store either, a random one per registrar. Set it to
	// override the store's.
	Secret []byte
	// Algorithms are the digest algorithms to challenge with, MD5 and/or
	// SHA-256; default MD5 only. A challenge carries one header per
	// algorithm, strongest first.
	Algorithms []string
	// AllowPlaintext lets the registrar compute HA1 from the subscriber's
	// plaintext Password when the HA1 column for the algorithm is empty
	// (OpenSIPS's calculate_ha1).
	AllowPlaintext bool
	// SkipIdentityMatch lets a user authenticate requests for another one.
	// By default the digest username must equal the To user of a REGISTER
	// and the From user of other requests, and with UseDomain the
	// account's domain must be that URI's domain; else 403.
	SkipIdentityMatch bool
	// AuthMethods are the methods the Authenticate stage challenges;
	// default INVITE, MESSAGE and SUBSCRIBE. ACK and CANCEL never are.
	AuthMethods []sip.Method
	// TrustedSource, when set, lets the Authenticate stage pass requests
	// it approves (a gateway's address) without a challenge, and without
	// an Identity: permission.TrustedSource, after the permission.Source
	// stage. REGISTER is always authenticated.
	TrustedSource func(ctx context.Context, r *sip.Request) bool
	// Owns, when set, says whether the account id may present u as its
	// identity in a P-Preferred-Identity (a number it answers to, an
	// alias). The default allows the account's own user at its domain or
	// realm. See Authenticate for what is done with identity headers.
	Owns func(ctx context.Context, id Identity, u *sip.URI) bool

	// NotRegistered is the status the Lookup stage answers for an AOR with
	// no live contact: 404 (default) or 480.
	NotRegistered int
	// UnknownUser, when set, is the status the Lookup stage answers
	// instead of NotRegistered for an AOR with no live contact and no
	// account either (Subscribers knows no such user): 404 or 480. With
	// NotRegistered 480 and UnknownUser 404, a call to a phone that is
	// merely switched off gets 480 Temporarily Unavailable, which phones
	// show as "unavailable", and a call to a number nobody has gets 404
	// Not Found ("number does not exist"). Zero answers NotRegistered for
	// both, without looking the account up (OpenSIPS's lookup() answers
	// the same for both; a script tells them apart with is_subscriber()).
	UnknownUser int
	// UseDomain keys AORs by user and domain ("5002@voip.unisi.it")
	// rather than by user alone, and looks subscribers up by username and
	// realm (OpenSIPS's use_domain in usrloc and auth_db).
	UseDomain bool

	// SweepInterval is how often expired bindings are removed and their
	// EventExpired published; default 10 s. Lookups never return expired
	// bindings, whatever the interval.
	SweepInterval time.Duration
}

// Option configures a Registrar.
type Option func(*Registrar)

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(r *Registrar) { r.log = l } }

// WithRegisterer registers the registrar's metrics (palio_registrar_*) with
// reg. Without it the metrics are kept but not exported.
func WithRegisterer(reg prometheus.Registerer) Option { return func(r *Registrar) { r.reg = reg } }

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(r *Registrar) { r.now = now } }

// WithSecretStore takes the nonce secret from s (the secret called
// NonceSecret, created on the first start) when Config.Secret is empty:
// nonces then outlive restarts, and every node on the store accepts the
// others'. New fails if the store does not answer within 10 s.
func WithSecretStore(s SecretStore) Option { return func(r *Registrar) { r.secrets = s } }

// secretTimeout bounds New's wait for the secret store.
const secretTimeout = 10 * time.Second

// Registrar is the registrar and location service of a Palio proxy: a
// sip.Handler for REGISTER (set it as sip.ServeMux.Register), the
// Authenticate stage that challenges other requests, and the Lookup stage
// that sends calls for an AOR to its registered contacts.
type Registrar struct {
	cfg   Config
	loc   Store
	subs  Subscribers
	log   *slog.Logger
	reg   prometheus.Registerer
	now   func() time.Time
	algs  []string // strongest first
	auth  []sip.Method
	nonce *nonces

	secrets SecretStore // nil: none
	// failed is told of every authentication failure (WithAuthFailures).
	failed func(AuthFailure)

	metrics *metrics

	seed  maphash.Seed
	locks [aorLocks]sync.Mutex

	events *sip.Feed[Event]

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// aorLocks is the number of stripes serialising writes per AOR.
const aorLocks = 256

var _ sip.Handler = (*Registrar)(nil)

// New returns a registrar over the location store loc and the accounts
// subs, and starts its expiry sweeper (stop it with Close).
func New(cfg Config, loc Store, subs Subscribers, opts ...Option) (*Registrar, error) {
	if loc == nil {
		return nil, errors.New("registrar: nil location store")
	}
	if subs == nil {
		return nil, errors.New("registrar: nil subscriber store")
	}
	r := &Registrar{loc: loc, subs: subs, seed: maphash.MakeSeed()}
	for _, o := range opts {
		o(r)
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	if err := r.setConfig(cfg); err != nil {
		return nil, err
	}
	r.metrics = newMetrics(r.reg)
	r.events = sip.NewFeed[Event](sip.FeedConfig{Name: "registrar", Logger: r.log, Dropped: r.metrics.eventsDropped})
	r.stop = make(chan struct{})
	r.done = make(chan struct{})
	go r.sweeper()
	return r, nil
}

// setConfig validates cfg and fills in its defaults.
func (r *Registrar) setConfig(cfg Config) error {
	if cfg.DefaultExpires == 0 {
		cfg.DefaultExpires = 3600 * time.Second
	}
	if cfg.MinExpires == 0 {
		cfg.MinExpires = 60 * time.Second
	}
	if cfg.MinExpires < 0 {
		cfg.MinExpires = 0
	}
	if cfg.CSeqWindow <= 0 {
		cfg.CSeqWindow = 20 * time.Second
	}
	if cfg.NonceExpiry <= 0 {
		cfg.NonceExpiry = 30 * time.Second
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = 10 * time.Second
	}
	switch cfg.NotRegistered {
	case 0:
		cfg.NotRegistered = 404
	case 404, 480:
	default:
		return fmt.Errorf("registrar: NotRegistered %d: want 404 or 480", cfg.NotRegistered)
	}
	switch cfg.UnknownUser {
	case 0, 404, 480:
	default:
		return fmt.Errorf("registrar: UnknownUser %d: want 404 or 480", cfg.UnknownUser)
	}
	switch {
	case cfg.DefaultExpires < 0, cfg.MaxExpires < 0, cfg.MaxContacts < 0:
		return errors.New("registrar: negative DefaultExpires, MaxExpires or MaxContacts")
	case cfg.MaxExpires > 0 && cfg.MaxExpires < cfg.MinExpires:
		return fmt.Errorf("registrar: MaxExpires %v below MinExpires %v", cfg.MaxExpires, cfg.MinExpires)
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = []string{MD5}
	}
	r.algs = nil
	// Strongest first: SHA-256, then MD5 (RFC 8760 §2.4 wants the
	// preferred one first; clients pick the first they support).
	for _, want := range []string{SHA256, MD5} {
		for _, a := range algs {
			if strings.EqualFold(a, want) && !slices.Contains(r.algs, want) {
				r.algs = append(r.algs, want)
			}
		}
	}
	for _, a := range algs {
		if !strings.EqualFold(a, MD5) && !strings.EqualFold(a, SHA256) {
			return fmt.Errorf("registrar: algorithm %q: want %s or %s", a, MD5, SHA256)
		}
	}
	r.auth = cfg.AuthMethods
	if r.auth == nil {
		r.auth = []sip.Method{sip.INVITE, sip.MESSAGE, sip.SUBSCRIBE}
	}
	secret, source := cfg.Secret, "config"
	switch {
	case len(secret) > 0:
	case r.secrets != nil:
		ctx, cancel := context.WithTimeout(context.Background(), secretTimeout)
		s, err := r.secrets.Secret(ctx, NonceSecret)
		cancel()
		if err != nil {
			return fmt.Errorf("registrar: nonce secret: %w", err)
		}
		secret, source = s, "store"
	default:
		secret, source = make([]byte, SecretSize), "random"
		rand.Read(secret)
	}
	if len(secret) < 16 {
		return fmt.Errorf("registrar: nonce secret (%s) of %d bytes: want at least 16", source, len(secret))
	}
	r.log.Debug("registrar: nonce secret", "source", source)
	cfg.Secret = nil // kept only inside the nonce issuer
	r.nonce = newNonces(secret, cfg.NonceExpiry, cfg.CSeqWindow)
	r.cfg = cfg
	return nil
}

// Close stops the expiry sweeper. The registrar keeps answering requests
// (lookups still skip expired bindings), but no EventExpired is published
// after it.
func (r *Registrar) Close() error {
	r.closeOnce.Do(func() {
		close(r.stop)
		<-r.done
		r.events.Close()
	})
	return nil
}

// AOR returns the address-of-record key of u: its user, or user@domain
// (domain in lower case) with Config.UseDomain. User parts compare
// exactly, hosts case-insensitively (RFC 3261 §19.1.4).
func (r *Registrar) AOR(u sip.URI) string {
	if !r.cfg.UseDomain {
		return u.User
	}
	return u.User + "@" + strings.ToLower(u.Host)
}

// lock serialises the writes to one AOR on this node; it returns the
// unlock function.
func (r *Registrar) lock(aor string) func() {
	m := &r.locks[maphash.String(r.seed, aor)%aorLocks]
	m.Lock()
	return m.Unlock
}

// lockAll takes every AOR stripe, in order: the sweeper holds them while it
// deletes and publishes, so that its events never overtake a REGISTER's.
func (r *Registrar) lockAll() func() {
	for i := range r.locks {
		r.locks[i].Lock()
	}
	return func() {
		for i := range r.locks {
			r.locks[i].Unlock()
		}
	}
}

func (r *Registrar) sweeper() {
	defer close(r.done)
	t := time.NewTicker(r.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), r.cfg.SweepInterval)
			if _, err := r.Sweep(ctx); err != nil {
				r.log.Warn("registrar: sweep failed", "error", err)
			}
			cancel()
		}
	}
}

// Sweep removes the bindings expired now, publishes an EventExpired for
// each, forgets expired nonces, and returns how many bindings it removed.
// The sweeper calls it every SweepInterval; tests call it directly.
func (r *Registrar) Sweep(ctx context.Context) (int, error) {
	now := r.now()
	r.nonce.forget(now)
	unlock := r.lockAll()
	gone, err := r.loc.DeleteExpired(ctx, now)
	evs := make([]Event, 0, len(gone))
	for _, b := range gone {
		evs = append(evs, Event{Kind: EventExpired, Binding: b, Time: now})
	}
	r.publish(evs)
	unlock()
	if err != nil {
		return len(gone), fmt.Errorf("registrar: sweep: %w", err)
	}
	// Recount, so that the gauge tells what the store holds even when
	// other nodes write to it or bindings outlived a restart.
	if n, err := r.loc.Count(ctx); err == nil {
		r.metrics.bindings.Set(float64(n))
	}
	if len(gone) > 0 {
		r.log.Debug("registrar: bindings expired", "count", len(gone))
	}
	return len(gone), nil
}

// Bindings returns the live bindings of aor, best first: highest q, then
// most recently updated (the order Lookup forks in).
func (r *Registrar) Bindings(ctx context.Context, aor string) ([]Binding, error) {
	list, err := r.loc.Lookup(ctx, aor)
	if err != nil {
		return nil, fmt.Errorf("registrar: lookup %s: %w", aor, err)
	}
	return live(list, r.now()), nil
}

// live drops the expired bindings of list and orders the rest by q
// (highest first), then by Updated (newest first), then by contact.
func live(list []Binding, now time.Time) []Binding {
	list = slices.DeleteFunc(list, func(b Binding) bool { return b.Expired(now) })
	slices.SortStableFunc(list, func(a, b Binding) int {
		switch {
		case a.Q > b.Q:
			return -1
		case a.Q < b.Q:
			return 1
		}
		if c := b.Updated.Compare(a.Updated); c != 0 {
			return c
		}
		return strings.Compare(a.Contact, b.Contact)
	})
	return list
}

// AddBinding stores b as an operator's binding (OpenSIPS's ul_add, the
// `location add` command): usually a permanent one (zero Expires) for a
// static device. The contact must be a SIP URI; Q is used as given (use 1
// for a device without preference); Updated is set to now. It publishes
// EventRegistered, or EventRefreshed when the contact was bound already.
func (r *Registrar) AddBinding(ctx context.Context, b Binding) error {
	if b.AOR == "" {
		return errors.New("registrar: add binding: empty AOR")
	}
	u, err := sip.ParseURI(b.Contact)
	if err != nil || (u.Scheme != "sip" && u.Scheme != "sips") || u.Host == "" {
		return fmt.Errorf("registrar: add binding: contact %q is not a SIP URI", b.Contact)
	}
	if b.Q < 0 || b.Q > 1 {
		return fmt.Errorf("registrar: add binding: q %v out of 0..1", b.Q)
	}
	now := r.now()
	b.Updated = now
	defer r.lock(b.AOR)()
	old, err := r.loc.Lookup(ctx, b.AOR)
	if err != nil {
		return fmt.Errorf("registrar: add binding: %w", err)
	}
	kind := EventRegistered
	if slices.ContainsFunc(old, func(o Binding) bool { return o.Contact == b.Contact && !o.Expired(now) }) {
		kind = EventRefreshed
	}
	if err := r.loc.Put(ctx, b); err != nil {
		return fmt.Errorf("registrar: add binding: %w", err)
	}
	r.publish([]Event{{Kind: kind, Binding: b, Time: now}})
	return nil
}

// RemoveBinding removes the binding of aor with contact (OpenSIPS's
// ul_rm_contact) and publishes EventUnregistered; ErrNotFound when there
// is none.
func (r *Registrar) RemoveBinding(ctx context.Context, aor, contact string) error {
	defer r.lock(aor)()
	old, err := r.loc.Lookup(ctx, aor)
	if err != nil {
		return fmt.Errorf("registrar: remove binding: %w", err)
	}
	i := slices.IndexFunc(old, func(o Binding) bool { return o.Contact == contact })
	if i < 0 {
		return ErrNotFound
	}
	if err := r.loc.Delete(ctx, aor, contact); err != nil {
		if errors.Is(err, ErrNotFound) {
			return err
		}
		return fmt.Errorf("registrar: remove binding: %w", err)
	}
	r.publish([]Event{{Kind: EventUnregistered, Binding: old[i], Time: r.now()}})
	return nil
}
