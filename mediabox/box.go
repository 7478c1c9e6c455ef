package mediabox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/mediabox/internal/sipclose"
	"github.com/palio-voip/palio/presence"
)

// Config is the media box's set-up. Zero fields take the defaults named.
type Config struct {
	// Listen is the UDP address the box answers on (default
	// 127.0.0.1:5080, where the router's media gateway points).
	Listen string
	// Router is the router's SIP address (host:port, default
	// 127.0.0.1:5060): the calls the box places go there.
	Router string
	// Domain is the SIP domain of the accounts (the mailboxes' domain
	// for the message-waiting lamps, and the From host of placed calls).
	Domain string
	// RTPPortMin and RTPPortMax bound the box's RTP ports (default
	// 30000–32767, below Linux's ephemeral range). diago keeps the range
	// process-wide: the last box started sets it.
	RTPPortMin, RTPPortMax int
	// MaxCalls bounds the calls served at once (default 200); more are
	// answered 503 with Retry-After.
	MaxCalls int
	// MaxMessage bounds a voicemail message's length (default 2m), and
	// MaxMessages a mailbox's count (default 100).
	MaxMessage  time.Duration
	MaxMessages int
	// MinMessage is the shortest recording kept as a message (default
	// 1s): a caller who hangs up at the tone leaves none.
	MinMessage time.Duration
	// Spool is the folder of the voicemail messages and greetings, one
	// sub-folder per mailbox. Voicemail needs it.
	Spool string
	// Prompts are the site's prompts (NAME.wav), added to and replacing
	// the defaults; nil keeps the defaults.
	Prompts fs.FS
	// RingTimeout is how long a transfer rings before the caller hears
	// "unavailable" (default 30s).
	RingTimeout time.Duration
	// MediaTimeout hangs up a call from which no RTP has come for that
	// long (default 60s): a caller whose BYE was lost, or whose phone
	// died, does not hold a place in a queue or a port for an hour.
	MediaTimeout time.Duration
	// SMTP sends the voicemail e-mail notifications (off when Addr is
	// empty).
	SMTP SMTPConfig
}

// SMTPConfig is the mail server voicemail notifications go through.
type SMTPConfig struct {
	// Addr is the server's host:port ("" turns notifications off).
	Addr string
	// From is the sender address.
	From string
	// Timeout bounds one delivery (default 30s).
	Timeout time.Duration
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:5080"
	}
	if c.Router == "" {
		c.Router = "127.0.0.1:5060"
	}
	if c.Domain == "" {
		c.Domain, _, _ = net.SplitHostPort(c.Router)
	}
	if c.RTPPortMin == 0 && c.RTPPortMax == 0 {
		c.RTPPortMin, c.RTPPortMax = 30000, 32767
	}
	if c.MaxCalls == 0 {
		c.MaxCalls = 200
	}
	if c.MaxMessage == 0 {
		c.MaxMessage = 2 * time.Minute
	}
	if c.MaxMessages == 0 {
		c.MaxMessages = 100
	}
	if c.MinMessage == 0 {
		c.MinMessage = time.Second
	}
	if c.RingTimeout == 0 {
		c.RingTimeout = 30 * time.Second
	}
	if c.MediaTimeout == 0 {
		c.MediaTimeout = 60 * time.Second
	}
	if c.SMTP.Timeout == 0 {
		c.SMTP.Timeout = 30 * time.Second
	}
	return c
}

