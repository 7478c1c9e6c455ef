package guard

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palio-voip/palio/snapshot"
)

// banSet is the bans in force, an immutable value swapped whole (Admit
// reads it without a lock).
type banSet struct {
	ip    map[netip.Addr]Ban
	user  map[string]Ban
	fraud map[string]Ban
}

func (s *banSet) clone() *banSet {
	return &banSet{ip: maps.Clone(s.ip), user: maps.Clone(s.user), fraud: maps.Clone(s.fraud)}
}

func (s *banSet) get(kind BanKind, subject string) (Ban, bool) {
	var b Ban
	var ok bool
	switch kind {
	case BanIP:
		if ip, err := netip.ParseAddr(subject); err == nil {
			b, ok = s.ip[ip.Unmap()]
		}
	case BanUser:
		b, ok = s.user[subject]
	case BanFraud:
		b, ok = s.fraud[subject]
	}
	return b, ok
}

// put adds b; it reports false for a ban it cannot hold (a bad address,
// a flood ban).
func (s *banSet) put(b Ban) bool {
	switch b.Kind {
	case BanIP:
		ip, err := netip.ParseAddr(b.Subject)
		if err != nil {
			return false
		}
		if s.ip == nil {
			s.ip = map[netip.Addr]Ban{}
		}
		s.ip[ip.Unmap()] = b
	case BanUser:
		if s.user == nil {
			s.user = map[string]Ban{}
		}
		s.user[b.Subject] = b
	case BanFraud:
		if s.fraud == nil {
			s.fraud = map[string]Ban{}
		}
		s.fraud[b.Subject] = b
	default:
		return false
	}
	return true
}

func (s *banSet) del(kind BanKind, subject string) {
	switch kind {
	case BanIP:
		if ip, err := netip.ParseAddr(subject); err == nil {
			delete(s.ip, ip.Unmap())
		}
	case BanUser:
		delete(s.user, subject)
	case BanFraud:
		delete(s.fraud, subject)
	}
}

func (s *banSet) all() []Ban {
	out := slices.Collect(maps.Values(s.ip))
	out = slices.AppendSeq(out, maps.Values(s.user))
	out = slices.AppendSeq(out, maps.Values(s.fraud))
	return out
}

// list returns the bans active at now, sorted.
func (s *banSet) list(now time.Time) []Ban {
	var out []Ban
	for _, b := range s.all() {
		if b.Active(now) {
			out = append(out, b)
		}
	}
	sortBans(out)
	return out
}

func sortBans(bs []Ban) {
	slices.SortFunc(bs, func(a, b Ban) int {
		if a.Kind != b.Kind {
			return cmpString(string(a.Kind), string(b.Kind))
		}
		return cmpString(a.Subject, b.Subject)
	})
}

type banKey struct {
	kind    BanKind
	subject string
}

// failCounter counts authentication failures per source and per user.
type failCounter struct {
	mu   sync.Mutex
	ip   map[netip.Addr]*failTimes
	user map[string]*failTimes
}

// maxFailKeys bounds the sources and users counted (each holds at most
// Limit.Failures times).
const maxFailKeys = 100000

// failTimes are the times of the latest failures, oldest first.
type failTimes struct{ t []time.Time }

func (c *failCounter) init() {
	c.ip = map[netip.Addr]*failTimes{}
	c.user = map[string]*failTimes{}
}

// add records a failure at now and reports whether it is the l.Failures-th
// within l.Window (the times are then forgotten: the ban starts afresh).
func (f *failTimes) add(now time.Time, l Limit) bool {
	if len(f.t) == l.Failures {
		f.t = append(f.t[:0], f.t[1:]...)
	}
	f.t = append(f.t, now)
	if len(f.t) == l.Failures && now.Sub(f.t[0]) <= l.Window {
		f.t = f.t[:0]
		return true
	}
	return false
}

func (c *failCounter) count(src netip.Addr, user string, now time.Time, cfg AuthConfig) (ipReached, userReached bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cfg.PerIP.on() && src.IsValid() {
		f := c.ip[src]
		if f == nil && len(c.ip) < maxFailKeys {
			f = &failTimes{}
			c.ip[src] = f
		}
		if f != nil {
			ipReached = f.add(now, cfg.PerIP)
		}
	}
	if cfg.PerUser.on() && user != "" {
		f := c.user[user]
		if f == nil && len(c.user) < maxFailKeys {
			f = &failTimes{}
			c.user[user] = f
		}
		if f != nil {
			userReached = f.add(now, cfg.PerUser)
		}
	}
	return ipReached, userReached
}

