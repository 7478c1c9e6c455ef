package sip

import (
	"sync"

	sipmsg "github.com/emiago/sipgo/sip"
)

// responseLanes hands the responses to our client transactions over UDP
// to their transactions in the order they arrived.
//
// sipgo handles every message it reads on a goroutine of its own, so two
// responses of one transaction read back to back race to it: a callee
// answering 180 and 200 at once saw its 200 handled first nine times out
// of ten (the goroutine started last runs first), and the 180, coming
// after the final response, was dropped. The read filter sees the
// datagrams of a socket in order: it parses a response whose top Via
// branch is one of ours and queues it on that branch's lane, and one
// goroutine per busy lane gives the queue to the transactions in turn.
// Responses to other branches go on to sipgo as before.
//
// A lane is opened before its request is sent (its response may come
// before sipgo returns the transaction), bound to the transaction once
// sipgo returns it, and closed when the transaction terminates: from then
// on sipgo finds no transaction either, and the responses are strays.
//
// Responses over TCP and TLS still go sipgo's way: the read filter sees
// the stream's reads, not its messages.
type responseLanes struct {
	mu sync.Mutex
	m  map[string]*lane // by top Via branch
	// stray receives a response whose transaction has ended, as sipgo
	// gives it to the server's unhandled-response handler.
	stray func(*Response)
	// dropped counts responses refused because their lane was full.
	dropped func()
}

// lane is the client transactions of one branch (an INVITE and its
// CANCEL share it) and the responses waiting for them.
type lane struct {
	txs     []laneTx
	queue   []*Response
	running bool // a goroutine is draining the queue
	// answered: a 2xx to the lane's INVITE was queued. Later ones are
	// the callee's retransmissions, which go the stray-response way
	// (relayed statelessly, or our ACK repeated for an answer we hung
	// up) and not to the transaction, which the Forwarder ends once it
	// has the first (answerTap).
	answered bool
}

// laneTx is a transaction of a lane; tx is nil until sipgo returned it.
type laneTx struct {
	method Method
	tx     receiver
}

// receiver is a client transaction as a lane sees it: sipgo's
// *sipmsg.ClientTx.
type receiver interface {
	// Receive runs the transaction's state machine on a response and
	// passes it up; it blocks until the transaction's owner takes it or
	// the transaction ends.
	Receive(*Response)
}

// laneQueue bounds the responses waiting on one lane: a transaction gets
// a handful (100, 18x, the final response and its retransmissions).
const laneQueue = 32

func newResponseLanes(stray func(*Response), dropped func()) *responseLanes {
	return &responseLanes{m: map[string]*lane{}, stray: stray, dropped: dropped}
}

// open reserves the lane of a request about to be sent.
func (l *responseLanes) open(branch string, method Method) {
	l.mu.Lock()
	ln := l.m[branch]
	if ln == nil {
		ln = &lane{}
		l.m[branch] = ln
	}
	ln.txs = append(ln.txs, laneTx{method: method})
	l.mu.Unlock()
}

// bind gives the lane the transaction sipgo returned for its request and
// starts handing it what arrived meanwhile.
func (l *responseLanes) bind(branch string, method Method, tx receiver) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ln := l.m[branch]
	if ln == nil {
		return
	}
	if i := ln.find(method, true); i >= 0 {
		ln.txs[i].tx = tx
	}
	l.startLocked(ln)
}

// close removes a transaction from its lane, and the lane when it was
// the last; responses still queued for it become strays.
func (l *responseLanes) close(branch string, method Method) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ln := l.m[branch]
	if ln == nil {
		return
	}
	if i := ln.find(method, false); i >= 0 {
		ln.txs = append(ln.txs[:i], ln.txs[i+1:]...)
	}
	if len(ln.txs) == 0 {
		delete(l.m, branch)
	}
	l.startLocked(ln)
}

// has reports whether branch (the bytes of a datagram) has a lane.
func (l *responseLanes) has(branch []byte) bool {
	l.mu.Lock()
	_, ok := l.m[string(branch)]
	l.mu.Unlock()
	return ok
}

// take queues a response received over UDP on its branch's lane. It
// reports false, leaving the datagram to sipgo, when the branch has no
// lane or the response cannot be read here.
func (l *responseLanes) take(data []byte, source string) bool {
	branch, ok := topViaBranch(data)
	if !ok || !l.has(branch) {
		return false
	}
	// The parser copies what it keeps: data, sipgo's read buffer, may be
	// parsed in place.
	m, err := sipmsg.ParseMessage(data)
	if err != nil {
		return false
	}
	res, ok := m.(*Response)
	if !ok || res.CSeq() == nil {
		return false
	}
	res.SetTransport("UDP")
	res.SetSource(source)
	answer := res.StatusCode >= 200 && res.StatusCode < 300 && res.CSeq().MethodName == INVITE
	l.mu.Lock()
	ln := l.m[string(branch)]
	if ln == nil {
		l.mu.Unlock()
		return false // closed meanwhile: sipgo parses it again, rarely
	}
	if answer && ln.answered {
		l.mu.Unlock()
		l.stray(res)
		return true
	}
	defer l.mu.Unlock()
	if len(ln.queue) >= laneQueue {
		l.dropped()
		return true
	}
	ln.answered = ln.answered || answer
	ln.queue = append(ln.queue, res)
	l.startLocked(ln)
	return true
}

// startLocked starts the goroutine that drains ln, unless one runs or the
// response at the head waits for its transaction to be bound.
func (l *responseLanes) startLocked(ln *lane) {
	if ln.running || len(ln.queue) == 0 {
		return
	}
	if tx, known := ln.tx(ln.queue[0].CSeq().MethodName); known && tx == nil {
		return
	}
	ln.running = true
	go l.drain(ln)
}

// tx returns the lane's transaction for responses to method, and whether
// the lane has one at all (bound or not).
func (ln *lane) tx(method Method) (receiver, bool) {
	if method == ACK {
		method = INVITE
	}
	i := ln.find(method, false)
	if i < 0 {
		return nil, false
	}
	return ln.txs[i].tx, true
}

// find returns the index of the lane's transaction for method (one not
// bound yet, if unbound), or -1.
func (ln *lane) find(method Method, unbound bool) int {
	for i, t := range ln.txs {
		if t.method == method && (!unbound || t.tx == nil) {
			return i
		}
	}
	return -1
}

// drain hands ln's responses to their transactions in order. Receive
// blocks until the transaction's owner takes the response or the
// transaction ends, as it does on sipgo's own goroutines.
func (l *responseLanes) drain(ln *lane) {
	for {
		l.mu.Lock()
		if len(ln.queue) == 0 {
			ln.running = false
			ln.queue = ln.queue[:0:0]
			l.mu.Unlock()
			return
		}
		res := ln.queue[0]
		tx, known := ln.tx(res.CSeq().MethodName)
		if known && tx == nil {
			ln.running = false // bind restarts it
			l.mu.Unlock()
			return
		}
		ln.queue[0] = nil
		ln.queue = ln.queue[1:]
		l.mu.Unlock()
		if tx == nil {
			l.stray(res)
			continue
		}
		tx.Receive(res)
	}
}

// isResponse reports whether a datagram is a SIP response.
func isResponse(data []byte) bool {
	return len(data) > 8 && string(data[:8]) == "SIP/2.0 "
}

// len returns how many branches have a lane.
func (l *responseLanes) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
