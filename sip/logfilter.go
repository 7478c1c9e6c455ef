package sip

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	sipmsg "github.com/emiago/sipgo/sip"
)

// inputLog keeps what a sender controls out of the log: sipgo logs an
// unparsable message whole, at Error and without its source (200 datagrams
// of 60 KB a second wrote 60 MB in 5 s), and a few more of its Error lines
// fire once per bad packet or connection. inputLog turns the first into one
// bounded Warn line per source and second, carrying the source address for
// fail2ban, and bounds and rate-limits the others.
type inputLog struct {
	log   *slog.Logger
	m     *metrics
	reads recentReads
	src   sourceLimiter
	lines lineLimiter
	// answer, when set, answers an unparsable UDP request (Server.
	// answerMalformed): its data, where it came from and the listener it
	// came to.
	answer func(data []byte, src, local net.Addr) bool
}

func newInputLog(log *slog.Logger, m *metrics) *inputLog {
	in := &inputLog{log: log, m: m}
	in.reads.seed = maphash.MakeSeed()
	in.src.seed = maphash.MakeSeed()
	return in
}

// Kinds of per-source Warn lines; each is rate-limited on its own.
const (
	kindUnparsable uint8 = iota + 1
	kindRefused
	kindTimeout
)

// Bounds of what is logged.
const (
	reasonLen     = 80          // a parser error in an unparsable-message line
	attrLen       = 200         // any string in a line of sipgo's
	lineInterval  = time.Second // per source and kind, or per sipgo message
	globalRate    = 20          // per-source lines a second over all sources
	sourceSlots   = 1024        // sources remembered by the rate limiter
	lineKinds     = 256         // distinct sipgo messages remembered
	recentEntries = 256         // reads remembered to find an unparsable message's source
)

// filter wraps sipgo's read filter: it notes the source of every read that
// sipgo goes on to parse (a UDP datagram, a chunk of a stream), so that a
// parse failure, which sipgo logs without it, can be traced back.
func (in *inputLog) filter(next sipmsg.TransportReadFilter) sipmsg.TransportReadFilter {
	return func(p sipmsg.TransportReadProps, data []byte) ([]byte, error) {
		out, err := next(p, data)
		if err == nil && len(out) > 0 {
			in.reads.put(out, p.RemoteAddr, p.LocalAddr)
		}
		return out, err
	}
}

// handler is the slog.Handler sipgo logs through: Warn and above, with
// parse failures replaced (see unparsable), the known-benign lines at
// Debug (demoteBenign), and every other line bounded (strings cut to 200
// bytes, no "data") and limited to one a second per message, with a count
// of those suppressed.
func (in *inputLog) handler(next slog.Handler) slog.Handler {
	return &libHandler{next: demoteBenign(next), in: in}
}

type libHandler struct {
	next      slog.Handler
	in        *inputLog
	transport string // from sipgo's "caller" attribute: "udp", "tcp", …
}

// Enabled admits Warn and above whatever the next handler's level: parse
// failures are counted even when nothing is logged.
func (h *libHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *libHandler) WithAttrs(as []slog.Attr) slog.Handler {
	t := h.transport
	bounded := make([]slog.Attr, 0, len(as))
	for _, a := range as {
		if a.Key == "caller" {
			if tr := transportOf(a.Value.String()); tr != "" {
				t = tr
			}
		}
		if a.Key != "data" {
			bounded = append(bounded, boundAttr(a))
		}
	}
	return &libHandler{next: h.next.WithAttrs(bounded), in: h.in, transport: t}
}

func (h *libHandler) WithGroup(name string) slog.Handler {
	return &libHandler{next: h.next.WithGroup(name), in: h.in, transport: h.transport}
}

func (h *libHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "failed to parse" {
		var data, reason string
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "data":
				data = a.Value.String()
			case "error":
				reason = a.Value.String()
			}
			return true
		})
		h.in.unparsable(h.transport, data, reason)
		return nil
	}
	if !h.next.Enabled(ctx, r.Level) || (benign(r.Message) && !h.next.Enabled(ctx, slog.LevelDebug)) {
		return nil // the benign ones go at Debug (demoteBenign, in front of next)
	}
	ok, suppressed := h.in.lines.allow(r.Message, monoNow())
	if !ok {
		h.in.m.logSuppressed.Inc()
		return nil
	}
	nr := slog.NewRecord(r.Time, r.Level, shorten(r.Message, attrLen), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "data" {
			nr.AddAttrs(boundAttr(a))
		}
		return true
	})
	if suppressed > 0 {
		nr.AddAttrs(slog.Int("suppressed", suppressed))
	}
	return h.next.Handle(ctx, nr)
}

