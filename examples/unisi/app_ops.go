package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/alert"
	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
)

// ops is the deployment's operations side: the alerts ([alerts]), the
// HOMER capture ([hep]) and the store's health check. serve builds it
// (startOps) before the SIP server, so that the router's first events are
// told.
type ops struct {
	alerts *alert.Dispatcher
	hep    *sip.HEPClient
}

// publish raises an operator alert: the log gets it, and the webhook and
// the Telegram bot of [alerts] when their kinds and severity take it. It
// never blocks. This is the one hook for every part of the deployment
// that has news for the operators: routing's trunk alarms and gateway
// states, the store's health and the guard's bans and fraud alerts are
// wired to it here; the daily call report (alert.KindDailyReport, with
// Report.Summary's totals as fields, [accounting] daily_report) goes
// through it too. Before startOps, and in the operator commands, it does
// nothing.
func (a *app) publish(ev alert.Event) {
	if a.ops != nil && a.ops.alerts != nil {
		a.ops.alerts.Publish(ev)
	}
}

// startOps starts the alerts (the router's events and the store's
// health watched) and the HEP client; the app closes them.
func (a *app) startOps(log *slog.Logger, reg prometheus.Registerer) error {
	ac := a.cfg.Alerts
	// The log gets every kind but those routing and the guard log
	// themselves (gateway states, trunk alarms, bans, fraud): one line
	// per event in the journal.
	var logged []alert.Kind
	for _, k := range alert.Kinds() {
		switch k {
		case alert.KindGatewayDown, alert.KindGatewayUp, alert.KindTrunkNearLimit, alert.KindTrunkCleared,
			alert.KindBan, alert.KindFraudWarning, alert.KindFraudCritical:
		default:
			logged = append(logged, k)
		}
	}
	routes := []alert.Route{{Notifier: alert.NewLog(log), Kinds: logged}}
	external, err := ac.notifiers()
	if err != nil {
		return err
	}
	for _, n := range external {
		r, err := ac.route(n)
		if err != nil {
			return err
		}
		routes = append(routes, r)
	}
	d, err := alert.New(alert.Config{Routes: routes, DrainTimeout: 2 * time.Second}, alert.WithLogger(log), alert.WithRegisterer(reg))
	if err != nil {
		return err
	}
	a.ops = &ops{alerts: d}
	unsubscribe := a.router.Subscribe(func(ev routing.Event) {
		if aev, ok := routingAlert(ev); ok {
			a.publish(aev)
		}
	})
	ctx, stop := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		a.watchDatabase(ctx, ac.DatabaseCheck.Duration)
	}()
	a.add(component{name: "alerts", close: func() {
		unsubscribe()
		stop()
		<-watched
		d.Close()
	}})
	if hc := a.cfg.HEP; hc.Collector != "" {
		c, err := sip.NewHEPClient(hc.client(a.cfg.Cluster.Node), sip.WithHEPLogger(log), sip.WithHEPRegisterer(reg))
		if err != nil {
			return fmt.Errorf("hep: %w", err)
		}
		a.ops.hep = c
		a.add(component{name: "hep", close: func() { c.Close() }})
		log.Info("unisi: capturing SIP to HOMER", "collector", hc.Collector, "transport", hc.Transport, "capture_id", hc.CaptureID)
	}
	return nil
}

// alertGuard raises the guard's bans and fraud alerts as alerts: those
// this node decided (a ban another node made, or an operator, reaches
// every node through the store, and is told by the node that made it).
// Bans ending are not news.
func (a *app) alertGuard(g *guard.Guard) {
	if g == nil {
		return
	}
	unsubscribe := g.Subscribe(func(ev guard.Event) {
		if aev, ok := guardAlert(ev); ok {
			a.publish(aev)
		}
	})
	a.add(component{name: "guard alerts", close: unsubscribe})
}

// guardAlert turns a guard event into an alert.
func guardAlert(ev guard.Event) (alert.Event, bool) {
	if ev.Origin != guard.OriginLocal {
		return alert.Event{}, false
	}
	switch ev.Kind {
	case guard.EventBanned:
		b := ev.Ban
		fields := map[string]string{"ban": string(b.Kind), "reason": b.Reason}
		if !b.Until.IsZero() {
			fields["until"] = b.Until.UTC().Format(time.RFC3339)
		}
		sev := alert.SeverityWarning
		if b.Kind == guard.BanFraud {
			sev = alert.SeverityCritical // calls blocked until an operator clears them
		}
		return alert.Event{Kind: alert.KindBan, Severity: sev, Time: ev.Time, Subject: string(b.Kind) + " " + b.Subject, Message: ev.String(), Fields: fields}, true
	case guard.EventFraudWarning, guard.EventFraudCritical:
		f := ev.Fraud
		kind := alert.KindFraudWarning
		if ev.Kind == guard.EventFraudCritical {
			kind = alert.KindFraudCritical
		}
		fields := map[string]string{"user": f.User, "number": f.Number, "prefix": f.Prefix, "param": f.Param,
			"value": strconv.Itoa(f.Value), "threshold": strconv.Itoa(f.Threshold), "rule": strconv.Itoa(f.RuleID)}
		if f.Blocked {
			fields["blocked"] = "true"
		}
		return alert.Event{Kind: kind, Time: ev.Time, Subject: "user " + f.User, Message: ev.String(), Fields: fields}, true
	}
	return alert.Event{}, false
}

