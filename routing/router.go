package routing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/snapshot"
)

// Router is dynamic routing: the compiled tables of a Store, the stage that
// sends calls to gateways and carriers with serial failover, gateway
// probing, and trunk capacity from the dialog table. Routing decisions read
// an immutable snapshot swapped whole on reload: they never wait for a
// reload and never query the store.
type Router struct {
	cfg     Config
	store   Store
	log     *slog.Logger
	reg     prometheus.Registerer
	now     func() time.Time
	intn    func(int) int
	m       *metrics
	out     outcomeCounters
	noRoute sip.StatusError

	failover sip.StatusSet
	disable  sip.StatusSet
	upCodes  sip.StatusSet

	tab snapshot.Value[table]

	capMu sync.Mutex
	gwRT  map[string]*gwState
	crRT  map[string]*crState

	events *dispatcher

	counter ChannelCounter
	sh      *sharedState            // nil without counter
	tls     atomic.Pointer[sip.TLS] // WithTLS, UseTLS; nil: the gateways' TLS settings go nowhere

	base   context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	probing bool
	unwatch []func()
}

// finalCodes is the set of final statuses (300..699) codes lists.
func finalCodes(codes []int) (sip.StatusSet, error) {
	for _, c := range codes {
		if c < 300 || c > 699 {
			return sip.StatusSet{}, fmt.Errorf("status %d: want 300..699", c)
		}
	}
	return sip.NewStatusSet(codes...)
}

var errClosed = errors.New("routing: router closed")

// New returns a Router over store and loads its tables: it fails if the
// store cannot be read or cfg is invalid. Rows that cannot work are left
// out (see Reload). Close releases the Router's goroutine.
func New(cfg Config, store Store, opts ...Option) (*Router, error) {
	if store == nil {
		return nil, errors.New("routing: nil store")
	}
	if cfg.FailoverCodes == nil {
		cfg.FailoverCodes = []int{408, 500, 502, 503, 504}
	}
	if cfg.NoRouteCode == 0 {
		cfg.NoRouteCode = 404
		if cfg.NoRouteReason == "" {
			cfg.NoRouteReason = "No Route"
		}
	}
	if cfg.NoRouteCode < 300 || cfg.NoRouteCode > 699 {
		return nil, fmt.Errorf("routing: no-route code %d: want 300..699", cfg.NoRouteCode)
	}
	if cfg.AlarmThreshold == 0 {
		cfg.AlarmThreshold = 0.8
	}
	if cfg.AlarmThreshold > 1 {
		return nil, fmt.Errorf("routing: alarm threshold %v: want at most 1 (or negative for none)", cfg.AlarmThreshold)
	}
	if cfg.Probe.Interval <= 0 {
		cfg.Probe.Interval = 30 * time.Second
	}
	if cfg.Probe.Timeout <= 0 {
		cfg.Probe.Timeout = 5 * time.Second
	}
	if cfg.Node == "" {
		cfg.Node, _ = os.Hostname()
	}
	if cfg.CounterTimeout <= 0 {
		cfg.CounterTimeout = 50 * time.Millisecond
	}
	if cfg.CounterInterval <= 0 {
		cfg.CounterInterval = time.Second
	}
	if cfg.Probe.From == "" {
		cfg.Probe.From = "sip:prober@localhost"
	}
	if u, err := sip.ParseURI(cfg.Probe.From); err != nil || u.Host == "" {
		return nil, fmt.Errorf("routing: probe from %q: not a SIP URI with a host", cfg.Probe.From)
	}
	r := &Router{
		cfg:     cfg,
		store:   store,
		log:     slog.New(slog.DiscardHandler),
		now:     time.Now,
		intn:    rand.IntN,
		gwRT:    make(map[string]*gwState),
		crRT:    make(map[string]*crState),
		noRoute: sip.StatusError{Code: cfg.NoRouteCode, Reason: cfg.NoRouteReason},
	}
	var err error
	if r.failover, err = finalCodes(cfg.FailoverCodes); err != nil {
		return nil, fmt.Errorf("routing: failover codes: %w", err)
	}
	if r.disable, err = finalCodes(cfg.DisableCodes); err != nil {
		return nil, fmt.Errorf("routing: disable codes: %w", err)
	}
	if r.upCodes, err = sip.NewStatusSet(append([]int{200}, cfg.Probe.ReplyCodes...)...); err != nil {
		return nil, fmt.Errorf("routing: probe reply codes: %w", err)
	}
	for _, o := range opts {
		o(r)
	}
	r.m = newMetrics(r.reg, r.counter != nil)
	r.out = newOutcomeCounters(r.m)
	r.events = newDispatcher(r.log, r.m.eventsDropped)
	r.base, r.cancel = context.WithCancel(context.Background())
	if r.counter != nil {
		r.sh = newSharedState()
	}
	if _, err := r.Reload(context.Background()); err != nil {
		r.Close()
		return nil, err
	}
	if r.counter != nil {
		r.startShared()
	}
	return r, nil
}

// Route returns where a call from group to number goes now: the first rule
// that matches (the longest prefix with a rule for the group valid at this
// time, the highest priority first) and its destinations in the order the
// stage tries them, strip and pri_prefix applied. Disabled, inactive and
// full gateways, and carriers that are off, are left out and listed in
// Skipped. A number with a character outside the prefix alphabet matches
// prefix-less rules only. With no matching rule, Route fails with
// ErrNoRoute. Nothing is sent and no counter moves; Route is what
// OpenSIPS's dr_number_routing answers.
func (r *Router) Route(group int, number string) (Decision, error) {
	t := r.tab.Load()
	d, ok := r.first(t, group, number, r.now())
	if !ok {
		return Decision{}, fmt.Errorf("routing: group %d, number %q: %w", group, number, ErrNoRoute)
	}
	return d, nil
}

// Explain returns every rule the stage would try for a call from group to
// number, in order, each as a Decision: the one Route returns, then, with
// Config.Fallback, the rules fallback would move on to. It fails with
// ErrNoRoute when no rule matches.
func (r *Router) Explain(group int, number string) ([]Decision, error) {
	t := r.tab.Load()
	now := r.now()
	d, ok := r.first(t, group, number, now)
	if !ok {
		return nil, fmt.Errorf("routing: group %d, number %q: %w", group, number, ErrNoRoute)
	}
	out := []Decision{d}
	for r.cfg.Fallback {
		if d, ok = r.next(t, d, now); !ok {
			break
		}
		out = append(out, d)
	}
	return out, nil
}

// Group returns the routing group of the caller of req: its dr_groups
// row's group (From user, and host unless Config.IgnoreDomain), else
// Config.DefaultGroup. With Explain it tells where a request would go
// without sending it (the CLI's dry run).
func (r *Router) Group(req *sip.Request) int {
	return r.groupOf(r.tab.Load(), req)
}

// ErrNoRoute is the error of Route and Explain when no rule matches.
var ErrNoRoute = errors.New("routing: no route")

// Close stops probing and the event goroutine and forgets the dialog
// tables it watches. Routing still works after Close, without counting,
// probing or events.
func (r *Router) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	unwatch := r.unwatch
	r.unwatch = nil
	r.mu.Unlock()
	for _, u := range unwatch {
		u()
	}
	r.cancel()
	r.wg.Wait()
	r.events.close()
}
