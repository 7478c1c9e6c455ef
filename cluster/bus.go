package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/accounting"
	"github.com/palio-voip/palio/sip"
)

// Option configures a Bus.
type Option func(*Bus)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(b *Bus) { b.log = l } }

// WithRegisterer registers the metrics (palio_cluster_*) with r.
func WithRegisterer(r prometheus.Registerer) Option { return func(b *Bus) { b.reg = r } }

// Table is the local dialog table whose events a Bus publishes:
// *sip.Dialogs (a server's Dialogs()), or any feed of dialog events with
// the same Subscribe.
type Table interface {
	Subscribe(fn func(sip.DialogEvent), opts ...sip.SubscribeOption) (unsubscribe func())
}

// Bus shares dialog events between the nodes of a cluster over NATS: it
// publishes the events of the local dialog table to the cluster's subject
// and delivers the events of every other node to its own subscribers,
// never its own back. Its Subscribe has the shape of sip.Dialogs's, so a
// consumer of dialog events (presence's busy lamps) can follow the other
// nodes' calls as it follows the local ones.
//
// Publishing never makes a call wait: the table's subscriber copies the
// event into a bounded queue and a goroutine of the Bus publishes it; a
// full queue drops the event and counts it. Every node sends a heartbeat
// with the sequence number of its latest event. A receiving node that
// sees a gap in a node's sequence (an event dropped on the way), hears a
// node for the first time, or reconnects to NATS asks for snapshots, and
// every node answers with its active dialogs: the receivers bring their
// view of that node's calls in line, delivering the events this implies
// (a call that ended meanwhile gets its terminated event). A node silent
// for NodeTimeout is taken as gone: each of its calls gets a terminated
// event here. So nothing stays lit for a call that ended while events
// were lost, and everything converges again once NATS is back.
//
// The NATS connection reconnects by itself (nats.go), forever; while it
// is down, events are kept in nats.go's reconnect buffer (1 MiB) and
// then dropped and counted.
type Bus struct {
	cfg     Config
	log     *slog.Logger
	reg     prometheus.Registerer
	m       *metrics
	inst    uint64 // this run of the node
	subject string
	kinds   [sip.EventTerminated + 1]bool

	nc       *nats.Conn
	sub      *nats.Subscription
	feed     *sip.Feed[sip.DialogEvent]
	unfollow func()

	// The sending side; outMu orders sequence numbers and the queue, so
	// that the queue holds messages in sequence order.
	outMu    sync.Mutex
	seq      uint64
	local    map[dialogKey]wireDialog // the local dialogs as published: what a snapshot sends
	q        chan *message
	snapDue  bool // a snapshot is to be sent (asked for, or events were lost)
	lastSnap time.Time
	syncDue  bool // snapshots are to be asked for
	lastSync time.Time
	closed   bool
	dropLog  time.Time // the last "queue full" line

	// The receiving side. Lock order: inMu before outMu.
	inMu    sync.Mutex
	nodes   map[string]*remoteNode
	tracked int // dialogs in all nodes' maps
	nameLog atomic.Int64

	slowDropped atomic.Int64 // the subscription's drops counted so far

	done chan struct{} // closed by Close
	wg   sync.WaitGroup
	once sync.Once

	sendHook func() // tests: runs before each message is published

	// Hang-ups for the other nodes (WithHanger, hangup.go): hmu orders a
	// request's start against Close (hclosed), hwg waits for those under
	// way, hslots bounds them, hctx ends them.
	hanger  accounting.Hanger
	hsub    *nats.Subscription
	hmu     sync.Mutex
	hclosed bool
	hwg     sync.WaitGroup
	hslots  chan struct{}
	hctx    context.Context
	hcancel context.CancelFunc

	// The guard's notices (GuardPeers, guard.go).
	guardOnce    sync.Once
	guardSubject string
	gm           *guardMetrics
}

// remoteNode is what this node knows of another.
type remoteNode struct {
	name    string
	inst    uint64
	seq     uint64 // the latest sequence number seen
	seen    time.Time
	dialogs map[dialogKey]wireDialog // its active dialogs, as last heard
	pending *pendingSnapshot
}

type pendingSnapshot struct {
	seq        uint64
	parts, got int
	dialogs    []wireDialog
}

// minGap spaces the snapshots a node sends, and its requests for them:
// requests that come closer together are answered by one snapshot.
const minGap = 200 * time.Millisecond

// maxTracked bounds the other nodes' dialogs a Bus remembers (to end
// them when their node goes silent); the events of dialogs beyond it are
// still delivered.
const maxTracked = 200_000

