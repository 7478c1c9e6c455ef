package guard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/sip"
)

// Config says what the guard checks. The zero value checks floods, bans
// password guessers and applies the stored fraud rules, with the defaults
// below.
type Config struct {
	Flood FloodConfig
	Auth  AuthConfig
	Fraud FraudConfig
	// Exempt reports whether a source is trusted (a gateway, a trunk, the
	// media box: the permission table's trusted groups): it is never
	// blocked for flooding nor banned. The guard asks it only when a
	// source would be blocked, so it may cost a table look-up. Nil trusts
	// no one.
	Exempt func(src netip.AddrPort) bool
	// Refuse answers the requests of blocked and banned sources 503
	// (sip.Refuse) instead of dropping them unanswered (sip.Drop, the
	// default, as pike's automatic mode does). Answering costs a parse per
	// request, and tells the sender it was seen.
	Refuse bool
}

// FloodConfig is the flood check, OpenSIPS's pike (see the package
// documentation for the algorithm).
type FloodConfig struct {
	// Off turns the check off.
	Off bool
	// SamplingUnit is the time unit packets are counted in (pike's
	// sampling_time_unit; default 2 s).
	SamplingUnit time.Duration
	// Density is how many packets one source may send in a unit: at
	// Density it is blocked (pike's reqs_density_per_unit; default 30).
	Density int
	// RemoveLatency is how long a quiet source is remembered (pike's
	// remove_latency; default 120 s, and at least two units).
	RemoveLatency time.Duration
	// MaxSources bounds the sources remembered at once (default 100000;
	// about 100 bytes each). A new source finding no room is not counted
	// (palio_guard_flood_untracked_total).
	MaxSources int
}

// AuthConfig is the ban of password guessers: Limit per source address
// and per account.
type AuthConfig struct {
	// PerIP bans a source address (default: 10 failures in 1 min, banned
	// for 1 h).
	PerIP Limit
	// PerUser bans an account: requests with its credentials are refused,
	// from everywhere (default: 20 failures in 10 min, banned for 10 min).
	// A distributed guesser stays under PerIP; the price is that the
	// account's own phones are locked out for as long.
	PerUser Limit
	// Reasons are the registrar's failure reasons that count (default
	// unknown-user, wrong-password, bad-nonce, bad-credentials: the
	// registrar's README says why the others do not).
	Reasons []string
}

// Limit is "Failures within Window: banned for Ban". Failures below 0
// turns it off; zero fields take the defaults.
type Limit struct {
	Failures int
	Window   time.Duration
	Ban      time.Duration
}

// FraudConfig is the per-user fraud check (OpenSIPS's fraud_detection).
// Its rules are in the store.
type FraudConfig struct {
	// Off turns the check off.
	Off bool
	// Profile is the rules' profile for every caller (default 0), unless
	// ProfileOf says otherwise.
	Profile int
	// ProfileOf, when set, picks a caller's profile (from its account,
	// say); ok false falls back to Profile.
	ProfileOf func(ctx context.Context, caller sip.CallerIdentity) (profile int, ok bool)
	// Block makes a critical threshold block the caller's outbound calls
	// (the call that reached it too) until an operator clears the block;
	// without it a critical is an event and a log line only.
	Block bool
	// Location is the time zone of the rules' hours and days, and of the
	// day the daily figures count (default time.Local; OpenSIPS's
	// use_utc_time is time.UTC).
	Location *time.Location
}

// Defaults.
const (
	DefaultSamplingUnit  = 2 * time.Second
	DefaultDensity       = 30
	DefaultRemoveLatency = 120 * time.Second
	DefaultMaxSources    = 100000
)

// DefaultReasons are the auth failure reasons counted by default.
var DefaultReasons = []string{"unknown-user", "wrong-password", "bad-nonce", "bad-credentials"}

var (
	defaultPerIP   = Limit{Failures: 10, Window: time.Minute, Ban: time.Hour}
	defaultPerUser = Limit{Failures: 20, Window: 10 * time.Minute, Ban: 10 * time.Minute}
)

func (l Limit) withDefaults(d Limit) Limit {
	if l.Failures == 0 {
		l.Failures = d.Failures
	}
	if l.Window <= 0 {
		l.Window = d.Window
	}
	if l.Ban <= 0 {
		l.Ban = d.Ban
	}
	return l
}

func (l Limit) on() bool { return l.Failures > 0 }

