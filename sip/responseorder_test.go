package sip_test

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/palio-voip/palio/sip"
)

// burstUAS answers every INVITE that reaches pc with a 180 and a 200 in
// two datagrams written back to back, and any other request but ACK with
// a 200: a callee (a gateway, a phone answering at once) whose provisional
// and final responses reach the proxy within microseconds.
func burstUAS(pc net.PacketConn) {
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		m, err := sipmsg.ParseMessage(buf[:n])
		req, ok := m.(*sipmsg.Request)
		if err != nil || !ok || req.IsAck() {
			continue
		}
		answer := func(code int, reason string) []byte {
			res := sipmsg.NewResponseFromRequest(req, code, reason, nil)
			if req.IsInvite() {
				res.To().Params.Add("tag", "burst")
				res.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{User: "uas", Host: "127.0.0.1", Port: pc.LocalAddr().(*net.UDPAddr).Port}})
			}
			return []byte(res.String())
		}
		if req.IsInvite() {
			_, _ = pc.WriteTo(answer(180, "Ringing"), from)
		}
		_, _ = pc.WriteTo(answer(200, "OK"), from)
	}
}

// TestResponsesRelayedInOrder: a callee's 180 and 200, arriving back to
// back, reach the caller in that order, on every call. sipgo hands each
// received message to a goroutine of its own, so the 200 could be handled
// first and the 180, coming after the final response, was then dropped
// (RFC 3261 §16.7 relays provisional responses; a caller that never sees
// the ringing shows no ringback).
func TestResponsesRelayedInOrder(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, sip.ForwarderConfig{})
	uas, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); burstUAS(uas) }()
	defer func() { uas.Close(); <-done }()
	p.route("burst", target(t, "sip:uas@"+uas.LocalAddr().String()))

	caller, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	proxy, err := net.ResolveUDPAddr("udp", p.udp())
	if err != nil {
		t.Fatal(err)
	}
	const calls = 200
	var misordered []string
	for i := 0; i < calls; i++ {
		codes, err := burstCall(caller, proxy, i)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if len(codes) != 2 || codes[0] != 180 || codes[1] != 200 {
			misordered = append(misordered, fmt.Sprintf("call %d: %v", i, codes))
		}
	}
	if len(misordered) > 0 {
		t.Errorf("%d of %d calls did not get 180 then 200 (100 Trying aside): %v", len(misordered), calls, misordered)
	}
}

// burstCall sends an INVITE from caller through proxy, collects the codes
// of the responses other than 100 until the 200, ACKs it and hangs up.
func burstCall(caller net.PacketConn, proxy net.Addr, i int) ([]int, error) {
	from := caller.LocalAddr().String()
	callID := fmt.Sprintf("order-%d@test", i)
	msg := func(method string, cseq int, branch, toTag string) []byte {
		to := "<sip:burst@voip.unisi.it>"
		if toTag != "" {
			to += ";tag=" + toTag
		}
		return []byte(fmt.Sprintf("%s sip:burst@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s\r\nMax-Forwards: 70\r\n"+
			"From: <sip:5001@voip.unisi.it>;tag=c%d\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n"+
			"Contact: <sip:5001@%s>\r\nContent-Length: 0\r\n\r\n", method, proxy, from, branch, i, to, callID, cseq, method, from))
	}
	if _, err := caller.WriteTo(msg("INVITE", 1, fmt.Sprintf("inv%d", i), ""), proxy); err != nil {
		return nil, err
	}
	var codes []int
	buf := make([]byte, 65535)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_ = caller.SetReadDeadline(deadline)
		n, _, err := caller.ReadFrom(buf)
		if err != nil {
			return codes, fmt.Errorf("no 200 (got %v): %w", codes, err)
		}
		m, err := sipmsg.ParseMessage(buf[:n])
		res, ok := m.(*sipmsg.Response)
		if err != nil || !ok || res.CallID().Value() != callID {
			continue
		}
		if res.CSeq().MethodName != sipmsg.INVITE || res.StatusCode == 100 {
			continue
		}
		codes = append(codes, res.StatusCode)
		if res.StatusCode < 200 {
			continue
		}
		if res.StatusCode != 200 {
			return codes, errors.New("the call failed")
		}
		tag, _ := res.To().Params.Get("tag")
		if _, err := caller.WriteTo(msg("ACK", 1, fmt.Sprintf("ack%d", i), tag), proxy); err != nil {
			return codes, err
		}
		if _, err := caller.WriteTo(msg("BYE", 2, fmt.Sprintf("bye%d", i), tag), proxy); err != nil {
			return codes, err
		}
		// Wait for the BYE's 200, so that the calls do not overlap.
		for {
			_ = caller.SetReadDeadline(deadline)
			n, _, err := caller.ReadFrom(buf)
			if err != nil {
				return codes, fmt.Errorf("no answer to BYE: %w", err)
			}
			m, err := sipmsg.ParseMessage(buf[:n])
			if res, ok := m.(*sipmsg.Response); err == nil && ok && res.CSeq().MethodName == sipmsg.BYE && res.StatusCode >= 200 {
				return codes, nil
			}
		}
	}
}
