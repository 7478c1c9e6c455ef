package ng

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/palio-voip/palio/mediabridge"
)

// Command is one ng request, with the keys this package understands read
// out of its dictionary.
type Command struct {
	// Name is the command: ping, offer, answer, delete, query,
	// statistics.
	Name string
	// CallID, FromTag and ToTag identify the call and its two ends; an
	// offer comes from FromTag, its answer from ToTag.
	CallID, FromTag, ToTag string
	// SDP is the body of an offer or answer.
	SDP []byte
	// Flags, Replace and Direction are rtpengine's lists of the same
	// names; ICE is "remove" (the default here), "force" or "", as
	// rtpengine says.
	Flags, Replace, Direction []string
	ICE                       string
	// Raw is the whole dictionary, for keys not read into fields.
	Raw Dict
}

// Totals are the packets and bytes a call relayed, per protocol, as a
// delete or query reports them.
type Totals struct {
	RTP, RTCP Counters
}

// Counters count relayed traffic.
type Counters struct {
	Packets, Bytes, Errors uint64
}

// Statistics are the relay's totals, for the statistics command.
type Statistics struct {
	// Sessions is the number of calls open now.
	Sessions uint64
	// RelayedPackets and RelayedPacketErrors count since the start.
	RelayedPackets, RelayedPacketErrors uint64
}

// Engine does what the commands ask: the relay behind the protocol.
// Methods are called one at a time.
type Engine interface {
	// Offer anchors the offer's streams and returns the SDP for the
	// other end.
	Offer(ctx context.Context, cmd Command) (sdp []byte, err error)
	// Answer anchors the answer's streams and returns the SDP for the
	// offerer.
	Answer(ctx context.Context, cmd Command) (sdp []byte, err error)
	// Delete ends the call (or, with a to-tag, one end of it) and
	// returns what it relayed.
	Delete(ctx context.Context, cmd Command) (Totals, error)
	// Query returns what a call has relayed so far.
	Query(ctx context.Context, cmd Command) (Totals, error)
	// Statistics returns the relay's totals.
	Statistics() Statistics
}

// ErrNotFound is what an Engine returns for a call it does not have; the
// reply says "Unknown call-id", as rtpengine's does.
var ErrNotFound = errors.New("ng: unknown call-id")

// Server answers ng requests over UDP: "COOKIE d...e" datagrams, each
// answered with "COOKIE d...e". A request that comes again with a cookie
// already answered (the controller retransmitted it) gets the same reply
// without being done twice.
type Server struct {
	// Engine does the commands.
	Engine Engine
	// Log receives one line per failed command (nil: discarded).
	Log *slog.Logger
	// ReplyCache is how long replies are kept for retransmissions
	// (default 30 s); at most MaxCached are kept (default 65536).
	ReplyCache time.Duration
	MaxCached  int

	mu     sync.Mutex
	cache  map[string]cached
	order  []string // cookies in arrival order: a ring of at most MaxCached
	next   int
	closed bool
	conn   net.PacketConn
}

type cached struct {
	reply []byte
	at    time.Time
}

// maxDatagram is the largest request read: an SDP of many streams fits
// well within it.
const maxDatagram = 65535

// Serve answers the requests arriving on conn until ctx ends or Close is
// called; it closes conn when it returns. Requests are handled one at a
// time, in order, on the calling goroutine.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	if s.Engine == nil {
		return errors.New("ng: Server.Engine is nil")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.Close()
		return net.ErrClosed
	}
	s.conn = conn
	if s.cache == nil {
		s.cache = make(map[string]cached)
	}
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("ng: %w", err)
		}
		if reply := s.Handle(ctx, buf[:n]); reply != nil {
			conn.WriteTo(reply, from)
		}
	}
}

// Close stops Serve.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.conn != nil {
		return s.conn.Close()
	}
	return nil
}

// Handle answers one request datagram; nil means no reply (a datagram
// without a cookie).
func (s *Server) Handle(ctx context.Context, msg []byte) []byte {
	sp := -1
	for i, c := range msg {
		if c == ' ' {
			sp = i
			break
		}
	}
	if sp <= 0 {
		return nil
	}
	cookie := string(msg[:sp])
	if r, ok := s.cached(cookie); ok {
		return r
	}
	reply := s.do(ctx, msg[sp+1:])
	out := make([]byte, 0, len(cookie)+1+64)
	out = append(out, cookie...)
	out = append(out, ' ')
	out, err := Append(out, reply)
	if err != nil {
		out = append(out[:len(cookie)+1], "d6:result5:error12:error-reason19:cannot encode replye"...)
	}
	s.remember(cookie, out)
	return out
}

