package mediabridge_test

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/palio-voip/palio/mediabridge"
)

// A phone behind NAT offers G.711 from its private address; the relay
// allocated 203.0.113.5:40000 for the stream. The rewritten offer sends
// the callee's media to the relay, with the o= line kept by an Origin.
func ExampleDescription_Rewrite() {
	offer := "v=0\r\n" +
		"o=alice 2890844526 2890844526 IN IP4 192.168.1.20\r\n" +
		"s=-\r\n" +
		"c=IN IP4 192.168.1.20\r\n" +
		"t=0 0\r\n" +
		"m=audio 49170 RTP/AVP 0 8 101\r\n" +
		"a=rtpmap:0 PCMU/8000\r\n" +
		"a=rtpmap:8 PCMA/8000\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\n" +
		"a=fmtp:101 0-16\r\n" +
		"a=rtcp:49171\r\n" +
		"a=sendrecv\r\n"

	d, err := mediabridge.ParseBody("application/sdp", []byte(offer))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range d.Streams() {
		fmt.Println(s.Media, s.Proto, s.RTP, s.RTCP, s.Direction)
	}

	toCallee := &mediabridge.Origin{Address: netip.MustParseAddr("203.0.113.5")}
	relay := []netip.AddrPort{netip.MustParseAddrPort("203.0.113.5:40000")}
	body, err := d.Rewrite(relay, mediabridge.RewriteOptions{Origin: toCallee})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(strings.ReplaceAll(string(body), "\r\n", "\n"))
	// Output:
	// audio RTP/AVP 192.168.1.20:49170 192.168.1.20:49171 sendrecv
	// v=0
	// o=alice 2890844526 2890844526 IN IP4 203.0.113.5
	// s=-
	// c=IN IP4 203.0.113.5
	// t=0 0
	// m=audio 40000 RTP/AVP 0 8 101
	// a=rtpmap:0 PCMU/8000
	// a=rtpmap:8 PCMA/8000
	// a=rtpmap:101 telephone-event/8000
	// a=fmtp:101 0-16
	// a=rtcp:40001
	// a=sendrecv
}
