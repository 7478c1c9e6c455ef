package mediabox_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/mediabox"
	"github.com/palio-voip/palio/mediabox/mediaboxtest"
	"github.com/palio-voip/palio/presence"
)

// TestQueueRingAllTwoAgents: the IVR's key 1 puts the caller in queue
// 5000 with music; both agents ring; 5002 is busy, 5003 answers and is
// bridged.
func TestQueueRingAllTwoAgents(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	r.router.SetAnswer(func(ruri string) bool { return ruri == "5003" })
	caller := mediaboxtest.NewPhone(t, "5001")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	leg, err := caller.Call(ctx, r.uri("IVR_5000"))
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Hangup()
	if err := leg.WaitSound(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := leg.Press("1"); err != nil {
		t.Fatal(err)
	}
	agent, err := r.router.Arrived(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if agent.To != "5003" || agent.From != "5001" {
		t.Fatalf("agent leg to %s from %s, want 5003 from 5001", agent.To, agent.From)
	}
	go agent.Speak(440, 2*time.Second)
	before := len(leg.Heard())
	time.Sleep(1500 * time.Millisecond)
	if rms := mediaboxtest.RMS(leg.Heard()[before:]); rms < 300 {
		t.Fatalf("caller hears the agent at RMS %.0f", rms)
	}
	agent.Hangup()
	select {
	case <-leg.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the caller's leg outlived the agent's")
	}
	waitCalls(t, r.box, 0)
	if n := r.box.Waiting("5000"); n != 0 {
		t.Errorf("%d callers still waiting", n)
	}
}

// TestQueueCallerLeavesAsAgentAnswers: in a ring-all round one agent
// answers while the other has not responded yet (so it cannot be
// CANCELled); the caller hangs up before that other's answer ends the
// round. The answered agent's leg must be hung up, not left with no one
// on it.
func TestQueueCallerLeavesAsAgentAnswers(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	release := make(chan struct{})
	r.router.SetAnswer(func(ruri string) bool { return ruri == "5003" })
	r.router.SetHold(func(ruri string) <-chan struct{} {
		if ruri == "5002" {
			return release // silent until the caller has gone, then busy
		}
		return nil
	})
	caller := mediaboxtest.NewPhone(t, "5001")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	leg, err := caller.Call(ctx, r.uri("QUEUE_5000"))
	if err != nil {
		t.Fatal(err)
	}
	agent, err := r.router.Arrived(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	leg.Hangup()
	// The box stops its music on the hang-up while 5002 is silent;
	// only then does 5002's refusal end the round.
	time.Sleep(300 * time.Millisecond)
	close(release)
	select {
	case <-agent.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the agent's leg outlived the caller's")
	}
	waitCalls(t, r.box, 0)
}

// TestQueueRoundRobin: each call starts with the agent after the one who
// took the last.
func TestQueueRoundRobin(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := r.store.PutQueue(ctx, mediabox.Queue{ID: "rr", Strategy: mediabox.RoundRobin,
		Members: []mediabox.Member{{Number: "5002", LoggedIn: true}, {Number: "5003", LoggedIn: true}}, RingTimeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	caller := mediaboxtest.NewPhone(t, "5001")
	for _, want := range []string{"5002", "5003", "5002"} {
		leg, err := caller.Call(ctx, r.uri("QUEUE_rr"))
		if err != nil {
			t.Fatal(err)
		}
		agent, err := r.router.Arrived(20 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if agent.To != want {
			t.Errorf("agent %s took the call, want %s", agent.To, want)
		}
		// Hang up once the box has bridged the call (the caller left the
		// queue): a caller leaving while the agent answers leaves the
		// round where it was.
		for deadline := time.Now().Add(5 * time.Second); r.box.Waiting("rr") != 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		leg.Hangup()
		<-agent.Done()
		waitCalls(t, r.box, 0)
	}
}

// TestQueueTimeoutToVoicemail: no agent logged in; after the wait the
// queue's timeout action takes the caller to voicemail.
func TestQueueTimeoutToVoicemail(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := r.store.PutQueue(ctx, mediabox.Queue{ID: "empty", Members: []mediabox.Member{{Number: "5002"}},
		MaxWait: 3 * time.Second, OnTimeout: mediabox.Action{Kind: mediabox.Voicemail, Arg: "5002"}}); err != nil {
		t.Fatal(err)
	}
	caller := mediaboxtest.NewPhone(t, "5001")
	leg, err := caller.Call(ctx, r.uri("QUEUE_empty"))
	if err != nil {
		t.Fatal(err)
	}
	// Hold message, music, then the voicemail greeting and its tone.
	time.Sleep(4 * time.Second)
	if err := leg.Silence(1500*time.Millisecond, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := leg.Speak(500, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	leg.Hangup()
	r.mwi.wait(t, presence.Mailbox{User: "5002", Domain: "voip.unisi.it", New: 1})
	if _, err := r.router.Arrived(100 * time.Millisecond); err == nil {
		t.Error("a logged-out agent was rung")
	}
}

// TestAgentLogInOut: AGENTOUT_/AGENTIN_ change the caller's state in
// the queue; a caller who is no member changes nothing.
func TestAgentLogInOut(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	loggedIn := func(number string) bool {
		q, err := r.store.Queue(ctx, "5000")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range q.Members {
			if m.Number == number {
				return m.LoggedIn
			}
		}
		t.Fatalf("%s not a member", number)
		return false
	}
	call := func(from, user string) {
		t.Helper()
		p := mediaboxtest.NewPhone(t, from)
		leg, err := p.Call(ctx, r.uri(user))
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-leg.Done(): // the box says so and hangs up
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the box did not hang up", user)
		}
		leg.Hangup()
	}
	call("5002", "AGENTOUT_5000")
	if loggedIn("5002") {
		t.Fatal("5002 still logged in after AGENTOUT_5000")
	}
	call("5002", "AGENTIN_5000")
	if !loggedIn("5002") {
		t.Fatal("5002 not logged in after AGENTIN_5000")
	}
	call("5009", "AGENTOUT_5000")
	if !loggedIn("5002") || !loggedIn("5003") {
		t.Fatal("a non-member's AGENTOUT changed the queue")
	}
}

// TestQueueAgentLeavesWhileRoundWaits: in a ring-all round 5003
// answers while 5002 has sent nothing yet (so it cannot be CANCELled);
// 5003 hangs up before 5002's response ends the round. The caller's leg
// must end with the agent's, and 5002's late response leave nothing up:
// a refusal, or a ringing the box CANCELs (and an answer crossing the
// CANCEL it hangs up).
func TestQueueAgentLeavesWhileRoundWaits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		lateAnswers bool // 5002 answers once released (else busy)
	}{
		{name: "late busy"},
		{name: "late answer", lateAnswers: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil)
			release := make(chan struct{})
			r.router.SetAnswer(func(ruri string) bool { return ruri == "5003" || tc.lateAnswers })
			r.router.SetHold(func(ruri string) <-chan struct{} {
				if ruri == "5002" {
					return release
				}
				return nil
			})
			caller := mediaboxtest.NewPhone(t, "5001")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			leg, err := caller.Call(ctx, r.uri("QUEUE_5000"))
			if err != nil {
				t.Fatal(err)
			}
			defer leg.Hangup()
			agent, err := r.router.Arrived(20 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if agent.To != "5003" {
				t.Fatalf("agent %s answered first, want 5003", agent.To)
			}
			agent.Hangup()
			time.Sleep(300 * time.Millisecond)
			close(release)
			select {
			case <-leg.Done():
			case <-time.After(15 * time.Second):
				t.Fatal("the caller's leg outlived the agent's")
			}
			if tc.lateAnswers {
				// Its 180 lets the box CANCEL it; an answer that
				// crossed the CANCEL must be hung up.
				if late, err := r.router.Arrived(3 * time.Second); err == nil {
					select {
					case <-late.Done():
					case <-time.After(10 * time.Second):
						t.Fatalf("the late answer of %s was left up", late.To)
					}
				}
			}
			waitCalls(t, r.box, 0)
			if n := r.box.Waiting("5000"); n != 0 {
				t.Errorf("%d callers still waiting", n)
			}
		})
	}
}

// TestQueueMusicFails: the music on hold fails (the caller's re-INVITE
// moves its media to an address the box's loopback socket cannot send
// to) while both agents ring. The call ends (the box hangs up the
// caller), the agents' INVITEs are CANCELled, and an agent answering
// after that is not left up with no one on it.
//
// (Before ring-all returned its winner at once, an agent answering while
// the round waited on a silent one was left up by a music failure: this
// test, with 5003 answering and 5002 held, failed so. That answer now
// reaches the bridge at once; the queue still hangs up one found waiting
// when the music fails.)
func TestQueueMusicFails(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	release := make(chan struct{})
	r.router.SetHold(func(string) <-chan struct{} { return release })
	c := callRaw(t, r, "QUEUE_5000")
	c.ack()
	// The hold message (about 3 s), then the music while both ring.
	time.Sleep(5 * time.Second)
	// RTP from the box's loopback socket to an outside address fails
	// (EINVAL): the music's next packet is an error, not a hang-up.
	me := c.conn.LocalAddr().String()
	sdp := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" +
		"m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
	c.send("INVITE sip:QUEUE_5000@" + c.box.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + me + ";branch=z9hG4bK-raw-reinvite;rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:5001@127.0.0.1>;tag=raw\r\nTo: " + c.to + "\r\n" +
		"Call-ID: raw@127.0.0.1\r\nCSeq: 2 INVITE\r\nContact: <sip:5001@" + me + ">\r\n" +
		"Content-Type: application/sdp\r\nContent-Length: " + strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp)
	for {
		msg, err := c.read(10 * time.Second)
		if err != nil {
			t.Fatalf("no final response to the re-INVITE: %v", err)
		}
		if strings.HasPrefix(msg, "SIP/2.0 1") || header(msg, "CSeq") != "2 INVITE" {
			continue
		}
		if !strings.HasPrefix(msg, "SIP/2.0 200") {
			t.Fatalf("re-INVITE answered %q", strings.SplitN(msg, "\r\n", 2)[0])
		}
		break
	}
	c.send("ACK sip:QUEUE_5000@" + c.box.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + me + ";branch=z9hG4bK-raw-reack;rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:5001@127.0.0.1>;tag=raw\r\nTo: " + c.to + "\r\n" +
		"Call-ID: raw@127.0.0.1\r\nCSeq: 2 ACK\r\nContent-Length: 0\r\n\r\n")
	// The box hangs up the caller on the failure, agents still ringing.
	for {
		msg, err := c.read(10 * time.Second)
		if err != nil {
			t.Fatalf("the box did not end the call whose music failed: %v", err)
		}
		if strings.HasPrefix(msg, "BYE ") {
			break
		}
	}
	close(release)
	if agent, err := r.router.Arrived(2 * time.Second); err == nil {
		select {
		case <-agent.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("agent %s answered after the music failed and was left up", agent.To)
		}
	}
	waitCalls(t, r.box, 0)
}

// TestQueueAnswerNotHeldBySilentAgent: in a ring-all round 5002's next
// hop sends nothing at all (no 100 either: it cannot be CANCELled, and
// its INVITE ends only at Timer B) while 5003 answers. 5003 is bridged
// to the caller at once (within a second), not once 5002's INVITE ends;
// Close then ends 5002's pending leg without waiting for it.
func TestQueueAnswerNotHeldBySilentAgent(t *testing.T) {
	t.Parallel()
	router := newScriptedRouter(t, func(user string) bool { return user == "5002" }, false)
	r := newRig(t, func(c *mediabox.Config) { c.Router = router.addr() })
	caller := mediaboxtest.NewPhone(t, "5001")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	leg, err := caller.Call(ctx, r.uri("QUEUE_5000"))
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Hangup()
	select {
	case <-router.answered:
	case <-time.After(20 * time.Second):
		t.Fatal("5003 was not rung")
	}
	answered := time.Now()
	// The caller leaves the queue as the bridge starts.
	for r.box.Waiting("5000") != 0 {
		if time.Since(answered) > time.Second {
			t.Fatalf("the caller still waits %s after 5003 answered", time.Since(answered).Round(time.Millisecond))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// And hears the agent: 440 Hz, which neither the music nor the
	// prompts hold.
	before := len(leg.Heard())
	if err := router.speak(440, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if got := mediaboxtest.ToneTime(leg.Heard()[before:], 440); got < 500*time.Millisecond {
		t.Fatalf("the caller heard %s of the agent's 1.5 s of 440 Hz, want at least 500ms", got)
	}
	router.bye()
	select {
	case <-leg.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the caller's leg outlived the agent's")
	}
	waitCalls(t, r.box, 0)
	// 5002's INVITE is still unanswered: Close must not wait for it.
	start := time.Now()
	r.box.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %s with a silent leg pending", d.Round(time.Millisecond))
	}
}
