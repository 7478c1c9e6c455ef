package presence

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
)

// Config says how subscriptions are accepted and kept. Zero values take
// the defaults noted.
type Config struct {
	// DefaultExpires is the duration of a subscription whose SUBSCRIBE has
	// no Expires header: 3600 s, the dialog package's default (RFC 4235
	// §3.2).
	DefaultExpires time.Duration
	// MinExpires is the shortest subscription accepted; a shorter non-zero
	// Expires gets 423 Interval Too Brief with Min-Expires (RFC 6665
	// §4.2.1.1). Default 60 s.
	MinExpires time.Duration
	// MaxExpires caps the Expires granted (OpenSIPS's
	// max_expires_subscribe). Default 7200 s.
	MaxExpires time.Duration
	// SweepInterval is how often expired subscriptions are ended (OpenSIPS's
	// clean_period). Default 10 s.
	SweepInterval time.Duration
	// NotifyTimeout bounds each NOTIFY: a watcher that does not answer
	// within it loses its subscription. Default 10 s.
	NotifyTimeout time.Duration
	// Queue is how many NOTIFYs may wait per subscription while one is in
	// flight; when more changes come, the oldest waiting one is dropped
	// (every document is full state, so the later ones supersede it).
	// Default 8.
	Queue int
	// OnlyMostInteresting sends one dialog per NOTIFY, the most
	// interesting (confirmed, then early, then trying, then terminated;
	// the newest among equals), as OpenSIPS's force_single_dialog does for
	// phones that cannot show several.
	OnlyMostInteresting bool
	// Node names this node when several share one Store (a MariaDB
	// database): the subscriptions it accepts are stored with it as their
	// owner (Subscription.Node), and New reloads only those, so that each
	// node reloads, expires and deletes its own and NOTIFYs leave from the
	// node the watcher subscribed to. Empty for a single node. At most 32
	// bytes (OpenSIPS's active_watchers.sharing_tag), no spaces.
	Node string
	// Authorize, when set, decides who may watch whom in place of the
	// default rule (an account may watch any AOR of its own domain, as the
	// watch rules loaded by ReloadRules allow): it gets the watcher's
	// identity and the watched AOR ("5002@voip.unisi.it") and reports
	// whether to accept; a refusal is a 403.
	Authorize func(watcher registrar.Identity, aor string) bool
}

func (c *Config) defaults() error {
	c.DefaultExpires = cmp.Or(c.DefaultExpires, 3600*time.Second)
	c.MinExpires = cmp.Or(c.MinExpires, 60*time.Second)
	c.MaxExpires = cmp.Or(c.MaxExpires, 7200*time.Second)
	c.SweepInterval = cmp.Or(c.SweepInterval, 10*time.Second)
	c.NotifyTimeout = cmp.Or(c.NotifyTimeout, 10*time.Second)
	c.Queue = cmp.Or(c.Queue, 8)
	switch {
	case c.MinExpires < time.Second || c.MaxExpires < c.MinExpires:
		return fmt.Errorf("presence: MinExpires %v and MaxExpires %v: want 1s <= min <= max", c.MinExpires, c.MaxExpires)
	case c.DefaultExpires < c.MinExpires:
		return fmt.Errorf("presence: DefaultExpires %v is below MinExpires %v", c.DefaultExpires, c.MinExpires)
	case c.Queue < 1 || c.SweepInterval < 0 || c.NotifyTimeout < 0:
		return errors.New("presence: Queue, SweepInterval and NotifyTimeout must be positive")
	case len(c.Node) > 32 || strings.IndexFunc(c.Node, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return fmt.Errorf("presence: Node %q: want at most 32 bytes without spaces", c.Node)
	}
	c.DefaultExpires = min(c.DefaultExpires, c.MaxExpires)
	return nil
}

// Option configures a Presence.
type Option func(*Presence)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(p *Presence) { p.log = l } }

// WithRegisterer registers the metrics (palio_presence_*) with r.
func WithRegisterer(r prometheus.Registerer) Option { return func(p *Presence) { p.reg = r } }

