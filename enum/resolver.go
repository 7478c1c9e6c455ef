package enum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/palio-voip/palio/internal/ttlcache"
)

var (
	// ErrNotFound is the outcome of a lookup of a number ENUM has nothing
	// usable for: NXDOMAIN, NODATA, or NAPTR records none of which is a
	// terminal record for the configured service whose regexp matches
	// (OpenSIPS's -3 of is_from_user_enum, -1 of enum_query).
	ErrNotFound = errors.New("enum: number not in ENUM")

	// ErrNotE164 is the outcome of a lookup of something that is not an
	// E.164 number in "+" form (OpenSIPS's is_e164 failing).
	ErrNotE164 = errors.New("enum: not an E.164 number")
)

func errorf(format string, a ...any) error { return fmt.Errorf("enum: "+format, a...) }

// Result is one URI a number maps to in ENUM.
type Result struct {
	// Order and Preference are those of the NAPTR record that produced
	// the URI (RFC 3403 §4.1): lower comes first, Order before Preference.
	Order, Preference uint16
	// Service is the record's Service field, such as "E2U+sip".
	Service string
	// URI is the NAPTR regexp applied to the number: "sip:alice@example.com".
	URI string
	// TTL is how much longer the answer may be used: the smallest TTL of
	// the records that led to the URI, less the time it spent in the cache.
	TTL time.Duration
}

// String returns "order=O pref=P URI", the form explain output uses.
func (r Result) String() string {
	return "order=" + strconv.Itoa(int(r.Order)) + " pref=" + strconv.Itoa(int(r.Preference)) + " " + r.URI
}

// Resolver looks numbers up in ENUM (RFC 6116) and provides the pipeline
// stages built on those lookups: Query (OpenSIPS's enum_query) and FromUser
// (is_from_user_enum). It caches answers, positive and negative, for the
// TTL the DNS gives them. It owns no goroutines; it is safe for concurrent
// use.
type Resolver struct {
	cfg   Config
	want  string // the enumservice wanted, lower case: "sip"
	log   *slog.Logger
	now   func() time.Time
	m     *metrics
	udp   *dns.Client
	tcp   *dns.Client
	naptr *ttlcache.Cache[string, answer[[]Result]]
	addrs *ttlcache.Cache[string, answer[[]netip.Addr]]
}

// New returns a Resolver for cfg. It fails when the configuration is
// inconsistent, or when cfg.Servers is empty and /etc/resolv.conf names no
// server.
func New(cfg Config, opts ...Option) (*Resolver, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
	return &Resolver{
		cfg:   cfg,
		want:  wantedService(cfg.Service),
		log:   o.logger,
		now:   o.now,
		m:     newMetrics(o.reg),
		udp:   &dns.Client{Net: "udp", Timeout: cfg.Timeout},
		tcp:   &dns.Client{Net: "tcp", Timeout: cfg.Timeout},
		naptr: ttlcache.New[string, answer[[]Result]](cfg.CacheSize),
		addrs: ttlcache.New[string, answer[[]netip.Addr]](cfg.CacheSize),
	}, nil
}

// Config returns the configuration in use, defaults filled in.
func (r *Resolver) Config() Config {
	c := r.cfg
	c.Servers = slices.Clone(c.Servers)
	return c
}

// Normalize turns a number as dialled into E.164 by the configured
// numbering plan (see Numbering.Normalize).
func (r *Resolver) Normalize(number string) (string, bool) {
	return r.cfg.Numbering.Normalize(number)
}

