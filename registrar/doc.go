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
//	}, store, store, registrar.WithSecretStore(store), // db.Secrets() on SQL: kept across restarts
//		registrar.WithLogger(log), registrar.WithRegisterer(promRegistry))
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
// the nonce secret; nodes sharing the secret accept each other's nonces.
// The secret is Config.Secret if set, else the one a SecretStore keeps
// (WithSecretStore: generated on the first start, shared by every node on
// the store, kept across restarts), else a random one per registrar. A
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
// # Nonces we cannot check
//
// A nonce of our nonces' shape, dated neither in the future (beyond 10 s
// of clock skew) nor more than a year ago, whose MAC our secret does not
// verify, was most likely signed with a secret we no longer hold: ours
// before a restart that changed it (no SecretStore, a new Config.Secret),
// or another node's. It is handled as an expired nonce: a right response
// gets a new challenge with stale=true, logged as stale-nonce at Debug, so
// that phones carry on without a ban; a wrong one is a wrong-password. A
// tampered or forged nonce, or one of another realm (the realm is inside
// the MAC), cannot be told from it. Only garbage (wrong length or
// alphabet, an implausible date) is bad-nonce.
//
// This opens no attack. stale=true is said only after the response was
// checked against the account's HA1, exactly as for an expired nonce, and
// it grants nothing but a new challenge. A password guesser gains nothing
// by forging nonces: anyone gets a genuine nonce by sending a request
// without credentials, and may use it for NonceExpiry with a growing nc,
// so guesses were never limited by nonces; on a forged nonce each wrong
// guess is still logged as wrong-password (or unknown-user) at Warn, and a
// right one learns less than a genuine nonce would have told it (stale,
// not 200). The path touches neither the replay windows nor the location
// store, and costs one subscriber lookup, as any request on a genuine
// nonce does.
//
// # REGISTER retransmissions
//
// Over UDP a REGISTER is answered statelessly (sip.Config.Stateless), so a
// phone whose 200 was lost sends the same request again (RFC 3261 §17.1.2,
// Timer E) and the registrar sees its nonce count a second time. Each
// nonce's replay window remembers the last REGISTER it accepted: a keyed
// hash of its source address, Call-ID, CSeq and Authorization header. A
// request repeating all of them within Config.CSeqWindow (20 s) is a
// retransmission, not a replay: it is answered as the CSeq rule of RFC
// 3261 §10.3 step 7 answers it, 200 with the current bindings, with no
// update, no event and no log line. It must change nothing: if the
// bindings have moved on since (a newer REGISTER, an operator), or the
// repeat carries another contact, it is refused as any repeated count is,
// 401 with stale=true and a replayed-nonce warning.
//
// So an attacker who captured a REGISTER and replays it verbatim, from the
// phone's own address and within the window, gets what a retransmission
// gets: the 200 for bindings it cannot change, which the captured 200
// showed already. From elsewhere, later, or altered, the replay is refused
// as before. Only REGISTER gets this: other requests have transactions
// (their retransmissions never reach the registrar), and a repeated
// INVITE or MESSAGE would have effects of its own.
//
// # The auth-failure log line (for fail2ban)
//
// Every authentication failure is logged at Warn (a stale nonce, routine
// for phones that reuse their last nonce or hold one signed before a
// restart, at Debug) as one record with the
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
// phones reusing an old nonce (one signed before a restart or by another
// node included), no-ha1 is a provisioning fault, blocked an account
// decision and identity-mismatch a phone whose credentials are right but
// for another user, so a fail2ban filter should ban on unknown-user,
// wrong-password, bad-nonce (garbage nonces: scanners, never a working
// phone) and bad-credentials only:
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
// contact; a binding's Path (RFC 3327) is stored and routed on (the
// target's route set: how the nodes of a cluster reach a phone through the
// node it registered on, see sip.Flows); only one flow per +sip.instance
// is tried at a time, and a 430 (Flow Failed) from the end of a Path
// removes that flow's binding and tries the instance's next flow, or
// becomes 480 (RFC 5626 §7); there is no GRUU, push notification, method
// or user-agent filtering yet.
package registrar
