package trunkcount

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/palio-voip/palio/routing"
)

// Counter is a routing.ChannelCounter over Redis: one node's view of the
// cluster's trunk channel counts. Reserve and Report are each one Lua
// script, so one round trip (two the first time after Redis lost its
// script cache). Counter never retries: the Router's timeout and its
// fallback to the node's own counts decide what a failure means.
type Counter struct {
	cfg    Config
	rdb    *redis.Client
	log    *slog.Logger
	m      *metrics
	nodes  string
	alarms string
	trunk  string
	expiry string
	keep   string

	closeOnce sync.Once
}

var _ routing.ChannelCounter = (*Counter)(nil)

// Option configures a Counter.
type Option func(*Counter)

// WithLogger sets the logger (default: none).
func WithLogger(l *slog.Logger) Option {
	return func(c *Counter) {
		if l != nil {
			c.log = l
		}
	}
}

// WithRegisterer registers the palio_trunkcount_* metrics on reg
// (default: not registered).
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(c *Counter) { c.m = newMetrics(reg) }
}

// New returns the counter of node cfg.Node. It does not connect: the
// first request does, and a Redis that is down makes requests fail until
// it is back (the Router counts on its own meanwhile). Close releases the
// connections.
func New(cfg Config, opts ...Option) (*Counter, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	o, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("trunkcount: %w", err)
	}
	o.MaxRetries = -1              // the Router decides, on the hot path
	o.ContextTimeoutEnabled = true // the Router's deadline bounds each request
	o.DisableIdentity = true
	o.Protocol = 2
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	o.DialTimeout = time.Second
	// Connections ready for a burst of calls: dialing one costs a round
	// trip more than the Router's deadline may allow.
	o.MinIdleConns = 4
	p := "palio:{" + cfg.Cluster + "}:"
	c := &Counter{
		cfg:    cfg,
		rdb:    redis.NewClient(o),
		log:    slog.New(slog.DiscardHandler),
		nodes:  p + "nodes",
		alarms: p + "alarms",
		trunk:  p + "trunk:",
		expiry: strconv.FormatInt(cfg.Expiry.Milliseconds(), 10),
		keep:   strconv.FormatInt(max(time.Hour, 10*cfg.Expiry).Milliseconds(), 10),
	}
	for _, opt := range opts {
		opt(c)
	}
	if c.m == nil {
		c.m = newMetrics(nil)
	}
	return c, nil
}

// Ping checks that Redis answers, and loads the scripts so that the first
// call is one round trip.
func (c *Counter) Ping(ctx context.Context) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("trunkcount: %w", err)
	}
	for _, s := range []*redis.Script{reserveScript, reportScript} {
		if err := s.Load(ctx, c.rdb).Err(); err != nil {
			return fmt.Errorf("trunkcount: load script: %w", err)
		}
	}
	return nil
}

// Reserve implements routing.ChannelCounter.
func (c *Counter) Reserve(ctx context.Context, seq int64, counts []routing.TrunkCount) (int, int, error) {
	start := time.Now()
	keys := make([]string, 1, 1+len(counts))
	keys[0] = c.nodes
	args := make([]any, 3, 3+3*len(counts))
	args[0], args[1], args[2] = c.cfg.Node, strconv.FormatInt(seq, 10), c.expiry
	for _, tc := range counts {
		keys = append(keys, c.trunk+tc.Key())
		args = append(args, tc.Channels, tc.Used, tc.Calls)
	}
	v, err := reserveScript.Run(ctx, c.rdb, keys, args...).Int64Slice()
	c.m.observe(opReserve, start, err)
	if err != nil {
		return 0, 0, fmt.Errorf("trunkcount: reserve: %w", err)
	}
	if len(v) != 2 {
		return 0, 0, fmt.Errorf("trunkcount: reserve: got %d values, want 2", len(v))
	}
	return int(v[0]), int(v[1]), nil
}

// Report implements routing.ChannelCounter.
func (c *Counter) Report(ctx context.Context, seq int64, counts []routing.TrunkCount) ([]routing.TrunkTotal, error) {
	start := time.Now()
	keys := make([]string, 2, 2+len(counts))
	keys[0], keys[1] = c.nodes, c.alarms
	args := make([]any, 4, 4+4*len(counts))
	args[0], args[1], args[2], args[3] = c.cfg.Node, strconv.FormatInt(seq, 10), c.expiry, c.keep
	for _, tc := range counts {
		keys = append(keys, c.trunk+tc.Key())
		args = append(args, tc.Channels, tc.AlarmAt, tc.Used, tc.Calls)
	}
	res, err := reportScript.Run(ctx, c.rdb, keys, args...).Slice()
	c.m.observe(opReport, start, err)
	if err != nil {
		return nil, fmt.Errorf("trunkcount: report: %w", err)
	}
	if len(res) != len(counts) {
		return nil, fmt.Errorf("trunkcount: report: got %d totals, want %d", len(res), len(counts))
	}
	out := make([]routing.TrunkTotal, len(res))
	for i, r := range res {
		row, ok := r.([]any)
		if !ok || len(row) != 4 {
			return nil, errors.New("trunkcount: report: malformed reply")
		}
		var n [4]int64
		for j, x := range row {
			if n[j], ok = x.(int64); !ok {
				return nil, errors.New("trunkcount: report: malformed reply")
			}
		}
		out[i] = routing.TrunkTotal{Used: int(n[0]), Calls: int(n[1]), Alarm: n[2] == 1, Changed: n[3] == 1}
	}
	return out, nil
}

// Close takes the node out of the cluster's counts at once (a node that
// stops cleanly has no calls left) and closes the connections.
func (c *Counter) Close() error {
	var err error
	c.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if e := c.rdb.ZRem(ctx, c.nodes, c.cfg.Node).Err(); e != nil {
			c.log.Warn("trunkcount: leaving the cluster's counts", "error", e)
		}
		err = c.rdb.Close()
	})
	return err
}
