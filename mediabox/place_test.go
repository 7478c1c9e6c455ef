package mediabox_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/diago/audio"

	"github.com/palio-voip/palio/mediabox"
	"github.com/palio-voip/palio/mediabox/mediaboxtest"
)

// scriptedRouter stands for a router and the agents behind it, speaking
// SIP by hand over UDP for what a phone agent cannot do: an INVITE to a
// silent number gets nothing at all (no 100 either, so it cannot be
// CANCELled); any other is answered 200 at once, and, with byeOnAck,
// hung up the instant its ACK arrives. It reports the status the box
// gave the agent's BYE.
type scriptedRouter struct {
	conn     *net.UDPConn
	rtp      *net.UDPConn // the SDP's port: the box's RTP lands here
	silent   func(user string) bool
	byeOnAck bool

	mu     sync.Mutex
	callID string              // of the call answered
	invite map[string][]string // its INVITE's headers
	box    *net.UDPAddr        // where the INVITE came from
	boxRTP *net.UDPAddr        // the box's RTP address in it

	answered  chan struct{} // closed when a call was answered
	byeStatus chan int      // the status of the BYE's final response
}

func newScriptedRouter(t *testing.T, silent func(user string) bool, byeOnAck bool) *scriptedRouter {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	rtp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	if silent == nil {
		silent = func(string) bool { return false }
	}
	a := &scriptedRouter{conn: conn, rtp: rtp, silent: silent, byeOnAck: byeOnAck,
		answered: make(chan struct{}), byeStatus: make(chan int, 1)}
	done := make(chan struct{})
	t.Cleanup(func() { conn.Close(); rtp.Close(); <-done })
	go func() {
		defer close(done)
		a.serve()
	}()
	return a
}

func (a *scriptedRouter) addr() string { return a.conn.LocalAddr().String() }

// inviteCallID is the Call-ID of the call answered ("" before it).
func (a *scriptedRouter) inviteCallID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.callID
}

// bye hangs up the call answered.
func (a *scriptedRouter) bye() {
	a.mu.Lock()
	invite, box := a.invite, a.box
	a.mu.Unlock()
	if invite == nil {
		return
	}
	contact := invite["contact"][0]
	if i, j := strings.Index(contact, "<"), strings.Index(contact, ">"); i >= 0 && j > i {
		contact = contact[i+1 : j]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "BYE %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-agent-bye\r\n", contact, a.addr())
	fmt.Fprintf(&b, "From: %s;tag=agent\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 1 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		invite["to"][0], invite["from"][0], invite["call-id"][0])
	_, _ = a.conn.WriteToUDP([]byte(b.String()), box)
}

// speak sends d of a tone at hz to the box as the answered agent's RTP
// (PCMU, 20 ms packets).
func (a *scriptedRouter) speak(hz float64, d time.Duration) error {
	a.mu.Lock()
	to := a.boxRTP
	a.mu.Unlock()
	if to == nil {
		return fmt.Errorf("no call answered")
	}
	pcm := mediaboxtest.Tone(hz, d)
	pkt := make([]byte, 12+160)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; 320*(i+1) <= len(pcm); i++ {
		pkt[0], pkt[1] = 0x80, 0 // RTP v2, PCMU
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		binary.BigEndian.PutUint32(pkt[4:], uint32(160*i))
		binary.BigEndian.PutUint32(pkt[8:], 0x5eed)
		if _, err := audio.EncodeUlawTo(pkt[12:], pcm[320*i:320*(i+1)]); err != nil {
			return err
		}
		if _, err := a.rtp.WriteToUDP(pkt, to); err != nil {
			return err
		}
		<-tick.C
	}
	return nil
}

func (a *scriptedRouter) serve() {
	buf := make([]byte, 65535)
	for {
		n, src, err := a.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		msg := string(buf[:n])
		if rest, ok := strings.CutPrefix(msg, "SIP/2.0 "); ok {
			h := headers(msg)
			var code int
			if _, err := fmt.Sscanf(rest, "%d", &code); err == nil && code >= 200 && len(h["cseq"]) > 0 && strings.HasSuffix(h["cseq"][0], "BYE") {
				select {
				case a.byeStatus <- code:
				default:
				}
			}
			continue
		}
		method, rest, _ := strings.Cut(msg, " ")
		h := headers(msg)
		user, _, _ := strings.Cut(strings.TrimPrefix(rest, "sip:"), "@")
		switch method {
		case "INVITE":
			if a.silent(user) || a.inviteCallID() != "" {
				continue // a silent hop, or a retransmission: nothing
			}
			a.mu.Lock()
			a.callID, a.invite, a.box = h["call-id"][0], h, src
			a.boxRTP = sdpAddr(msg)
			a.mu.Unlock()
			sdp := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
				a.rtp.LocalAddr().(*net.UDPAddr).Port)
			var b strings.Builder
			b.WriteString("SIP/2.0 200 OK\r\n")
			for _, v := range h["via"] {
				fmt.Fprintf(&b, "Via: %s\r\n", v)
			}
			fmt.Fprintf(&b, "From: %s\r\nTo: %s;tag=agent\r\nCall-ID: %s\r\nCSeq: %s\r\n", h["from"][0], h["to"][0], h["call-id"][0], h["cseq"][0])
			fmt.Fprintf(&b, "Contact: <sip:agent@%s>\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", a.addr(), len(sdp), sdp)
			_, _ = a.conn.WriteToUDP([]byte(b.String()), src)
			close(a.answered)
		case "ACK":
			// The BYE leaves the instant the ACK is read (RFC 3261 §15:
			// not before it).
			if a.byeOnAck && h["call-id"][0] == a.inviteCallID() {
				a.bye()
			}
		case "BYE":
			var b strings.Builder
			b.WriteString("SIP/2.0 200 OK\r\n")
			for _, v := range h["via"] {
				fmt.Fprintf(&b, "Via: %s\r\n", v)
			}
			fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s\r\nContent-Length: 0\r\n\r\n", h["from"][0], h["to"][0], h["call-id"][0], h["cseq"][0])
			_, _ = a.conn.WriteToUDP([]byte(b.String()), src)
		}
	}
}

