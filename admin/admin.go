package admin

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/accounting"
	"github.com/palio-voip/palio/alias"
	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/features"
	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/permission"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
)

// Accounts is what the admin needs of the accounts' store (the
// subscriber table): sqlstore's SubscriberStore has it. Each write must
// reach the running router without a restart (sqlstore's change counter
// clears the router's account cache).
type Accounts interface {
	ListSubscribers(ctx context.Context) ([]registrar.Subscriber, error)
	// Subscriber returns the account, or an error wrapping
	// registrar.ErrNotFound.
	Subscriber(ctx context.Context, username, domain string) (registrar.Subscriber, error)
	AddSubscriber(ctx context.Context, sub registrar.Subscriber) error
	UpdateSubscriber(ctx context.Context, sub registrar.Subscriber) error
	DeleteSubscriber(ctx context.Context, username, domain string) error
	SetBlocked(ctx context.Context, username, domain string, blocked bool) error
}

// Calls is the router's live state of calls: the dialog table and the
// hang-up. DialogCalls adapts a sip.Server to it.
type Calls interface {
	// LiveCalls returns the calls in progress.
	LiveCalls(now time.Time) []accounting.LiveCall
	// Hangup ends the calls with Call-ID callID and returns how many; an
	// error wrapping sip.ErrNoDialog when there is none.
	Hangup(ctx context.Context, callID, reason string) (int, error)
}

// DialogCalls is Calls over a dialog table and what hangs up its calls
// (a *sip.Server is both: DialogCalls{Dialogs: srv.Dialogs(), Hanger: srv}).
type DialogCalls struct {
	Dialogs *sip.Dialogs
	Hanger  accounting.Hanger
}

// LiveCalls returns the table's calls in progress.
func (d DialogCalls) LiveCalls(now time.Time) []accounting.LiveCall {
	return accounting.LiveCalls(d.Dialogs, now)
}

// Hangup hangs up the calls with callID (accounting.Hangup).
func (d DialogCalls) Hangup(ctx context.Context, callID, reason string) (int, error) {
	return accounting.Hangup(ctx, d.Hanger, d.Dialogs, callID, reason)
}

// Trunks is the routing side: the gateways and carriers with their live
// usage, and the operator's switch. A *routing.Router has it.
type Trunks interface {
	Gateways() []routing.GatewayStatus
	Carriers() []routing.CarrierStatus
	// SetGatewayEnabled and SetCarrierEnabled return an error wrapping
	// routing.ErrNotFound for an unknown ID.
	SetGatewayEnabled(ctx context.Context, gwid string, enabled bool) error
	SetCarrierEnabled(ctx context.Context, id string, enabled bool) error
}

// Bans is the guard's store of bans and fraud blocks (guard.Store has
// it); a deleted ban is lifted by every node at its next reload.
type Bans interface {
	Bans(ctx context.Context) ([]guard.Ban, error)
	DeleteBan(ctx context.Context, kind guard.BanKind, subject string) error
}

// FloodSource gives the sources this node blocks for flooding now (a
// *guard.Guard's FloodBlocks): they live in the guard's memory, not in
// its store, and end with the flood.
type FloodSource interface {
	FloodBlocks() []guard.Ban
}

// FloodFunc adapts a function to FloodSource (a program whose guard is
// replaced at a reload reads the current one).
type FloodFunc func() []guard.Ban

// FloodBlocks calls f.
func (f FloodFunc) FloodBlocks() []guard.Ban { return f() }

// FeatureStore is the call services' store (features.Store has it):
// the settings and the blacklists.
type FeatureStore interface {
	Settings(ctx context.Context) ([]features.Settings, error)
	PutSettings(ctx context.Context, s features.Settings) error
	ListEntries(ctx context.Context) ([]features.ListEntry, error)
	AddListEntry(ctx context.Context, e features.ListEntry) (features.ListEntry, error)
	DeleteListEntry(ctx context.Context, id int, global bool) error
}

// DepartmentSource gives the accounts' departments
// (accounting.DepartmentStore has it).
type DepartmentSource interface {
	Departments(ctx context.Context) ([]accounting.Department, error)
}

