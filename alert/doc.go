// Package alert tells operators what needs their attention: a trunk near
// its channel limit, a gateway down or back, a fraud threshold crossed, a
// ban, the database unreachable, the daily call report. The packages that
// see these things (routing, guard, accounting, the store's health check)
// stay unaware of where the news goes: the program publishes an Event
// to a Dispatcher, which hands it to the configured notifiers, the log, a
// webhook, a Telegram bot, each through a bounded queue of its own, so a
// slow or dead notifier never holds up the router. The Dispatcher also
// keeps a bounded record of the last events and of what each notifier
// did with them (Recent), which the admin page shows.
//
// The seed deployment (UniSI) watches concurrent calls against the SIP
// trunks' limits and sends Telegram alerts; OpenSIPS has no notifier of
// its own (its events, E_DROUTING_STATUS, E_FRD_WARNING, go to
// event_route or to external consumers), so this package is Palio's.
//
//	log := alert.NewLog(logger)
//	tg, _ := alert.NewTelegram(alert.TelegramConfig{Token: token, ChatID: "-1001234567890"})
//	d, _ := alert.New(alert.Config{Routes: []alert.Route{
//		{Notifier: log},
//		{Notifier: tg, MinSeverity: alert.SeverityWarning},
//	}}, alert.WithRegisterer(reg))
//	defer d.Close()
//	router.Subscribe(func(ev routing.Event) { d.Publish(toAlert(ev)) })
package alert