// Lookup returns the URIs ENUM maps an E.164 number ("+" and digits) to,
// for the configured service, in the order they are to be tried: by Order,
// then Preference, the URIs reached through a non-terminal record in the
// place of that record. The same URI is listed once.
//
// It fails with ErrNotFound when the number has no usable record, with
// ErrNotE164 when e164 is not a number in "+" form, and with an error
// wrapping context.DeadlineExceeded when the DNS did not answer within
// Config.Timeout (or ctx's deadline, if sooner); other errors (SERVFAIL
// from every server, a malformed answer) are returned as they are. Only
// answers and ErrNotFound are cached.
//
// The slice returned belongs to the caller. A cache hit costs one
// allocation, for that slice.
func (r *Resolver) Lookup(ctx context.Context, e164 string) ([]Result, error) {
	res, _, err := r.lookup(ctx, e164)
	if err != nil && err != ErrNotFound {
		err = fmt.Errorf("enum: lookup %q: %w", e164, err)
	}
	return res, err
}

// lookup is Lookup, also reporting whether the answer came from the cache.
// Its errors are ErrNotFound, ErrNotE164, or a failure that does not say
// which number it is about; a timeout wraps context.DeadlineExceeded.
func (r *Resolver) lookup(ctx context.Context, e164 string) ([]Result, bool, error) {
	if !IsE164(e164) {
		r.m.lookupInvalid.Inc()
		return nil, false, ErrNotE164
	}
	now := r.now().UnixNano()
	if e, expires, ok := r.naptr.GetExpiry(e164, now); ok {
		r.m.hits.Inc()
		if e.neg {
			r.m.lookupNotFound.Inc()
			return nil, true, ErrNotFound
		}
		r.m.lookupFound.Inc()
		return copyResults(e.val, time.Duration(expires-now)), true, nil
	}
	r.m.misses.Inc()

	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	w := walk{r: r, aus: e164, minTTL: ^uint32(0)}
	err := w.follow(ctx, QueryName(e164, r.cfg.Suffix), 0, ^uint32(0))
	r.m.seconds.Observe(time.Since(start).Seconds())

	res := w.results
	switch {
	case err != nil && len(res) == 0:
		// The first name failed: nothing to cache.
	case len(res) == 0 && w.err != nil:
		err = w.err // a followed name failed and nothing else matched
	case len(res) == 0:
		err = ErrNotFound
		r.put(e164, answer[[]Result]{neg: true}, w.minTTL, now)
	case w.err == nil:
		r.put(e164, answer[[]Result]{val: res}, w.minTTL, now)
		res = copyResults(res, r.cfg.MaxTTL)
	default:
		// Partial: a followed name failed. Use what was found, uncached.
		r.log.Warn("enum: partial answer", "number", e164, "error", w.err)
	}
	r.m.lookup(err)
	if err == nil || err == ErrNotFound {
		r.log.Debug("enum lookup", "number", e164, "results", len(res), "error", err)
		return res, false, err
	}
	err = timeoutErr(err)
	r.log.Debug("enum lookup failed", "number", e164, "error", err) // each server failure was logged at Warn
	return nil, false, err
}

// timeoutErr makes a timeout of any kind (a socket deadline, a context
// deadline) wrap context.DeadlineExceeded, so that callers test for one
// thing.
func timeoutErr(err error) error {
	if isTimeout(err) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
	}
	return err
}

// put caches e for ttl seconds, capped by Config.MaxTTL. A TTL of 0 means
// "do not cache" (RFC 1035 §3.2.1, RFC 2308 §5).
func (r *Resolver) put(key string, e answer[[]Result], ttl uint32, now int64) {
	if ttl == 0 || ttl == ^uint32(0) {
		return
	}
	d := min(time.Duration(ttl)*time.Second, r.cfg.MaxTTL)
	r.naptr.Put(strings.Clone(key), e, now+int64(d), now) // key may point into a SIP message
}

// answer is a cached DNS answer, positive or negative (RFC 2308: a
// negative answer is cached for the SOA's minimum).
type answer[V any] struct {
	val V
	neg bool // NXDOMAIN, NODATA or nothing usable
}

// copyResults copies cached results, capping their TTL at left.
func copyResults(src []Result, left time.Duration) []Result {
	dst := make([]Result, len(src))
	copy(dst, src)
	for i := range dst {
		if dst[i].TTL > left {
			dst[i].TTL = left
		}
	}
	return dst
}

// isTimeout reports whether err means that time ran out.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
