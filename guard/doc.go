// Package guard is the router's defence against floods, password guessers
// and toll fraud: OpenSIPS's pike and fraud_detection, and the fail2ban
// jail UniSI ran beside its OpenSIPS, built in.
//
//   - Floods. Admit is a sip.SourceGate: the server asks it about every UDP
//     datagram, stream connection and stream message before parsing. It
//     counts each source's packets per sampling unit, as pike does, and
//     refuses (drops, or answers 503) a source over the density until its
//     flood stops. Trusted sources (Config.Exempt: the gateways) are never
//     refused.
//   - Password guessers. AuthFailed counts the registrar's authentication
//     failures (registrar.WithAuthFailures) per source and per account: past
//     a Limit the source is banned (refused by Admit) or the account locked
//     (its credentials refused by the Bans stage), for a while. Each ban is
//     one log line in a shape fail2ban filters match, for sites that ban in
//     the firewall.
//   - Toll fraud. Wrap, the stage after authentication, counts each outbound
//     call of an account against the fraud rules of its profile (calls per
//     minute, concurrent calls, calls and minutes per day, calls in a row to
//     one number, one call's length; per destination prefix and time window)
//     and raises warnings and criticals; a critical can block the account's
//     outbound calls until an operator clears it.
//
// CheckBans and CheckFraud are Bans and Wrap for a dry run (sip.RunDry):
// they refuse and trace what those would, and count nothing.
//
// Bans and blocks are stored (Store: palio_guard_bans) so that a restart
// keeps them and the nodes sharing a database share them; an operator lifts
// one by deleting it there, and Reload, run when the store's change counter
// moves, lifts it on every node. Flood blocks live in memory: they end by
// themselves when the flood does. Every ban, lift and alert is an Event
// (Subscribe) for the notifiers.
//
//	g, err := guard.New(guard.Config{Exempt: trusted, Fraud: guard.FraudConfig{Block: true}}, store)
//	srv, err := sip.NewServer(cfg, sip.WithSourceGate(g))
//	reg, err := registrar.New(rc, loc, subs, registrar.WithAuthFailures(func(f registrar.AuthFailure) {
//		g.AuthFailed(f.Source, f.User, f.Reason)
//	}))
//	mux := &sip.ServeMux{
//		Register: g.Bans(reg),
//		Initial:  sip.Chain(g.Bans, source, reg.Authenticate, g.Wrap, ...)(fwd),
//	}
package guard
