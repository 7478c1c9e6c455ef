// Package features is the call services of a PBX router, the ones the
// University of Siena built by hand in its OpenSIPS script: boss–secretary,
// call forward (unconditional, busy, no answer, unreachable), do not
// disturb, per-user and global blacklists (OpenSIPS userblacklist
// semantics: the longest prefix decides, whitelist rows let numbers
// through) and anonymous-call blocking (RFC 5079).
//
// Settings live in a Store (palio_features, userblacklist and
// globalblacklist in SQL, or a MemStore), compiled into a snapshot that a
// call reads without touching the store and that Reload replaces when an
// operator changes a setting. The stage runs inside the destination
// sub-pipeline, after the class check:
//
//	feats, err := features.New(features.Config{Account: account, Domain: "voip.unisi.it"}, store)
//	dest, err := destination.New(destination.Config{
//		Plan: plan, Class: class, Registrar: reg, Router: router,
//		Stages: []sip.Middleware{feats.Wrap},
//	})
//
// A forward is the forwarding account's outbound call: destination.Redirect
// runs the sub-pipeline again for the target, so its class check looks at
// that account's classes and its routing is the same as if the account had
// dialled the number. Forwards carry Diversion (RFC 5806) or History-Info
// (RFC 7044) headers; chains are bounded (Config.MaxForwards) and loops
// answered 482.
package features