// transportOf maps sipgo's "Transport<UDP>" to "udp".
func transportOf(caller string) string {
	switch caller {
	case "Transport<UDP>":
		return "udp"
	case "Transport<TCP>":
		return "tcp"
	case "Transport<TLS>":
		return "tls"
	case "Transport<WS>":
		return "ws"
	case "Transport<WSS>":
		return "wss"
	}
	return ""
}

// unparsable counts a message sipgo could not parse and logs it as one
// line: src, transport, len and the parser's reason cut to 80 bytes. Never
// the message itself.
func (in *inputLog) unparsable(transport, data, reason string) {
	src, local := in.reads.find(data)
	in.unparsableFrom(transport, src, len(data), reason)
	if transport == "udp" && src != nil && local != nil && in.answer != nil {
		in.answer([]byte(data), src, local)
	}
}

// unparsableFrom is unparsable for a message whose source is known (the
// stateless REGISTER path parses its datagrams itself).
func (in *inputLog) unparsableFrom(transport string, src net.Addr, n int, reason string) {
	if transport == "" {
		transport = "other"
	}
	in.m.unparsable.WithLabelValues(transport).Inc()
	in.sourceWarn(kindUnparsable, src, "sip: unparsable message",
		slog.String("transport", transport), slog.Int("len", n), slog.String("reason", shorten(reason, reasonLen)))
}

// sourceWarn logs msg at Warn with src first and the count of lines of
// this kind and source suppressed since the last one last, at most once a
// second per source and kind (and globalRate a second in all).
func (in *inputLog) sourceWarn(kind uint8, src net.Addr, msg string, attrs ...slog.Attr) {
	ap := addrPortOf(src)
	ok, suppressed := in.src.allow(ap.Addr(), kind, monoNow())
	if !ok {
		in.m.logSuppressed.Inc()
		return
	}
	s := "unknown"
	if ap.IsValid() {
		s = ap.String()
	}
	all := make([]slog.Attr, 0, len(attrs)+2)
	all = append(all, slog.String("src", s))
	all = append(all, attrs...)
	all = append(all, slog.Int("suppressed", suppressed))
	in.log.LogAttrs(context.Background(), slog.LevelWarn, msg, all...)
}

// limitedWarn logs msg at Warn at most once a second.
func (in *inputLog) limitedWarn(msg string, attrs ...slog.Attr) {
	ok, suppressed := in.lines.allow(msg, monoNow())
	if !ok {
		in.m.logSuppressed.Inc()
		return
	}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", suppressed))
	}
	in.log.LogAttrs(context.Background(), slog.LevelWarn, msg, attrs...)
}

// addrPorter is a net.Addr that has its address and port at hand:
// *net.UDPAddr, *net.TCPAddr and the raw UDP socket's *udpPeer.
type addrPorter interface{ AddrPort() netip.AddrPort }

func addrPortOf(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case nil:
		return netip.AddrPort{}
	case addrPorter:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// shorten cuts s to at most n bytes of valid UTF-8 with control characters
// replaced, adding "…" when it cut.
func shorten(s string, n int) string {
	cut := len(s) > n
	if cut {
		s = s[:n]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	clean := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			clean = false
			break
		}
	}
	if !clean || !utf8.ValidString(s) {
		s = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f || r == utf8.RuneError {
				return '?'
			}
			return r
		}, s)
	}
	if cut {
		s += "…"
	}
	return s
}

// boundAttr cuts the strings of a (errors and Stringers included) to attrLen.
func boundAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if s := v.String(); len(s) > attrLen {
			a.Value = slog.StringValue(shorten(s, attrLen))
		}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			a.Value = slog.StringValue(shorten(x.Error(), attrLen))
		case fmt.Stringer:
			a.Value = slog.StringValue(shorten(x.String(), attrLen))
		case []byte:
			a.Value = slog.IntValue(len(x)) // never a payload
		}
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, 0, len(g))
		for _, ga := range g {
			if ga.Key != "data" {
				out = append(out, boundAttr(ga))
			}
		}
		a.Value = slog.GroupValue(out...)
	}
	return a
}