// DialogSource is a feed of dialog events: the proxy's own table
// (*sip.Dialogs) or the calls of other nodes relayed to this one (the
// cluster package's Bus). Its Subscribe is sip.Dialogs.Subscribe's.
type DialogSource interface {
	Subscribe(fn func(sip.DialogEvent), opts ...sip.SubscribeOption) (unsubscribe func())
}

// WithDialogSource has the Presence follow src as well as the server's
// dialog table: the calls src reports (another node's, in a cluster) are
// shown to this node's watchers as local ones are. Events of one call
// from both the table and src update the same dialog (a call that
// crossed two nodes). It may be given more than once.
func WithDialogSource(src DialogSource) Option {
	return func(p *Presence) { p.sources = append(p.sources, src) }
}

// Presence is the router's presence server for busy-lamp fields: it
// accepts SUBSCRIBEs for the dialog event package and notifies the
// watchers of every state change of the watched AOR's calls, as the
// proxy's dialog table reports them. Its live state is in memory; the Store
// gets every new subscription, refresh, NOTIFY answered 2xx and end, and
// New reloads it.
type Presence struct {
	cfg     Config
	store   Store
	srv     *sip.Server
	log     *slog.Logger
	reg     prometheus.Registerer
	metrics *metrics
	now     func() time.Time

	mu     sync.Mutex
	subs   map[Key]*subscription
	byAOR  map[string]map[*subscription]struct{} // watched AOR → its watchers
	calls  map[string]map[callKey]callEntry      // AOR → its calls
	seq    uint64                                // orders calls by creation
	boxes  map[string]Mailbox                    // AOR → its voicemail box's counts
	rules  rules                                 // the watch rules (ReloadRules)
	closed bool
	// started is set once a dialog event or a SUBSCRIBE showed that the
	// server serves: reloaded subscriptions may be notified.
	started bool

	sources     []DialogSource // WithDialogSource
	unsubscribe []func()
	ctx         context.Context // ends with Close: in-flight NOTIFYs stop
	cancel      context.CancelFunc
	stop        chan struct{}
	wg          sync.WaitGroup // the sweeper and the senders
}

var _ sip.Handler = (*Presence)(nil)

// subscription is a live subscription. Its fields are guarded by
// Presence.mu.
type subscription struct {
	Subscription
	aor     string // the watched AOR, "5002@voip.unisi.it"
	routes  []sip.URI
	contact sip.URI
	queue   []notice // NOTIFYs waiting to be sent
	sending bool     // a sender goroutine runs for it
	held    bool     // live, but its 202 is not sent yet: no NOTIFY before it
	// reloaded marks a subscription taken up from the store by New: its
	// NOTIFYs wait for the server to serve (the first sweep, or a refresh).
	reloaded bool
	ended    bool // no longer in the maps: only its final NOTIFY is due

	// storeMu serializes the store writes of the subscription (persist),
	// so that the store ends with its latest state: a refresh racing with
	// the sweeper cannot put back a subscription the sweeper deleted.
	storeMu sync.Mutex
}

// notice is one NOTIFY to send: the state to show and, for the last one,
// why the subscription ended.
type notice struct {
	dialogs []DialogView
	mailbox Mailbox // for message-summary subscriptions
	reason  string  // "" while the subscription is active
}

type callKey struct {
	callID, fromTag string
	dir             Direction
}

type callEntry struct {
	view DialogView
	seq  uint64
}

