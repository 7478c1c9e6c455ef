// Package sqlstore implements Palio's stores over database/sql, on the
// tables of OpenSIPS's MySQL schema (dialplan, subscriber, location, grp...)
// so that a site can point Palio at the database its OpenSIPS uses today.
// Data only Palio keeps lives in palio_ tables.
//
// The package imports no driver: store/sqlite and store/mysql open the
// database with the right settings and hand it to Open, which applies the
// embedded schema migrations of the dialect. All SQL of Palio is here; the
// few differences between SQLite and MySQL/MariaDB (upsert, auto-increment,
// index lengths, triggers) are in dialect.go and in the per-dialect
// migration files.
//
// Every table Palio loads into a snapshot (dialplan, address, dbaliases,
// dr_*, palio_features and the blacklists, the media box's menus, mailboxes
// and queues) has triggers that bump its row in palio_changes on insert, update
// and delete, whoever writes: Palio's admin commands or an external tool.
// Nodes sharing a database poll Versions (one small query) and reload a
// snapshot when its version moved: that is how a dialplan row changed
// through one node takes effect on the others.
package sqlstore
