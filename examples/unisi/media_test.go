package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/mediabridge"
	"github.com/palio-voip/palio/sip"
)

// TestSIPpMediaAnchored: a call from a trusted source (a gateway's
// address) to SIPp's UAS, which echoes RTP (-rtp_echo), is anchored on
// the example's relay: each end sees the relay in the SDP it gets, and
// RTP sent to the relay comes back, echoed by SIPp through it.
func TestSIPpMediaAnchored(t *testing.T) {
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp not installed (apt-get install sip-tester); .ci/run installs it")
	}
	uasPort, mediaPort := freePort(t, "udp"), freeEvenPort(t)
	lo := 29000 + 2*rand.IntN(1400) // clear of other relays a test machine may run on 20000+
	e := newExample(t, fmt.Sprintf("[log]\nlevel = \"warn\"\n[media]\nport_min = %d\nport_max = %d\n", lo, lo+99))
	e.cli(0, "address", "add", "1", "127.0.0.1/32", "-tag", "gateway")
	e.cli(0, "location", "add", "5002", "sip:5002@127.0.0.1:"+strconv.Itoa(uasPort))
	e.start()

	dir := t.TempDir()
	uas, uasOut := startSIPp(t, dir, "uas.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(uasPort),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(mediaPort), "-rtp_echo",
		"-timeout", "30s", "-m", "1", "-trace_msg", "-message_file", "uas_messages.log")
	time.Sleep(200 * time.Millisecond)

	phone, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	pa := phone.LocalAddr().(*net.UDPAddr).AddrPort()
	// The caller speaks SIP from a bare socket: SIPp's [last_Via:] copies
	// only the top Via, so its responses reach the caller through the
	// proxy's transaction without the caller's Via, which a transaction
	// layer would drop but this caller reads.
	sig := newRawPhone(t, e.addr)
	offer := fmt.Sprintf("v=0\r\no=gw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", pa.Port())
	sig.send(sig.request("INVITE", "sip:5002@"+e.addr, 1, "", "", "Content-Type: application/sdp\r\n", offer))
	res := sig.waitFinal(t)
	if res.StatusCode != 200 {
		t.Fatalf("final: %v\nserver:\n%s\nUAS:\n%s", res, tail(e.stderr.String(), 20), tail(uasOut.String(), 20))
	}
	d, err := mediabridge.ParseBody("application/sdp", res.Body())
	if err != nil {
		t.Fatal(err)
	}
	relayA := d.Streams()[0].RTP
	if relayA.Port() == uint16(mediaPort) || int(relayA.Port()) < lo || int(relayA.Port()) > lo+99 {
		t.Fatalf("the caller was answered with %v: SIPp's own port %d, or not the relay's range", relayA, mediaPort)
	}

	// 20 packets of 20 ms: each comes back through the relay, unchanged.
	got := 0
	buf := make([]byte, 2048)
	for i := range 20 {
		pkt := make([]byte, 172)
		pkt[0], pkt[1] = 0x80, 0
		binary.BigEndian.PutUint16(pkt[2:], uint16(i+1))
		binary.BigEndian.PutUint32(pkt[4:], uint32(160*(i+1)))
		binary.BigEndian.PutUint32(pkt[8:], 0x5150)
		copy(pkt[12:], fmt.Sprintf("palio packet %02d", i))
		if _, err := phone.WriteToUDPAddrPort(pkt, relayA); err != nil {
			t.Fatal(err)
		}
		phone.SetReadDeadline(time.Now().Add(time.Second))
		n, from, err := phone.ReadFromUDPAddrPort(buf)
		if err != nil {
			continue
		}
		if from != relayA || !bytes.Equal(buf[:n], pkt) {
			t.Errorf("packet %d: got %d bytes from %v, want the packet echoed from the relay %v", i, n, from, relayA)
			continue
		}
		got++
		time.Sleep(20 * time.Millisecond)
	}
	if got < 19 {
		t.Errorf("%d of 20 packets came back through the relay", got)
	}
	sig.inDialog(t, res, "ACK", 1)
	sig.inDialog(t, res, "BYE", 2)
	if bye := sig.waitFinal(t); bye.StatusCode != 200 {
		t.Errorf("BYE: %v", bye)
	}
	if err := uas.Wait(); err != nil {
		t.Errorf("sipp UAS: %v\n%s", err, tail(uasOut.String(), 20))
	}
	msgs, _ := os.ReadFile(filepath.Join(dir, "uas_messages.log"))
	m := regexp.MustCompile(`m=audio (\d+) `).FindSubmatch(msgs)
	if m == nil {
		t.Fatalf("SIPp's message log has no SDP:\n%s", tail(string(msgs), 40))
	}
	if port, _ := strconv.Atoi(string(m[1])); port == int(pa.Port()) || port < lo || port > lo+99 {
		t.Errorf("SIPp was offered port %d: the caller's own %d, or not the relay's", port, pa.Port())
	}
	if !bytes.Contains(msgs, []byte("c=IN IP4 127.0.0.1")) {
		t.Errorf("SIPp's INVITE has no relay c= line")
	}
}