// Check reports why c (with its defaults) cannot run a box.
func (c Config) Check() error {
	c = c.withDefaults()
	if _, err := netip.ParseAddrPort(c.Listen); err != nil {
		return fmt.Errorf("mediabox: listen %q: want IP:port", c.Listen)
	}
	if _, _, err := net.SplitHostPort(c.Router); err != nil {
		return fmt.Errorf("mediabox: router %q: want host:port", c.Router)
	}
	if c.RTPPortMin < 1024 || c.RTPPortMax > 65535 || c.RTPPortMax-c.RTPPortMin < 3 {
		return fmt.Errorf("mediabox: RTP ports %d-%d: want a range of at least 4 ports within 1024-65535", c.RTPPortMin, c.RTPPortMax)
	}
	if c.MaxCalls < 1 || c.MaxCalls > 10000 {
		return fmt.Errorf("mediabox: max calls %d: want 1 to 10000", c.MaxCalls)
	}
	if c.MaxMessage < 5*time.Second || c.MaxMessage > time.Hour {
		return fmt.Errorf("mediabox: max message %s: want 5s to 1h", c.MaxMessage)
	}
	if c.MediaTimeout < time.Second || c.MediaTimeout > time.Hour {
		return fmt.Errorf("mediabox: media timeout %s: want 1s to 1h", c.MediaTimeout)
	}
	if c.MinMessage < 0 || c.MinMessage >= c.MaxMessage {
		return fmt.Errorf("mediabox: min message %s: want less than the max message %s", c.MinMessage, c.MaxMessage)
	}
	if c.MaxMessages < 1 || c.MaxMessages > 10000 {
		return fmt.Errorf("mediabox: max messages %d: want 1 to 10000", c.MaxMessages)
	}
	if c.SMTP.Addr != "" {
		if _, _, err := net.SplitHostPort(c.SMTP.Addr); err != nil {
			return fmt.Errorf("mediabox: smtp %q: want host:port", c.SMTP.Addr)
		}
		if !strings.Contains(c.SMTP.From, "@") {
			return fmt.Errorf("mediabox: smtp from %q: want an address", c.SMTP.From)
		}
	}
	return nil
}

// MWI is where the box publishes a mailbox's message counts for the
// message-waiting lamps: the presence server (which NOTIFYs the
// mailbox's watchers) and its store (palio_mwi, which other nodes
// reload). presence.MailboxStore and *presence.Presence are MWIs.
type MWI interface {
	PutMailbox(ctx context.Context, m presence.Mailbox) error
}

// Option configures a Box.
type Option func(*Box)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(b *Box) { b.log = l } }

// WithRegisterer registers the box's metrics on r.
func WithRegisterer(r prometheus.Registerer) Option { return func(b *Box) { b.reg = r } }

// WithMWI publishes the mailboxes' counts to each sink, in order, on
// every change.
func WithMWI(sinks ...MWI) Option { return func(b *Box) { b.mwi = append(b.mwi, sinks...) } }

// Box is a running media box: a SIP user agent on diago answering the
// router's calls to IVR_, VM_, VOICEMAIL, QUEUE_, AGENTIN_/AGENTOUT_ and
// FAX_ names.
type Box struct {
	cfg     Config
	store   Store
	prompts *Prompts
	log     *slog.Logger
	reg     prometheus.Registerer
	m       *metrics
	mwi     []MWI

	ua     *sipgo.UserAgent
	dg     *diago.Diago
	router sipmsg.Uri

	mu      sync.Mutex
	calls   map[*call]struct{}
	closing bool
	wg      sync.WaitGroup // calls
	cancel  context.CancelFunc
	served  <-chan error  // diago's Serve ended: the listener's reader stopped
	gate    sipclose.Gate // the listener's, shut by Close

	// placing tracks the calls the box placed that outlive the call
	// they were for (a ring-all round's losing legs, ended in the
	// background); closed ends their wait for an answer. Close waits
	// for them once the calls have ended.
	placing    sync.WaitGroup
	closed     context.Context
	endPlacing context.CancelFunc

	mailer  *mailer
	queues  *queues
	mailbox keyedMutex // one recording or menu change per mailbox at a time
}

// New checks cfg, loads the prompts and builds a box over store; Start
// makes it answer.
func New(cfg Config, store Store, opts ...Option) (*Box, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	b := &Box{cfg: cfg, store: store, log: slog.Default(), calls: map[*call]struct{}{}}
	for _, o := range opts {
		o(b)
	}
	b.m = newMetrics(b.reg)
	prompts, err := LoadPrompts(cfg.Prompts)
	if err != nil {
		return nil, err
	}
	b.prompts = prompts
	host, port, _ := net.SplitHostPort(cfg.Router)
	b.router = sipmsg.Uri{Host: host}
	b.router.Port, _ = strconv.Atoi(port)
	if cfg.Spool != "" {
		if err := os.MkdirAll(cfg.Spool, 0o750); err != nil {
			return nil, fmt.Errorf("mediabox: spool: %w", err)
		}
	}
	b.mailer = newMailer(cfg.SMTP, b.log, b.m)
	b.queues = newQueues()
	b.closed, b.endPlacing = context.WithCancel(context.Background())
	return b, nil
}