// recentReads remembers the source of recent reads by a fingerprint of
// their content (length, first and last 32 bytes): sipgo logs a parse
// failure with the data it read but not where from, on the goroutine that
// read it, right after the read filter saw the same bytes. A slot is
// overwritten only by a read with the same slot index in between: a miss
// then logs src=unknown.
type recentReads struct {
	seed  maphash.Seed
	slots [recentEntries]readSlot
}

type readSlot struct {
	mu         sync.Mutex
	fp         uint64
	src, local net.Addr
}

func (r *recentReads) put(data []byte, src, local net.Addr) {
	n := len(data)
	k := min(n, 32)
	fp := maphash.Bytes(r.seed, data[:k])*31 ^ maphash.Bytes(r.seed, data[n-k:]) ^ uint64(n)
	s := &r.slots[fp%recentEntries]
	s.mu.Lock()
	s.fp, s.src, s.local = fp, src, local
	s.mu.Unlock()
}

// find returns the source and the local address of the read whose data
// this was, or nils when it is no longer remembered.
func (r *recentReads) find(data string) (src, local net.Addr) {
	n := len(data)
	k := min(n, 32)
	fp := maphash.String(r.seed, data[:k])*31 ^ maphash.String(r.seed, data[n-k:]) ^ uint64(n)
	s := &r.slots[fp%recentEntries]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fp != fp {
		return nil, nil
	}
	return s.src, s.local
}

// sourceLimiter allows one line a second per source and kind, and
// globalRate lines a second in all (spoofed UDP sources are free). Its
// memory is a fixed table: a source that collides with another takes its
// slot, and the other's suppressed count is lost (the metrics still count
// every event).
type sourceLimiter struct {
	seed maphash.Seed

	mu     sync.Mutex
	slots  [sourceSlots]sourceSlot
	tokens float64
	filled int64 // when tokens was last topped up
}

type sourceSlot struct {
	used       bool
	ip         netip.Addr
	kind       uint8
	next       int64 // no line before then
	suppressed int
}

func (l *sourceLimiter) allow(ip netip.Addr, kind uint8, now int64) (bool, int) {
	i := l.slot(ip, kind)
	l.mu.Lock()
	defer l.mu.Unlock()
	s := &l.slots[i]
	if !s.used || s.ip != ip || s.kind != kind {
		*s = sourceSlot{used: true, ip: ip, kind: kind}
	}
	if now < s.next || !l.take(now) {
		s.suppressed++
		return false, 0
	}
	n := s.suppressed
	s.suppressed, s.next = 0, now+int64(lineInterval)
	return true, n
}

// slot is the index of ip's line of kind in l.slots.
func (l *sourceLimiter) slot(ip netip.Addr, kind uint8) uint64 {
	return (maphash.Comparable(l.seed, ip) ^ uint64(kind)*0x9e3779b97f4a7c15) % sourceSlots
}

// take takes a token of the global bucket (globalRate a second, as many
// in a burst).
func (l *sourceLimiter) take(now int64) bool {
	if l.filled == 0 {
		l.tokens = globalRate
	} else {
		l.tokens = min(globalRate, l.tokens+float64(now-l.filled)*globalRate/float64(time.Second))
	}
	l.filled = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

// lineLimiter allows one line a second per message text. It remembers at
// most lineKinds messages (sipgo's are constants) and forgets them all
// when full.
type lineLimiter struct {
	mu sync.Mutex
	m  map[string]*lineSlot
}

type lineSlot struct {
	next       int64
	suppressed int
}

func (l *lineLimiter) allow(msg string, now int64) (bool, int) {
	if len(msg) > attrLen {
		msg = msg[:attrLen]
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.m[msg]
	if s == nil {
		if l.m == nil || len(l.m) >= lineKinds {
			l.m = make(map[string]*lineSlot)
		}
		s = &lineSlot{}
		l.m[msg] = s
	}
	if now < s.next {
		s.suppressed++
		return false, 0
	}
	n := s.suppressed
	s.suppressed, s.next = 0, now+int64(lineInterval)
	return true, n
}
