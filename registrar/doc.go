// Package registrar is Palio's registrar and location service, with the
// digest authentication that guards them: what OpenSIPS's registrar,
// usrloc, auth and auth_db modules do.
//
// A Registrar plays three parts in a proxy:
//
//   - it is the sip.Handler for REGISTER (set it as sip.ServeMux.Register):
//     it challenges the phone (401), checks its digest credentials against
//     the subscriber store, applies the REGISTER's contacts to the location
//     store (RFC 3261 §10.3) and answers 200 listing every current contact
//     of the address-of-record;
//   - Authenticate is the pipeline stage that does the same for calls,
//     messages and subscriptions from local users (407), and puts the
//     authenticated account in the context (IdentityFrom) for the stages
//     after it;
//   - Lookup is the stage that sends a call for a registered user to its
//     contacts: one sip.Target per binding, forked in parallel by the
//     Forwarder, a NATed phone reached at the address its REGISTER came
//     from.
//
// Wiring it into a proxy:
//
//	store := registrar.NewMemStore()
//	reg, err := registrar.New(registrar.Config{
//		Algorithms:    []string{registrar.MD5, registrar.SHA256},
//		TrustedSource: permission.TrustedSource, // gateways need no credentials
//	}, store, store, registrar.WithLogger(log), registrar.WithRegisterer(promRegistry))
//	if err != nil { ... }
//	defer reg.Close()
//	mux := &sip.ServeMux{
//		Local:    srv.Local(),
//		Register: reg,
//		InDialog: sip.NewDialogRelay(fwd),
//		Initial:  sip.Chain(addresses.Source(srcCfg), reg.Authenticate, dialplan, reg.Lookup)(fwd),
//	}
//
// # Outcomes
//
// The registrar is a local responder: it writes the 200 to a REGISTER
// itself. Every other outcome, of REGISTER and of the Authenticate and
// Lookup stages alike, is returned as a *sip.StatusError, with a Response
// when headers go with it (WWW-Authenticate or Proxy-Authenticate on a
// 401/407, Min-Expires on a 423), so that the stages around it see it. A
// failing store is returned as a plain error, which the server's edge
// answers with 500 and logs.
//
// # Digest authentication
//
// Challenges (RFC 7616, RFC 8760) offer qop="auth" and one header per
// configured algorithm, SHA-256 before MD5. Nonces are stateless: an issue
// time, a random salt and an HMAC-SHA-256 over both and the realm, under
// Config.Secret; nodes sharing the secret accept each other's nonces. A
// nonce serves for Config.NonceExpiry with a growing nonce count (nc), as
// phones reuse it; each node keeps, per nonce, a window of the 64 counts
// below the highest seen, and refuses a count it has seen (a replay). An
// expired nonce, or a replayed count, with the right response gets a new
// challenge with stale=true; a wrong response never does. Credentials are
// checked against the subscriber's HA1 for the algorithm (the ha1 and
// ha1_sha256 columns), or against its plaintext password with
// Config.AllowPlaintext. The credentials of our realm are removed from a
// request before it is relayed.
//
// # The auth-failure log line (for fail2ban)
//
// Every authentication failure is logged at Warn (a stale nonce, routine
// for phones that reuse their last nonce, at Debug) as one record with the
// message "registrar: auth failed" and these attributes, always in this
// order: src (the packet's source IP, without port), user (the digest
// username, or the To/From user when there was none), realm, method,
// reason, callid. With slog's TextHandler a line reads:
//
//	time=2026-11-25T09:00:00.000Z level=WARN msg="registrar: auth failed" src=203.0.113.9 user=5002 realm=voip.unisi.it method=REGISTER reason=wrong-password callid=a84b4c76e66710
//
// The reasons are the Reason* constants: unknown-user, wrong-password,
// bad-nonce, bad-credentials, no-ha1, stale-nonce, replayed-nonce,
// blocked, identity-mismatch. stale-nonce and replayed-nonce come from
// phones reusing an old nonce, no-ha1 is a provisioning fault and blocked
// an account decision, so a fail2ban filter should ban on the others
// only, e.g.
//
//	failregex = msg="registrar: auth failed" src=<HOST> .* reason=(unknown-user|wrong-password|bad-nonce|bad-credentials)( |$)
//
// src comes first, before anything a client chooses, so that a crafted
// username cannot put another address in front of the filter. A first
// request without credentials is not a failure and is not logged.
//
// # Differences from OpenSIPS
//
// README.md lists them in full. In short: the identity check ($au against
// the To/From user) and blocked accounts (403) are built in; a nonce may
// be reused with a growing nc rather than once; a too short expiry can be
// answered with 423 instead of being raised; every contact's received
// address is kept and used as the next hop whenever it differs from the
// contact; there is no GRUU, Path, push notification, method or
// user-agent filtering yet.
package registrar