// withDefaults resolves the zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	f := &c.Flood
	if f.SamplingUnit <= 0 {
		f.SamplingUnit = DefaultSamplingUnit
	}
	if f.Density <= 0 {
		f.Density = DefaultDensity
	}
	if f.RemoveLatency <= 0 {
		f.RemoveLatency = DefaultRemoveLatency
	}
	if f.RemoveLatency < 2*f.SamplingUnit {
		f.RemoveLatency = 2 * f.SamplingUnit // as pike forces it above the unit
	}
	if f.MaxSources <= 0 {
		f.MaxSources = DefaultMaxSources
	}
	if f.SamplingUnit < time.Millisecond {
		return c, fmt.Errorf("guard: flood sampling unit %v: at least 1ms", f.SamplingUnit)
	}
	c.Auth.PerIP = c.Auth.PerIP.withDefaults(defaultPerIP)
	c.Auth.PerUser = c.Auth.PerUser.withDefaults(defaultPerUser)
	if c.Auth.Reasons == nil {
		c.Auth.Reasons = DefaultReasons
	}
	if c.Fraud.Location == nil {
		c.Fraud.Location = time.Local
	}
	return c, nil
}

// Clock tells the time: the real one, or a test's.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Option configures a Guard.
type Option func(*Guard)

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(g *Guard) { g.log = l } }

// WithRegisterer registers the guard's metrics (palio_guard_*) with r.
func WithRegisterer(r prometheus.Registerer) Option { return func(g *Guard) { g.reg = r } }

// WithClock replaces the real clock (tests). Time-driven work (a flood
// that stops, bans that expire) happens when Sweep runs: every sampling
// unit on a real clock, when the test calls it on another.
func WithClock(c Clock) Option { return func(g *Guard) { g.clock = c } }

