package mediabox

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/emiago/diago"
)

// Queue defaults.
const (
	DefaultRingTimeout = 15 * time.Second
	DefaultMaxWait     = 5 * time.Minute
	// retryPause separates two rounds of ringing the agents.
	retryPause = 2 * time.Second
)

// queues is the live state of the call queues: who waits where, which
// agents are on a queue call, where each round-robin stands.
type queues struct {
	mu      sync.Mutex
	waiting map[string][]*call
	onCall  map[string]bool
	next    map[string]int
}

func newQueues() *queues {
	return &queues{waiting: map[string][]*call{}, onCall: map[string]bool{}, next: map[string]int{}}
}

// join puts c at the end of queue id and returns its position (from 1)
// and the function that takes it out.
func (qs *queues) join(id string, c *call) (int, func()) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	qs.waiting[id] = append(qs.waiting[id], c)
	return len(qs.waiting[id]), func() {
		qs.mu.Lock()
		defer qs.mu.Unlock()
		w := qs.waiting[id]
		if i := slices.Index(w, c); i >= 0 {
			qs.waiting[id] = slices.Delete(w, i, i+1)
		}
		if len(qs.waiting[id]) == 0 {
			delete(qs.waiting, id)
		}
	}
}

// Waiting is how many callers wait in queue id.
func (b *Box) Waiting(id string) int {
	b.queues.mu.Lock()
	defer b.queues.mu.Unlock()
	return len(b.queues.waiting[id])
}

// free lists q's logged-in agents not on a queue call, round-robin
// queues starting after the agent who took the last call.
func (qs *queues) free(q Queue) []string {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	var out []string
	n := len(q.Members)
	start := 0
	if q.Strategy == RoundRobin && n > 0 {
		start = qs.next[q.ID] % n
	}
	for i := range n {
		m := q.Members[(start+i)%n]
		if m.LoggedIn && !qs.onCall[m.Number] {
			out = append(out, m.Number)
		}
	}
	return out
}

// took records that agent took a call of q: busy until done is called.
func (qs *queues) took(q Queue, agent string) (done func()) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	qs.onCall[agent] = true
	if i := slices.IndexFunc(q.Members, func(m Member) bool { return m.Number == agent }); i >= 0 {
		qs.next[q.ID] = i + 1
	}
	return func() {
		qs.mu.Lock()
		defer qs.mu.Unlock()
		delete(qs.onCall, agent)
	}
}

// answered is an agent's leg that answered.
type answered struct {
	agent string
	d     *diago.DialogClientSession
	med   *diago.DialogMedia
}

// queue holds the caller in queue id with music until an agent answers
// (then bridges them) or the wait runs out (then returns the queue's
// timeout action).
func (c *call) queue(id string) (Action, error) {
	b := c.box
	q, err := b.store.Queue(c.ctx, id)
	if err != nil {
		c.log.Warn("mediabox: queue unavailable", "queue", id, "error", err)
		return Action{}, c.unavailable()
	}
	ring := q.RingTimeout
	if ring == 0 {
		ring = DefaultRingTimeout
	}
	maxWait := q.MaxWait
	if maxWait == 0 {
		maxWait = DefaultMaxWait
	}
	music := q.Music
	if music == "" || !b.prompts.Has(music) {
		music = "moh"
	}
	pos, leave := b.queues.join(q.ID, c)
	defer leave()

	if err := c.play(false, "q-hold"); err != nil {
		return Action{}, ignoreHangup(err)
	}
	if q.AnnouncePosition {
		if err := c.play(false, "q-position"); err != nil {
			return Action{}, ignoreHangup(err)
		}
		if err := c.sayNumber(pos); err != nil {
			return Action{}, ignoreHangup(err)
		}
	}

	waitCtx, stopWaiting := context.WithTimeout(c.ctx, maxWait)
	defer stopWaiting()
	got := make(chan answered, 1)
	var dialers sync.WaitGroup
	dialers.Add(1)
	go func() {
		defer dialers.Done()
		c.ringAgents(waitCtx, q, ring, got)
	}()
	// Music until an agent answers, the wait ends or the caller hangs up.
	musicCtx, stopMusic := context.WithCancel(waitCtx)
	musicDone := make(chan struct{})
	go func() {
		defer close(musicDone)
		select {
		case a := <-got:
			got <- a
		case <-waitCtx.Done():
		}
		stopMusic()
	}()
	// The watcher ends with the wait or an answer: every path out ends
	// the wait first.
	defer func() { stopWaiting(); <-musicDone }()
	for musicCtx.Err() == nil {
		if _, err := c.playPCMUntil(musicCtx, b.prompts.pcm[music], false); err != nil && !errors.Is(err, errHungUp) {
			stopWaiting()
			dialers.Wait()
			<-musicDone
			// An agent who answered meanwhile (the answer waiting on
			// got, or handed over as the dialers ended) has no caller
			// to be bridged to.
			select {
			case a := <-got:
				c.hangupPlaced(a.d)
				c.log.Info("mediabox: the music failed as an agent answered; agent hung up", "queue", q.ID, "agent", a.agent)
			default:
			}
			return Action{}, err
		}
	}
	stopMusic()
	var a answered
	var ok bool
	select {
	case a, ok = <-got:
	default:
	}
	if !ok || c.hungUp() {
		stopWaiting()
		dialers.Wait()
		if !ok {
			// An agent may have answered as the wait ended, after the
			// music stopped: the dialers are done now, so what they
			// found is on got.
			select {
			case a, ok = <-got:
			default:
			}
		}
	}
	if ok && c.hungUp() { // answered as the caller left
		c.hangupPlaced(a.d)
		c.log.Info("mediabox: the caller left as an agent answered", "queue", q.ID, "agent", a.agent)
		return Action{}, nil
	}
	if !ok {
		if c.hungUp() {
			return Action{}, nil
		}
		c.log.Info("mediabox: queue wait ended without an agent", "queue", q.ID)
		if q.OnTimeout.IsZero() {
			return Action{Kind: Hangup}, nil
		}
		return q.OnTimeout, nil
	}
	leave()
	done := b.queues.took(q, a.agent)
	defer done()
	// The dialers are done: the answer ended their round.
	dialers.Wait()
	c.log.Info("mediabox: queue call answered", "queue", q.ID, "agent", a.agent)
	c.bridge(a.d, a.med)
	return Action{}, nil
}