// captureOptions are the SIP server's options for [hep]: none when off.
func (a *app) captureOptions() []sip.Option {
	if a.ops == nil || a.ops.hep == nil {
		return nil
	}
	return []sip.Option{sip.WithCapture(a.ops.hep)}
}

// routingAlert turns the router's events into alerts: trunk alarms,
// and gateways leaving or re-entering service (carriers switched by an
// operator are not news).
func routingAlert(ev routing.Event) (alert.Event, bool) {
	fields := map[string]string{}
	switch ev.Kind {
	case routing.EventTrunkAlarm, routing.EventTrunkAlarmCleared:
		kind, subject := alert.KindTrunkNearLimit, "gateway "+ev.Gateway
		if ev.Kind == routing.EventTrunkAlarmCleared {
			kind = alert.KindTrunkCleared
		}
		if ev.Carrier != "" {
			subject = "carrier " + ev.Carrier
			fields["carrier"] = ev.Carrier
		} else {
			fields["gateway"] = ev.Gateway
		}
		fields["calls"], fields["channels"] = strconv.Itoa(ev.Calls), strconv.Itoa(ev.Channels)
		return alert.Event{Kind: kind, Time: ev.Time, Subject: subject,
			Message: fmt.Sprintf("%d of %d channels in use", ev.Calls, ev.Channels), Fields: fields}, true
	case routing.EventGatewayState:
		up, wasUp := ev.State == routing.StateActive, ev.Previous == routing.StateActive
		if up == wasUp {
			return alert.Event{}, false
		}
		kind, sev := alert.KindGatewayDown, alert.SeverityCritical
		if up {
			kind, sev = alert.KindGatewayUp, alert.SeverityInfo
		} else if ev.Cause == routing.CauseOperator || ev.Cause == routing.CauseReload {
			sev = alert.SeverityWarning // switched off on purpose
		}
		fields["gateway"], fields["address"], fields["cause"], fields["state"] = ev.Gateway, ev.Address, string(ev.Cause), ev.State.String()
		if ev.Detail != "" {
			fields["detail"] = ev.Detail
		}
		return alert.Event{Kind: kind, Severity: sev, Time: ev.Time, Subject: "gateway " + ev.Gateway, Message: ev.String(), Fields: fields}, true
	}
	return alert.Event{}, false
}

// watchDatabase pings the store every interval until ctx ends: two
// failures in a row raise database-unreachable, the first success after
// them database-reachable.
func (a *app) watchDatabase(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	failures, down := 0, false
	var since time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, min(interval, 5*time.Second))
		err := a.db.Ping(pctx)
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if failures++; failures == 1 {
				since = time.Now()
			}
			if failures == 2 && !down {
				down = true
				a.publish(alert.Event{Kind: alert.KindDatabaseUnreachable, Subject: "database", Message: err.Error(),
					Fields: map[string]string{"store": a.storeName(), "since": since.UTC().Format(time.RFC3339)}})
			}
		default:
			if down {
				a.publish(alert.Event{Kind: alert.KindDatabaseReachable, Subject: "database", Message: "the database answers again after " + time.Since(since).Round(time.Second).String(),
					Fields: map[string]string{"store": a.storeName()}})
			}
			failures, down = 0, false
		}
	}
}

// storeName says which store the deployment uses: "sqlite" or "mysql".
func (a *app) storeName() string {
	if a.cfg.Store.MySQL != "" {
		return "mysql"
	}
	return "sqlite"
}

// readiness returns /readyz's handler for srv.
func (a *app) readiness(srv *sip.Server) *readiness {
	return &readiness{srv: srv, store: a.db.Ping, mediabox: func() string {
		if a.box == nil {
			return ""
		}
		return a.box.Addr()
	}}
}

// serving says the server is ready: /readyz may answer ready, and systemd
// (Type=notify) is told READY=1 and, when the unit sets WatchdogSec, kept
// told WATCHDOG=1 while the SIP listener answers. The returned function
// stops the watchdog.
func (a *app) serving(rd *readiness, log *slog.Logger) (stop func()) {
	rd.started.Store(true)
	if err := sdNotify("READY=1\nSTATUS=serving SIP on " + rd.srv.Local().Addr("udp")); err != nil {
		log.Warn("unisi: cannot tell systemd we are ready", "error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sdKeepAlive(ctx, func() bool {
			cctx, ccancel := context.WithTimeout(ctx, checkTimeout)
			defer ccancel()
			_, err := rd.checkSIP(cctx)
			return err == nil
		})
	}()
	return func() {
		cancel()
		<-done
	}
}
