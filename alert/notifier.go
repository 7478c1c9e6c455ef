package alert

import (
	"context"
	"log/slog"
)

// Notifier delivers events somewhere: the log, a webhook, a Telegram chat.
// The Dispatcher calls Notify from one goroutine per notifier, one event
// at a time, with a context that ends when the Dispatcher gives up on it
// (Close); Notify does its own retries and returns an error when the event
// was not delivered.
type Notifier interface {
	// Name names the notifier in metrics and logs ("log", "webhook",
	// "telegram"); unique within a Dispatcher.
	Name() string
	Notify(ctx context.Context, ev Event) error
}

// Log is a Notifier that writes each event as one log line: Info, Warn or
// Error by severity (Error is for what an operator must act on), with the
// kind, subject and fields as attributes.
type Log struct {
	log *slog.Logger
}

var _ Notifier = (*Log)(nil)

// NewLog returns a Log notifier writing to l (slog.Default() when nil).
func NewLog(l *slog.Logger) *Log {
	if l == nil {
		l = slog.Default()
	}
	return &Log{log: l}
}

// Name returns "log".
func (*Log) Name() string { return "log" }

// Notify logs ev.
func (n *Log) Notify(ctx context.Context, ev Event) error {
	level := slog.LevelInfo
	switch ev.Severity {
	case SeverityWarning:
		level = slog.LevelWarn
	case SeverityCritical:
		level = slog.LevelError
	}
	attrs := make([]slog.Attr, 0, 4+len(ev.Fields))
	attrs = append(attrs, slog.String("kind", string(ev.Kind)), slog.String("severity", ev.Severity.String()))
	if ev.Subject != "" {
		attrs = append(attrs, slog.String("subject", ev.Subject))
	}
	for _, k := range ev.fieldKeys() {
		attrs = append(attrs, slog.String(k, ev.Fields[k]))
	}
	n.log.LogAttrs(ctx, level, "alert: "+ev.Message, attrs...)
	return nil
}