// do runs one command and returns its reply dictionary.
func (s *Server) do(ctx context.Context, body []byte) Dict {
	v, _, err := Decode(body)
	if err != nil {
		return errorReply(err)
	}
	d, ok := v.(Dict)
	if !ok {
		return errorReply(errors.New("ng: the request is not a dictionary"))
	}
	cmd := Command{
		Name: d.String("command"), CallID: d.String("call-id"), FromTag: d.String("from-tag"), ToTag: d.String("to-tag"),
		SDP: []byte(d.String("sdp")), Flags: d.Strings("flags"), Replace: d.Strings("replace"),
		Direction: d.Strings("direction"), ICE: d.String("ICE"), Raw: d,
	}
	switch cmd.Name {
	case "ping":
		return Dict{"result": "pong"}
	case "statistics":
		st := s.Engine.Statistics()
		return Dict{"result": "ok", "statistics": Dict{
			"currentstatistics": Dict{"sessionstotal": st.Sessions},
			"totalstatistics":   Dict{"relayedpackets": st.RelayedPackets, "relayedpacketerrors": st.RelayedPacketErrors},
		}}
	case "offer", "answer":
		if cmd.CallID == "" || cmd.FromTag == "" || len(cmd.SDP) == 0 || (cmd.Name == "answer" && cmd.ToTag == "") {
			return errorReply(fmt.Errorf("ng: %s needs call-id, from-tag%s and sdp", cmd.Name, map[bool]string{true: ", to-tag"}[cmd.Name == "answer"]))
		}
		f := s.Engine.Offer
		if cmd.Name == "answer" {
			f = s.Engine.Answer
		}
		sdp, err := f(ctx, cmd)
		if err != nil {
			s.logFailure(cmd, err)
			return errorReply(err)
		}
		return Dict{"result": "ok", "sdp": string(sdp)}
	case "delete", "query":
		if cmd.CallID == "" {
			return errorReply(fmt.Errorf("ng: %s needs call-id", cmd.Name))
		}
		f := s.Engine.Delete
		if cmd.Name == "query" {
			f = s.Engine.Query
		}
		t, err := f(ctx, cmd)
		if err != nil {
			if !errors.Is(err, ErrNotFound) {
				s.logFailure(cmd, err)
			}
			return errorReply(err)
		}
		return Dict{"result": "ok", "totals": Dict{"RTP": counters(t.RTP), "RTCP": counters(t.RTCP)}}
	case "":
		return errorReply(errors.New("ng: no command"))
	default:
		return errorReply(fmt.Errorf("ng: unsupported command %q", cmd.Name))
	}
}

func counters(c Counters) Dict {
	return Dict{"packets": c.Packets, "bytes": c.Bytes, "errors": c.Errors}
}

func errorReply(err error) Dict {
	reason := err.Error()
	switch {
	case errors.Is(err, ErrNotFound):
		reason = "Unknown call-id"
	case errors.Is(err, mediabridge.ErrNoPorts):
		reason = "Ran out of ports"
	}
	return Dict{"result": "error", "error-reason": reason}
}

func (s *Server) logFailure(cmd Command, err error) {
	if s.Log != nil {
		s.Log.Warn("ng: command failed", "command", cmd.Name, "call_id", cmd.CallID, "error", err)
	}
}

// cached returns the reply already sent for cookie, if it is still kept.
func (s *Server) cached(cookie string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cache[cookie]
	if !ok || time.Since(c.at) > s.ttl() {
		return nil, false
	}
	return c.reply, true
}

func (s *Server) ttl() time.Duration {
	if s.ReplyCache > 0 {
		return s.ReplyCache
	}
	return 30 * time.Second
}

// remember keeps reply for cookie, dropping the oldest when the ring is
// full, so that the cache is bounded whatever the request rate.
func (s *Server) remember(cookie string, reply []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		s.cache = make(map[string]cached)
	}
	max := s.MaxCached
	if max <= 0 {
		max = 65536
	}
	if len(s.order) < max {
		s.order = append(s.order, cookie)
	} else {
		delete(s.cache, s.order[s.next])
		s.order[s.next] = cookie
		s.next = (s.next + 1) % max
	}
	s.cache[cookie] = cached{reply: reply, at: time.Now()}
}
