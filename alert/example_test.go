package alert_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/palio-voip/palio/alert"
)

// A Dispatcher sending every event to the log and the critical ones to a
// second notifier; Close delivers what is queued.
func Example() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	var paged []string
	pager := &funcNotifier{name: "pager", fn: func(ev alert.Event) { paged = append(paged, ev.String()) }}
	d, err := alert.New(alert.Config{Routes: []alert.Route{
		{Notifier: alert.NewLog(logger)},
		{Notifier: pager, MinSeverity: alert.SeverityCritical},
	}})
	if err != nil {
		panic(err)
	}
	d.Publish(alert.Event{Kind: alert.KindTrunkNearLimit, Subject: "gw-siena-1", Message: "24 of 30 channels in use",
		Fields: map[string]string{"calls": "24", "channels": "30"}})
	d.Publish(alert.Event{Kind: alert.KindDatabaseUnreachable, Subject: "database", Message: "ping: connection refused"})
	d.Close() // delivers what is queued
	fmt.Println("paged:", paged)
	// Output:
	// level=WARN msg="alert: 24 of 30 channels in use" kind=trunk-near-limit severity=warning subject=gw-siena-1 calls=24 channels=30
	// level=ERROR msg="alert: ping: connection refused" kind=database-unreachable severity=critical subject=database
	// paged: [[critical] database-unreachable database: ping: connection refused]
}

// funcNotifier is a Notifier made of a function.
type funcNotifier struct {
	name string
	fn   func(alert.Event)
}

func (n *funcNotifier) Name() string { return n.name }

func (n *funcNotifier) Notify(_ context.Context, ev alert.Event) error {
	n.fn(ev)
	return nil
}