// sweep forgets the counts whose latest failure is older than the window.
func (c *failCounter) sweep(now time.Time, cfg AuthConfig) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, f := range c.ip {
		if len(f.t) == 0 || now.Sub(f.t[len(f.t)-1]) > cfg.PerIP.Window {
			delete(c.ip, k)
		}
	}
	for k, f := range c.user {
		if len(f.t) == 0 || now.Sub(f.t[len(f.t)-1]) > cfg.PerUser.Window {
			delete(c.user, k)
		}
	}
}

func (c *failCounter) reset(kind BanKind, subject string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch kind {
	case BanIP:
		if ip, err := netip.ParseAddr(subject); err == nil {
			delete(c.ip, ip.Unmap())
		}
	case BanUser:
		delete(c.user, subject)
	}
}

// AuthFailed counts an authentication failure of user from src (the
// registrar's WithAuthFailures hook): failures of the counted reasons past
// a Limit ban the source or the account. It is quick: a ban is written to
// the store in the background.
func (g *Guard) AuthFailed(src netip.Addr, user, reason string) {
	if !slices.Contains(g.cfg.Auth.Reasons, reason) {
		return
	}
	src = src.Unmap()
	now := g.now()
	bs := g.bans.Load()
	if _, ok := bs.get(BanIP, src.String()); ok {
		src = netip.Addr{} // banned already (the request came before the ban)
	}
	if _, ok := bs.get(BanUser, user); ok || checkUser(user) != nil {
		user = ""
	}
	ipReached, userReached := g.fails.count(src, user, now, g.cfg.Auth)
	if ipReached && !g.exempt(netip.AddrPortFrom(src, 0)) {
		l := g.cfg.Auth.PerIP
		g.ban(Ban{Kind: BanIP, Subject: src.String(), Created: now, Until: now.Add(l.Ban),
			Reason: fmt.Sprintf("%d auth failures in %v (the last: %s for %q)", l.Failures, l.Window, reason, user)})
	}
	if userReached {
		l := g.cfg.Auth.PerUser
		g.ban(Ban{Kind: BanUser, Subject: user, Created: now, Until: now.Add(l.Ban),
			Reason: fmt.Sprintf("%d auth failures in %v (the last: %s from %s)", l.Failures, l.Window, reason, src)})
	}
}

// ban puts b in force, has it stored, and logs, counts and publishes it.
func (g *Guard) ban(b Ban) {
	g.banMu.Lock()
	next := g.bans.Load().clone()
	if !next.put(b) {
		g.banMu.Unlock()
		return
	}
	g.pers.putLocked(b)
	g.bans.Store(next)
	g.metrics.setBans(next)
	g.banMu.Unlock()
	g.metrics.bansTotal.WithLabelValues(string(b.Kind)).Inc()
	g.logBan(b)
	g.publish(Event{Kind: EventBanned, Time: b.Created, Origin: OriginLocal, Ban: b})
}

// logBan writes the one line a ban leaves in the log: src first for a
// source (the shape fail2ban filters match), user for an account.
func (g *Guard) logBan(b Ban) {
	until := "cleared"
	if !b.Until.IsZero() {
		until = b.Until.UTC().Format(time.RFC3339)
	}
	who, subject := "user", b.Subject
	if b.Kind == BanIP {
		who = "src"
	}
	g.log.Warn("guard: banned", who, subject, "kind", string(b.Kind), "until", until, "reason", b.Reason)
}

// expireBans lifts the bans past their end.
func (g *Guard) expireBans(now time.Time) {
	var gone []Ban
	for _, b := range g.bans.Load().all() {
		if !b.Active(now) {
			gone = append(gone, b)
		}
	}
	if len(gone) == 0 {
		return
	}
	g.banMu.Lock()
	next := g.bans.Load().clone()
	for _, b := range gone {
		next.del(b.Kind, b.Subject)
		g.pers.delLocked(b.Kind, b.Subject)
	}
	g.bans.Store(next)
	g.metrics.setBans(next)
	g.banMu.Unlock()
	for _, b := range gone {
		g.lifted(b, "expired", OriginLocal, now)
	}
}