// Config is what the admin serves. A nil source leaves its routes
// answering 501 (not configured): a program shows only what it has.
type Config struct {
	// Domain is the accounts' domain when a request names none (the
	// first of the router's domains); Realm the registrar's realm the
	// accounts' HA1 are computed with (empty: the domain).
	Domain, Realm string
	// Classes are the call classes the deployment knows: an account's
	// classes are checked against them (permission.ClassConfig.CheckAccount),
	// as the operator commands do.
	Classes permission.ClassConfig

	Accounts Accounts
	Aliases  alias.Store
	Features FeatureStore
	Calls    Calls
	Trunks   Trunks
	CDRs     accounting.Store
	Bans     Bans
	// Floods, when set, are this node's flood blocks, which GET /bans and
	// the bans page list beside the stored bans (kind "flood", no end:
	// a block lasts while the flood does, and cannot be lifted).
	Floods FloodSource
	// Locations and Devices show an account's registered contacts and
	// provisioned phones.
	Locations Locations
	Devices   Devices
	// AccountInfo keeps the accounts' owners and notes (a MemStore, or
	// sqlstore's AdminStore: the same store as the logins). Without it
	// the accounts show none, and a write giving one is 501.
	AccountInfo AccountInfoStore
	// Logins are the page's local logins. Without them (and without
	// WithoutLogin) New fails: the API is never open.
	Logins LoginStore
	// Dialplan serves the translate dry run over the running rules.
	Dialplan Dialplan
	// Rules is the dialplan's store, for editing the rules: the store
	// the router's dialplan reads (sqlstore's DialplanStore, whose change
	// counter reloads every node). When Dialplan has Reload (a
	// *dialplan.Plan), this node reloads at once after each write.
	Rules dialplan.Store
	// Directory, when set, authenticates the names that are not local
	// logins (LDAP: the staff's directory).
	Directory Directory
	// Departments, when set, are the accounts' departments the reports
	// add costs up by (sqlstore's accounting store has them).
	Departments DepartmentSource
	// Pipeline serves the route dry run over the running router's
	// pipeline.
	Pipeline Pipeline
	// Alerts, when set, is the record of the alerts raised lately (an
	// *alert.Dispatcher): the alerts page and GET /alerts show it.
	Alerts AlertSource
}

// Option configures a Handler.
type Option func(*options)

type options struct {
	log *slog.Logger
	reg prometheus.Registerer
	now func() time.Time

	noLogin    bool
	authFailed func(src netip.Addr, user, reason string)
	maxEvents  int
	heartbeat  time.Duration
}

// withEvents sets the live page's bounds, for tests.
func withEvents(max int, heartbeat time.Duration) Option {
	return func(o *options) { o.maxEvents, o.heartbeat = max, heartbeat }
}

// WithoutLogin serves every request as an administrator named "admin",
// with no login, session nor CSRF check: for tests, and for programs that
// authenticate in front of the handler. Never on an open port.
func WithoutLogin() Option { return func(o *options) { o.noLogin = true } }

// withClock sets the clock, for tests.
func withClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithRegisterer registers the admin's metrics on reg (default: none).
func WithRegisterer(reg prometheus.Registerer) Option { return func(o *options) { o.reg = reg } }

// Handler serves the admin API under /admin/api/ and the page under
// /admin/. Mount it at /admin/ on the program's HTTP server; Close ends
// its live pages' event streams.
type Handler struct {
	cfg      Config
	store    Store
	log      *slog.Logger
	now      func() time.Time
	mux      *http.ServeMux
	patterns []string
	metrics  *metrics
	noLogin  bool

	sseSlots  chan struct{}
	heartbeat time.Duration
	closed    chan struct{}
	closeOnce sync.Once
	pages     map[string]*template.Template

	sessions   *sessions
	limiter    *limiter
	authFailed func(src netip.Addr, user, reason string)
}

var _ http.Handler = (*Handler)(nil)

// New returns the admin handler over cfg's sources, keeping the notice
// and the audit log in store.
func New(cfg Config, store Store, opts ...Option) (*Handler, error) {
	if store == nil {
		return nil, errors.New("admin: no store")
	}
	o := options{log: slog.Default(), now: time.Now, maxEvents: MaxEventClients, heartbeat: EventHeartbeat}
	for _, opt := range opts {
		opt(&o)
	}
	if cfg.Logins == nil && !o.noLogin {
		return nil, errors.New("admin: no login store (Config.Logins): the API would be open")
	}
	if cfg.Realm == "" {
		cfg.Realm = cfg.Domain
	}
	h := &Handler{cfg: cfg, store: store, log: o.log, now: o.now, mux: http.NewServeMux(), metrics: newMetrics(o.reg), noLogin: o.noLogin,
		sessions: newSessions(MaxSessions), limiter: newLimiter(), authFailed: o.authFailed,
		sseSlots: make(chan struct{}, o.maxEvents), heartbeat: o.heartbeat, closed: make(chan struct{})}
	h.routes()
	if err := h.pageRoutes(); err != nil {
		return nil, err
	}
	return h, nil
}

// ServeHTTP serves the API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	_, pattern := h.mux.Handler(r)
	defer func() { h.metrics.observe(pattern, rec.code) }()
	r, ok := h.authenticate(rec, r, pattern)
	if !ok {
		return
	}
	h.mux.ServeHTTP(rec, r)
}

// statusRecorder remembers the status written.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// Flush lets server-sent events through.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
