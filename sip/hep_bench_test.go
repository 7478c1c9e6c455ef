package sip

import (
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// benchInvite is an INVITE as a phone sends it through the proxy, with
// its SDP offer: about 900 bytes, the size of most captured messages.
var benchInvite = []byte("INVITE sip:5003@voip.unisi.it SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-palio-5b1f0c;rport\r\n" +
	"Via: SIP/2.0/UDP 10.0.12.34:5060;branch=z9hG4bK-snom-77a2;rport=5060;received=10.0.12.34\r\n" +
	"Record-Route: <sip:127.0.0.1:5060;lr;ftag=1a2b3c;palio=8d3e>\r\n" +
	"Max-Forwards: 69\r\n" +
	"From: \"Mario Rossi\" <sip:5002@voip.unisi.it>;tag=1a2b3c\r\n" +
	"To: <sip:5003@voip.unisi.it>\r\n" +
	"Call-ID: 3c26700a5b1f0c4e9b6d0f1e2a3b4c5d@10.0.12.34\r\n" +
	"CSeq: 2 INVITE\r\n" +
	"Contact: <sip:5002@10.0.12.34:5060;line=k2p8s7>;reg-id=1\r\n" +
	"User-Agent: snom715/10.1.54.13\r\n" +
	"Allow: INVITE, ACK, CANCEL, BYE, REFER, OPTIONS, NOTIFY, SUBSCRIBE, PRACK, MESSAGE, INFO, UPDATE\r\n" +
	"Supported: timer, 100rel, replaces, from-change\r\n" +
	"Proxy-Authorization: Digest username=\"5002\",realm=\"voip.unisi.it\",nonce=\"Z2l2ZW4tbm9uY2U\",uri=\"sip:5003@voip.unisi.it\",response=\"0c1b2a3f4e5d6c7b8a9f0e1d2c3b4a59\",algorithm=MD5\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: " + strconv.Itoa(len(benchSDP)) + "\r\n\r\n" + benchSDP)

const benchSDP = "v=0\r\no=root 1194960458 1194960458 IN IP4 10.0.12.34\r\ns=call\r\nc=IN IP4 10.0.12.34\r\nt=0 0\r\n" +
	"m=audio 62344 RTP/AVP 9 8 0 18 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n" +
	"a=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"

// BenchmarkAppendHEP is the encoder alone: one message into a reused
// buffer. Budget: 0 allocations.
func BenchmarkAppendHEP(b *testing.B) {
	p := &HEPPacket{Protocol: HEPProtoUDP, Src: netip.MustParseAddrPort("127.0.0.1:5060"), Dst: netip.MustParseAddrPort("10.0.12.34:5060"),
		Time: time.Now(), ProtoType: HEPTypeSIP, CaptureID: 2001, CorrelationID: callIDOf(benchInvite), NodeName: []byte("siena-1"), Payload: benchInvite}
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchInvite)))
	for b.Loop() {
		buf, _ = AppendHEP(buf[:0], p)
	}
}

// BenchmarkCaptureSIP is what capture costs the goroutine that reads or
// writes a SIP socket per message: finding the Call-ID, encoding into a
// pooled buffer and queueing it for the sender, which sends to a UDP
// collector on loopback meanwhile (on another core). Budget: 0
// allocations; drops are reported (a sender slower than the loop drops,
// as it must, rather than slowing it).
func BenchmarkCaptureSIP(b *testing.B) {
	sink, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := sink.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	h, err := NewHEPClient(HEPConfig{Addr: sink.LocalAddr().String(), CaptureID: 2001, NodeName: "siena-1"})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	m := Captured{Time: time.Now(), Network: "udp", Src: netip.MustParseAddrPort("127.0.0.1:5060"),
		Dst: netip.MustParseAddrPort("10.0.12.34:5060"), Sent: true, Data: benchInvite}
	b.ReportAllocs()
	for b.Loop() {
		h.CaptureSIP(m)
	}
	b.StopTimer()
	b.ReportMetric(counterValue(h.m.droppedQueue)/float64(b.N), "dropped/op")
}

// BenchmarkHEPSend is the sender's side: each message captured and sent
// to a UDP collector on loopback, the loop waiting for the send (no
// drops). ns/op is the whole CPU cost of capturing a message, both
// goroutines together.
func BenchmarkHEPSend(b *testing.B) {
	sink, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := sink.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	h, err := NewHEPClient(HEPConfig{Addr: sink.LocalAddr().String(), CaptureID: 2001, NodeName: "siena-1", Queue: 1024})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	m := Captured{Time: time.Now(), Network: "udp", Src: netip.MustParseAddrPort("127.0.0.1:5060"),
		Dst: netip.MustParseAddrPort("10.0.12.34:5060"), Sent: true, Data: benchInvite}
	b.ReportAllocs()
	for b.Loop() {
		for len(h.queue) > 512 {
			runtime.Gosched()
		}
		h.CaptureSIP(m)
	}
	for counterValue(h.m.sent) < float64(b.N) {
		runtime.Gosched()
	}
	b.StopTimer()
	if d := counterValue(h.m.droppedQueue); d > 0 {
		b.Errorf("%v dropped", d)
	}
}
