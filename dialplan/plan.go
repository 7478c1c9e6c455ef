package dialplan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/snapshot"
)

// Config configures a Plan and its stage. The zero value classifies the
// Request-URI user with dpid 0 and answers 420 Invalid Destination to what
// matches no rule.
type Config struct {
	// DPID is the rule set the stage translates with.
	DPID int
	// Field is the part of the request the stage translates; the zero
	// Field is RequestURIUser.
	Field Field
	// RejectCode answers requests that match no rule (default 420).
	RejectCode int
	// RejectReason goes with RejectCode; empty means "Invalid Destination"
	// for 420 and the standard phrase for any other code.
	RejectReason string
}

// Field is the part of a request the stage translates: where the input
// comes from and where the output goes.
type Field struct {
	// Name names the field in logs.
	Name string
	// Get returns the input.
	Get func(r *sip.Request) string
	// Set writes an output that differs from the input; nil means the
	// field is only classified, never rewritten.
	Set func(r *sip.Request, v string)
}

var (
	// RequestURIUser translates the user part of the Request-URI and
	// rewrites it, as dp_translate("0", "$rU/$rU") does.
	RequestURIUser = Field{
		Name: "ruri-user",
		Get:  func(r *sip.Request) string { return r.Recipient.User },
		Set:  func(r *sip.Request, v string) { r.Recipient.User = v },
	}
	// ToUser classifies the user part of the To header. It never rewrites
	// it: a proxy does not change To (RFC 3261 §16.6).
	ToUser = Field{
		Name: "to-user",
		Get: func(r *sip.Request) string {
			if to := r.To(); to != nil {
				return to.Address.User
			}
			return ""
		},
	}
)

// Option configures a Plan.
type Option func(*Plan)

// WithLogger sets the logger (default: none). Reloads log at Info,
// discarded rules and failed reloads at Warn, translations at Debug.
func WithLogger(l *slog.Logger) Option { return func(p *Plan) { p.log = l } }

// WithRegisterer registers the palio_dialplan_* metrics on reg (default:
// not registered).
func WithRegisterer(reg prometheus.Registerer) Option { return func(p *Plan) { p.reg = reg } }

// WithClock sets the clock that timerecs are checked against (default
// time.Now); for tests.
func WithClock(now func() time.Time) Option { return func(p *Plan) { p.now = now } }

// Plan is the dialplan: the current rule set of a Store, swapped whole on
// reload, and the pipeline stage that classifies calls with it.
// Translations never wait for a reload and never see a half-built set.
type Plan struct {
	cfg    Config
	store  Store
	log    *slog.Logger
	reg    prometheus.Registerer
	now    func() time.Time
	m      *metrics
	reject *sip.StatusError // a template; each rejection gets a copy

	rules snapshot.Value[RuleSet]
}

// New returns a Plan over store and loads its rules: it fails if the store
// cannot be read. Rules that cannot work are left out (see Reload).
func New(cfg Config, store Store, opts ...Option) (*Plan, error) {
	if store == nil {
		return nil, errors.New("dialplan: nil store")
	}
	if cfg.Field.Get == nil {
		if cfg.Field.Set != nil {
			return nil, errors.New("dialplan: Field has Set but no Get")
		}
		cfg.Field = RequestURIUser
	}
	if cfg.RejectCode == 0 {
		cfg.RejectCode = 420
	}
	if cfg.RejectCode < 300 || cfg.RejectCode > 699 {
		return nil, fmt.Errorf("dialplan: reject code %d: want 300..699", cfg.RejectCode)
	}
	if cfg.RejectReason == "" && cfg.RejectCode == 420 {
		cfg.RejectReason = "Invalid Destination"
	}
	p := &Plan{
		cfg:    cfg,
		store:  store,
		log:    slog.New(slog.DiscardHandler),
		now:    time.Now,
		reject: sip.Reject(cfg.RejectCode, cfg.RejectReason),
	}
	for _, o := range opts {
		o(p)
	}
	p.m = newMetrics(p.reg)
	if _, err := p.Reload(context.Background()); err != nil {
		return nil, err
	}
	return p, nil
}

// Reload reads every rule from the store, compiles them and swaps the new
// set in. Rules that cannot work are left out, each logged with its id and
// reason and listed in the report; the others load. If the store fails, the
// current set stays and the error says why.
//
// One reload runs at a time. A Reload called while another runs waits for
// it to finish, then loads afresh, so that it sees every change made before
// it was called; it gives up with ctx's error if ctx ends first.
func (p *Plan) Reload(ctx context.Context) (Report, error) {
	start := time.Now()
	var rep Report
	err := p.rules.Reload(ctx, func(ctx context.Context) (*RuleSet, error) {
		rules, err := p.store.Rules(ctx)
		if err != nil {
			return nil, err
		}
		var rs *RuleSet
		rs, rep = Compile(rules)
		return rs, nil
	})
	if err != nil {
		p.m.reloadError.Inc()
		kept := 0
		if rs := p.rules.Load(); rs != nil {
			kept = rs.Len()
		}
		p.log.Warn("dialplan: reload failed, keeping the current rules", "error", err, "rules", kept)
		return Report{}, fmt.Errorf("dialplan: reload: %w", err)
	}
	took := time.Since(start)
	rep.Took = took

	p.m.reloadOK.Inc()
	p.m.reloadSeconds.Observe(took.Seconds())
	p.m.lastReload.SetToCurrentTime()
	p.m.loaded.Set(float64(rep.Loaded))
	p.m.discarded.Set(float64(len(rep.Discarded)))
	p.m.disabled.Set(float64(rep.Disabled))
	for _, d := range rep.Discarded {
		p.log.Warn("dialplan: rule discarded", "id", d.ID, "dpid", d.DPID, "reason", d.Reason)
	}
	p.log.Info("dialplan: rules loaded", "loaded", rep.Loaded, "discarded", len(rep.Discarded),
		"disabled", rep.Disabled, "took", took)
	return rep, nil
}

// Rules returns the current rule set.
func (p *Plan) Rules() *RuleSet { return p.rules.Load() }

// Translate translates input with the current rules of dpid at the Plan's
// clock; see RuleSet.Translate.
func (p *Plan) Translate(dpid int, input string) (Result, bool) {
	res, out := p.translate(dpid, input)
	if out != outcomeMatch {
		return Result{}, false
	}
	return res, true
}

func (p *Plan) translate(dpid int, input string) (Result, outcome) {
	res, out := p.rules.Load().translate(dpid, input, p.now())
	p.m.count(res, out)
	return res, out
}

// Explain explains the translation of input with the current rules of
// dpid at the Plan's clock; see RuleSet.Explain.
func (p *Plan) Explain(dpid int, input string) Explanation {
	return p.rules.Load().Explain(dpid, input, p.now())
}