// freeEvenPort returns a free even UDP port with the next one free too
// (SIPp's RTP and RTCP).
func freeEvenPort(t *testing.T) int {
	t.Helper()
	for range 100 {
		p := freePort(t, "udp")
		if p%2 != 0 || p > 65000 {
			continue
		}
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(p+1))))
		if err != nil {
			continue
		}
		c.Close()
		return p
	}
	t.Fatal("no free even port")
	return 0
}

// rawPhone sends SIP from a bare UDP socket and reads what comes back.
type rawPhone struct {
	t      *testing.T
	c      *net.UDPConn
	proxy  *net.UDPAddr
	callID string
}

func newRawPhone(t *testing.T, proxy string) *rawPhone {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	dst, err := net.ResolveUDPAddr("udp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	return &rawPhone{t: t, c: c, proxy: dst, callID: fmt.Sprintf("raw-%d", rand.Int64())}
}

func (p *rawPhone) port() int { return p.c.LocalAddr().(*net.UDPAddr).Port }

// request formats a request of the phone's call; toTag and route are
// empty outside the dialog.
func (p *rawPhone) request(method, ruri string, cseq int, toTag, route, headers, body string) string {
	to := "<sip:5002@voip.unisi.it>"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	if route != "" {
		headers += "Route: " + route + "\r\n"
	}
	return fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%d;rport\r\nFrom: <sip:gw@127.0.0.1>;tag=raw\r\nTo: %s\r\n"+
		"Call-ID: %s\r\nCSeq: %d %s\r\nContact: <sip:gw@127.0.0.1:%d>\r\nMax-Forwards: 70\r\n%sContent-Length: %d\r\n\r\n%s",
		method, ruri, p.port(), rand.Int64(), to, p.callID, cseq, method, p.port(), headers, len(body), body)
}

func (p *rawPhone) send(msg string) {
	if _, err := p.c.WriteToUDP([]byte(msg), p.proxy); err != nil {
		p.t.Fatal(err)
	}
}

// waitFinal reads responses until a final one.
func (p *rawPhone) waitFinal(t *testing.T) *sip.Response {
	t.Helper()
	buf := make([]byte, 65535)
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.c.SetReadDeadline(deadline)
		n, _, err := p.c.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("no final response: %v", err)
		}
		m, err := sipmsg.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			t.Fatalf("unparsable response: %v\n%s", err, buf[:n])
		}
		if res, ok := m.(*sip.Response); ok && res.StatusCode >= 200 {
			return res
		}
	}
}

// inDialog sends an ACK or BYE in the dialog the 2xx res set up.
func (p *rawPhone) inDialog(t *testing.T, res *sip.Response, method string, cseq int) {
	t.Helper()
	tag, _ := res.To().Params.Get("tag")
	route := ""
	if rr := res.GetHeader("Record-Route"); rr != nil {
		route = rr.Value()
	}
	target := "sip:5002@127.0.0.1"
	if c := res.Contact(); c != nil {
		target = c.Address.String()
	}
	p.send(p.request(method, target, cseq, tag, route, "", ""))
}
