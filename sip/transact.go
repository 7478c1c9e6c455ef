package sip

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// tuneSipgo raises sipgo's process-wide UDP limits, before any sipgo socket
// can read them: sipgo refuses to write a UDP message above 1300 bytes, which
// breaks INVITEs with large SDP bodies (a video offer, ICE candidates); the
// kernel fragments them instead, as Kamailio and OpenSIPS let it. The read
// buffer is raised to the largest datagram for the same reason.
//
// It also shortens how long finished transactions wait: sipgo keeps a
// non-INVITE client transaction 32 s after its final response (Timer D where
// RFC 3261 §17.1.2.2 has Timer K = T4 = 5 s) and a non-INVITE server
// transaction 64*T1 (Timer J). A proxy handling thousands of calls a second
// holds every message that long; Kamailio waits 5 s (wt_timer). Palio uses
// T4 (5 s) for both: a retransmission of a request whose final response was
// lost arrives within T2 (4 s) of that response, and a retransmitted final
// response within the same window.
//
// Timer M (INVITE client transaction) keeps an answered INVITE's client
// transaction in RFC 6026's Accepted state for 64*T1 (32 s). Palio ends
// it at the 2xx: the 2xx retransmissions and the ACK are relayed
// statelessly. But sipgo v1.7.3 does not stop that timer when a
// transaction is terminated, so it would hold its transaction, with the
// INVITE and the 2xx and their bodies, for 32 s all the same: at 3000
// calls/s, 96 000 transactions. T1 (500 ms) bounds that and still covers
// the moment between the 2xx and Palio's own termination. Over UDP the
// Forwarder's INVITE transactions never arm it at all: their lane hands
// the 2xx around sipgo's state machine (answerTap), since at light load
// the timer firing T1 after every answer woke the idle process. Timer L, its
// server-side twin, keeps sipgo's 64*T1: the proxy's INVITE server
// transactions never arm it (txWriter.answer sends their 2xx around the
// state machine), and a user agent server in the same process (the
// media box's diago) needs its transaction for the 2xx retransmissions
// until a late ACK comes.
//
// These are variables of the sipgo package, shared by everything in the
// process that uses sipgo, and read by its goroutines without a lock: they
// can only be set before any sipgo socket or transaction exists, that is
// when this package is initialised (see the package documentation). A
// program that wants sipgo's own values calls RestoreSipgoDefaults first
// thing in main.
func tuneSipgo() {
	sipmsg.UDPMTUSize = 65535
	sipmsg.TransportBufferReadSize = 65535
	sipmsg.Timer_D = sipmsg.T4
	sipmsg.Timer_J = sipmsg.T4
	sipmsg.Timer_M = sipmsg.T1
}

// sipgoDefaults are sipgo's values of what tuneSipgo sets.
var sipgoDefaults = struct {
	mtu            int
	readSize       uint16
	timerD, timerJ time.Duration
	timerL, timerM time.Duration
}{sipmsg.UDPMTUSize, sipmsg.TransportBufferReadSize, sipmsg.Timer_D, sipmsg.Timer_J, sipmsg.Timer_L, sipmsg.Timer_M}

// init tunes sipgo's settings and installs the indirection of its
// package-level logger (SetLibraryLogger): sipgo reads both without a
// lock, so they are set before any of its goroutines exists.
func init() {
	tuneSipgo()
	installLibraryLog()
}

// RestoreSipgoDefaults puts back sipgo's own values of the process-wide
// settings this package changes when it is initialised (the UDP message
// limit, the read buffer, Timers D, J and M; see the package
// documentation). Call it first thing in main, before any sipgo socket or
// transaction exists (they read the settings without a lock), in a
// program that runs other sipgo code relying on them. A Palio proxy then
// keeps finished transactions for sipgo's 32 s, and refuses to send UDP
// messages above 1300 bytes.
func RestoreSipgoDefaults() {
	d := sipgoDefaults
	sipmsg.UDPMTUSize, sipmsg.TransportBufferReadSize = d.mtu, d.readSize
	sipmsg.Timer_D, sipmsg.Timer_J, sipmsg.Timer_L, sipmsg.Timer_M = d.timerD, d.timerJ, d.timerL, d.timerM
}