// ringAgents rings q's free agents, round after round, until one
// answers (sent on got) or ctx ends.
func (c *call) ringAgents(ctx context.Context, q Queue, ring time.Duration, got chan<- answered) {
	for ctx.Err() == nil {
		agents := c.box.queues.free(q)
		if len(agents) > 0 {
			if q.Strategy == RoundRobin {
				for _, agent := range agents {
					if a, ok := c.ringOne(ctx, agent, ring); ok {
						got <- a
						return
					}
					if ctx.Err() != nil {
						return
					}
				}
			} else if a, ok := c.ringAll(ctx, agents, ring); ok {
				got <- a
				return
			}
		}
		t := time.NewTimer(retryPause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		// Agents may have logged in or out meanwhile.
		if fresh, err := c.box.store.Queue(ctx, q.ID); err == nil {
			q = fresh
		}
	}
}

// ringOne rings one agent.
func (c *call) ringOne(ctx context.Context, agent string, ring time.Duration) (answered, bool) {
	d, med, err := c.place(ctx, agent, ring)
	if err != nil {
		return answered{}, false
	}
	if ctx.Err() != nil { // the caller left as the agent answered
		c.hangupPlaced(d)
		return answered{}, false
	}
	return answered{agent: agent, d: d, med: med}, true
}

// ringAll rings every agent at once: the first to answer wins and is
// returned at once; the others stop ringing (CANCEL), and any of them
// that answers too is hung up, in the background (Box.placing), so the
// winner never waits on a leg whose next hop is silent (which cannot be
// CANCELled before a provisional response, RFC 3261 §9.1, and can take
// until Timer B to end).
func (c *call) ringAll(ctx context.Context, agents []string, ring time.Duration) (answered, bool) {
	ctx, cancel := context.WithCancel(ctx)
	results := make(chan answered, len(agents))
	for _, agent := range agents {
		c.box.placing.Add(1)
		go func() {
			defer c.box.placing.Done()
			a, _ := c.ringOne(ctx, agent, ring)
			results <- a
		}()
	}
	for n := 1; n <= len(agents); n++ {
		a := <-results
		if a.d == nil {
			continue
		}
		cancel()
		if rest := len(agents) - n; rest > 0 {
			c.box.placing.Add(1)
			go func() {
				defer c.box.placing.Done()
				for range rest {
					if late := <-results; late.d != nil {
						c.hangupPlaced(late.d)
					}
				}
			}()
		}
		return a, true
	}
	cancel()
	return answered{}, false
}

// hangupPlaced hangs up an answered leg the box placed and has no use
// for (BYE, bounded at 2 s) and releases it.
func (c *call) hangupPlaced(d *diago.DialogClientSession) {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), 2*time.Second)
	_ = d.Hangup(hctx)
	cancel()
	c.box.closePlaced(d)
}

// agent logs the caller in or out of queue id.
func (c *call) agent(id string, in bool) error {
	err := c.box.store.SetAgent(c.ctx, id, c.caller, in)
	switch {
	case errors.Is(err, ErrNotFound):
		c.log.Info("mediabox: not an agent", "queue", id)
		return ignoreHangup(c.then(c.play(false, "q-notagent"), c.goodbye))
	case err != nil:
		return err
	}
	c.log.Info("mediabox: agent", "queue", id, "logged_in", in)
	prompt := "q-loggedout"
	if in {
		prompt = "q-loggedin"
	}
	return ignoreHangup(c.then(c.play(false, prompt), c.goodbye))
}