// lifted logs and publishes the end of a ban and resets what counted
// towards it.
func (g *Guard) lifted(b Ban, why, origin string, now time.Time) {
	g.fails.reset(b.Kind, b.Subject)
	if b.Kind == BanFraud {
		g.fraud.reset(b.Subject)
	}
	who := "user"
	if b.Kind == BanIP || b.Kind == BanFlood {
		who = "src"
	}
	g.log.Info("guard: unbanned", who, b.Subject, "kind", string(b.Kind), "why", why)
	g.publish(Event{Kind: EventUnbanned, Time: now, Origin: origin, Why: why, Ban: b})
}

// Unban lifts a ban now: a flood block of this node, or a stored ban
// (deleted from the store, so other nodes lift it at their next reload).
// It returns ErrNotFound when there is no such ban.
func (g *Guard) Unban(ctx context.Context, kind BanKind, subject string) error {
	now := g.now()
	if kind == BanFlood {
		ip, err := netip.ParseAddr(subject)
		if err != nil || g.flood == nil {
			return ErrNotFound
		}
		ch, ok := g.flood.remove(floodKey(ip))
		if !ok {
			return ErrNotFound
		}
		g.metrics.floodSources.Dec()
		g.lifted(Ban{Kind: BanFlood, Subject: ch.src.String(), Created: g.wallAt(ch.since), Until: now}, "cleared", OriginLocal, now)
		return nil
	}
	g.banMu.Lock()
	b, ok := g.bans.Load().get(kind, subject)
	if !ok {
		g.banMu.Unlock()
		return ErrNotFound
	}
	next := g.bans.Load().clone()
	next.del(kind, subject)
	g.bans.Store(next)
	g.metrics.setBans(next)
	g.banMu.Unlock()
	err := g.store.DeleteBan(ctx, kind, subject)
	g.lifted(b, "cleared", OriginLocal, now)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("guard: lifted here, but not in the store: %w", err)
	}
	return nil
}

// Reload reads the bans and the fraud rules from the store (an operator's
// change, another node's ban: the store's change counter). Bans this node
// decided but has not written yet are kept. A ban that went from the store
// is lifted (an operator cleared it), one that came is put in force; both
// are published with Origin OriginStore. A failed reload keeps what runs.
func (g *Guard) Reload(ctx context.Context) (snapshot.Report, error) {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	start := time.Now()
	rep := snapshot.Report{Component: "guard"}
	rules, err := g.store.Rules(ctx)
	if err != nil {
		g.metrics.reloads.WithLabelValues("error").Inc()
		return rep, fmt.Errorf("guard: fraud rules: %w", err)
	}
	fs, discards := compileRules(rules)
	now := g.now()

	g.banMu.Lock()
	// The writes done before the read are in what it returns (or an
	// operator changed the row since): only the later ones are laid
	// over it. Read first: the persister stores a write's sequence
	// number once the write returned.
	written := g.pers.written.Load()
	rows, err := g.store.Bans(ctx)
	if err != nil {
		g.banMu.Unlock()
		g.metrics.reloads.WithLabelValues("error").Inc()
		return rep, fmt.Errorf("guard: bans: %w", err)
	}
	next := &banSet{}
	for _, b := range rows {
		if !b.Active(now) {
			g.pers.delLocked(b.Kind, b.Subject) // ended while no node ran
			continue
		}
		if !next.put(b) {
			rep.Discarded = append(rep.Discarded, snapshot.Discard{Table: "palio_guard_bans", ID: string(b.Kind) + " " + b.Subject, Reason: "not a ban this guard knows"})
		}
	}
	for _, op := range g.pers.pending {
		if op.seq <= written {
			continue // in the store already: an unban since then must hold
		}
		if op.del {
			next.del(op.ban.Kind, op.ban.Subject)
		} else {
			next.put(op.ban)
		}
	}
	old := g.bans.Load()
	g.bans.Store(next)
	g.metrics.setBans(next)
	g.banMu.Unlock()
	g.fraud.snap.Store(fs)

	for _, b := range old.all() {
		if _, ok := next.get(b.Kind, b.Subject); !ok && b.Active(now) {
			g.lifted(b, "cleared", OriginStore, now)
		}
	}
	for _, b := range next.all() {
		if _, ok := old.get(b.Kind, b.Subject); !ok {
			who := "user"
			if b.Kind == BanIP {
				who = "src"
			}
			g.log.Info("guard: ban loaded", who, b.Subject, "kind", string(b.Kind), "reason", b.Reason)
			g.publish(Event{Kind: EventBanned, Time: now, Origin: OriginStore, Ban: b})
		}
	}
	rep.Discarded = append(rep.Discarded, discards...)
	rep.Loaded = len(rules) - len(discards) + len(next.ip) + len(next.user) + len(next.fraud)
	rep.Took = time.Since(start)
	g.metrics.reloads.WithLabelValues("ok").Inc()
	for _, d := range discards {
		g.log.Warn("guard: fraud rule left out", "rule", d.ID, "reason", d.Reason)
	}
	return rep, nil
}