// sdpAddr is the audio address of the SDP in msg (nil if none).
func sdpAddr(msg string) *net.UDPAddr {
	var ip net.IP
	port := 0
	for _, line := range strings.Split(msg, "\r\n") {
		if v, ok := strings.CutPrefix(line, "c=IN IP4 "); ok {
			ip = net.ParseIP(strings.TrimSpace(v))
		}
		if v, ok := strings.CutPrefix(line, "m=audio "); ok {
			_, _ = fmt.Sscanf(v, "%d", &port)
		}
	}
	if ip == nil || port == 0 {
		return nil
	}
	return &net.UDPAddr{IP: ip, Port: port}
}

// ackGate holds the box's ACK of one call in its write, right after the
// datagram left and before sipgo marks the dialog confirmed (and diago
// files it in its dialog table), until the callee's BYE has been
// answered: the moment a loaded machine can leave between the two,
// made certain. It is the tests' SIP write hook (setWriteHook).
type ackGate struct {
	callID  func() string
	release chan struct{}
	once    sync.Once
	held    chan struct{} // closed when an ACK was held
}

func (g *ackGate) write(msg []byte) {
	id := g.callID()
	if id == "" || !bytes.HasPrefix(msg, []byte("ACK ")) || !bytes.Contains(msg, []byte(id)) {
		return
	}
	g.once.Do(func() { close(g.held) })
	select {
	case <-g.release:
	case <-time.After(3 * time.Second):
	}
}

// TestPlacedCallByeOnAck: a queue agent answers and hangs up the
// instant the box's ACK reaches it. The box must know the dialog by
// then: the BYE is answered 200, not 481, and the caller's bridged leg
// ends with it. The box's ACK write is held (ackGate) until the BYE was
// answered, so the BYE always arrives before sipgo confirms the dialog.
// Not parallel: the write hook is one for the package.
func TestPlacedCallByeOnAck(t *testing.T) {
	agent := newScriptedRouter(t, nil, true)
	gate := &ackGate{callID: agent.inviteCallID, release: make(chan struct{}), held: make(chan struct{})}
	setWriteHook(t, gate.write)
	r := newRig(t, func(c *mediabox.Config) { c.Router = agent.addr() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := r.store.PutQueue(ctx, mediabox.Queue{ID: "solo", Members: []mediabox.Member{{Number: "5002", LoggedIn: true}}, RingTimeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	caller := mediaboxtest.NewPhone(t, "5001")
	leg, err := caller.Call(ctx, r.uri("QUEUE_solo"))
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Hangup()
	var status int
	select {
	case status = <-agent.byeStatus:
	case <-time.After(20 * time.Second):
		t.Fatal("the agent's BYE got no final response")
	}
	close(gate.release)
	select {
	case <-gate.held: // the ACK's write reached the hook (before or after the BYE's answer)
	case <-time.After(5 * time.Second):
		t.Error("the box's ACK never reached the write hook: the test did not reproduce the race")
	}
	if status != 200 {
		t.Fatalf("the agent's BYE on the ACK got %d, want 200", status)
	}
	select {
	case <-leg.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the caller's leg outlived the agent's")
	}
	waitCalls(t, r.box, 0)
}
