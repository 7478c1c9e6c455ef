package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// WebhookConfig says where a Webhook posts.
type WebhookConfig struct {
	// URL receives the events (http or https).
	URL string
	// Header is added to every request (an Authorization, say).
	Header http.Header
	// Retry says how a delivery is retried (see Retry's defaults).
	Retry Retry
	// Name names the notifier (default "webhook"); set it to run several.
	Name string
	// Client makes the requests (default: a client of its own).
	Client *http.Client
}

// Webhook is a Notifier that POSTs each event as JSON to a URL:
//
//	{"kind":"trunk-near-limit","severity":"warning","time":"2026-12-04T10:00:00Z",
//	 "subject":"gw-siena-1","message":"…","fields":{"calls":"24","channels":"30"}}
//
// Any 2xx is a delivery. Connection errors, attempts without an answer
// within Retry.Timeout, 5xx and 429 are retried with backoff; other
// answers (a 400, a 404) are not.
type Webhook struct {
	cfg    WebhookConfig
	client *http.Client
}

var _ Notifier = (*Webhook)(nil)

// NewWebhook checks cfg and returns the notifier.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("alert: webhook URL %q: want http(s)://host/path", cfg.URL)
	}
	if cfg.Name == "" {
		cfg.Name = "webhook"
	}
	cfg.Retry = cfg.Retry.withDefaults()
	w := &Webhook{cfg: cfg, client: cfg.Client}
	if w.client == nil {
		w.client = &http.Client{}
	}
	return w, nil
}

// Name returns the configured name ("webhook").
func (w *Webhook) Name() string { return w.cfg.Name }

// Notify posts ev, retrying as configured.
func (w *Webhook) Notify(ctx context.Context, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("alert: webhook: %w", err)
	}
	if err := post(ctx, w.client, w.cfg.URL, w.cfg.Header, body, w.cfg.Retry, checkStatus); err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold a secret; the notifier's name says which
		}
		return fmt.Errorf("alert: webhook %s: %w", w.cfg.Name, err)
	}
	return nil
}
