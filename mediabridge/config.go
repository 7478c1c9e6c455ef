package mediabridge

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultPortMin        = 20000
	DefaultPortMax        = 29999
	DefaultNoMediaTimeout = 60 * time.Second
	DefaultHoldTimeout    = time.Hour
	DefaultOfferTimeout   = 3 * time.Minute
	DefaultOneWayAfter    = 10 * time.Second
)

// Config configures a Relay. Zero durations and ports take the defaults;
// only Bind is required.
type Config struct {
	// Bind is the address relay sockets bind to. An unspecified address
	// (0.0.0.0, ::) binds every interface and then requires Advertise.
	// Its family is the family of every socket: an IPv6 Bind reaches IPv4
	// peers through v4-mapped addresses, an IPv4 Bind refuses IPv6 peers.
	Bind netip.Addr
	// Advertise is the address written into the SDP that peers receive
	// (Stream.Local), for a relay behind 1:1 NAT (default Bind).
	Advertise netip.Addr
	// PortMin and PortMax bound the ports, inclusive (default 20000 to
	// 29999). Streams take even/odd pairs (RTP on the even port, RTCP on
	// the next, RFC 3550 §11), two pairs per stream. Keep the range below
	// 32768, clear of Linux's ephemeral range (32768–60999), or binds fail
	// when outgoing sockets hold its ports.
	PortMin, PortMax int
	// NoMediaTimeout ends a session whose streams received no packet in
	// either direction for this long (default 60 s), counted from the
	// answer (both legs of a stream known) or from the last packet.
	NoMediaTimeout time.Duration
	// HoldTimeout replaces NoMediaTimeout for a stream one of whose legs
	// is on hold (Stream.Hold), which may legitimately be silent
	// (default 1 h).
	HoldTimeout time.Duration
	// OfferTimeout ends a session no stream of which got both legs' peers
	// (an offer never answered) within this time of its creation
	// (default 3 min).
	OfferTimeout time.Duration
	// OneWayAfter is how long one direction of a stream must stay silent
	// while the other flows before the stream counts as one-way audio in
	// its statistics (default 10 s).
	OneWayAfter time.Duration
	// StrictSource accepts a leg's packets only from the IP address its
	// SDP announced (Stream.SetPeer); the port may differ. Off by default,
	// because NATed phones send from their NAT's public address.
	StrictSource bool
	// Workers is the number of poller goroutines (each one an epoll set;
	// while idle it is parked in Go's netpoller and holds no thread),
	// default GOMAXPROCS. Streams are spread over them.
	Workers int
}

func (c *Config) setDefaults() {
	if !c.Advertise.IsValid() {
		c.Advertise = c.Bind
	}
	if c.PortMin == 0 && c.PortMax == 0 {
		c.PortMin, c.PortMax = DefaultPortMin, DefaultPortMax
	}
	if c.NoMediaTimeout == 0 {
		c.NoMediaTimeout = DefaultNoMediaTimeout
	}
	if c.HoldTimeout == 0 {
		c.HoldTimeout = DefaultHoldTimeout
	}
	if c.OfferTimeout == 0 {
		c.OfferTimeout = DefaultOfferTimeout
	}
	if c.OneWayAfter == 0 {
		c.OneWayAfter = DefaultOneWayAfter
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
}

// Check reports what New would refuse in c, without opening anything:
// for a configuration checked before it is used.
func (c Config) Check() error {
	c.setDefaults()
	return c.validate()
}

// validate checks a Config after setDefaults.
func (c *Config) validate() error {
	switch {
	case !c.Bind.IsValid():
		return errors.New("mediabridge: config: Bind: required")
	case c.Bind.Zone() != "":
		return fmt.Errorf("mediabridge: config: Bind %s: zoned addresses are not supported", c.Bind)
	case c.Advertise.IsUnspecified():
		return fmt.Errorf("mediabridge: config: Advertise: required when Bind is %s (peers cannot send to an unspecified address)", c.Bind)
	case c.Bind.Is4() && c.Advertise.Is6() && !c.Advertise.Is4In6():
		return fmt.Errorf("mediabridge: config: Advertise %s is IPv6 but Bind %s is IPv4", c.Advertise, c.Bind)
	case c.PortMin < 1 || c.PortMin > 65535:
		return fmt.Errorf("mediabridge: config: PortMin %d: out of 1-65535", c.PortMin)
	case c.PortMax < 1 || c.PortMax > 65535:
		return fmt.Errorf("mediabridge: config: PortMax %d: out of 1-65535", c.PortMax)
	case c.PortMin > c.PortMax:
		return fmt.Errorf("mediabridge: config: PortMin %d above PortMax %d", c.PortMin, c.PortMax)
	case pairCount(c.PortMin, c.PortMax) < 2:
		return fmt.Errorf("mediabridge: config: ports %d-%d: a stream needs two even/odd pairs (four ports from an even one)", c.PortMin, c.PortMax)
	case c.NoMediaTimeout < 0:
		return fmt.Errorf("mediabridge: config: NoMediaTimeout %v: negative", c.NoMediaTimeout)
	case c.HoldTimeout < 0:
		return fmt.Errorf("mediabridge: config: HoldTimeout %v: negative", c.HoldTimeout)
	case c.OfferTimeout < 0:
		return fmt.Errorf("mediabridge: config: OfferTimeout %v: negative", c.OfferTimeout)
	case c.OneWayAfter < 0:
		return fmt.Errorf("mediabridge: config: OneWayAfter %v: negative", c.OneWayAfter)
	case c.Workers < 0 || c.Workers > 256:
		return fmt.Errorf("mediabridge: config: Workers %d: out of 1-256", c.Workers)
	}
	return nil
}

// sweepInterval is how often the sweeper checks timeouts: every second,
// or more often when a timeout is short (tests), so that a timeout fires
// at most a quarter late.
func (c *Config) sweepInterval() time.Duration {
	d := time.Second
	for _, t := range []time.Duration{c.NoMediaTimeout, c.HoldTimeout, c.OfferTimeout} {
		if t/4 < d {
			d = t / 4
		}
	}
	return max(d, 10*time.Millisecond)
}

// Option configures a Relay.
type Option func(*Relay)

// WithLogger sets the logger (default: none). Sessions ending by timeout
// log at Info, port exhaustion and bind failures at Warn.
func WithLogger(l *slog.Logger) Option {
	return func(r *Relay) {
		if l != nil {
			r.log = l
		}
	}
}

// WithRegisterer registers the palio_mediabridge_* metrics on reg
// (default: not registered). Register one Relay per registerer.
func WithRegisterer(reg prometheus.Registerer) Option { return func(r *Relay) { r.reg = reg } }

// WithEndHandler sets a function called once for every session that the
// Relay ends by itself (a timeout), after its ports are released, with
// the session and the reason (ErrNoMedia, ErrHoldTimeout,
// ErrOfferTimeout): the SIP side tears the call down there (BYE). It runs
// on the sweeper goroutine: it must not block for long, nor call
// Relay.Close. Sessions ended by
// Session.Close or Relay.Close do not call it.
func WithEndHandler(f func(s *Session, reason error)) Option {
	return func(r *Relay) { r.onEnd = f }
}
