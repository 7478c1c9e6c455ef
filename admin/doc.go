// Package admin is the management side of a Palio router: a JSON API and
// a web page over the stores and the live state, in the manner of
// OpenSIPS's Control Panel and FreePBX's UCP.
//
// The page (/admin/) is rendered on the server from embedded templates,
// with a small plain script; its live calls and trunk usage follow
// server-sent events. Logins are local (LoginStore, bcrypt), with
// server-side sessions, CSRF tokens, a rate limit per source, and two
// scopes: administrators, and users who see only their own account.
//
// The API lives under /admin/api/ (APIPrefix) and is described by an
// OpenAPI 3 file served at /admin/api/openapi.json (OpenAPI); a test
// checks the file against the handlers both ways. It covers the accounts
// (list, create, edit, block, unblock, delete, password reset), aliases,
// call services and blacklist per account, the dialplan rules (create,
// edit, delete, translate), the pipeline dry run (route), the calls in
// progress with hang-up, the gateways and carriers with their channels in
// use and the operator's switch, the call records (filters, paging, CSV),
// reports and costs, the guard's bans, a global notice and the audit log.
//
// Every write is checked by the library code the operator commands use
// (registrar.Subscriber.Validate, permission.ClassConfig.CheckAccount,
// alias.Alias.Validate, features.Change, features.ListEntry.Validate,
// dialplan.Rule.Validate, guard.Ban.Validate); a refused
// value answers 400 with {"error": ..., "field": ...}. Writes go to the
// stores the router reads, whose change counters make the running router
// see them without a restart, and each one is recorded in the audit log
// (Store) with who did it.
//
// The sources are small interfaces (Accounts, Calls, Trunks, Bans,
// FeatureStore, alias.Store, accounting.Store) that sqlstore's stores, a
// *routing.Router and a *sip.Server (through DialogCalls) satisfy:
//
//	h, err := admin.New(admin.Config{
//		Domain:   "voip.unisi.it",
//		Classes:  classes,
//		Accounts: db.Subscribers(-1),
//		Aliases:  db.Aliases(),
//		Features: db.Features(),
//		Calls:    admin.DialogCalls{Dialogs: srv.Dialogs(), Hanger: srv},
//		Trunks:   router,
//		CDRs:     db.Accounting(),
//		Bans:     db.Guard(),
//	}, db.Admin(), admin.WithLogger(log), admin.WithRegisterer(reg))
//	mux.Handle("/admin/", h)
package admin
