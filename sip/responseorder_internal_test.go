package sip

import (
	"fmt"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// recvLog is a receiver that records the status codes it is given, and
// can be made to block, as a transaction does until its owner reads.
type recvLog struct {
	mu      sync.Mutex
	codes   []int
	from    []string      // sources and transports
	gate    chan struct{} // nil: never blocks
	entered chan struct{} // a Receive began
	got     chan struct{} // a Receive returned
}

func newRecvLog() *recvLog {
	return &recvLog{entered: make(chan struct{}, 100), got: make(chan struct{}, 100)}
}

func (r *recvLog) Receive(res *Response) {
	r.entered <- struct{}{}
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	r.codes = append(r.codes, res.StatusCode)
	r.from = append(r.from, res.Transport()+" "+res.Source())
	r.mu.Unlock()
	r.got <- struct{}{}
}

func (r *recvLog) wait(t *testing.T, n int) []int {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-r.got:
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d responses received", i, n)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.codes...)
}

// laneResponse is a response datagram on branch to a method.
func laneResponse(code int, branch string, method Method) []byte {
	return []byte(fmt.Sprintf("SIP/2.0 %d X\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=%s\r\n"+
		"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: lane@test\r\nCSeq: 1 %s\r\nContent-Length: 0\r\n\r\n", code, branch, method))
}

func TestResponseLanes(t *testing.T) {
	const br = "z9hG4bK-lane-1"
	newLanes := func() (*responseLanes, *recvLog, *int) {
		strays := newRecvLog()
		dropped := new(int)
		return newResponseLanes(strays.Receive, func() { *dropped++ }), strays, dropped
	}

	t.Run("in arrival order, while the transaction blocks", func(t *testing.T) {
		l, _, _ := newLanes()
		rx := newRecvLog()
		rx.gate = make(chan struct{})
		l.open(br, INVITE)
		l.bind(br, INVITE, rx)
		for _, c := range []int{100, 180, 183, 200} {
			if !l.take(laneResponse(c, br, INVITE), "127.0.0.1:5090") {
				t.Fatalf("%d not taken", c)
			}
		}
		close(rx.gate)
		if got := rx.wait(t, 4); fmt.Sprint(got) != "[100 180 183 200]" {
			t.Errorf("received %v, want them in arrival order", got)
		}
		if rx.from[0] != "UDP 127.0.0.1:5090" {
			t.Errorf("response from %q, want UDP and the sender's address", rx.from[0])
		}
	})

	t.Run("held until the transaction is bound", func(t *testing.T) {
		l, _, _ := newLanes()
		rx := newRecvLog()
		l.open(br, INVITE)
		l.take(laneResponse(180, br, INVITE), "127.0.0.1:5090")
		l.take(laneResponse(200, br, INVITE), "127.0.0.1:5090")
		select {
		case <-rx.got:
			t.Fatal("a response went before the lane was bound")
		case <-time.After(20 * time.Millisecond):
		}
		l.bind(br, INVITE, rx)
		if got := rx.wait(t, 2); fmt.Sprint(got) != "[180 200]" {
			t.Errorf("received %v", got)
		}
	})

	t.Run("INVITE and CANCEL share the branch", func(t *testing.T) {
		l, _, _ := newLanes()
		inv, cancel := newRecvLog(), newRecvLog()
		l.open(br, INVITE)
		l.bind(br, INVITE, inv)
		l.open(br, CANCEL)
		l.bind(br, CANCEL, cancel)
		l.take(laneResponse(180, br, INVITE), "x")
		l.take(laneResponse(200, br, CANCEL), "x")
		l.take(laneResponse(487, br, INVITE), "x")
		if got := inv.wait(t, 2); fmt.Sprint(got) != "[180 487]" {
			t.Errorf("INVITE received %v", got)
		}
		if got := cancel.wait(t, 1); fmt.Sprint(got) != "[200]" {
			t.Errorf("CANCEL received %v", got)
		}
	})

	t.Run("closed: strays, and later ones go to sipgo", func(t *testing.T) {
		l, strays, _ := newLanes()
		rx := newRecvLog()
		rx.gate = make(chan struct{})
		l.open(br, INVITE)
		l.bind(br, INVITE, rx)
		l.take(laneResponse(200, br, INVITE), "x")
		<-rx.entered                               // it blocks in Receive
		l.take(laneResponse(200, br, INVITE), "x") // queued behind it
		l.close(br, INVITE)
		if l.len() != 0 {
			t.Errorf("%d lanes left after the last transaction closed", l.len())
		}
		if l.take(laneResponse(200, br, INVITE), "x") {
			t.Error("a response to a closed lane was taken; sipgo must see it")
		}
		close(rx.gate)
		rx.wait(t, 1)
		if got := strays.wait(t, 1); fmt.Sprint(got) != "[200]" {
			t.Errorf("strays %v, want the queued retransmission", got)
		}
	})

	t.Run("not ours, or unreadable", func(t *testing.T) {
		l, _, _ := newLanes()
		l.open(br, INVITE)
		l.bind(br, INVITE, newRecvLog())
		for name, data := range map[string][]byte{
			"other branch": laneResponse(200, "z9hG4bK-other", INVITE),
			"no CSeq":      []byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=" + br + "\r\nContent-Length: 0\r\n\r\n"),
			"garbage":      []byte("SIP/2.0 2x0 OK\r\nVia: SIP/2.0/UDP h;branch=" + br + "\r\nCSeq: 1\r\n\r\n"),
			"folded Via":   []byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n ;branch=" + br + "\r\n\r\n"),
		} {
			if l.take(data, "x") {
				t.Errorf("%s: taken, want it left to sipgo", name)
			}
		}
	})

	t.Run("bounded", func(t *testing.T) {
		l, _, dropped := newLanes()
		rx := newRecvLog()
		rx.gate = make(chan struct{})
		l.open(br, INVITE)
		l.bind(br, INVITE, rx)
		l.take(laneResponse(180, br, INVITE), "x")
		<-rx.entered
		for i := 0; i < laneQueue+10; i++ {
			l.take(laneResponse(180, br, INVITE), "x")
		}
		// One is in Receive, laneQueue wait: the rest were dropped.
		if *dropped != 10 {
			t.Errorf("dropped %d, want 10", *dropped)
		}
		close(rx.gate)
		rx.wait(t, laneQueue+1)
	})
}

// discard is a receiver that drops what it is given.
type discard struct{}

func (discard) Receive(*Response) {}

// FuzzResponseLanes: whatever a datagram holds, take neither panics nor
// keeps something sipgo's parser would not read as a response to the
// lane's branch with a CSeq.
func FuzzResponseLanes(f *testing.F) {
	const br = "z9hG4bK-lane-1"
	f.Add(laneResponse(180, br, INVITE))
	f.Add(laneResponse(487, br, CANCEL))
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=" + br + "\r\nCSeq: x\r\n\r\n"))
	f.Add([]byte("SIP/2.0 200 OK\r\nv: SIP/2.0/UDP h;branch=" + br + "\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l := newResponseLanes(func(*Response) {}, func() {})
		l.open(br, INVITE)
		l.bind(br, INVITE, discard{})
		if !l.take(data, "127.0.0.1:5090") {
			return
		}
		m, err := sipmsg.ParseMessage(data)
		res, ok := m.(*Response)
		if err != nil || !ok || res.CSeq() == nil {
			t.Fatalf("taken, but sipgo reads %T, %v", m, err)
		}
		if b, _ := res.Via().Params.Get("branch"); b != br {
			t.Fatalf("taken for branch %q, not the lane's", b)
		}
	})
}

// TestLaneAnswerOnce: a lane hands its INVITE transaction one 2xx; the
// callee's retransmissions of it go the stray-response way (relayed
// statelessly), in order behind nothing.
func TestLaneAnswerOnce(t *testing.T) {
	const br = "z9hG4bK-lane-answer"
	strays := newRecvLog()
	l := newResponseLanes(strays.Receive, func() { t.Error("a response was dropped") })
	rx := newRecvLog()
	l.open(br, INVITE)
	l.bind(br, INVITE, rx)
	for _, c := range []int{180, 200, 200, 200} {
		if !l.take(laneResponse(c, br, INVITE), "127.0.0.1:5090") {
			t.Fatalf("%d not taken", c)
		}
	}
	if got := rx.wait(t, 2); fmt.Sprint(got) != "[180 200]" {
		t.Errorf("the transaction received %v, want [180 200]", got)
	}
	if got := strays.wait(t, 2); fmt.Sprint(got) != "[200 200]" {
		t.Errorf("the stray path received %v, want the two retransmissions", got)
	}
}
