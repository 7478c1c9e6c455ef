// Package alias maps alias numbers and names to accounts, as OpenSIPS's
// alias_db does from its dbaliases table: in the UniSI deployment a fax
// number maps to FAX_5500 and IVR numbers to IVR_<n>, so that later stages
// route them to the Asterisk media box.
//
// The table is loaded into an immutable snapshot (Reload), so a lookup is a
// map access and never a query: OpenSIPS queries the database on every call.
// Three lookups mirror OpenSIPS's:
//
//   - Lookup(user, domain): alias → canonical account (alias_db_lookup);
//     with Config.IgnoreDomain the alias domain is not compared (the "d"
//     flag).
//   - Reverse(user, domain): account → its aliases (the "r" flag), for
//     display.
//   - the stage (Aliases.Wrap): the Request-URI's alias is looked up and,
//     with Config.Rewrite, the Request-URI becomes the canonical account
//     (alias_db_lookup); without it, the result only goes into the context
//     (alias_db_find), for a later stage to use. Either way the outcome is
//     in ResultFrom(ctx).
//
// Differences from OpenSIPS: one table per Aliases value (OpenSIPS takes the
// table name per call: build one Aliases per table); with IgnoreDomain and an
// alias present under several domains, the row with the lowest id wins
// (OpenSIPS returns the first row the database yields, or appends branches
// with append_branches, which Palio does not do).
package alias