// Start listens on cfg.Listen and serves calls until Close. It returns
// once the listener is up.
func (b *Box) Start(ctx context.Context) error {
	ap, _ := netip.ParseAddrPort(b.cfg.Listen)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("mediabox"),
		sipgo.WithUserAgentTransportLayerOptions(sipmsg.WithTransportLayerReadFilter(b.gate.Filter)))
	if err != nil {
		return fmt.Errorf("mediabox: %w", err)
	}
	setRTPPorts(b.cfg.RTPPortMin, b.cfg.RTPPortMax)
	b.ua = ua
	b.dg = diago.NewDiago(ua,
		diago.WithLogger(b.log.With("component", "diago")),
		diago.WithTransport(diago.Transport{Transport: "udp", BindHost: ap.Addr().String(), BindPort: int(ap.Port())}),
	)
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.cancel = cancel
	// diago's Serve returns once the listener's reader has stopped
	// (its socket closed): Close waits for that.
	served := make(chan error, 1)
	b.served = served
	go func() {
		served <- b.dg.Serve(sctx, b.serve)
		close(served) // later receives (Close after a failed Start) see nil
	}()
	if err := waitServing(ctx, ua, b.cfg.Listen, served); err != nil {
		b.Close()
		return err
	}
	for _, err := range b.CheckData(ctx) {
		b.log.Error("mediabox: a prompt of the store's data is missing", "error", err)
	}
	b.log.Info("mediabox: listening", "addr", b.cfg.Listen, "router", b.cfg.Router, "prompts", len(b.prompts.Names()))
	return nil
}

// waitServing waits until ua's listener on addr carries requests
// (WaitListening), or reports why serving stopped first.
func waitServing(ctx context.Context, ua *sipgo.UserAgent, addr string, served <-chan error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan error, 1)
	go func() { ready <- WaitListening(ctx, ua, addr) }()
	select {
	case err := <-ready:
		return err
	case err := <-served:
		cancel()
		<-ready
		if err == nil {
			err = errors.New("listener stopped")
		}
		return fmt.Errorf("mediabox: listen %s: %w", addr, err)
	}
}

// Addr is the address the box answers on.
func (b *Box) Addr() string { return b.cfg.Listen }

// Prompts is the box's prompt set.
func (b *Box) Prompts() *Prompts { return b.prompts }

// Close stops answering, hangs up the calls in progress, waits for them
// (and the calls they placed) to end, sends the queued e-mail (bounded by the SMTP timeout) and
// releases the listener.
func (b *Box) Close() error {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return nil
	}
	b.closing = true
	for c := range b.calls {
		c.cancel()
	}
	b.mu.Unlock()
	b.wg.Wait()
	// No call is left to place more: end the ringing legs' waits.
	b.endPlacing()
	b.placing.Wait()
	// Nothing the box sent awaits an answer now: take the listener down,
	// leaving sipgo no way to open a socket for a late answer or request
	// (sipclose: a request read as the listener closes would otherwise
	// be answered from a socket sipgo opens, with a reader nothing stops).
	if b.ua != nil {
		b.gate.Close(b.ua, b.cfg.Listen, func() { b.cancel(); <-b.served })
	}
	b.mailer.close()
	return nil
}

// admit registers a new call, or says why it is refused.
func (b *Box) admit(c *call) (reason string, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closing:
		return "closing", false
	case len(b.calls) >= b.cfg.MaxCalls:
		return "busy", false
	}
	b.calls[c] = struct{}{}
	b.wg.Add(1)
	b.m.active.Inc()
	return "", true
}

func (b *Box) release(c *call) {
	b.mu.Lock()
	delete(b.calls, c)
	b.mu.Unlock()
	b.m.active.Dec()
	b.wg.Done()
}

// Calls is how many calls the box is serving.
func (b *Box) Calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.calls)
}

