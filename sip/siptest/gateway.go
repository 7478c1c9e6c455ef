package siptest

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/sip"
)

// Step is one action of the script a UA answers incoming INVITEs with.
type Step struct {
	code   int
	reason string
	pause  time.Duration
	hold   bool
}

// Respond sends a response with code (and the standard reason phrase). A
// 2xx carries SDP and ends the script once ACKed; a final ≥ 300 ends it.
func Respond(code int) Step { return Step{code: code} }

// RespondReason sends a response with code and reason.
func RespondReason(code int, reason string) Step { return Step{code: code, reason: reason} }

// Pause waits d (less if the caller cancels).
func Pause(d time.Duration) Step { return Step{pause: d} }

// Hold stops answering: the INVITE stays unanswered until the caller (or the
// proxy) cancels it or the UA closes. A script that ends without a final
// response holds too.
func Hold() Step { return Step{hold: true} }

// NewGateway returns a UA that answers every INVITE with script: a PSTN
// gateway, a PBX trunk or a phone with scripted behaviour, e.g.
// NewGateway(t, Respond(180), Pause(time.Second), Respond(486)).
func NewGateway(t testing.TB, script ...Step) *UA {
	return NewUA(t, WithUser("gw"), WithScript(script...))
}

// Incoming is a call the UA received (the UAS side of an INVITE).
type Incoming struct {
	u      *UA
	Invite *sip.Request
	tx     sipmsg.ServerTransaction
	d      *dialog

	ackOnce  sync.Once
	ackCh    chan struct{}
	cancelCh chan struct{}
	canceled atomic.Bool
}

func (in *Incoming) acked() { in.ackOnce.Do(func() { close(in.ackCh) }) }

// WaitIncoming waits for the nth call (1-based) the UA received.
func (u *UA) WaitIncoming(ctx context.Context, n int) (*Incoming, error) {
	var in *Incoming
	err := u.wait(ctx, func() bool {
		if len(u.incoming) >= n {
			in = u.incoming[n-1]
			return true
		}
		return false
	})
	return in, err
}

// Incoming returns the calls received so far.
func (u *UA) Incoming() []*Incoming {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*Incoming(nil), u.incoming...)
}

// WaitAck waits for the ACK of the 2xx.
func (in *Incoming) WaitAck(ctx context.Context) error {
	select {
	case <-in.ackCh:
		return nil
	case <-ctx.Done():
		return errors.New("siptest: no ACK: " + ctx.Err().Error())
	}
}

// WaitCancel waits for the caller's CANCEL.
func (in *Incoming) WaitCancel(ctx context.Context) error {
	select {
	case <-in.cancelCh:
		return nil
	case <-ctx.Done():
		return errors.New("siptest: no CANCEL: " + ctx.Err().Error())
	}
}

// Canceled reports whether a CANCEL for this call arrived.
func (in *Incoming) Canceled() bool { return in.canceled.Load() }

// WaitBye waits until the caller hangs up.
func (in *Incoming) WaitBye(ctx context.Context) error {
	return in.u.wait(ctx, func() bool { return in.d.ended })
}

// Request sends an in-dialog request from the callee's side (INFO,
// UPDATE, a re-INVITE with body...) and returns its final response; a 2xx
// to a re-INVITE is ACKed.
func (in *Incoming) Request(ctx context.Context, method sip.Method, body []byte) (*sip.Response, error) {
	req := in.u.request(in.d, method, body)
	res, err := in.u.do(ctx, req.Clone())
	if err != nil {
		return nil, err
	}
	if method == sip.INVITE && res.StatusCode < 300 {
		ack := in.u.request(in.d, sip.ACK, nil)
		ack.CSeq().SeqNo = req.CSeq().SeqNo
		_ = in.u.cli.WriteRequest(ack, prebuilt)
	}
	return res, nil
}

// Bye hangs up the answered call from the callee's side.
func (in *Incoming) Bye(ctx context.Context) (*sip.Response, error) {
	req := in.u.request(in.d, sip.BYE, nil)
	res, err := in.u.do(ctx, req)
	if err == nil {
		in.u.mu.Lock()
		in.d.ended = true
		in.u.mu.Unlock()
	}
	return res, err
}