// Guard is the router's defence: the flood check and the address bans
// before the parser (Admit, a sip.SourceGate), the lock-out of guessed
// accounts (Bans, a stage before authentication), the fraud check of
// outbound calls (Wrap, a stage after it), and the bans and blocks an
// operator lists and lifts through the store.
type Guard struct {
	cfg     Config
	store   Store
	log     *slog.Logger
	reg     prometheus.Registerer
	clock   Clock
	real    bool // the real clock: Admit reads the monotonic one
	metrics *metrics
	events  *sip.Feed[Event]

	flood *floodTable
	bans  atomic.Pointer[banSet]
	// banMu serializes changes to bans (copy on write).
	banMu sync.Mutex
	fails failCounter
	pers  *persister
	fraud *fraudChecker

	history History // WithHistory: the day's calls, read at start

	reloadMu sync.Mutex
	peers    peerState // the other nodes' flood blocks (Share, peers.go)

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

var _ sip.SourceGate = (*Guard)(nil)

// New returns a guard over store (bans and fraud rules), loaded from it,
// with its sweeper running: Close stops it.
func New(cfg Config, store Store, opts ...Option) (*Guard, error) {
	if store == nil {
		return nil, errors.New("guard: nil store")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	g := &Guard{cfg: cfg, store: store, stop: make(chan struct{}), done: make(chan struct{})}
	for _, o := range opts {
		o(g)
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.clock == nil {
		g.clock = realClock{}
		g.real = true
	}
	g.metrics = newMetrics(g.reg)
	g.events = sip.NewFeed[Event](sip.FeedConfig{Name: "guard", Logger: g.log, Dropped: g.metrics.eventsDropped})
	if !cfg.Flood.Off {
		g.flood = newFloodTable(cfg.Flood)
	}
	g.bans.Store(&banSet{})
	g.fails.init()
	g.fraud = newFraudChecker(g)
	g.pers = newPersister(g)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := g.Reload(ctx); err != nil {
		g.pers.close()
		return nil, err
	}
	if g.history != nil && !cfg.Fraud.Off {
		if n, err := g.fraud.rebuild(ctx, g.history); err != nil {
			g.log.Warn("guard: the day's calls could not be read; the fraud figures start from zero", "error", err)
		} else {
			g.log.Info("guard: fraud figures rebuilt from the day's calls", "calls", n)
		}
	}
	go g.sweeper()
	return g, nil
}

// Close stops the sweeper and writes the bans still queued for the store
// (for at most 5 s).
func (g *Guard) Close() error {
	g.closeOnce.Do(func() {
		close(g.stop)
		<-g.done
		g.pers.close()
		g.events.Close()
	})
	return nil
}

// now is the guard's time.
func (g *Guard) now() time.Time { return g.clock.Now() }

// monoBase anchors Admit's monotonic clock.
var monoBase = time.Now()

// nanos is Admit's time in ns: monotonic on the real clock (cheaper than
// a wall-clock reading), the test clock's otherwise.
func (g *Guard) nanos() (int64, time.Time) {
	if g.real {
		return int64(time.Since(monoBase)), time.Time{}
	}
	t := g.clock.Now()
	return t.UnixNano(), t
}

// Admit is the guard's sip.SourceGate: a banned source is refused, and
// every other is counted for the flood check, which refuses it once it
// floods. Exempt sources are never refused. It allocates nothing but for
// a source it sees for the first time.
func (g *Guard) Admit(src netip.AddrPort, network string) sip.Verdict {
	ip := src.Addr().Unmap()
	if bs := g.bans.Load(); len(bs.ip) > 0 {
		if b, ok := bs.ip[ip]; ok {
			if b.Active(g.now()) && !g.exempt(src) {
				g.metrics.blockedBan.Inc()
				return g.verdict()
			}
		}
	}
	if g.peerBlocked(ip, src) {
		g.metrics.blockedBan.Inc()
		return g.verdict()
	}
	if g.flood == nil {
		return sip.Pass
	}
	ns, _ := g.nanos()
	k := floodKey(ip)
	blocked, ch, changed, full := g.flood.hit(k, src.Port(), ns, func() bool { return g.exempt(src) })
	if full {
		g.metrics.untracked.Inc()
	}
	if changed {
		g.floodChanged(ch, ns)
	}
	if !blocked {
		return sip.Pass
	}
	g.metrics.blockedFlood.Inc()
	return g.verdict()
}

func (g *Guard) verdict() sip.Verdict {
	if g.cfg.Refuse {
		return sip.Refuse
	}
	return sip.Drop
}

func (g *Guard) exempt(src netip.AddrPort) bool {
	return g.cfg.Exempt != nil && g.cfg.Exempt(src)
}

// floodChanged logs, counts and publishes a source blocked for flooding
// or unblocked.
func (g *Guard) floodChanged(ch floodChange, ns int64) {
	now := g.wallAt(ns)
	since := g.wallAt(ch.since)
	unit := g.cfg.Flood.SamplingUnit
	if ch.red {
		g.metrics.bansTotal.WithLabelValues(string(BanFlood)).Inc()
		g.metrics.floodSources.Inc()
		reason := fmt.Sprintf("%d packets in %v (density %d)", ch.packets, unit, g.cfg.Flood.Density)
		g.log.Warn("guard: flood blocked", "src", ch.src.String(), "packets", ch.packets, "unit", unit, "density", g.cfg.Flood.Density)
		g.publish(Event{Kind: EventBanned, Time: now, Origin: OriginLocal,
			Ban: Ban{Kind: BanFlood, Subject: ch.src.String(), Reason: reason, Created: since}})
		return
	}
	g.metrics.floodSources.Dec()
	g.log.Info("guard: flood over", "src", ch.src.String(), "blocked", now.Sub(since).Round(time.Millisecond), "dropped", ch.dropped, "peak", ch.packets)
	g.publish(Event{Kind: EventUnbanned, Time: now, Origin: OriginLocal, Why: "flood over",
		Ban: Ban{Kind: BanFlood, Subject: ch.src.String(), Reason: fmt.Sprintf("up to %d packets in %v", ch.packets, unit), Created: since, Until: now}})
}

// wallAt turns Admit's ns back into wall time.
func (g *Guard) wallAt(ns int64) time.Time {
	if g.real {
		return monoBase.Add(time.Duration(ns))
	}
	return time.Unix(0, ns).In(time.UTC)
}

// sweeper runs Sweep every sampling unit (a flood that stopped is
// unblocked within one), until Close.
func (g *Guard) sweeper() {
	defer close(g.done)
	if !g.real {
		<-g.stop
		return
	}
	t := time.NewTicker(g.cfg.Flood.SamplingUnit)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
			g.Sweep()
		}
	}
}

// Sweep does the guard's time-driven work now: flood blocks whose flood
// stopped end, quiet sources are forgotten, bans past their end are lifted
// (and deleted from the store), failure counts and fraud figures of past
// windows are dropped. A Guard on the real clock sweeps by itself.
func (g *Guard) Sweep() {
	ns, _ := g.nanos()
	if g.flood != nil {
		for _, ch := range g.flood.sweep(ns) {
			g.floodChanged(ch, ns)
		}
	}
	now := g.now()
	g.expireBans(now)
	g.fails.sweep(now, g.cfg.Auth)
	g.fraud.sweep(now)
}

// FloodBlocks returns the sources this node blocks for flooding now, by
// address: Reason says the peak and the packets dropped, Created when the
// block began; Until is zero, as a block lasts while the flood does (it
// ends within two sampling units of the flood's end, as pike's). They
// live in this node's memory only; an operator command asks the running
// server for them.
func (g *Guard) FloodBlocks() []Ban {
	var out []Ban
	for _, b := range g.List() {
		if b.Kind == BanFlood {
			out = append(out, b)
		}
	}
	return out
}

// FloodUnit is the flood check's sampling unit: a block ends within two
// units of the flood's end.
func (g *Guard) FloodUnit() time.Duration { return g.cfg.Flood.SamplingUnit }

// List returns the bans in force: the stored ones and the flood blocks
// of this node, by kind and subject.
func (g *Guard) List() []Ban {
	now := g.now()
	var out []Ban
	if g.flood != nil {
		for _, ch := range g.flood.blocked() {
			out = append(out, Ban{Kind: BanFlood, Subject: ch.src.String(),
				Reason:  fmt.Sprintf("up to %d packets in %v, %d dropped", ch.packets, g.cfg.Flood.SamplingUnit, ch.dropped),
				Created: g.wallAt(ch.since)})
		}
	}
	out = append(out, g.bans.Load().list(now)...)
	sortBans(out)
	return out
}