// serve is diago's handler: one call, from INVITE to its end.
func (b *Box) serve(d *diago.DialogServerSession) {
	ctx, cancel := context.WithCancel(d.Context())
	defer cancel()
	c := &call{box: b, d: d, ctx: ctx, cancel: cancel}
	c.callee = d.InviteRequest.Recipient.User
	c.caller = d.InviteRequest.From().Address.User
	c.log = b.log.With("callid", d.InviteRequest.CallID().Value(), "ruri", c.callee, "from", c.caller)
	if reason, ok := b.admit(c); !ok {
		b.m.refused.WithLabelValues(reason).Inc()
		hdr := sipmsg.NewHeader("Retry-After", "30")
		_ = d.Respond(sipmsg.StatusServiceUnavailable, "Service Unavailable", nil, hdr)
		c.log.Warn("mediabox: call refused", "reason", reason)
		return
	}
	defer b.release(c)
	if err := c.run(); err != nil && !errors.Is(err, errHungUp) && ctx.Err() == nil {
		c.log.Warn("mediabox: call ended on error", "error", err)
	}
	c.stopReading()
	c.hangupCaller()
}

// hangupCaller sends the caller's BYE before the call counts as ended,
// and ends the dialog here if the BYE got no answer (the caller gone).
// diago would otherwise send a BYE itself once serve returns, outside the
// calls Close waits for: after the listener had closed, sipgo would bind a
// fresh socket to the box's port for it, and nothing would close that
// socket or its reader.
func (c *call) hangupCaller() {
	st := c.d.LoadState()
	if st < sipmsg.DialogStateEstablished || st == sipmsg.DialogStateEnded {
		return // no 2xx sent, or over already
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), 2*time.Second)
	defer cancel()
	// sipgo's Bye waits for the ACK of a 2xx not yet acknowledged.
	if err := c.d.DialogServerSession.Bye(hctx); err != nil && c.d.LoadState() != sipmsg.DialogStateEnded {
		c.log.Info("mediabox: BYE to the caller failed; the call ends here", "error", err)
	}
	if c.d.LoadState() != sipmsg.DialogStateEnded {
		endLocally(c.d.DialogServerSession)
	}
}

// endLocally marks d ended without sending anything, as a BYE received
// would: sipgo has no other way to end a server dialog whose peer is
// gone. The BYE it reads is the INVITE's, one CSeq on.
func endLocally(d *sipgo.DialogServerSession) {
	bye := d.InviteRequest.Clone()
	bye.Method = sipmsg.BYE
	bye.SetBody(nil)
	if cseq := bye.CSeq(); cseq != nil {
		cseq.SeqNo++
		cseq.MethodName = sipmsg.BYE
	}
	_ = d.ReadBye(bye, localEnd{})
}

// localEnd is the server transaction of a BYE endLocally makes up: its
// 200 goes nowhere. Only Respond is ever called on it.
type localEnd struct{ sipmsg.ServerTransaction }

func (localEnd) Respond(*sipmsg.Response) error { return nil }

// app is what a media box name selects.
type app struct {
	kind string // ivr, voicemail, voicemail-menu, queue, agentin, agentout, fax
	arg  string
}

// VoicemailMenu is the Request-URI user of the voicemail menu.
const VoicemailMenu = "VOICEMAIL"

// parseApp reads the Request-URI user.
func parseApp(user string) (app, bool) {
	if user == VoicemailMenu {
		return app{kind: "voicemail-menu"}, true
	}
	for _, p := range []struct{ prefix, kind string }{
		{"IVR_", "ivr"}, {"VM_", "voicemail"}, {"QUEUE_", "queue"},
		{"AGENTIN_", "agentin"}, {"AGENTOUT_", "agentout"}, {"FAX_", "fax"},
	} {
		if arg, ok := strings.CutPrefix(user, p.prefix); ok && arg != "" {
			return app{kind: p.kind, arg: arg}, true
		}
	}
	return app{}, false
}