// New returns a Presence serving subscriptions on srv and fed by its
// dialog table. It takes up the subscriptions of store that are still
// running (a restart: each gets a NOTIFY) and runs a sweeper goroutine
// until Close.
func New(cfg Config, store Store, srv *sip.Server, opts ...Option) (*Presence, error) {
	if srv == nil || store == nil {
		return nil, errors.New("presence: New needs a store and a server")
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	p := &Presence{
		cfg:   cfg,
		store: store,
		srv:   srv,
		now:   time.Now,
		subs:  map[Key]*subscription{},
		byAOR: map[string]map[*subscription]struct{}{},
		calls: map[string]map[callKey]callEntry{},
		boxes: map[string]Mailbox{},
		stop:  make(chan struct{}),
	}
	for _, o := range opts {
		o(p)
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.metrics = newMetrics(p.reg)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if err := p.reload(); err != nil {
		p.Close()
		return nil, err
	}
	p.unsubscribe = append(p.unsubscribe, srv.Dialogs().Subscribe(p.onDialog, sip.SubscriberName("presence")))
	for _, src := range p.sources {
		p.unsubscribe = append(p.unsubscribe, src.Subscribe(p.onRemote, sip.SubscriberName("presence")))
	}
	p.wg.Add(1)
	go p.sweep()
	return p, nil
}

// reload takes up the subscriptions of the store, as after a restart:
// each one still running gets a NOTIFY with the current state, in its
// dialog, with the next CSeq and version; expired ones are deleted. New
// runs before the server serves, and a request sent before then fails:
// the NOTIFYs wait for the first sweep (SweepInterval after New) or the
// subscription's next refresh.
func (p *Presence) reload() error {
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	rows, err := p.store.Subscriptions(ctx, p.cfg.Node)
	if err != nil {
		return fmt.Errorf("presence: loading subscriptions: %w", err)
	}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, row := range rows {
		s := &subscription{Subscription: row, aor: normAOR(strings.TrimPrefix(strings.TrimPrefix(row.PresentityURI, "sip:"), "sips:"))}
		c, err := sip.ParseURI(row.Contact)
		for _, r := range row.RouteSet {
			u, rerr := sip.ParseURI(strings.Trim(r, "<>"))
			err = errors.Join(err, rerr)
			s.routes = append(s.routes, u)
		}
		if err != nil || !now.Before(row.Expires) {
			if err != nil {
				p.log.Warn("presence: dropping an unusable stored subscription", "aor", s.aor, "callid", row.CallID, "error", err)
			}
			if err := p.store.Delete(ctx, row.Key); err != nil && !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("presence: deleting an expired subscription: %w", err)
			}
			continue
		}
		s.contact = c
		// Our address may have changed with the restart.
		s.LocalContact = p.localContact(row.Transport)
		s.reloaded = true
		p.add(s)
		p.enqueue(s, p.current(s))
	}
	return nil
}

// Close stops the sweeper and the NOTIFYs in flight and stops following
// the dialog table. Subscriptions are not ended (no final NOTIFY): they
// stay in the Store, as they would across a restart.
func (p *Presence) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.metrics.subscriptions.Sub(float64(len(p.subs)))
	p.mu.Unlock()
	for _, stop := range p.unsubscribe {
		stop()
	}
	close(p.stop)
	p.cancel()
	p.wg.Wait()
}

// Len returns the number of active subscriptions.
func (p *Presence) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.subs)
}

// aorKey is the canonical form of user@domain: the domain in lower case.
func aorKey(user, domain string) string { return user + "@" + strings.ToLower(domain) }

// normAOR lower-cases the domain of "user@domain".
func normAOR(aor string) string {
	if i := strings.LastIndexByte(aor, '@'); i >= 0 {
		return aorKey(aor[:i], aor[i+1:])
	}
	return aor
}

// onDialog follows the dialog table. It runs on the goroutine of the call
// with the dialog locked: it only updates the map and queues NOTIFYs.
func (p *Presence) onDialog(ev sip.DialogEvent) { p.apply(ev, true) }

// onRemote follows a DialogSource (another node's calls), on the source's
// goroutine.
func (p *Presence) onRemote(ev sip.DialogEvent) { p.apply(ev, false) }

