package main

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/palio-voip/palio/alert"
	"github.com/palio-voip/palio/sip"
)

// AlertsConfig says where operator alerts go (package alert): the log
// always; a webhook and a Telegram bot when set.
type AlertsConfig struct {
	// Kinds are the kinds sent to the webhook and to Telegram (the log
	// has every kind, routing's from routing itself): trunk-near-limit, trunk-cleared, gateway-down,
	// gateway-up, fraud-warning, fraud-critical, ban,
	// database-unreachable, database-reachable, daily-report. Empty: all.
	Kinds []string `toml:"kinds"`
	// MinSeverity drops less urgent events for the webhook and Telegram:
	// "info" (default: none dropped), "warning" or "critical".
	MinSeverity string `toml:"min_severity"`
	// Webhook is a URL receiving each event as a JSON POST; empty: none.
	Webhook string `toml:"webhook"`
	// WebhookAuthorization, when set, is sent as the Authorization header.
	WebhookAuthorization string `toml:"webhook_authorization"`
	// TelegramToken and TelegramChat name the bot and the chat it writes
	// to; both empty: no Telegram.
	TelegramToken string `toml:"telegram_token"`
	TelegramChat  string `toml:"telegram_chat"`
	// TelegramURL is the Bot API's address (a local Bot API server, or a
	// test's stand-in).
	TelegramURL string `toml:"telegram_url"`
	// Timeout bounds one delivery attempt; Retries is how many more
	// attempts a failed one gets (with backoff from 1s).
	Timeout Duration `toml:"timeout"`
	Retries int      `toml:"retries"`
	// DatabaseCheck is how often the store is pinged: two failures in a
	// row raise database-unreachable, the next success
	// database-reachable. 0 turns it off.
	DatabaseCheck Duration `toml:"database_check"`
}

// HEPCaptureConfig sends every SIP message to a HOMER collector as HEP v3
// (sip.HEPClient). Off unless collector is set.
type HEPCaptureConfig struct {
	// Collector is the collector's "host:port" (HOMER: 9060).
	Collector string `toml:"collector"`
	// Transport is "udp" or "tcp".
	Transport string `toml:"transport"`
	// CaptureID is the capture agent id in every packet.
	CaptureID int64 `toml:"capture_id"`
	// NodeName names this node in every packet (empty: [cluster] node).
	NodeName string `toml:"node_name"`
	// AuthKey is the collector's password, when it wants one.
	AuthKey string `toml:"auth_key"`
}

// defaultAlerts and defaultHEP are the sections' defaults.
func defaultAlerts() AlertsConfig {
	return AlertsConfig{MinSeverity: "info", TelegramURL: alert.DefaultTelegramURL, Timeout: Duration{5 * time.Second}, Retries: 3, DatabaseCheck: Duration{10 * time.Second}}
}

func defaultHEP() HEPCaptureConfig { return HEPCaptureConfig{Transport: "udp", CaptureID: 1} }

// route returns the Route of an external notifier: the kinds and severity
// the section lets through.
func (ac AlertsConfig) route(n alert.Notifier) (alert.Route, error) {
	r := alert.Route{Notifier: n}
	for _, k := range ac.Kinds {
		kind, err := alert.ParseKind(k)
		if err != nil {
			return r, fmt.Errorf("config: alerts.kinds: %w", err)
		}
		r.Kinds = append(r.Kinds, kind)
	}
	if err := r.MinSeverity.UnmarshalText([]byte(ac.MinSeverity)); err != nil {
		return r, fmt.Errorf("config: alerts.min_severity: %w", err)
	}
	return r, nil
}

func (ac AlertsConfig) retry() alert.Retry {
	return alert.Retry{Attempts: 1 + max(ac.Retries, 0), Timeout: ac.Timeout.Duration}
}

// notifiers returns the external notifiers the section sets.
func (ac AlertsConfig) notifiers() ([]alert.Notifier, error) {
	var out []alert.Notifier
	if ac.Webhook != "" {
		var h http.Header
		if ac.WebhookAuthorization != "" {
			h = http.Header{"Authorization": {ac.WebhookAuthorization}}
		}
		w, err := alert.NewWebhook(alert.WebhookConfig{URL: ac.Webhook, Header: h, Retry: ac.retry()})
		if err != nil {
			return nil, fmt.Errorf("config: alerts.webhook: %w", err)
		}
		out = append(out, w)
	}
	if ac.TelegramToken != "" || ac.TelegramChat != "" {
		tg, err := alert.NewTelegram(alert.TelegramConfig{Token: ac.TelegramToken, ChatID: ac.TelegramChat, BaseURL: ac.TelegramURL, Retry: ac.retry()})
		if err != nil {
			return nil, fmt.Errorf("config: alerts.telegram_token, telegram_chat, telegram_url: %w", err)
		}
		out = append(out, tg)
	}
	return out, nil
}

// validate checks the [alerts] and [hep] sections.
func (c Config) validateOps() error {
	ac := c.Alerts
	if _, err := ac.route(nil); err != nil {
		return err
	}
	if _, err := ac.notifiers(); err != nil {
		return err
	}
	if ac.Timeout.Duration <= 0 || ac.Retries < 0 || ac.DatabaseCheck.Duration < 0 {
		return fmt.Errorf("config: alerts: timeout must be positive, retries and database_check not negative")
	}
	hc := c.HEP
	if hc.Collector == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(hc.Collector); err != nil {
		return fmt.Errorf("config: hep.collector %q: want host:port, e.g. homer.unisi.it:9060", hc.Collector)
	}
	if t := strings.ToLower(hc.Transport); t != "udp" && t != "tcp" {
		return fmt.Errorf("config: hep.transport %q: want udp or tcp", hc.Transport)
	}
	if hc.CaptureID < 0 || hc.CaptureID > 1<<32-1 {
		return fmt.Errorf("config: hep.capture_id %d: want 0 to 4294967295", hc.CaptureID)
	}
	return nil
}

// client returns the HEP client's configuration (node: [cluster] node).
func (hc HEPCaptureConfig) client(node string) sip.HEPConfig {
	if hc.NodeName != "" {
		node = hc.NodeName
	}
	return sip.HEPConfig{Addr: hc.Collector, Network: strings.ToLower(hc.Transport), CaptureID: uint32(hc.CaptureID), AuthKey: hc.AuthKey, NodeName: node}
}

// redactOps masks the sections' secrets for config print.
func (c Config) redactOps() Config {
	for _, s := range []*string{&c.Alerts.TelegramToken, &c.Alerts.WebhookAuthorization, &c.HEP.AuthKey} {
		if *s != "" {
			*s = "(set)"
		}
	}
	return c
}
