package presence

import (
	"context"
	"errors"
	"time"
)

// Key identifies a subscription: its dialog (RFC 6665 §4.1.2), as
// OpenSIPS's active_watchers UNIQUE(callid, to_tag, from_tag) does.
type Key struct {
	CallID  string
	ToTag   string // ours, given in the 202
	FromTag string // the subscriber's
}

// Subscription is one subscription as the Store keeps it: the fields of
// OpenSIPS's active_watchers table that a notifier needs to go on sending
// NOTIFYs after a restart.
type Subscription struct {
	Key
	// PresentityURI is the watched AOR ("sip:5002@voip.unisi.it"):
	// presentity_uri.
	PresentityURI string
	// WatcherUser and WatcherDomain are the account that subscribed, as it
	// authenticated (watcher_username, watcher_domain).
	WatcherUser, WatcherDomain string
	// WatcherURI and ToURI are the URIs of the SUBSCRIBE's From and To: the
	// To and From of our NOTIFYs.
	WatcherURI, ToURI string
	// Event is the event package ("dialog") and EventID the Event header's
	// id parameter, if any (event, event_id).
	Event, EventID string
	// LocalCSeq is the CSeq of the last NOTIFY sent and RemoteCSeq that of
	// the last SUBSCRIBE received (local_cseq, remote_cseq).
	LocalCSeq, RemoteCSeq uint32
	// Contact is the subscriber's Contact, where NOTIFYs go (contact).
	Contact string
	// RouteSet is the route set of the dialog, in the order NOTIFYs carry
	// it (the SUBSCRIBE's Record-Route as received, RFC 3261 §12.1.1):
	// record_route.
	RouteSet []string
	// Received and Transport are where the SUBSCRIBE came from ("ip:port",
	// "UDP"): NOTIFYs go there when there is no route set, so that a phone
	// behind NAT gets them (socket_info, roughly).
	Received, Transport string
	// LocalContact is the Contact of our 202 and NOTIFYs (local_contact).
	LocalContact string
	// Expires is when the subscription ends unless refreshed.
	Expires time.Time
	// Version is the version the next dialog-info document gets: 0 for
	// the first, one more for each NOTIFY (RFC 4235 §4.1; version).
	Version uint32
	// Node is the node that accepted the subscription and sends its
	// NOTIFYs (Config.Node; "" for a single node): only it reloads,
	// expires and deletes it. OpenSIPS's sharing_tag.
	Node string
}

// ErrNotFound is returned by a Store for a subscription it does not have.
var ErrNotFound = errors.New("presence: subscription not found")

// Store is where subscriptions are written through, so that a restart
// reloads them (OpenSIPS's active_watchers table, or memory). The Presence
// keeps its live state in memory and reads the store only in New; it
// writes on every new subscription, refresh, NOTIFY answered 2xx and end.
type Store interface {
	// Subscriptions returns the subscriptions owned by node (Node ==
	// node; "" for those of a single node), in no particular order.
	Subscriptions(ctx context.Context, node string) ([]Subscription, error)
	// Put inserts s, or replaces the subscription with its Key (its owner
	// included).
	Put(ctx context.Context, s Subscription) error
	// Delete removes the subscription of k, or returns ErrNotFound.
	Delete(ctx context.Context, k Key) error
}
