package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/ipv4"

	"github.com/palio-voip/palio/internal/promreg"
)

// HEPConfig says where a HEPClient sends and how it names itself.
type HEPConfig struct {
	// Addr is the collector's "host:port" (HOMER listens on 9060).
	Addr string
	// Network is "udp" (the default: one datagram a message, as
	// Kamailio's siptrace sends) or "tcp" (OpenSIPS's default for HEP v3:
	// a connection kept open, dialled again after a failure).
	Network string
	// CaptureID is the capture agent id written in every packet
	// (OpenSIPS's hep_capture_id; HOMER shows it as the node's id).
	CaptureID uint32
	// AuthKey, when set, is the collector's password (chunk 14).
	AuthKey string
	// NodeName, when set, names this node in every packet (chunk 19).
	NodeName string
	// Queue is how many packets wait for the sender before new ones are
	// dropped (default 8192).
	Queue int
	// Timeout bounds a TCP dial and a write (default 2 s): a collector
	// that stops reading fills the queue, and packets are dropped, rather
	// than SIP waiting.
	Timeout time.Duration
}

// HEPOption configures a HEPClient.
type HEPOption func(*HEPClient)

// WithHEPLogger sets the client's logger (default slog.Default()).
func WithHEPLogger(l *slog.Logger) HEPOption { return func(h *HEPClient) { h.log = l } }

// WithHEPRegisterer registers the client's metrics (palio_sip_hep_*) with r.
func WithHEPRegisterer(r prometheus.Registerer) HEPOption {
	return func(h *HEPClient) { h.reg = r }
}

// HEPClient sends captured SIP messages to a HOMER collector as HEP v3
// packets: a Capturer for WithCapture, as OpenSIPS's proto_hep with tracer
// and Kamailio's siptrace do. CaptureSIP encodes the message into a pooled
// buffer and queues it; one goroutine sends. A full queue, a dead
// collector or a slow one drops packets (counted in
// palio_sip_hep_dropped_total), never delays SIP.
type HEPClient struct {
	cfg  HEPConfig
	log  *slog.Logger
	reg  prometheus.Registerer
	m    hepMetrics
	auth []byte
	node []byte

	queue  chan *[]byte
	bufs   sync.Pool
	closed atomic.Bool
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once

	// Sender goroutine only.
	conn      net.Conn
	pc        *ipv4.PacketConn // UDP: conn, for batches
	msgs      []ipv4.Message   // UDP: a batch
	pending   []*[]byte        // UDP: the batch's buffers
	retryAt   time.Time
	backoff   time.Duration
	batch     []byte
	lastWarn  time.Time
	warnCount int
}

var _ Capturer = (*HEPClient)(nil)

// Defaults of HEPConfig.
const (
	DefaultHEPQueue   = 8192
	DefaultHEPTimeout = 2 * time.Second
)

// Reasons a HEP packet was dropped (metric labels).
const (
	hepDropQueue = "queue-full"
	hepDropSend  = "send-error"
	hepDropSize  = "too-large"
)

