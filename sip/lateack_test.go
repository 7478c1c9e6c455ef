package sip_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// TestInProcessUASLateAck: a user agent server built on sipgo in the same
// process as this package (the example's media box answers with diago,
// which uses sipgo's DialogServerSession) answers a call whose ACK comes
// 1.2 s late, after the 2xx has been retransmitted at T1: the answer must
// stand (RFC 3261 §13.3.1.4: the UAS retransmits the 2xx until the ACK,
// for 64*T1). The process-wide sipgo settings this package makes
// (tuneSipgo) must not end the UAS's INVITE transaction under it.
func TestInProcessUASLateAck(t *testing.T) {
	leakCheck(t)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("uas"))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	srv, _ := sipgo.NewServer(ua)
	cli, _ := sipgo.NewClient(ua)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().(*net.UDPAddr)
	dialogs := sipgo.NewDialogServerCache(cli, sipmsg.ContactHeader{Address: sipmsg.Uri{Host: "127.0.0.1", Port: addr.Port}})
	answered := make(chan error, 1)
	srv.OnInvite(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		d, err := dialogs.ReadInvite(req, tx)
		if err != nil {
			answered <- err
			return
		}
		defer d.Close()
		answered <- d.Respond(200, "OK", nil) // returns when the ACK came
	})
	srv.OnAck(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) { _ = dialogs.ReadAck(req, tx) })
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.ServeUDP(pc) }()
	defer func() { ua.Close(); pc.Close(); <-served }()

	caller, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	from := caller.LocalAddr().String()
	invite := fmt.Sprintf("INVITE sip:box@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-late-1\r\nMax-Forwards: 70\r\n"+
		"From: <sip:5001@voip.unisi.it>;tag=a1\r\nTo: <sip:box@voip.unisi.it>\r\nCall-ID: late-ack@test\r\nCSeq: 1 INVITE\r\n"+
		"Contact: <sip:5001@%s>\r\nContent-Length: 0\r\n\r\n", addr, from, from)
	if _, err := caller.WriteTo([]byte(invite), addr); err != nil {
		t.Fatal(err)
	}
	// Read the 2xx and its retransmissions for 1.2 s, then ACK.
	var oks int
	var toTag string
	deadline := time.Now().Add(1200 * time.Millisecond)
	buf := make([]byte, 4096)
	for time.Now().Before(deadline) {
		_ = caller.SetReadDeadline(deadline)
		n, _, err := caller.ReadFrom(buf)
		if err != nil {
			break
		}
		m, err := sipmsg.ParseMessage(buf[:n])
		if res, ok := m.(*sipmsg.Response); err == nil && ok && res.StatusCode == 200 {
			oks++
			toTag, _ = res.To().Params.Get("tag")
		}
	}
	if oks < 2 {
		t.Fatalf("got %d 200 OK in 1.2 s, want the answer and its retransmission at T1", oks)
	}
	ack := fmt.Sprintf("ACK sip:box@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-late-2\r\nMax-Forwards: 70\r\n"+
		"From: <sip:5001@voip.unisi.it>;tag=a1\r\nTo: <sip:box@voip.unisi.it>;tag=%s\r\nCall-ID: late-ack@test\r\nCSeq: 1 ACK\r\n"+
		"Content-Length: 0\r\n\r\n", addr, from, toTag)
	if _, err := caller.WriteTo([]byte(ack), addr); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-answered:
		if err != nil {
			t.Fatalf("the UAS's answer failed: %v (its INVITE transaction ended before the ACK)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the UAS never saw the ACK")
	}
}