func (u *UA) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	u.record(req)
	if tagOf(req.To().Params) != "" {
		u.reinvite(req, tx)
		return
	}
	in := &Incoming{
		u: u, Invite: req, tx: tx,
		ackCh:    make(chan struct{}),
		cancelCh: make(chan struct{}),
	}
	in.d = &dialog{
		callID:    callIDOf(req),
		localTag:  sipmsg.GenerateTagN(10),
		remoteTag: tagOf(req.From().Params),
		localURI:  req.To().Address,
		remoteURI: req.From().Address,
		routeSet:  routeSetOf(req, false),
		cseq:      100,
		in:        in,
	}
	if c := req.Contact(); c != nil {
		in.d.remoteTarget = *c.Address.Clone()
	}
	if !tx.OnCancel(func(c *sipmsg.Request) {
		// A CANCEL that matches is answered by the transaction layer and
		// never reaches a handler: record it here.
		u.record(c)
		if in.canceled.CompareAndSwap(false, true) {
			close(in.cancelCh)
		}
	}) {
		return
	}
	u.mu.Lock()
	u.incoming = append(u.incoming, in)
	u.dialogs[in.d.callID] = in.d
	u.notify()
	u.mu.Unlock()
	u.play(in)
}

// play runs the UA's script for an incoming call.
func (u *UA) play(in *Incoming) {
	for _, st := range u.script {
		switch {
		case st.hold:
			u.holdCall(in)
			return
		case st.pause > 0:
			select {
			case <-time.After(st.pause):
			case <-in.cancelCh:
				return
			case <-u.closed:
				return
			}
		default:
			if in.canceled.Load() {
				return
			}
			res := sip.NewResponse(in.Invite, st.code, st.reason)
			if st.code > 100 {
				res.To().Params.Add("tag", in.d.localTag)
			}
			if st.code < 300 && st.code > 100 {
				res.AppendHeader(&sipmsg.ContactHeader{Address: u.Contact()})
			}
			if st.code >= 200 && st.code < 300 {
				res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
				res.SetBody(u.sdp())
			}
			if err := in.tx.Respond(res); err != nil {
				return
			}
			if st.code >= 200 && st.code < 300 {
				u.confirmed(in, res)
				return
			}
			if st.code >= 300 {
				// The ACK of a non-2xx belongs to the INVITE transaction,
				// which absorbs it: record it from there.
				select {
				case ack := <-in.tx.Acks():
					u.record(ack)
				case <-in.tx.Done():
				case <-u.closed:
				}
				return
			}
		}
	}
	u.holdCall(in)
}

func (u *UA) holdCall(in *Incoming) {
	select {
	case <-in.cancelCh:
	case <-u.closed:
	case <-in.tx.Done():
	}
}

// confirmed retransmits the 2xx until the ACK arrives (RFC 3261
// §13.3.1.4), and WithExtra2xx times more.
func (u *UA) confirmed(in *Incoming, res *sip.Response) {
	interval := sipmsg.T1
	deadline := time.After(64 * sipmsg.T1)
	acked := false
	for !acked {
		select {
		case <-in.ackCh:
			acked = true
		case <-time.After(interval):
			_ = in.tx.Respond(res)
			interval *= 2
			if interval > sipmsg.T2 {
				interval = sipmsg.T2
			}
		case <-deadline:
			return
		case <-u.closed:
			return
		}
	}
	for i := 0; i < u.extra2xx; i++ {
		select {
		case <-time.After(50 * time.Millisecond):
			_ = in.tx.Respond(res)
		case <-u.closed:
			return
		}
	}
}

// Blackhole is a UDP socket that swallows everything: a gateway that is
// down without the courtesy of an ICMP error.
type Blackhole struct {
	pc      net.PacketConn
	packets atomic.Int64
	done    chan struct{}
}

// NewBlackhole starts a Blackhole on 127.0.0.1 with a free port.
func NewBlackhole(t testing.TB) *Blackhole {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("siptest: %v", err)
	}
	b := &Blackhole{pc: pc, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		buf := make([]byte, 65535)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			b.packets.Add(1)
		}
	}()
	t.Cleanup(b.Close)
	return b
}

// Addr returns the socket's "127.0.0.1:port".
func (b *Blackhole) Addr() string { return b.pc.LocalAddr().String() }

// Packets returns how many datagrams arrived.
func (b *Blackhole) Packets() int { return int(b.packets.Load()) }

// Close closes the socket.
func (b *Blackhole) Close() {
	b.pc.Close()
	<-b.done
}
