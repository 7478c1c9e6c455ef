package mediabridge

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// sdp joins lines with CRLF, the way SDP is sent.
func sdp(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n" }

var (
	relayA  = netip.MustParseAddrPort("203.0.113.5:40000")
	relayV  = netip.MustParseAddrPort("203.0.113.5:40002")
	relayB  = netip.MustParseAddrPort("198.51.100.9:41000")
	relay6  = netip.MustParseAddrPort("[2001:db8::5]:40000")
	relay6V = netip.MustParseAddrPort("[2001:db8::5]:40002")
	none    netip.AddrPort
)

// g711Offer is a phone's offer from behind NAT.
var g711Offer = sdp(
	"v=0",
	"o=alice 2890844526 2890844526 IN IP4 192.168.1.20",
	"s=-",
	"c=IN IP4 192.168.1.20",
	"t=0 0",
	"m=audio 49170 RTP/AVP 0 8 101",
	"a=rtpmap:0 PCMU/8000",
	"a=rtpmap:8 PCMA/8000",
	"a=rtpmap:101 telephone-event/8000",
	"a=fmtp:101 0-16",
	"a=ptime:20",
	"a=sendrecv",
)

// g711Answer is a gateway's answer to it.
var g711Answer = sdp(
	"v=0",
	"o=gw 7 8 IN IP4 10.0.0.7",
	"s=session",
	"c=IN IP4 10.0.0.7",
	"t=0 0",
	"m=audio 20000 RTP/AVP 8 101",
	"a=rtpmap:8 PCMA/8000",
	"a=rtpmap:101 telephone-event/8000",
	"a=fmtp:101 0-15",
)

// avOffer offers audio and video on a shared session-level c=.
var avOffer = sdp(
	"v=0",
	"o=- 1 1 IN IP4 192.168.1.20",
	"s=-",
	"c=IN IP4 192.168.1.20",
	"t=0 0",
	"m=audio 49170 RTP/AVP 0",
	"m=video 49172 RTP/AVP 96",
	"i=camera",
	"a=rtpmap:96 H264/90000",
)

func TestRewrite(t *testing.T) {
	tests := []struct {
		name        string
		contentType string // default application/sdp
		in          string
		relay       []netip.AddrPort
		opts        RewriteOptions
		want        string
	}{
		{
			name:  "G.711 offer",
			in:    g711Offer,
			relay: []netip.AddrPort{relayA},
			want: sdp(
				"v=0",
				"o=alice 2890844526 2890844526 IN IP4 192.168.1.20",
				"s=-",
				"c=IN IP4 203.0.113.5",
				"t=0 0",
				"m=audio 40000 RTP/AVP 0 8 101",
				"a=rtpmap:0 PCMU/8000",
				"a=rtpmap:8 PCMA/8000",
				"a=rtpmap:101 telephone-event/8000",
				"a=fmtp:101 0-16",
				"a=ptime:20",
				"a=sendrecv",
			),
		},
		{
			name:  "G.711 answer",
			in:    g711Answer,
			relay: []netip.AddrPort{relayB},
			want: sdp(
				"v=0",
				"o=gw 7 8 IN IP4 10.0.0.7",
				"s=session",
				"c=IN IP4 198.51.100.9",
				"t=0 0",
				"m=audio 41000 RTP/AVP 8 101",
				"a=rtpmap:8 PCMA/8000",
				"a=rtpmap:101 telephone-event/8000",
				"a=fmtp:101 0-15",
			),
		},
		{
			name:  "LF line ends in, CRLF out",
			in:    strings.ReplaceAll(g711Answer, "\r\n", "\n"),
			relay: []netip.AddrPort{relayB},
			want: sdp(
				"v=0",
				"o=gw 7 8 IN IP4 10.0.0.7",
				"s=session",
				"c=IN IP4 198.51.100.9",
				"t=0 0",
				"m=audio 41000 RTP/AVP 8 101",
				"a=rtpmap:8 PCMA/8000",
				"a=rtpmap:101 telephone-event/8000",
				"a=fmtp:101 0-15",
			),
		},
		{
			name:  "missing t= is inserted before the session attributes",
			in:    sdp("v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "a=tool:x", "m=audio 20000 RTP/AVP 0"),
			relay: []netip.AddrPort{relayB},
			want:  sdp("v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 198.51.100.9", "t=0 0", "a=tool:x", "m=audio 41000 RTP/AVP 0"),
		},
		{
			name:  "missing t= is inserted before m=",
			in:    sdp("v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "b=AS:64", "m=audio 20000 RTP/AVP 0"),
			relay: []netip.AddrPort{relayB},
			want:  sdp("v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 198.51.100.9", "b=AS:64", "t=0 0", "m=audio 41000 RTP/AVP 0"),
		},
		{
			name:  "missing t= without media",
			in:    sdp("v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7"),
			relay: nil,
			want:  sdp("v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0"),
		},
		{
			name:  "IPv6 SDP, IPv6 relay",
			in:    sdp("v=0", "o=- 1 1 IN IP6 fd00::20", "s=-", "c=IN IP6 fd00::20", "t=0 0", "m=audio 49170 RTP/AVP 0"),
			relay: []netip.AddrPort{relay6},
			want:  sdp("v=0", "o=- 1 1 IN IP6 fd00::20", "s=-", "c=IN IP6 2001:db8::5", "t=0 0", "m=audio 40000 RTP/AVP 0"),
		},
		{
			name:  "IPv4 SDP, IPv6 relay: the address type follows the relay",
			in:    sdp("v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-", "t=0 0", "m=audio 49170 RTP/AVP 0", "c=IN IP4 192.168.1.20"),
			relay: []netip.AddrPort{relay6},
			want:  sdp("v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-", "t=0 0", "m=audio 40000 RTP/AVP 0", "c=IN IP6 2001:db8::5"),
		},
		{
			name:  "IPv6 SDP, IPv4-mapped relay written as IPv4",
			in:    sdp("v=0", "o=- 1 1 IN IP6 fd00::20", "s=-", "c=IN IP6 fd00::20", "t=0 0", "m=audio 49170 RTP/AVP 0"),
			relay: []netip.AddrPort{netip.MustParseAddrPort("[::ffff:203.0.113.5]:40000")},
			want:  sdp("v=0", "o=- 1 1 IN IP6 fd00::20", "s=-", "c=IN IP4 203.0.113.5", "t=0 0", "m=audio 40000 RTP/AVP 0"),
		},
		{
			name:  "audio and video on two relays share nothing",
			in:    avOffer,
			relay: []netip.AddrPort{relayA, relayB},
			want: sdp(
				"v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-",
				"c=IN IP4 203.0.113.5",
				"t=0 0",
				"m=audio 40000 RTP/AVP 0",
				"m=video 41000 RTP/AVP 96",
				"i=camera",
				"c=IN IP4 198.51.100.9",
				"a=rtpmap:96 H264/90000",
			),
		},
		{
			name:  "audio and video on one relay address keep the shared c=",
			in:    avOffer,
			relay: []netip.AddrPort{relayA, relayV},
			want: sdp(
				"v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-",
				"c=IN IP4 203.0.113.5",
				"t=0 0",
				"m=audio 40000 RTP/AVP 0",
				"m=video 40002 RTP/AVP 96",
				"i=camera",
				"a=rtpmap:96 H264/90000",
			),
		},
		{
			name:  "audio relayed, video not: video keeps its address on a media c=",
			in:    avOffer,
			relay: []netip.AddrPort{relayA, none},
			want: sdp(
				"v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-",
				"c=IN IP4 203.0.113.5",
				"t=0 0",
				"m=audio 40000 RTP/AVP 0",
				"m=video 49172 RTP/AVP 96",
				"i=camera",
				"c=IN IP4 192.168.1.20",
				"a=rtpmap:96 H264/90000",
			),
		},
		{
			name:  "video relayed, audio not (relay shorter than the streams)",
			in:    avOffer,
			relay: []netip.AddrPort{none, relayV},
			want: sdp(
				"v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-",
				"c=IN IP4 203.0.113.5",
				"t=0 0",
				"m=audio 49170 RTP/AVP 0",
				"c=IN IP4 192.168.1.20",
				"m=video 40002 RTP/AVP 96",
				"i=camera",
				"a=rtpmap:96 H264/90000",
			),
		},
		{
			name:  "only the first stream relayed, relay shorter than the streams",
			in:    avOffer,
			relay: []netip.AddrPort{relayA},
			want: sdp(
				"v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-",
				"c=IN IP4 203.0.113.5",
				"t=0 0",
				"m=audio 40000 RTP/AVP 0",
				"m=video 49172 RTP/AVP 96",
				"i=camera",
				"c=IN IP4 192.168.1.20",
				"a=rtpmap:96 H264/90000",
			),
		},
		{
			name: "audio and T.38 image",
			in: sdp("v=0", "o=- 1 2 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0",
				"m=audio 20000 RTP/AVP 8", "a=rtpmap:8 PCMA/8000",
				"m=image 20002 udptl t38", "a=T38FaxVersion:0", "a=T38FaxRateManagement:transferredTCF", "a=T38FaxUdpEC:t38UDPRedundancy"),
			relay: []netip.AddrPort{relayB, netip.MustParseAddrPort("198.51.100.9:41002")},
			want: sdp("v=0", "o=- 1 2 IN IP4 10.0.0.7", "s=-", "c=IN IP4 198.51.100.9", "t=0 0",
				"m=audio 41000 RTP/AVP 8", "a=rtpmap:8 PCMA/8000",
				"m=image 41002 udptl t38", "a=T38FaxVersion:0", "a=T38FaxRateManagement:transferredTCF", "a=T38FaxUdpEC:t38UDPRedundancy"),
		},
		{
			name: "T.38 re-INVITE disables audio: port 0 stays, even with a relay",
			in: sdp("v=0", "o=- 1 3 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0",
				"m=audio 0 RTP/AVP 8",
				"m=image 20002 udptl t38", "a=T38FaxVersion:0"),
			relay: []netip.AddrPort{relayB, netip.MustParseAddrPort("198.51.100.9:41002")},
			want: sdp("v=0", "o=- 1 3 IN IP4 10.0.0.7", "s=-", "c=IN IP4 198.51.100.9", "t=0 0",
				"m=audio 0 RTP/AVP 8",
				"m=image 41002 udptl t38", "a=T38FaxVersion:0"),
		},
		{
			name: "disabled stream with its own c= is left as it is",
			in: sdp("v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-", "t=0 0",
				"m=audio 49170 RTP/AVP 0", "c=IN IP4 192.168.1.20",
				"m=video 0 RTP/AVP 96", "c=IN IP4 192.168.1.20"),
			relay: []netip.AddrPort{relayA, relayV},
			want: sdp("v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-", "t=0 0",
				"m=audio 40000 RTP/AVP 0", "c=IN IP4 203.0.113.5",
				"m=video 0 RTP/AVP 96", "c=IN IP4 192.168.1.20"),
		},
		{
			name: "session c= no stream relies on takes the first relay",
			in: sdp("v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-", "c=IN IP4 192.168.1.20", "t=0 0",
				"m=audio 49170 RTP/AVP 0", "c=IN IP4 192.168.1.21"),
			relay: []netip.AddrPort{relayA},
			want: sdp("v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-", "c=IN IP4 203.0.113.5", "t=0 0",
				"m=audio 40000 RTP/AVP 0", "c=IN IP4 203.0.113.5"),
		},
		{
			name: "host name in c=",
			in: sdp("v=0", "o=- 1 1 IN IP4 pc.example.com", "s=-", "c=IN IP4 pc.example.com", "t=0 0",
				"m=audio 49170 RTP/AVP 0"),
			relay: []netip.AddrPort{relayA},
			want: sdp("v=0", "o=- 1 1 IN IP4 pc.example.com", "s=-", "c=IN IP4 203.0.113.5", "t=0 0",
				"m=audio 40000 RTP/AVP 0"),
		},
		{
			name:  "hold with sendonly: the direction passes",
			in:    sdp("v=0", "o=- 1 2 IN IP4 192.168.1.20", "s=-", "c=IN IP4 192.168.1.20", "t=0 0", "m=audio 49170 RTP/AVP 0", "a=sendonly"),
			relay: []netip.AddrPort{relayA},
			want:  sdp("v=0", "o=- 1 2 IN IP4 192.168.1.20", "s=-", "c=IN IP4 203.0.113.5", "t=0 0", "m=audio 40000 RTP/AVP 0", "a=sendonly"),
		},
		{
			name:  "hold answer with recvonly",
			in:    sdp("v=0", "o=- 7 9 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0", "m=audio 20000 RTP/AVP 0", "a=recvonly"),
			relay: []netip.AddrPort{relayB},
			want:  sdp("v=0", "o=- 7 9 IN IP4 10.0.0.7", "s=-", "c=IN IP4 198.51.100.9", "t=0 0", "m=audio 41000 RTP/AVP 0", "a=recvonly"),
		},
		{
			name:  "hold with session-level inactive",
			in:    sdp("v=0", "o=- 1 2 IN IP4 192.168.1.20", "s=-", "c=IN IP4 192.168.1.20", "t=0 0", "a=inactive", "m=audio 49170 RTP/AVP 0"),
			relay: []netip.AddrPort{relayA},
			want:  sdp("v=0", "o=- 1 2 IN IP4 192.168.1.20", "s=-", "c=IN IP4 203.0.113.5", "t=0 0", "a=inactive", "m=audio 40000 RTP/AVP 0"),
		},
		{
			name: "old-style hold c=0.0.0.0 stays a hold, the port is the relay's",
			in: sdp("v=0", "o=- 1 2 IN IP4 192.168.1.20", "s=-", "c=IN IP4 0.0.0.0", "t=0 0",
				"m=audio 49170 RTP/AVP 0", "a=rtcp:49171 IN IP4 0.0.0.0", "a=sendonly"),
			relay: []netip.AddrPort{relayA},
			want: sdp("v=0", "o=- 1 2 IN IP4 192.168.1.20", "s=-", "c=IN IP4 0.0.0.0", "t=0 0",
				"m=audio 40000 RTP/AVP 0", "a=rtcp:40001 IN IP4 0.0.0.0", "a=sendonly"),
		},
		{
			name: "old-style hold to an IPv6 relay becomes c=IN IP6 ::",
			in: sdp("v=0", "o=- 1 2 IN IP4 192.168.1.20", "s=-", "t=0 0",
				"m=audio 49170 RTP/AVP 0", "c=IN IP4 0.0.0.0"),
			relay: []netip.AddrPort{relay6},
			want: sdp("v=0", "o=- 1 2 IN IP4 192.168.1.20", "s=-", "t=0 0",
				"m=audio 40000 RTP/AVP 0", "c=IN IP6 ::"),
		},
		{
			name: "old-style hold of audio, video live on a shared c=",
			in: sdp("v=0", "o=- 1 2 IN IP4 192.168.1.20", "s=-", "c=IN IP4 192.168.1.20", "t=0 0",
				"m=audio 49170 RTP/AVP 0", "c=IN IP4 0.0.0.0",
				"m=video 49172 RTP/AVP 96"),
			relay: []netip.AddrPort{relayA, relayV},
			want: sdp("v=0", "o=- 1 2 IN IP4 192.168.1.20", "s=-", "c=IN IP4 203.0.113.5", "t=0 0",
				"m=audio 40000 RTP/AVP 0", "c=IN IP4 0.0.0.0",
				"m=video 40002 RTP/AVP 96"),
		},
		{
			name:  "resume after hold",
			in:    sdp("v=0", "o=- 1 3 IN IP4 192.168.1.20", "s=-", "c=IN IP4 192.168.1.20", "t=0 0", "m=audio 49170 RTP/AVP 0", "a=sendrecv"),
			relay: []netip.AddrPort{relayA},
			want:  sdp("v=0", "o=- 1 3 IN IP4 192.168.1.20", "s=-", "c=IN IP4 203.0.113.5", "t=0 0", "m=audio 40000 RTP/AVP 0", "a=sendrecv"),
		},
		{
			name:  "a=rtcp with port only",
			in:    sdp("v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-", "c=IN IP4 192.168.1.20", "t=0 0", "m=audio 49170 RTP/AVP 0", "a=rtcp:53020"),
			relay: []netip.AddrPort{relayA},
			want:  sdp("v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-", "c=IN IP4 203.0.113.5", "t=0 0", "m=audio 40000 RTP/AVP 0", "a=rtcp:40001"),
		},
		{
			name:  "a=rtcp with an address",
			in:    sdp("v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-", "c=IN IP4 192.168.1.20", "t=0 0", "m=audio 49170 RTP/AVP 0", "a=rtcp:53020 IN IP4 192.168.1.21"),
			relay: []netip.AddrPort{relay6},
			want:  sdp("v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-", "c=IN IP6 2001:db8::5", "t=0 0", "m=audio 40000 RTP/AVP 0", "a=rtcp:40001 IN IP6 2001:db8::5"),
		},
		{
			name: "rtcp-mux: a=rtcp points at the RTP port, a=rtcp-mux stays",
			in: sdp("v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-", "c=IN IP4 192.168.1.20", "t=0 0",
				"m=audio 49170 RTP/SAVP 0", "a=rtcp:49170 IN IP4 192.168.1.20", "a=rtcp-mux", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32"),
			relay: []netip.AddrPort{relayA},
			want: sdp("v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-", "c=IN IP4 203.0.113.5", "t=0 0",
				"m=audio 40000 RTP/SAVP 0", "a=rtcp:40000 IN IP4 203.0.113.5", "a=rtcp-mux", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32"),
		},
		{
			name:  "rtcp-mux without a=rtcp",
			in:    sdp("v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-", "c=IN IP4 192.168.1.20", "t=0 0", "m=audio 49170 RTP/AVP 0", "a=rtcp-mux"),
			relay: []netip.AddrPort{relayA},
			want:  sdp("v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-", "c=IN IP4 203.0.113.5", "t=0 0", "m=audio 40000 RTP/AVP 0", "a=rtcp-mux"),
		},
		{
			name: "ICE stripped at both levels",
			in: sdp("v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-", "c=IN IP4 192.168.1.20", "t=0 0",
				"a=ice-lite", "a=ice-options:trickle", "a=tool:x",
				"m=audio 49170 RTP/AVP 0",
				"a=ice-ufrag:8hhY", "a=ice-pwd:asd88fgpdd777uzjYhagZg",
				"a=candidate:1 1 UDP 2130706431 192.168.1.20 49170 typ host",
				"a=candidate:2 1 UDP 1694498815 198.51.100.77 61000 typ srflx raddr 192.168.1.20 rport 49170",
				"a=end-of-candidates", "a=remote-candidates:1 192.0.2.3 45664", "a=sendrecv"),
			relay: []netip.AddrPort{relayA},
			want: sdp("v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-", "c=IN IP4 203.0.113.5", "t=0 0",
				"a=tool:x",
				"m=audio 40000 RTP/AVP 0",
				"a=sendrecv"),
		},
		{
			name: "ICE kept on request",
			in: sdp("v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-", "c=IN IP4 192.168.1.20", "t=0 0",
				"m=audio 49170 RTP/AVP 0", "a=ice-ufrag:8hhY", "a=candidate:1 1 UDP 2130706431 192.168.1.20 49170 typ host"),
			relay: []netip.AddrPort{relayA},
			opts:  RewriteOptions{KeepICE: true},
			want: sdp("v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-", "c=IN IP4 203.0.113.5", "t=0 0",
				"m=audio 40000 RTP/AVP 0", "a=ice-ufrag:8hhY", "a=candidate:1 1 UDP 2130706431 192.168.1.20 49170 typ host"),
		},
		{
			name: "nothing relayed: nothing changes, ICE included",
			in: sdp("v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-", "c=IN IP4 192.168.1.20", "t=0 0",
				"m=audio 49170 RTP/AVP 0", "a=candidate:1 1 UDP 2130706431 192.168.1.20 49170 typ host"),
			relay: []netip.AddrPort{none},
			want: sdp("v=0", "o=- 1 1 IN IP4 192.168.1.20", "s=-", "c=IN IP4 192.168.1.20", "t=0 0",
				"m=audio 49170 RTP/AVP 0", "a=candidate:1 1 UDP 2130706431 192.168.1.20 49170 typ host"),
		},
		{
			name:  "trailing blank lines and NUL padding are dropped",
			in:    g711Answer + "\r\n\r\n\x00\x00",
			relay: []netip.AddrPort{relayB},
			want: sdp("v=0", "o=gw 7 8 IN IP4 10.0.0.7", "s=session", "c=IN IP4 198.51.100.9", "t=0 0",
				"m=audio 41000 RTP/AVP 8 101", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15"),
		},
		{
			name:  "no final line end, blank line inside",
			in:    "v=0\r\no=- 1 1 IN IP4 10.0.0.7\r\ns=-\r\n\r\nc=IN IP4 10.0.0.7\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0",
			relay: []netip.AddrPort{relayB},
			want:  sdp("v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 198.51.100.9", "t=0 0", "m=audio 41000 RTP/AVP 0"),
		},
		{
			name:        "multipart/mixed with SDP and ISUP",
			contentType: "multipart/mixed;boundary=unique-boundary-1",
			in: "--unique-boundary-1\r\n" +
				"Content-Type: application/sdp\r\n" +
				"Content-Length: 86\r\n" +
				"\r\n" +
				sdp("v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0", "m=audio 20000 RTP/AVP 0") +
				"\r\n--unique-boundary-1\r\n" +
				"Content-Type: application/isup;version=itu-t92+\r\n" +
				"Content-Disposition: signal;handling=optional\r\n" +
				"\r\n" +
				"\x01\x00\x49\x00\x00\x03\x02\x00\x07\x04\x10\x00\x33\x63\x21\x43\x00\x00\x03\r\n" +
				"--unique-boundary-1--\r\n",
			relay: []netip.AddrPort{relayB},
			want: "--unique-boundary-1\r\n" +
				"Content-Type: application/sdp\r\n" +
				"Content-Length: 90\r\n" +
				"\r\n" +
				sdp("v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 198.51.100.9", "t=0 0", "m=audio 41000 RTP/AVP 0") +
				"\r\n--unique-boundary-1\r\n" +
				"Content-Type: application/isup;version=itu-t92+\r\n" +
				"Content-Disposition: signal;handling=optional\r\n" +
				"\r\n" +
				"\x01\x00\x49\x00\x00\x03\x02\x00\x07\x04\x10\x00\x33\x63\x21\x43\x00\x00\x03\r\n" +
				"--unique-boundary-1--\r\n",
		},
		{
			name:        "multipart/alternative nested in multipart/mixed, LF line ends, preamble and epilogue",
			contentType: `multipart/mixed; boundary="outer"`,
			in: "preamble\n--outer\n" +
				"Content-Type: multipart/alternative; boundary=inner\n" +
				"\n" +
				"--inner\n" +
				"content-type: text/plain\n\nhello\n" +
				"--inner\n" +
				"CONTENT-TYPE: Application/SDP\n" +
				"\n" +
				"v=0\no=- 1 1 IN IP4 10.0.0.7\ns=-\nc=IN IP4 10.0.0.7\nt=0 0\nm=audio 20000 RTP/AVP 0\n" +
				"\n--inner--\n" +
				"\n--outer--\nepilogue\n",
			relay: []netip.AddrPort{relayB},
			want: "preamble\n--outer\n" +
				"Content-Type: multipart/alternative; boundary=inner\n" +
				"\n" +
				"--inner\n" +
				"content-type: text/plain\n\nhello\n" +
				"--inner\n" +
				"CONTENT-TYPE: Application/SDP\n" +
				"\n" +
				sdp("v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 198.51.100.9", "t=0 0", "m=audio 41000 RTP/AVP 0") +
				"\n--inner--\n" +
				"\n--outer--\nepilogue\n",
		},
		{
			name:        "Content-Type with parameters and odd case",
			contentType: "Application/SDP; charset=utf-8",
			in:          g711Answer,
			relay:       []netip.AddrPort{relayB},
			want: sdp("v=0", "o=gw 7 8 IN IP4 10.0.0.7", "s=session", "c=IN IP4 198.51.100.9", "t=0 0",
				"m=audio 41000 RTP/AVP 8 101", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := tt.contentType
			if ct == "" {
				ct = "application/sdp"
			}
			d, err := ParseBody(ct, []byte(tt.in))
			if err != nil {
				t.Fatalf("ParseBody: got error %v, want none", err)
			}
			got, err := d.Rewrite(tt.relay, tt.opts)
			if err != nil {
				t.Fatalf("Rewrite: got error %v, want none", err)
			}
			if string(got) != tt.want {
				t.Errorf("Rewrite:\ngot  %q\nwant %q%s", got, tt.want, lineDiff(string(got), tt.want))
			}
			if d.ContentType() != ct {
				t.Errorf("ContentType: got %q, want %q", d.ContentType(), ct)
			}
			// The result parses, and rewriting it again changes nothing.
			d2, err := ParseBody(ct, got)
			if err != nil {
				t.Fatalf("ParseBody(rewritten): got error %v, want none", err)
			}
			again, err := d2.Rewrite(tt.relay, tt.opts)
			if err != nil {
				t.Fatalf("Rewrite(rewritten): got error %v, want none", err)
			}
			if string(again) != string(got) {
				t.Errorf("Rewrite(rewritten):\ngot  %q\nwant %q", again, got)
			}
		})
	}
}

// lineDiff names the first line where got and want differ.
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("\nfirst difference at line %d: got %q, want %q", i+1, gl, wl)
		}
	}
	return ""
}

var (
	_ = errors.Is
	_ = reflect.DeepEqual
)