// NewBus connects to NATS and returns a Bus publishing the events of
// table (nil for a bus that only listens) and delivering the other
// nodes'. It does not wait for NATS: a server that is not there yet is
// retried in the background (Ready waits for it), so a node starts and
// serves calls without it. Close stops it.
func NewBus(cfg Config, table Table, opts ...Option) (*Bus, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	b := &Bus{
		cfg:     cfg,
		inst:    rand.Uint64() | 1,
		subject: cfg.Subject(),
		local:   map[dialogKey]wireDialog{},
		q:       make(chan *message, cfg.Queue),
		nodes:   map[string]*remoteNode{},
		done:    make(chan struct{}),
	}
	b.hctx, b.hcancel = context.WithCancel(context.Background())
	for _, o := range opts {
		o(b)
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.m = newMetrics(b.reg)
	for _, k := range cfg.Kinds {
		b.kinds[k] = true
	}
	b.feed = sip.NewFeed[sip.DialogEvent](sip.FeedConfig{Name: "cluster", Logger: b.log})
	nc, err := nats.Connect(cfg.URL,
		nats.Name("palio "+cfg.Cluster+"/"+cfg.Node),
		nats.NoEcho(), // our own messages never come back
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectBufSize(1<<20),
		nats.Timeout(2*time.Second),
		nats.PingInterval(2*time.Second),
		nats.MaxPingsOutstanding(2),
		nats.ConnectHandler(b.onConnect),
		nats.ReconnectHandler(b.onReconnect),
		nats.DisconnectErrHandler(b.onDisconnect),
		nats.ErrorHandler(b.onError),
	)
	if err != nil {
		return nil, fmt.Errorf("cluster: connecting to %s: %w", Redact(cfg.URL), err)
	}
	b.nc = nc
	if b.sub, err = nc.Subscribe(b.subject, b.onMessage); err != nil {
		nc.Close()
		return nil, fmt.Errorf("cluster: subscribing to %s: %w", b.subject, err)
	}
	_ = b.sub.SetPendingLimits(64*1024, 64<<20)
	if err := b.serveHangups(); err != nil {
		nc.Close()
		return nil, err
	}
	if nc.IsConnected() {
		b.m.connected.Set(1)
	} else {
		b.log.Warn("cluster: NATS not reachable yet; retrying in the background", "url", Redact(cfg.URL))
	}
	b.wg.Add(2)
	go b.publisher()
	go b.ticker()
	b.requestSync() // the other nodes' calls already up
	if table != nil {
		b.unfollow = table.Subscribe(b.onLocal, sip.SubscriberName("cluster"))
	}
	b.log.Info("cluster: dialog events shared", "node", cfg.Node, "subject", b.subject, "url", Redact(cfg.URL))
	return b, nil
}

// Subscribe registers fn for the dialog events of the other nodes of the
// cluster, from now on, and returns the function that removes it. The
// events carry a sip.Dialog as the other node's table had it and a call
// record of their own (CallInfo's caller, callee, class and number; a
// trace line naming the node). fn runs as a sip.Dialogs subscriber does:
// by default synchronously, on the Bus's delivery goroutine, where it
// must be quick; sip.Async(n) gives it a goroutine and a queue of its own.
//
// A subscriber that comes after the Bus has heard of other nodes' calls
// gets their present state first (an event per call, of the kind its
// state implies, as after a snapshot), so that subscribing late misses
// nothing: a busy lamp lit by a call up before is lit.
func (b *Bus) Subscribe(fn func(sip.DialogEvent), opts ...sip.SubscribeOption) (unsubscribe func()) {
	b.inMu.Lock()
	defer b.inMu.Unlock()
	var first []sip.DialogEvent
	b.eachLive(func(_ string, ev sip.DialogEvent) { first = append(first, ev) })
	return b.feed.SubscribeAfter(first, fn, opts...)
}

// eachLive calls fn with every call of the other nodes not yet ended, as
// an event of its present state and the node holding it. The caller holds
// inMu.
func (b *Bus) eachLive(fn func(node string, ev sip.DialogEvent)) {
	for _, n := range b.nodes {
		for _, w := range n.dialogs {
			state, ok := states[w.State]
			if !ok || state == sip.DialogTerminated {
				continue
			}
			if ev, ok := w.decode(n.name, stateKind(state)); ok {
				fn(n.name, ev)
			}
		}
	}
}

// Subject returns the NATS subject of the cluster's dialog events.
func (b *Bus) Subject() string { return b.subject }

// Node returns this node's name.
func (b *Bus) Node() string { return b.cfg.Node }

// Connected reports whether the Bus is connected to NATS now.
func (b *Bus) Connected() bool { return b.nc.IsConnected() }

// Ready waits until the Bus is connected to NATS and its subscription is
// in place at the server (events published by others from then on reach
// it), or ctx ends.
func (b *Bus) Ready(ctx context.Context) error {
	for {
		if b.nc.IsConnected() {
			fctx, cancel := context.WithTimeout(ctx, time.Second)
			err := b.nc.FlushWithContext(fctx)
			cancel()
			if err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: not connected to NATS at %s: %w", Redact(b.cfg.URL), ctx.Err())
		case <-b.done:
			return errors.New("cluster: closed")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Close stops following the local table, publishes what is queued (a
// closing server's last events: its calls ending), waits up to a second
// for NATS to take it, closes the connection and stops the subscribers.
// The other nodes take this node's calls as ended when they see its
// terminated events or, failing that, after NodeTimeout.
func (b *Bus) Close() {
	b.once.Do(func() {
		if b.unfollow != nil {
			b.unfollow()
		}
		b.closeHangups()
		b.outMu.Lock()
		b.closed = true
		b.outMu.Unlock()
		close(b.done)
		b.wg.Wait()
		if b.nc.IsConnected() {
			_ = b.nc.FlushTimeout(time.Second)
		}
		b.nc.Close()
		b.feed.Close()
		b.m.connected.Set(0)
	})
}

// onLocal is the local table's subscriber: it runs on the call's
// goroutine, with the dialog locked, so it only copies and queues.
func (b *Bus) onLocal(ev sip.DialogEvent) {
	if ev.Kind < 0 || int(ev.Kind) >= len(b.kinds) || !b.kinds[ev.Kind] {
		return
	}
	w := encodeEvent(ev)
	now := time.Now()
	b.outMu.Lock()
	defer b.outMu.Unlock()
	if b.closed {
		return
	}
	k := w.key()
	if ev.Dialog.State == sip.DialogTerminated {
		delete(b.local, k)
	} else {
		s := w
		s.Kind, s.Leg = "", nil
		b.local[k] = s
	}
	b.seq++
	b.enqueue(&message{V: wireVersion, Node: b.cfg.Node, Inst: b.inst, Seq: b.seq, Type: typeEvent, Time: now.UnixNano(), Event: &w}, now)
}

// enqueue queues m without waiting. A dropped event or snapshot makes a
// snapshot due: the receivers will see the gap and get the state.
// b.outMu is held.
func (b *Bus) enqueue(m *message, now time.Time) bool {
	select {
	case b.q <- m:
		return true
	default:
	}
	b.m.dropped.WithLabelValues(dropQueue).Inc()
	if m.Type == typeEvent || m.Type == typeSnapshot {
		b.snapDue = true
	}
	if now.Sub(b.dropLog) >= time.Second {
		b.dropLog = now
		b.log.Warn("cluster: publish queue full, dialog events dropped; the other nodes will get a snapshot", "queue", cap(b.q))
	}
	return false
}

// snapshotLocked queues a snapshot of the local dialogs when the queue
// has room (else it stays due). b.outMu is held: no event can come
// between the state it copies and its place in the queue.
func (b *Bus) snapshotLocked(now time.Time) {
	if b.closed || len(b.q) == cap(b.q) {
		return
	}
	dialogs := make([]wireDialog, 0, len(b.local))
	for _, w := range b.local {
		dialogs = append(dialogs, w)
	}
	b.seq++
	b.snapDue = false
	b.lastSnap = now
	b.enqueue(&message{V: wireVersion, Node: b.cfg.Node, Inst: b.inst, Seq: b.seq, Type: typeSnapshot, Time: now.UnixNano(), Dialogs: dialogs}, now)
}

// snapshot sends a snapshot now, or at the next heartbeat when one went
// less than minGap ago.
func (b *Bus) snapshot() {
	now := time.Now()
	b.outMu.Lock()
	defer b.outMu.Unlock()
	b.snapDue = true
	if now.Sub(b.lastSnap) >= minGap {
		b.snapshotLocked(now)
	}
}

// requestSync asks the other nodes for snapshots, now or at the next
// heartbeat when it asked less than minGap ago.
func (b *Bus) requestSync() {
	now := time.Now()
	b.outMu.Lock()
	defer b.outMu.Unlock()
	b.syncDue = true
	if now.Sub(b.lastSync) >= minGap {
		b.syncLocked(now)
	}
}

func (b *Bus) syncLocked(now time.Time) {
	if b.closed {
		return
	}
	if b.enqueue(&message{V: wireVersion, Node: b.cfg.Node, Inst: b.inst, Type: typeSync, Time: now.UnixNano()}, now) {
		b.syncDue = false
		b.lastSync = now
	}
}

// publisher sends the queued messages, in order, until Close; then what
// is left in the queue.
func (b *Bus) publisher() {
	defer b.wg.Done()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for {
		select {
		case m := <-b.q:
			b.send(enc, &buf, m)
		case <-b.done:
			for {
				select {
				case m := <-b.q:
					b.send(enc, &buf, m)
				default:
					return
				}
			}
		}
	}
}

// send publishes m, a snapshot in parts. nats.go copies the bytes into
// its buffer, so buf is reused.
func (b *Bus) send(enc *json.Encoder, buf *bytes.Buffer, m *message) {
	if b.sendHook != nil {
		b.sendHook()
	}
	if m.Type != typeSnapshot {
		b.publish(enc, buf, m)
		return
	}
	all := m.Dialogs
	// About 2 KB per dialog at most keeps a part within the server's
	// payload limit, should a site have lowered it.
	size := snapshotPart
	if mp := b.nc.MaxPayload(); mp > 0 {
		size = int(max(1, min(int64(snapshotPart), mp/2048)))
	}
	m.Parts = max(1, (len(all)+size-1)/size)
	for p := range m.Parts {
		m.Part = p
		m.Dialogs = all[min(p*size, len(all)):min((p+1)*size, len(all))]
		if !b.publish(enc, buf, m) {
			return
		}
	}
	b.m.snapshots.Inc()
}

func (b *Bus) publish(enc *json.Encoder, buf *bytes.Buffer, m *message) bool {
	buf.Reset()
	if err := enc.Encode(m); err != nil {
		b.log.Error("cluster: encoding a message", "error", err)
		return false
	}
	if err := b.nc.Publish(b.subject, buf.Bytes()); err != nil {
		b.m.dropped.WithLabelValues(dropPublish).Inc()
		if m.Type == typeEvent || m.Type == typeSnapshot {
			b.outMu.Lock()
			b.snapDue = true
			b.outMu.Unlock()
		}
		b.log.Debug("cluster: publish failed", "type", m.Type, "error", err)
		return false
	}
	if m.Type == typeEvent {
		b.m.published.Inc()
	}
	return true
}

// ticker sends the heartbeats (and the snapshots and requests that were
// held back) and ends the calls of silent nodes, until Close.
func (b *Bus) ticker() {
	defer b.wg.Done()
	t := time.NewTicker(b.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-b.done:
			return
		case now := <-t.C:
			b.heartbeat(now)
			b.expire(now)
		}
	}
}

func (b *Bus) heartbeat(now time.Time) {
	b.outMu.Lock()
	defer b.outMu.Unlock()
	if b.closed {
		return
	}
	if b.snapDue && now.Sub(b.lastSnap) >= minGap {
		b.snapshotLocked(now)
	}
	if b.syncDue && now.Sub(b.lastSync) >= minGap {
		b.syncLocked(now)
	}
	b.enqueue(&message{V: wireVersion, Node: b.cfg.Node, Inst: b.inst, Seq: b.seq, Type: typeHeartbeat, Time: now.UnixNano()}, now)
}

// The connection's callbacks run on nats.go's callback goroutine.

func (b *Bus) onConnect(*nats.Conn) {
	b.m.connected.Set(1)
	b.log.Info("cluster: connected to NATS", "url", Redact(b.cfg.URL))
	b.requestSync()
}

func (b *Bus) onReconnect(*nats.Conn) {
	b.m.connected.Set(1)
	b.m.reconnects.Inc()
	b.log.Info("cluster: reconnected to NATS", "url", Redact(b.cfg.URL))
	// While we were away the others may have missed our events, and we
	// theirs.
	b.requestSync()
	b.snapshot()
}

func (b *Bus) onDisconnect(_ *nats.Conn, err error) {
	b.m.connected.Set(0)
	select {
	case <-b.done:
		return // our own Close
	default:
	}
	b.log.Warn("cluster: disconnected from NATS; calls go on, other nodes' calls are not seen until it is back", "error", err)
}

func (b *Bus) onError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrSlowConsumer) && sub != nil {
		// Dropped counts since the subscription began.
		if d, derr := sub.Dropped(); derr == nil {
			if prev := b.slowDropped.Swap(int64(d)); int64(d) > prev {
				b.m.dropped.WithLabelValues(dropSlow).Add(float64(int64(d) - prev))
			}
		}
		b.log.Warn("cluster: too slow for the other nodes' events; some were dropped (a snapshot will follow)", "error", err)
		return
	}
	b.log.Warn("cluster: NATS error", "error", err)
}