// persister writes bans to the store off the request path, in order.
// pending holds the writes not done yet, so that a reload keeps them; it
// and the queue are guarded by the Guard's banMu. written is the
// sequence number of the last write that returned: a reload lays over
// what it read only the writes after the last one done before its read,
// so that a ban an operator deleted once it was written is not put back
// by a reload that ran before the persister took it off pending.
type persister struct {
	g       *Guard
	q       chan persistOp
	pending map[banKey]persistOp
	seq     uint64
	written atomic.Uint64
	closed  bool
	done    chan struct{}
	// afterWrite, a test's hook, runs after a write returned and before
	// it is taken off pending (the window a reload must get right).
	afterWrite func()
}

type persistOp struct {
	seq uint64
	del bool
	ban Ban
}

// persistQueue bounds the writes waiting for the store.
const persistQueue = 1024

func newPersister(g *Guard) *persister {
	p := &persister{g: g, q: make(chan persistOp, persistQueue), pending: map[banKey]persistOp{}, done: make(chan struct{})}
	go p.run()
	return p
}

func (p *persister) putLocked(b Ban) { p.enqueueLocked(persistOp{ban: b}) }

func (p *persister) delLocked(kind BanKind, subject string) {
	p.enqueueLocked(persistOp{del: true, ban: Ban{Kind: kind, Subject: subject}})
}

// enqueueLocked queues op (banMu held). A full queue drops it: the ban
// holds in memory, and the store misses it (counted, logged).
func (p *persister) enqueueLocked(op persistOp) {
	if p.closed {
		return
	}
	p.seq++
	op.seq = p.seq
	select {
	case p.q <- op:
		p.pending[banKey{op.ban.Kind, op.ban.Subject}] = op
	default:
		p.g.metrics.storeErrors.Inc()
		p.g.log.Warn("guard: store queue full; a ban change is not stored", "kind", string(op.ban.Kind), "subject", op.ban.Subject)
	}
}

func (p *persister) run() {
	defer close(p.done)
	for op := range p.q {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var err error
		if op.del {
			err = p.g.store.DeleteBan(ctx, op.ban.Kind, op.ban.Subject)
			if errors.Is(err, ErrNotFound) {
				err = nil
			}
		} else {
			err = p.g.store.PutBan(ctx, op.ban)
		}
		cancel()
		// Done (or failed: the store has not got it either way, and
		// the ban holds on this node until the next reload, as
		// before): a reload from now on reads its outcome.
		p.written.Store(op.seq)
		if err != nil {
			p.g.metrics.storeErrors.Inc()
			p.g.log.Warn("guard: ban not stored; it holds on this node only", "kind", string(op.ban.Kind), "subject", op.ban.Subject, "error", err)
		}
		if p.afterWrite != nil {
			p.afterWrite()
		}
		p.g.banMu.Lock()
		k := banKey{op.ban.Kind, op.ban.Subject}
		if cur, ok := p.pending[k]; ok && cur.seq == op.seq {
			delete(p.pending, k)
		}
		p.g.banMu.Unlock()
	}
}

// close writes what is queued, for at most 5 s.
func (p *persister) close() {
	p.g.banMu.Lock()
	if p.closed {
		p.g.banMu.Unlock()
		return
	}
	p.closed = true
	close(p.q)
	p.g.banMu.Unlock()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.g.log.Warn("guard: bans still queued for the store at close", "queued", len(p.q))
	}
}

// checkUser is the check a user name passes before it is banned.
func checkUser(u string) error {
	if u == "" {
		return errors.New("empty")
	}
	return Ban{Kind: BanUser, Subject: u, Created: time.Unix(1, 0)}.Validate()
}