// NewHEPClient checks cfg and starts the sender. A TCP collector is dialled
// when the first packet is sent, and again after a failure (with a backoff
// from 1 s to 30 s, dropping what comes meanwhile): a collector that is
// down at start does not stop the router.
func NewHEPClient(cfg HEPConfig, opts ...HEPOption) (*HEPClient, error) {
	cfg.Network = strings.ToLower(cfg.Network)
	if cfg.Network == "" {
		cfg.Network = "udp"
	}
	if cfg.Network != "udp" && cfg.Network != "tcp" {
		return nil, fmt.Errorf("sip: hep: network %q: want udp or tcp", cfg.Network)
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("sip: hep: collector address %q: %w", cfg.Addr, err)
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultHEPQueue
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultHEPTimeout
	}
	h := &HEPClient{
		cfg:   cfg,
		auth:  []byte(cfg.AuthKey),
		node:  []byte(cfg.NodeName),
		queue: make(chan *[]byte, cfg.Queue),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	h.bufs.New = func() any { b := make([]byte, 0, 2048); return &b }
	for _, o := range opts {
		o(h)
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.m = newHEPMetrics(h.reg)
	if cfg.Network == "udp" {
		// A connected UDP socket: the address is resolved once, and each
		// packet is one write.
		c, err := net.Dial("udp", cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("sip: hep: %w", err)
		}
		h.conn = c
		h.pc = ipv4.NewPacketConn(c.(*net.UDPConn)) // batches work on IPv6 sockets too: no control messages
		h.msgs = make([]ipv4.Message, hepBatch)
		for i := range h.msgs {
			h.msgs[i].Buffers = make([][]byte, 1)
		}
	}
	go h.run()
	return h, nil
}

// CaptureSIP encodes m as a HEP packet (the Call-ID as its correlation id)
// and queues it; it never blocks.
func (h *HEPClient) CaptureSIP(m Captured) {
	if h.closed.Load() {
		return
	}
	proto := uint8(HEPProtoTCP)
	if m.Network == "udp" {
		proto = HEPProtoUDP
	}
	bp := h.bufs.Get().(*[]byte)
	b, err := AppendHEP((*bp)[:0], &HEPPacket{
		Protocol:      proto,
		Src:           m.Src,
		Dst:           m.Dst,
		Time:          m.Time,
		ProtoType:     HEPTypeSIP,
		CaptureID:     h.cfg.CaptureID,
		AuthKey:       h.auth,
		CorrelationID: callIDOf(m.Data),
		NodeName:      h.node,
		Payload:       m.Data,
	})
	if err != nil {
		h.bufs.Put(bp)
		h.m.droppedSize.Inc()
		return
	}
	*bp = b
	select {
	case h.queue <- bp:
	default:
		h.bufs.Put(bp)
		h.m.droppedQueue.Inc()
	}
}

// Close stops the client: packets still queued are sent for at most the
// configured Timeout, then the connection is closed.
func (h *HEPClient) Close() error {
	h.once.Do(func() {
		h.closed.Store(true)
		close(h.stop)
		<-h.done
	})
	return nil
}

func (h *HEPClient) run() {
	defer close(h.done)
	defer func() {
		if h.conn != nil {
			h.conn.Close()
		}
	}()
	for {
		select {
		case bp := <-h.queue:
			if len(h.queue) < hepBatch-1 {
				// Let more come: one wake-up and one system call for the
				// messages of a millisecond, not one per message.
				select {
				case <-time.After(hepLinger):
				case <-h.stop:
				}
			}
			h.send(bp)
		case <-h.stop:
			deadline := time.Now().Add(h.cfg.Timeout)
			for time.Now().Before(deadline) {
				select {
				case bp := <-h.queue:
					h.send(bp)
					continue
				default:
				}
				return
			}
			return
		}
	}
}

// send writes one packet, over TCP with the packets queued behind it in
// the same write.
func (h *HEPClient) send(bp *[]byte) {
	if h.cfg.Network == "udp" {
		h.sendUDP(bp)
		return
	}
	h.batch = append(h.batch[:0], *bp...)
	h.bufs.Put(bp)
	n := 1
	for n < hepBatch && len(h.batch) < 64<<10 {
		select {
		case bp := <-h.queue:
			h.batch = append(h.batch, *bp...)
			h.bufs.Put(bp)
			n++
			continue
		default:
		}
		break
	}
	if err := h.writeTCP(h.batch); err != nil {
		h.m.droppedSend.Add(float64(n))
		h.warn("sip: hep: send failed", err)
		return
	}
	h.m.sent.Add(float64(n))
	if cap(h.batch) > 1<<20 {
		h.batch = nil
	}
}

// sendUDP sends bp and the packets queued behind it, up to 64, in one
// sendmmsg(2) where the system has it: a datagram each, one system call.
func (h *HEPClient) sendUDP(bp *[]byte) {
	h.pending = append(h.pending[:0], bp)
	for len(h.pending) < cap(h.msgs) {
		select {
		case bp := <-h.queue:
			h.pending = append(h.pending, bp)
			continue
		default:
		}
		break
	}
	msgs := h.msgs[:len(h.pending)]
	for i, bp := range h.pending {
		msgs[i].Buffers[0] = *bp
	}
	sent := 0
	var err error
	for sent < len(msgs) {
		var n int
		n, err = h.pc.WriteBatch(msgs[sent:], 0)
		if err == nil && n == 0 {
			err = errors.New("sip: hep: nothing sent")
		}
		if err != nil {
			break
		}
		sent += n
	}
	for i, bp := range h.pending {
		msgs[i].Buffers[0] = nil
		h.bufs.Put(bp)
	}
	h.m.sent.Add(float64(sent))
	if sent < len(msgs) {
		h.m.droppedSend.Add(float64(len(msgs) - sent))
		h.warn("sip: hep: send failed", err)
	}
}

// hepBatch is the most packets sent in one system call; hepLinger how
// long the sender waits for a batch to fill (the collector sees packets
// that much later, with their capture time).
const (
	hepBatch  = 64
	hepLinger = time.Millisecond
)

// errBackoff says the collector failed recently and is not dialled yet.
var errBackoff = errors.New("sip: hep: collector unreachable, waiting before dialling again")

func (h *HEPClient) writeTCP(b []byte) error {
	if h.conn == nil {
		now := time.Now()
		if now.Before(h.retryAt) {
			return errBackoff
		}
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.Timeout)
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", h.cfg.Addr)
		cancel()
		if err != nil {
			h.failed()
			return err
		}
		h.conn, h.backoff = c, 0
		// The collector says nothing on a HEP connection: a read that
		// returns means it closed, and the next write fails fast.
		go func(c net.Conn) { _, _ = c.Read(make([]byte, 1)); c.Close() }(c)
		h.log.Info("sip: hep: connected to the collector", "addr", h.cfg.Addr)
	}
	_ = h.conn.SetWriteDeadline(time.Now().Add(h.cfg.Timeout))
	if _, err := h.conn.Write(b); err != nil {
		h.conn.Close()
		h.conn = nil
		h.failed()
		return err
	}
	return nil
}

// failed sets the backoff before the next dial.
func (h *HEPClient) failed() {
	h.backoff = min(max(2*h.backoff, time.Second), 30*time.Second)
	h.retryAt = time.Now().Add(h.backoff)
}

// warn logs a send failure at most once a minute, with how many there were.
func (h *HEPClient) warn(msg string, err error) {
	h.warnCount++
	now := time.Now()
	if now.Sub(h.lastWarn) < time.Minute {
		return
	}
	if errors.Is(err, errBackoff) && h.warnCount > 1 {
		return
	}
	h.log.Warn(msg, "addr", h.cfg.Addr, "network", h.cfg.Network, "failures", h.warnCount, "error", err)
	h.lastWarn, h.warnCount = now, 0
}

// callIDOf finds the Call-ID header's value in a raw message ("Call-ID" or
// its compact form "i", any case), without parsing the rest; nil if there
// is none.
func callIDOf(msg []byte) []byte {
	// Skip the start line.
	i := bytes.IndexByte(msg, '\n')
	for i >= 0 && i+1 < len(msg) {
		line := msg[i+1:]
		end := bytes.IndexByte(line, '\n')
		if end < 0 {
			end = len(line)
		}
		line = line[:end]
		if len(line) == 0 || line[0] == '\r' {
			return nil // the end of the header
		}
		if colon := bytes.IndexByte(line, ':'); colon > 0 {
			name := trimSpace(line[:colon])
			if equalFold(name, "call-id") || equalFold(name, "i") {
				return trimSpace(line[colon+1:])
			}
		}
		i += 1 + end
	}
	return nil
}

// hepMetrics are a HEPClient's collectors.
type hepMetrics struct {
	sent    prometheus.Counter
	dropped *prometheus.CounterVec // reason
	// The dropped counters, resolved once: the capture path counts
	// without a label look-up.
	droppedQueue, droppedSend, droppedSize prometheus.Counter
}

func newHEPMetrics(reg prometheus.Registerer) hepMetrics {
	m := hepMetrics{
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palio_sip_hep_sent_total",
			Help: "HEP packets (captured SIP messages) sent to the collector.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palio_sip_hep_dropped_total",
			Help: "Captured SIP messages not sent to the collector, by reason: queue-full, send-error, too-large.",
		}, []string{"reason"}),
	}
	m.sent = promreg.Register(reg, m.sent)
	m.dropped = promreg.Register(reg, m.dropped)
	m.droppedQueue = m.dropped.WithLabelValues(hepDropQueue)
	m.droppedSend = m.dropped.WithLabelValues(hepDropSend)
	m.droppedSize = m.dropped.WithLabelValues(hepDropSize)
	return m
}
