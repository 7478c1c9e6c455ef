// Package ng speaks the subset of rtpengine's ng control protocol that
// SIP proxies use to drive a media relay: ping, offer, answer, delete,
// query and statistics, as bencoded dictionaries over UDP, each request
// prefixed with a cookie its reply repeats.
//
// With it, Palio's relay (package mediabridge) runs as a standalone
// daemon that OpenSIPS's rtpengine module or Kamailio's can drive in
// place of rtpengine, and that the RTP benchmark harness drives to
// compare the two. The Server decodes requests and caches replies for
// retransmitted cookies; an Engine does the work, RelayEngine over a
// mediabridge.Relay (one session per call-id, legs by from-tag and
// to-tag).
//
//	srv := &ng.Server{Engine: &ng.RelayEngine{Relay: relay, Log: log}, Log: log}
//	conn, _ := net.ListenPacket("udp", "127.0.0.1:2223")
//	go srv.Serve(ctx, conn)
package ng