// sendDetached sends a request of the proxy's own (a CANCEL, a BYE) on a
// client transaction in the background and drops its response.
func (s *Server) sendDetached(req *Request) {
	s.detached.Add(1)
	go func() {
		defer s.detached.Add(-1)
		ctx, cancel := context.WithTimeout(s.baseCtx, 64*sipmsg.T1)
		defer cancel()
		tx, err := s.tr.request(ctx, req)
		if err != nil {
			s.log.Debug("sip: request not sent", "method", string(req.Method), "callid", callID(req), "error", err)
			return
		}
		defer tx.Terminate()
		for {
			select {
			case res := <-tx.Responses():
				if res.StatusCode >= 200 {
					return
				}
			case <-tx.Done():
				return
			case <-ctx.Done():
				return
			}
		}
	}()
}

// transactor is the client side of the transaction layer, as the Forwarder
// uses it. Tests and fuzzers substitute a scripted one.
type transactor interface {
	// request starts a client transaction for the prebuilt r. An
	// INVITE's transaction over UDP hands its 2xx on answersOf(tx), not
	// on Responses (answerTap): whoever sends an INVITE this way reads
	// both, as the Forwarder does.
	request(ctx context.Context, r *Request) (sipmsg.ClientTransaction, error)
	// write sends r without a transaction (ACK for a 2xx).
	write(r *Request) error
}

type sipgoTransactor struct {
	cli     *sipgo.Client
	closing *atomic.Bool
	lanes   *responseLanes // nil: sipgo orders nothing (tests)
}

var errServerClosed = errors.New("sip: server closed")

// prebuilt tells sipgo that the request is complete: with any option it
// adds nothing (no Via, no Max-Forwards).
func prebuilt(*sipgo.Client, *sipmsg.Request) error { return nil }

func (t sipgoTransactor) request(ctx context.Context, r *Request) (sipmsg.ClientTransaction, error) {
	if t.closing.Load() {
		return nil, errServerClosed
	}
	branch := ""
	if v := r.Via(); t.lanes != nil && v != nil && r.Transport() == "UDP" {
		branch, _ = v.Params.Get("branch")
	}
	if branch == "" {
		return t.cli.TransactionRequest(ctx, r, prebuilt)
	}
	// The lane is open before the request leaves: its first response can
	// be read before sipgo returns the transaction.
	t.lanes.open(branch, r.Method)
	tx, err := t.cli.TransactionRequest(ctx, r, prebuilt)
	if err != nil {
		t.lanes.close(branch, r.Method)
		return nil, err
	}
	own, ok := tx.(*sipmsg.ClientTx)
	if !ok || !tx.OnTerminate(func(string, error) { t.lanes.close(branch, r.Method) }) {
		// Not sipgo's own transaction, or over already.
		t.lanes.close(branch, r.Method)
		return tx, nil
	}
	if r.Method != INVITE {
		t.lanes.bind(branch, r.Method, own)
		return tx, nil
	}
	tap := &answerTap{ClientTx: own, answers: make(chan *Response, 1)}
	t.lanes.bind(branch, r.Method, tap)
	return tap, nil
}

// answerTap is an INVITE client transaction over UDP whose 2xx its lane
// hands to the Forwarder directly, around sipgo's state machine; other
// responses go through it. The Forwarder ends the transaction once it has
// the 2xx, and the lane sends the callee's retransmissions of it the
// stray-response way: the transaction never enters RFC 6026's Accepted
// state, so sipgo never arms its Timer M. That timer, which sipgo does
// not stop when the transaction ends, fired T1 after every answer: at
// light load the idle process woke for it, 2.3 context switches a call
// and a tenth of the CPU at 200 calls/s (bench/ab.sh cps 200, Timer M
// set to 0 for the measurement).
type answerTap struct {
	*sipmsg.ClientTx
	answers chan *Response // capacity 1: the lane passes one 2xx
}

// Receive takes a response from the transaction's lane.
func (a *answerTap) Receive(res *Response) {
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		select {
		case a.answers <- res:
		default: // one is waiting already: the lane passes only the first
		}
		return
	}
	a.ClientTx.Receive(res)
}

// answersOf is the channel of the 2xx a transaction hands around sipgo
// (answerTap), nil (never ready) for any other.
func answersOf(tx sipmsg.ClientTransaction) <-chan *Response {
	if a, ok := tx.(*answerTap); ok {
		return a.answers
	}
	return nil
}

// takeAnswer returns a 2xx waiting on answers, if any.
func takeAnswer(answers <-chan *Response) *Response {
	select {
	case res := <-answers:
		return res
	default:
		return nil
	}
}

func (t sipgoTransactor) write(r *Request) error {
	if t.closing.Load() {
		return errServerClosed
	}
	return t.cli.WriteRequest(r, prebuilt)
}
