package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// TelegramConfig says which bot writes to which chat.
type TelegramConfig struct {
	// Token is the bot's token from @BotFather ("123456:ABC-DEF…"). It is
	// part of every request's URL; errors never show it.
	Token string
	// ChatID is the chat, group or channel the bot writes to: a number
	// ("-1001234567890") or a channel's "@name".
	ChatID string
	// BaseURL is the Bot API's address (default https://api.telegram.org);
	// tests point it at a local server, sites at a local Bot API server.
	BaseURL string
	// Retry says how a delivery is retried (see Retry's defaults).
	Retry Retry
	// Name names the notifier (default "telegram").
	Name string
	// Client makes the requests (default: a client of its own).
	Client *http.Client
}

// DefaultTelegramURL is the Bot API's address.
const DefaultTelegramURL = "https://api.telegram.org"

// Telegram is a Notifier that sends each event as a message from a bot:
// the Bot API's sendMessage (POST BaseURL/bot<token>/sendMessage with a
// JSON chat_id and text), as the UniSI operators' Telegram alerts. A 5xx
// or a 429 (after the retry_after it gives) is retried with backoff; an
// answer with "ok": false otherwise (a wrong chat, a blocked bot) is not.
type Telegram struct {
	cfg    TelegramConfig
	client *http.Client
	url    string
	chat   any // int64 or string, as the API takes either
}

var _ Notifier = (*Telegram)(nil)

// NewTelegram checks cfg and returns the notifier.
func NewTelegram(cfg TelegramConfig) (*Telegram, error) {
	if cfg.Token == "" || strings.ContainsAny(cfg.Token, "/?# ") {
		return nil, fmt.Errorf("alert: telegram: a bot token is required (and has no '/', '?', '#' or space)")
	}
	if cfg.ChatID == "" {
		return nil, fmt.Errorf("alert: telegram: chat id is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultTelegramURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("alert: telegram: base URL %q: want http(s)://host", cfg.BaseURL)
	}
	if cfg.Name == "" {
		cfg.Name = "telegram"
	}
	cfg.Retry = cfg.Retry.withDefaults()
	t := &Telegram{cfg: cfg, client: cfg.Client, url: strings.TrimSuffix(cfg.BaseURL, "/") + "/bot" + cfg.Token + "/sendMessage"}
	if t.client == nil {
		t.client = &http.Client{}
	}
	if n, err := strconv.ParseInt(cfg.ChatID, 10, 64); err == nil {
		t.chat = n
	} else {
		t.chat = cfg.ChatID
	}
	return t, nil
}

// Name returns the configured name ("telegram").
func (t *Telegram) Name() string { return t.cfg.Name }

// telegramMax is the longest text sendMessage takes, in characters.
const telegramMax = 4096

// Notify sends ev to the chat.
func (t *Telegram) Notify(ctx context.Context, ev Event) error {
	body, err := json.Marshal(struct {
		ChatID  any    `json:"chat_id"`
		Text    string `json:"text"`
		NoLinks bool   `json:"disable_web_page_preview"`
	}{t.chat, TelegramText(ev), true})
	if err != nil {
		return fmt.Errorf("alert: telegram: %w", err)
	}
	if err := post(ctx, t.client, t.url, nil, body, t.cfg.Retry, checkTelegram); err != nil {
		return fmt.Errorf("alert: telegram %s: %w", t.cfg.Name, redacted{err, t.cfg.Token})
	}
	return nil
}

// checkTelegram reads the Bot API's answer: {"ok": true, …} is a
// delivery; {"ok": false, "error_code": 429, "parameters":
// {"retry_after": 5}} asks to wait.
func checkTelegram(status int, header http.Header, body []byte) *httpError {
	var res struct {
		OK          bool   `json:"ok"`
		Description string `json:"description"`
		Parameters  struct {
			RetryAfter int `json:"retry_after"`
		} `json:"parameters"`
	}
	jerr := json.Unmarshal(body, &res)
	if status == http.StatusOK && jerr == nil && res.OK {
		return nil
	}
	e := checkStatus(status, header, body)
	if e == nil { // a 2xx without "ok": true
		e = &httpError{status: status, body: shortBody(body)}
	}
	if jerr == nil && res.Description != "" {
		e.body = res.Description
	}
	if res.Parameters.RetryAfter > 0 {
		e.retryAfter = time.Duration(res.Parameters.RetryAfter) * time.Second
		e.retry = true
	}
	return e
}

// TelegramText is the message a Telegram notifier sends for ev: a line
// with a sign of the severity, the severity and the kind; the message; a
// line per field; the time in UTC. Plain text (no parse mode), so that
// nothing in an event needs escaping; cut to the API's 4096 characters.
func TelegramText(ev Event) string {
	sign := "ℹ️"
	switch ev.Severity {
	case SeverityWarning:
		sign = "⚠️"
	case SeverityCritical:
		sign = "🚨"
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %s: %s", sign, strings.ToUpper(ev.Severity.String()), ev.Kind)
	if ev.Subject != "" {
		sb.WriteString(" " + ev.Subject)
	}
	sb.WriteString("\n" + ev.Message)
	for _, k := range ev.fieldKeys() {
		sb.WriteString("\n" + k + ": " + ev.Fields[k])
	}
	if !ev.Time.IsZero() {
		sb.WriteString("\n" + ev.Time.UTC().Format(time.DateTime) + " UTC")
	}
	s := sb.String()
	if utf8.RuneCountInString(s) > telegramMax {
		r := []rune(s)
		s = string(r[:telegramMax-1]) + "…"
	}
	return s
}

// redacted is an error whose text never shows secret (the bot token, which
// the request URL in a transport error holds); errors.Is still sees
// through it.
type redacted struct {
	err    error
	secret string
}

func (r redacted) Error() string { return strings.ReplaceAll(r.err.Error(), r.secret, "<token>") }
func (r redacted) Unwrap() error { return r.err }