// apply shows a dialog event to the watchers of its caller and callee. A
// local event also shows that the server serves; another node's does not.
func (p *Presence) apply(ev sip.DialogEvent, local bool) {
	var state sip.DialogState
	switch ev.Kind {
	case sip.EventCreated:
		state = sip.DialogTrying
	case sip.EventEarly:
		state = sip.DialogEarly
	case sip.EventConfirmed:
		state = sip.DialogConfirmed
	case sip.EventTerminated:
		state = sip.DialogTerminated
	default:
		return
	}
	d := ev.Dialog
	info := d.Call.Info()
	caller, callee := normAOR(info.Caller.AOR()), normAOR(info.Callee)
	if caller == "" && callee == "" {
		return
	}
	callerID, calleeID := d.From, d.To
	if caller != "" {
		callerID = "sip:" + caller
	}
	if callee != "" {
		calleeID = "sip:" + callee
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if local {
		p.serving()
	}
	if caller != "" {
		p.update(caller, callKey{d.CallID, d.FromTag, Initiator}, DialogView{
			CallID: d.CallID, LocalTag: d.FromTag, RemoteTag: d.ToTag, Direction: Initiator,
			State: state, Event: endEvent(d, Initiator), Local: callerID, Remote: calleeID,
		})
	}
	if callee != "" {
		p.update(callee, callKey{d.CallID, d.FromTag, Recipient}, DialogView{
			CallID: d.CallID, LocalTag: d.ToTag, RemoteTag: d.FromTag, Direction: Recipient,
			State: state, Event: endEvent(d, Recipient), Local: calleeID, Remote: callerID,
		})
	}
}

// endEvent is the event attribute of a terminated dialog's state (RFC 4235
// §4.1.2) seen from the AOR at end dir.
func endEvent(d sip.Dialog, dir Direction) string {
	if d.State != sip.DialogTerminated {
		return ""
	}
	switch d.Cause {
	case sip.CauseCanceled:
		return "cancelled"
	case sip.CauseRejected:
		return "rejected"
	case sip.CauseExpired:
		return "timeout"
	case sip.CauseByeCaller:
		if dir == Initiator {
			return "local-bye"
		}
		return "remote-bye"
	case sip.CauseByeCallee:
		if dir == Recipient {
			return "local-bye"
		}
		return "remote-bye"
	}
	return ""
}

// update records the new view of a call of aor and queues a NOTIFY for
// each watcher of aor. A terminated call is shown once, then forgotten.
// p.mu is held.
func (p *Presence) update(aor string, k callKey, v DialogView) {
	calls := p.calls[aor]
	if calls == nil {
		calls = map[callKey]callEntry{}
		p.calls[aor] = calls
	}
	e, ok := calls[k]
	if !ok {
		p.seq++
		e.seq = p.seq
	}
	e.view = v
	calls[k] = e
	for s := range p.byAOR[aor] {
		if s.Event == EventPackage {
			p.enqueue(s, notice{dialogs: p.state(aor)})
		}
	}
	if v.State == sip.DialogTerminated {
		delete(calls, k)
		if len(calls) == 0 {
			delete(p.calls, aor)
		}
	}
}

// state returns the calls of aor to show, oldest first, or only the most
// interesting one. p.mu is held.
func (p *Presence) state(aor string) []DialogView {
	entries := make([]callEntry, 0, len(p.calls[aor]))
	for _, e := range p.calls[aor] {
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b callEntry) int { return cmp.Compare(a.seq, b.seq) })
	if p.cfg.OnlyMostInteresting && len(entries) > 1 {
		best := entries[0]
		for _, e := range entries[1:] {
			if rank(e.view.State) >= rank(best.view.State) {
				best = e
			}
		}
		entries = []callEntry{best}
	}
	out := make([]DialogView, len(entries))
	for i, e := range entries {
		out[i] = e.view
	}
	return out
}

// rank orders states by interest for OnlyMostInteresting.
func rank(s sip.DialogState) int {
	switch s {
	case sip.DialogConfirmed:
		return 3
	case sip.DialogEarly:
		return 2
	case sip.DialogTrying:
		return 1
	}
	return 0
}

