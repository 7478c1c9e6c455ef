package cluster

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/palio-voip/palio/sip"
)

// Config says which NATS server carries the dialog events, which cluster
// they belong to and which node this is. Zero values take the defaults
// noted.
type Config struct {
	// URL is the NATS server ("nats://127.0.0.1:4222"), or several,
	// comma-separated, for a NATS cluster. Credentials in a URL
	// ("nats://palio:secret@nats1:4222") are used; "tls://" asks for TLS.
	URL string
	// Cluster names the group of nodes that share their events: they go
	// to the subject "palio.<Cluster>.dialog", so several clusters can
	// share one NATS server. Letters, digits, '-' and '_'. Default
	// "default".
	Cluster string
	// Node names this node, unique within the cluster: every event
	// carries it, and presence stores it as the owner of the
	// subscriptions the node accepted (active_watchers.sharing_tag).
	// Letters, digits, '.', '-' and '_', at most 32. Required.
	Node string
	// Queue bounds the events waiting to be published. A call's goroutine
	// never waits for NATS: when the queue is full the event is dropped,
	// counted (palio_cluster_events_dropped_total{reason="queue"}) and
	// the other nodes are sent this node's whole state once the queue
	// has room again. Default 4096.
	Queue int
	// Heartbeat is how often the bus tells the other nodes it is alive,
	// with the sequence number of its latest event, so that a lost last
	// event is noticed too. Default 1 s.
	Heartbeat time.Duration
	// NodeTimeout is how long a node may stay silent before its calls are
	// taken as ended (each gets a terminated event here): a node that
	// died, or a NATS link that broke, leaves no lamp lit for longer.
	// Default 5 s; at least twice Heartbeat.
	NodeTimeout time.Duration
	// Kinds are the events this node publishes. Default: the state
	// changes (sip.EventCreated, EventEarly, EventConfirmed,
	// EventTerminated), which busy lamps and the live calls list need;
	// add EventBranchStarted and EventBranchEnded for per-gateway counts.
	Kinds []sip.EventKind
}

var (
	nodeName    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)
	clusterName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// defaultKinds are the events published unless Config.Kinds says
// otherwise: the dialog's state changes.
var defaultKinds = []sip.EventKind{sip.EventCreated, sip.EventEarly, sip.EventConfirmed, sip.EventTerminated}

// Check reports what is wrong with c, naming the field: a missing or
// malformed URL, a node or cluster name that is not a plain token, a
// negative size or duration, a NodeTimeout shorter than two heartbeats.
// Zero values are fine (they take the defaults).
func (c Config) Check() error {
	if strings.TrimSpace(c.URL) == "" {
		return errors.New("cluster: URL is empty: want a NATS server, e.g. nats://127.0.0.1:4222")
	}
	for _, u := range strings.Split(c.URL, ",") {
		u = strings.TrimSpace(u)
		raw := u
		if !strings.Contains(u, "://") {
			raw = "nats://" + u
		}
		p, err := url.Parse(raw)
		if err != nil || p.Host == "" || p.Path != "" && p.Path != "/" {
			return fmt.Errorf("cluster: URL %q: want nats://host:port", redact(u))
		}
		switch p.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("cluster: URL %q: scheme %q, want nats, tls, ws or wss", redact(u), p.Scheme)
		}
	}
	if err := CheckNode(c.Node); err != nil {
		return err
	}
	if c.Cluster != "" && !clusterName.MatchString(c.Cluster) {
		return fmt.Errorf("cluster: Cluster %q: want letters, digits, '-' or '_' (it is a NATS subject token)", c.Cluster)
	}
	if c.Queue < 0 || c.Heartbeat < 0 || c.NodeTimeout < 0 {
		return errors.New("cluster: Queue, Heartbeat and NodeTimeout must not be negative")
	}
	d := c.withDefaults()
	if d.NodeTimeout < 2*d.Heartbeat {
		return fmt.Errorf("cluster: NodeTimeout %v is shorter than two heartbeats (%v)", d.NodeTimeout, d.Heartbeat)
	}
	for _, k := range c.Kinds {
		if k < sip.EventCreated || k > sip.EventTerminated {
			return fmt.Errorf("cluster: Kinds: unknown event kind %d", int(k))
		}
	}
	return nil
}

// CheckNode reports whether name can name a node: 1 to 32 letters,
// digits, '.', '-' or '_', starting with a letter or digit (it is also
// the owner of the node's presence subscriptions, sharing_tag).
func CheckNode(name string) error {
	if !nodeName.MatchString(name) {
		return fmt.Errorf("cluster: Node %q: want a name of 1 to 32 letters, digits, '.', '-' or '_', unique in the cluster", name)
	}
	return nil
}

// withDefaults returns c with its zero values replaced by the defaults.
func (c Config) withDefaults() Config {
	c.Cluster = cmp.Or(c.Cluster, "default")
	c.Queue = cmp.Or(c.Queue, 4096)
	c.Heartbeat = cmp.Or(c.Heartbeat, time.Second)
	c.NodeTimeout = cmp.Or(c.NodeTimeout, 5*time.Second)
	if len(c.Kinds) == 0 {
		c.Kinds = defaultKinds
	}
	c.Kinds = slices.Clone(c.Kinds)
	return c
}

// Subject returns the NATS subject the cluster's dialog events go to:
// "palio.<Cluster>.dialog".
func (c Config) Subject() string {
	return "palio." + cmp.Or(c.Cluster, "default") + ".dialog"
}

// redact hides the password of a URL for messages.
func redact(u string) string {
	raw := u
	if !strings.Contains(u, "://") {
		raw = "nats://" + u
	}
	p, err := url.Parse(raw)
	if err != nil || p.User == nil {
		if i := strings.LastIndexByte(u, '@'); i >= 0 {
			return "…@" + u[i+1:]
		}
		return u
	}
	if _, ok := p.User.Password(); ok {
		p.User = url.UserPassword(p.User.Username(), "xxxxx")
	}
	return p.String()
}

// Redact returns url with the password of each of its URLs masked, for
// logs and printed configurations.
func Redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		parts[i] = redact(strings.TrimSpace(u))
	}
	return strings.Join(parts, ",")
}