// run dispatches the call to its application.
func (c *call) run() error {
	a, ok := parseApp(c.callee)
	if !ok {
		c.box.m.refused.WithLabelValues("unknown").Inc()
		return c.d.Respond(sipmsg.StatusNotFound, "Not Found", nil)
	}
	switch a.kind {
	case "fax":
		// diago speaks neither T.38 nor a fax modem over G.711: refuse
		// plainly rather than answer a fax machine with silence.
		c.box.m.refused.WithLabelValues("fax").Inc()
		c.log.Warn("mediabox: fax refused: the built-in media box has no T.38 or fax modem; route FAX_ to a fax server (see the mediabox README)", "fax", a.arg)
		return c.d.Respond(sipmsg.StatusNotAcceptableHere, "Not Acceptable Here", nil,
			sipmsg.NewHeader("Warning", `399 palio-mediabox "fax is not supported by this media box"`))
	case "ivr":
		menu, err := c.box.store.Menu(c.ctx, a.arg)
		if errors.Is(err, ErrNotFound) {
			c.box.m.refused.WithLabelValues("unknown").Inc()
			return c.d.Respond(sipmsg.StatusNotFound, "Not Found", nil)
		}
		if err != nil {
			return c.fail(err)
		}
		c.box.m.calls.WithLabelValues("ivr").Inc()
		if err := c.answer(); err != nil {
			return err
		}
		return c.runActions(Action{Kind: GoMenu, Arg: menu.ID})
	case "voicemail":
		box, err := c.box.store.Mailbox(c.ctx, a.arg)
		if errors.Is(err, ErrNotFound) || (err == nil && c.box.cfg.Spool == "") {
			c.box.m.refused.WithLabelValues("unknown").Inc()
			return c.d.Respond(sipmsg.StatusNotFound, "Not Found", nil)
		}
		if err != nil {
			return c.fail(err)
		}
		c.box.m.calls.WithLabelValues("voicemail").Inc()
		if err := c.answer(); err != nil {
			return err
		}
		return c.leaveMessage(box)
	case "voicemail-menu":
		c.box.m.calls.WithLabelValues("voicemail-menu").Inc()
		if err := c.answer(); err != nil {
			return err
		}
		return c.voicemailMenu()
	case "queue":
		q, err := c.box.store.Queue(c.ctx, a.arg)
		if errors.Is(err, ErrNotFound) {
			c.box.m.refused.WithLabelValues("unknown").Inc()
			return c.d.Respond(sipmsg.StatusNotFound, "Not Found", nil)
		}
		if err != nil {
			return c.fail(err)
		}
		c.box.m.calls.WithLabelValues("queue").Inc()
		if err := c.answer(); err != nil {
			return err
		}
		return c.runActions(Action{Kind: GoQueue, Arg: q.ID})
	default: // agentin, agentout
		c.box.m.calls.WithLabelValues("agent").Inc()
		if err := c.answer(); err != nil {
			return err
		}
		return c.agent(a.arg, a.kind == "agentin")
	}
}

// fail answers 500 for a store error before the call was answered.
func (c *call) fail(err error) error {
	_ = c.d.Respond(sipmsg.StatusInternalServerError, "Server Error", nil)
	return err
}

// WaitListening waits until ua's UDP listener on addr can carry the
// requests ua sends: sipgo reports a listener ready a moment before its
// connection joins the pool the client side sends from, and a request
// sent in that moment fails to bind the same address.
func WaitListening(ctx context.Context, ua *sipgo.UserAgent, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		if c, err := ua.TransportLayer().GetConnection("udp", addr); err == nil && c != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("mediabox: listener %s not ready: %w", addr, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

var rtpPortsMu sync.Mutex

// SetRTPPorts sets diago's process-wide RTP port range, writing it only
// when it changes. Box.Start sets its own; a process that also runs other
// diago agents (a test's phones) calls it first, with the boxes' range,
// so that no box writes the range while an agent reads it.
func SetRTPPorts(lo, hi int) { setRTPPorts(lo, hi) }

func setRTPPorts(lo, hi int) {
	rtpPortsMu.Lock()
	defer rtpPortsMu.Unlock()
	if media.RTPPortStart != lo || media.RTPPortEnd != hi {
		media.RTPPortStart, media.RTPPortEnd = lo, hi
	}
}

// CheckData reports what in the store the box cannot play: a menu's
// prompt or a queue's music missing from its prompt set (Start logs
// each as an error: calls reaching them hear "unavailable", or the
// default music).
func (b *Box) CheckData(ctx context.Context) []error {
	var errs []error
	menus, err := b.store.Menus(ctx)
	if err != nil {
		return []error{err}
	}
	for _, m := range menus {
		if err := b.prompts.CheckMenu(m); err != nil {
			errs = append(errs, err)
		}
	}
	queues, err := b.store.Queues(ctx)
	if err != nil {
		return append(errs, err)
	}
	for _, q := range queues {
		if err := b.prompts.CheckQueue(q); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