// add makes s live. p.mu is held.
func (p *Presence) add(s *subscription) {
	p.subs[s.Key] = s
	w := p.byAOR[s.aor]
	if w == nil {
		w = map[*subscription]struct{}{}
		p.byAOR[s.aor] = w
	}
	w[s] = struct{}{}
	p.metrics.subscriptions.Inc()
}

// remove takes s out of the maps: no more NOTIFYs but a final one. It
// reports whether s was live. p.mu is held.
func (p *Presence) remove(s *subscription) bool {
	if s.ended {
		return false
	}
	s.ended = true
	delete(p.subs, s.Key)
	if w := p.byAOR[s.aor]; w != nil {
		delete(w, s)
		if len(w) == 0 {
			delete(p.byAOR, s.aor)
		}
	}
	p.metrics.subscriptions.Dec()
	return true
}

// terminate ends s with a final NOTIFY saying reason (RFC 6665 §4.2.2:
// "timeout", "noresource", "deactivated"...). p.mu is held; the caller
// deletes s from the store.
func (p *Presence) terminate(s *subscription, reason string) {
	if !p.remove(s) {
		return
	}
	s.reloaded = false // it ends now, and its final NOTIFY is due
	s.queue = s.queue[:0]
	n := p.current(s)
	n.reason = reason
	p.enqueue(s, n)
}

// enqueue queues n for s and starts its sender when none runs. The queue
// is bounded: the oldest waiting notice gives way (the documents are full
// state). p.mu is held.
func (p *Presence) enqueue(s *subscription, n notice) {
	if p.closed || s.ended && n.reason == "" {
		return
	}
	if len(s.queue) >= p.cfg.Queue {
		s.queue = slices.Delete(s.queue, 0, 1)
	}
	s.queue = append(s.queue, n)
	p.start(s)
}

// start runs the sender of s if it has something to send and may send.
// p.mu is held.
func (p *Presence) start(s *subscription) {
	if s.sending || s.held || s.reloaded || len(s.queue) == 0 || p.closed {
		return
	}
	s.sending = true
	p.wg.Add(1)
	go p.run(s)
}

// serving releases the subscriptions reloaded by New: a call is being
// handled, so the server serves and their NOTIFYs can go (else they wait
// for the first sweep). p.mu is held.
func (p *Presence) serving() {
	if p.started {
		return
	}
	p.started = true
	for _, s := range p.subs {
		if s.reloaded {
			s.reloaded = false
			p.start(s)
		}
	}
}

// sweep ends expired subscriptions until Close.
func (p *Presence) sweep() {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.expire()
		}
	}
}

// expire ends the subscriptions whose time is up, with a final NOTIFY
// (Subscription-State: terminated;reason=timeout).
func (p *Presence) expire() {
	now := p.now()
	var gone []*subscription
	p.mu.Lock()
	for _, s := range p.subs {
		if s.reloaded {
			s.reloaded = false
			p.start(s)
		}
		if !now.Before(s.Expires) {
			p.terminate(s, "timeout")
			gone = append(gone, s)
		}
	}
	p.mu.Unlock()
	for _, s := range gone {
		_ = p.persist(p.ctx, s)
	}
}

// persist writes s through the store as it is now: Put while it is live,
// Delete once it ended. Writes of one subscription run one at a time and
// each reads the state when it runs, so the last one wins with the latest
// state.
func (p *Presence) persist(ctx context.Context, s *subscription) error {
	s.storeMu.Lock()
	defer s.storeMu.Unlock()
	p.mu.Lock()
	ended, row := s.ended, s.Subscription
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.NotifyTimeout)
	defer cancel()
	if ended {
		if err := p.store.Delete(ctx, row.Key); err != nil && !errors.Is(err, ErrNotFound) {
			p.log.Warn("presence: deleting a subscription from the store", "aor", s.aor, "callid", row.CallID, "error", err)
			return err
		}
		return nil
	}
	if err := p.store.Put(ctx, row); err != nil {
		p.log.Warn("presence: storing a subscription", "aor", s.aor, "callid", row.CallID, "error", err)
		return err
	}
	return nil
}
