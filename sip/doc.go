// Package sip is the core of Palio: the handler contract every stage of a
// routing pipeline follows, the server that runs a pipeline on UDP, TCP,
// TLS and WebSocket sockets, the stateful Forwarder at the end of the
// pipeline, the DialogRelay for in-dialog requests, and the table of calls
// in progress that accounting, presence and trunk limits feed on.
//
// # A pipeline
//
// A Palio proxy is a chain of stages, each a Middleware, ending in the
// Forwarder:
//
//	srv, _ := sip.NewServer(sip.Config{Listen: []sip.Listen{
//		{Network: "udp", Addr: "127.0.0.1:5060"},
//		{Network: "tcp", Addr: "127.0.0.1:5060"},
//	}})
//	fwd := sip.NewForwarder(srv, sip.ForwarderConfig{})
//	mux := &sip.ServeMux{
//		Local:    srv.Local(),
//		InDialog: sip.NewDialogRelay(fwd),
//		Initial:  sip.Chain(permissions, dialplan, routing)(fwd),
//	}
//	srv.Serve(ctx, mux, 10*time.Second)
//
// A stage looks at the request, may rewrite it, and either rejects it
// (return sip.Reject(403, "Forbidden")), passes it on (return
// next.ServeSIP(ctx, w, r)), or tries alternatives in turn (serial failover
// on a 503 from the first gateway). Where the call goes is said with
// sip.WithTargets; the Forwarder forks to several targets in parallel.
// Handler documents the outcome contract: what a stage returns and what
// that means upstream.
//
// # The call record
//
// Every initial INVITE gets a Call at the edge, reachable by every stage
// (CallFrom). The stages write what they decided into it (the source
// check, the caller, the number, the class, the callee, the rule) and
// append to its trace; the dialog table adopts it when the Forwarder takes
// the call, and every DialogEvent carries it. Packages keep their own state
// on it (SetValue), see every message of the call before it is sent
// (AddFilter) and learn its end (OnEnd). Subscribers of the dialog table
// are synchronous or asynchronous (Async), through a Feed.
//
// # Requests of the proxy's own
//
// NewRequest and Send originate a request (a NOTIFY, a MESSAGE) and wait
// for its final response, over the connection a phone registered on when
// the target says so; Hangup ends a call from the proxy.
//
// # What it does of RFC 3261 and what it does not
//
// The Forwarder is a transaction-stateful proxy (RFC 3261 §16): Via and
// Record-Route on every branch (double Record-Route across transports,
// RFC 5658), Max-Forwards (483), loop detection by Via branch hash (482,
// spirals allowed), received/rport (RFC 3581), Timer C with CANCEL,
// 408 for a branch that never answers and 503 for one that cannot be
// reached, best-response selection and challenge merging over forks, 2xx
// relayed at once with their retransmissions (RFC 6026), CANCEL with a
// Reason header (RFC 3326) to the other branches when one answers, and a
// late 2xx after the caller's CANCEL ACKed and BYEd rather than leaked.
// The DialogRelay loose-routes in-dialog requests and fixes up strict
// routers' Request-URIs (§16.4).
//
// # Several nodes, one location table
//
// A target may carry a pre-loaded route set (Target.Route: a binding's
// Path, RFC 3327). Flows makes a node the edge proxy of the connections
// its phones registered over: it adds a Path naming the node and the flow
// (an RFC 5626 flow token) to their REGISTERs, relays the requests other
// nodes route to that Path over the flow, and answers 430 (Flow Failed)
// when the connection is gone. See Flows.
//
// # Capture for HOMER
//
// WithCapture hands every SIP message the server sends or receives, as the
// bytes on the wire, to a Capturer; HEPClient is one that sends them to a
// HOMER collector as HEP v3 packets (OpenSIPS's proto_hep and tracer,
// Kamailio's siptrace), through a bounded queue that drops rather than
// waits. The README says where the hooks sit and what they cost.
//
// # sipgo's process-wide settings
//
// sipgo keeps some settings in package variables, read by its goroutines
// without a lock. Importing this package sets them for a proxy, for the
// whole process, in its init function (the only moment no sipgo goroutine
// can be running): UDP messages up to 65535 bytes (sipgo refuses to send
// more than 1300, which breaks INVITEs with video or ICE offers), and
// finished transactions freed after T4 (5 s) instead of 32 s, answered
// INVITE client transactions after T1, since Palio relays 2xx
// retransmissions and ACKs itself. Answered INVITE server transactions
// keep sipgo's 32 s (Timer L): the proxy ends its own at the 2xx without
// arming the timer, and a user agent server in the process (diago's)
// retransmits its 2xx on the transaction until the ACK. A program that
// runs other sipgo code relying on sipgo's values calls
// RestoreSipgoDefaults first thing in main.
//
// Known limits, from sipgo v1.7.3 underneath: each received message is
// handled on its own goroutine, so a 200 sent microseconds after a 180 can
// overtake it at a hop, and the 180 is then dropped by the client
// transaction (harmless for the call; phones ring for seconds). The 487
// that answers a caller's CANCEL goes upstream at once, before the
// downstream branches confirm their own 487s, as in most proxies.
//
// # Hostile peers
//
// The Server bounds what a peer can hold or make it write. TCP, TLS and
// WebSocket connections are capped per source address and in all, closed
// when idle (unless they carry a registration or a transaction) and when a
// message, TLS handshake or write takes longer than MessageTimeout (see
// StreamLimits). Input that cannot be parsed, on any transport, is counted
// and logged as one short Warn line per source and second naming the
// source (a line fail2ban can act on, see the README), never with the
// payload; sipgo's other lines are cut and rate-limited.
//
// # TLS and WebSocket
//
// Config.TLS (a *TLS from NewTLS, loaded from a TLSConfig) picks each TLS
// and WSS handshake's certificate by SNI and local address, requires the
// trunks' client certificates, reloads its files without touching the
// connections in place (Reload, Watch), and checks the servers the proxy
// dials: by the roots and the host, or by the entry of a gateway (its CA,
// pin, and the server name of one addressed by IP), from the
// configuration or from a gateway table (SetGateways; routing.WithTLS
// feeds it the rows). Every request that came over TLS or WSS carries its
// Peer:
//
//	tc, err := sip.NewTLS(sip.TLSConfig{
//		Certificates: []sip.TLSCertificate{{CertFile: "fullchain.pem", KeyFile: "privkey.pem"}},
//		Trunks:       []sip.TLSTrunk{{Name: "pstn", Sources: []string{"192.0.2.0/28"}, CAFile: "gw-ca.pem"}},
//	})
//	srv, err := sip.NewServer(sip.Config{TLS: tc, Listen: []sip.Listen{{Network: "tls", Addr: ":5061"}}})
//	// in a stage: sip.PeerFrom(ctx).Trunk == "pstn", or sip.RequirePeer(true)
//
// A sips Request-URI is forwarded only over TLS or WSS (RFC 3261 §26.2).
//
// The message types are sipgo's, re-exported (Request, Response, URI,
// Header) so that programs rarely import sipgo themselves; inside this
// module sipgo's package is imported as sipmsg.
package sip
