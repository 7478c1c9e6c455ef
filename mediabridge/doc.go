// Package mediabridge anchors a call's media on the router: an RTP relay
// in process, what OpenSIPS and Kamailio get from rtpproxy or rtpengine
// over a control socket.
//
// A router uses it as a stage, last before the Forwarder:
//
//	relay, err := mediabridge.New(mediabridge.Config{Bind: netip.MustParseAddr("10.0.0.5")},
//		mediabridge.WithLogger(log), mediabridge.WithRegisterer(reg))
//	stage := mediabridge.NewStage(relay, mediabridge.StageConfig{
//		Policy: mediabridge.DefaultPolicy, // NAT and gateway calls
//		Hangup: srv.Hangup,                 // a call whose media timed out
//	})
//	pipeline := sip.Chain(acl.Source(srcCfg), reg.Authenticate, dest.Wrap, stage.Wrap)(forwarder)
//
// The stage decides per call (Policy), and for an anchored call rewrites
// the SDP of every message through a filter on the call record
// (Session.Anchor: ParseBody, the relay's ports, Description.Rewrite).
// Package mediabridge/ng puts rtpengine's ng protocol in front of the same
// relay, for other proxies.
//
// Below the stage is the relay engine. It knows nothing of SIP or SDP:
// the SDP side asks it for relay addresses to write into the offer and the
// answer, and tells it the addresses the SDP announced.
//
//   - A Relay (New, Close) owns a port range, the sessions, a few poller
//     goroutines that move packets and one sweeper that ends silent
//     sessions.
//   - A Session is one call (Relay.NewSession with the Call-ID; Close on
//     BYE, CANCEL or a failure). Its streams are its m= lines.
//   - A Stream has two legs, LegA (the caller's side) and LegB (the
//     callee's), each with an RTP and an RTCP socket on an even/odd port
//     pair. What arrives on A's sockets leaves from B's, to B's phone,
//     and the other way round.
//
// For one call:
//
//	r, err := mediabridge.New(mediabridge.Config{
//		Bind:      netip.MustParseAddr("10.0.0.5"),
//		Advertise: netip.MustParseAddr("192.0.2.5"), // behind 1:1 NAT
//	}, mediabridge.WithLogger(log), mediabridge.WithRegisterer(reg),
//		mediabridge.WithEndHandler(func(s *mediabridge.Session, why error) { hangUp(s.CallID(), why) }))
//	if err != nil { ... }
//	defer r.Close()
//
//	s, err := r.NewSession(callID)             // the INVITE's offer
//	st, err := s.Stream(0)                     // m= line 0; ErrNoPorts: answer 503
//	st.SetPeer(mediabridge.LegA, offerAddr, netip.AddrPort{}) // A's c=/m=
//	offerToB := st.Local(mediabridge.LegB)     // written into the offer B receives
//	...
//	st.SetPeer(mediabridge.LegB, answerAddr, netip.AddrPort{}) // B's answer
//	answerToA := st.Local(mediabridge.LegA)    // written into the answer A receives
//	...
//	stats := s.Stats()                         // for the CDR
//	s.Close()                                  // BYE
//
// # Latching
//
// Phones behind NAT announce a private address and send from their NAT's
// public one. A leg's sockets therefore latch onto the source of the
// first packet that arrives after SetPeer (symmetric RTP, RFC 4961) and
// send that leg's media back there; other sources are dropped once a
// socket has latched, except the SDP address itself, which always takes
// the latch back. A SetPeer that changes the addresses (a re-INVITE
// moving a phone) starts latching over. Config.StrictSource accepts only
// the SDP's IP address (any port). Until a leg's SDP is known, its
// packets are dropped, and so are packets towards a leg whose SDP is not.
//
// # Statistics and timeouts
//
// Each leg counts packets, bytes, loss from the RTP sequence numbers
// (RFC 3550 A.3) and interarrival jitter (A.8); Stream.Stats and
// Session.Stats report them with one-way-audio detection, for the call
// record. A session ends by itself when no packet came either way for
// Config.NoMediaTimeout (HoldTimeout for a stream on hold), or when no
// stream got both legs' peers within OfferTimeout; Session.Done,
// Session.Err and WithEndHandler tell the SIP side.
//
// # Goroutines and the packet path
//
// On Linux, relay sockets are non-blocking descriptors in level-triggered
// epoll sets, Config.Workers of them, each owned by one goroutine. A
// packet costs one recvfrom and one sendto, no allocation and no lock;
// counters are per poller and per leg atomics. Closing a session returns
// once its sockets are closed and its ports back in the pool. Other
// systems build the package but New fails.
package mediabridge
