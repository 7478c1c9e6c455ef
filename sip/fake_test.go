package sip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

// fakeServerTx is a server transaction without a network: it records what
// the server answers.
type fakeServerTx struct {
	mu        sync.Mutex
	responses []*Response
	done      chan struct{}
	once      sync.Once
	onCancel  func(*Request)
	onTerm    []func(string, error)
	err       error
	final     bool
}

func newFakeServerTx() *fakeServerTx { return &fakeServerTx{done: make(chan struct{})} }

func (tx *fakeServerTx) Respond(res *Response) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.err != nil {
		return tx.err
	}
	if tx.final && res.StatusCode >= 300 {
		return nil
	}
	tx.responses = append(tx.responses, res)
	if res.StatusCode >= 200 {
		tx.final = true
	}
	return nil
}

func (tx *fakeServerTx) Acks() <-chan *Request { return nil }

func (tx *fakeServerTx) OnCancel(f sipmsg.FnTxCancel) bool {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.onCancel = f
	return true
}

// cancel plays the caller's CANCEL as sipgo does: the callback, then 487.
func (tx *fakeServerTx) cancel(r *Request) {
	tx.mu.Lock()
	f := tx.onCancel
	final := tx.final
	tx.mu.Unlock()
	if final {
		return
	}
	if f != nil {
		f(r)
	}
	tx.mu.Lock()
	tx.responses = append(tx.responses, NewResponse(r, 487, ""))
	tx.final = true
	tx.err = sipmsg.ErrTransactionCanceled
	tx.mu.Unlock()
}

func (tx *fakeServerTx) Terminate() {
	tx.once.Do(func() {
		close(tx.done)
		tx.mu.Lock()
		fs := tx.onTerm
		tx.mu.Unlock()
		for _, f := range fs {
			f("", sipmsg.ErrTransactionTerminated)
		}
	})
}

func (tx *fakeServerTx) OnTerminate(f sipmsg.FnTxTerminate) bool {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.onTerm = append(tx.onTerm, f)
	return true
}

func (tx *fakeServerTx) Done() <-chan struct{} { return tx.done }
func (tx *fakeServerTx) Err() error            { return nil }

func (tx *fakeServerTx) codes() []int {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	var c []int
	for _, r := range tx.responses {
		c = append(c, r.StatusCode)
	}
	return c
}

// fakeClientTx delivers scripted responses to the Forwarder.
type fakeClientTx struct {
	responses chan *Response
	done      chan struct{}
	once      sync.Once
	err       error
}

func (tx *fakeClientTx) Responses() <-chan *Response               { return tx.responses }
func (tx *fakeClientTx) Done() <-chan struct{}                     { return tx.done }
func (tx *fakeClientTx) Err() error                                { return tx.err }
func (tx *fakeClientTx) Terminate()                                { tx.once.Do(func() { close(tx.done) }) }
func (tx *fakeClientTx) OnTerminate(sipmsg.FnTxTerminate) bool     { return true }
func (tx *fakeClientTx) OnRetransmission(sipmsg.FnTxResponse) bool { return true }

// scripted is a downstream that answers every request with the same codes.
type scripted struct {
	mu    sync.Mutex
	codes []int
	sent  []*Request
	fail  error
}

func (d *scripted) request(ctx context.Context, r *Request) (sipmsg.ClientTransaction, error) {
	d.mu.Lock()
	d.sent = append(d.sent, r)
	codes, fail := d.codes, d.fail
	d.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	tx := &fakeClientTx{responses: make(chan *Response), done: make(chan struct{})}
	go func() {
		for _, c := range codes {
			res := sipmsg.NewResponseFromRequest(r, c, ReasonPhrase(c), nil)
			if to := res.To(); c > 100 && to != nil {
				to.Params.Add("tag", "downstream")
			}
			select {
			case tx.responses <- res:
			case <-tx.done:
				return
			}
			if c >= 200 {
				return
			}
		}
		tx.err = sipmsg.ErrTransactionTimeout
		tx.Terminate()
	}()
	return tx, nil
}

func (d *scripted) write(r *Request) error {
	d.mu.Lock()
	d.sent = append(d.sent, r)
	d.mu.Unlock()
	return nil
}

// newOfflineServer builds a Server with no sockets and a scripted
// downstream: the whole request path (edge, mux, pipeline, Forwarder,
// DialogRelay, dialog table) runs, nothing goes on the wire.
func newOfflineServer(t testing.TB, down *scripted, targets ...Target) *Server {
	s := &Server{
		log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		metrics: newMetrics(nil),
		local:   newLocal(),
		rr:      newRouteSigner(nil),
		closed:  make(chan struct{}),
	}
	if err := s.local.addListen("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060}, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.local.addListen("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060}, ""); err != nil {
		t.Fatal(err)
	}
	s.dialogs = NewDialogs(0)
	s.dialogs.local = s.local
	t.Cleanup(s.dialogs.Close)
	s.baseCtx, s.stopBase = context.WithCancel(context.Background())
	t.Cleanup(s.stopBase)
	s.tr = down
	fwd := NewForwarder(s, ForwarderConfig{})
	route := func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
			if len(targets) > 0 {
				ctx = WithTargets(ctx, targets...)
			}
			return next.ServeSIP(ctx, w, r)
		})
	}
	s.handler = &ServeMux{Local: s.local, InDialog: NewDialogRelay(fwd), Initial: Chain(route)(fwd)}
	return s
}

func parseRequest(t testing.TB, raw string) *Request {
	r, err := requestFrom([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// requestFrom parses data as a request received over UDP from
// 127.0.0.1:5070, as the tests and fuzz targets feed the server.
func requestFrom(data []byte) (*Request, error) {
	m, err := sipmsg.ParseMessage(data)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	r, ok := m.(*Request)
	if !ok {
		return nil, errors.New("not a request")
	}
	r.SetSource("127.0.0.1:5070")
	r.SetTransport("UDP")
	return r, nil
}

const inviteMsg = "INVITE sip:5002@127.0.0.1:5060 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-caller-1;rport\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: <sip:5001@127.0.0.1>;tag=caller\r\n" +
	"To: <sip:5002@127.0.0.1>\r\n" +
	"Call-ID: offline-1\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"Contact: <sip:5001@127.0.0.1:5070>\r\n" +
	"Content-Length: 0\r\n\r\n"

func TestEdgeOutcomes(t *testing.T) {
	uas, _ := ParseURI("sip:5002@127.0.0.1:5090")
	tests := []struct {
		name   string
		codes  []int
		fail   error
		want   []int
		legEnd bool
	}{
		// Our own 100 Trying first; the downstream 100 is not relayed.
		{"answered", []int{100, 180, 200}, nil, []int{100, 180, 200}, false},
		{"busy relayed", []int{180, 486}, nil, []int{100, 180, 486}, true},
		{"downstream 503 becomes 500", []int{503}, nil, []int{100, 500}, true},
		{"transport error is 503", nil, errors.New("connection refused"), []int{100, 503}, true},
		{"no final is 408", []int{100}, nil, []int{100, 408}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			down := &scripted{codes: tt.codes, fail: tt.fail}
			s := newOfflineServer(t, down, Target{URI: uas})
			tx := newFakeServerTx()
			s.handle(parseRequest(t, inviteMsg), tx)
			got := tx.codes()
			if len(got) != len(tt.want) {
				t.Fatalf("upstream got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("upstream got %v, want %v", got, tt.want)
				}
			}
			if n := s.dialogs.Len(); tt.legEnd && n != 0 {
				t.Errorf("failed call left %d dialogs", n)
			}
		})
	}
}

// TestHandlerWithoutFinal checks the edge's safety net: a handler that
// returns nil without answering is a bug, answered 500 and logged.
func TestHandlerWithoutFinal(t *testing.T) {
	s := newOfflineServer(t, &scripted{})
	s.handler = HandlerFunc(func(context.Context, ResponseWriter, *Request) error { return nil })
	tx := newFakeServerTx()
	s.handle(parseRequest(t, inviteMsg), tx)
	if got := tx.codes(); len(got) != 1 || got[0] != 500 {
		t.Errorf("got %v, want [500]", got)
	}
}

// TestCancelAnsweredOnce checks that the edge does not answer a request
// whose caller cancelled: the transaction layer's 487 is the answer.
func TestCancelAnsweredOnce(t *testing.T) {
	s := newOfflineServer(t, &scripted{})
	tx := newFakeServerTx()
	req := parseRequest(t, inviteMsg)
	started := make(chan struct{})
	s.handler = HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
		close(started)
		<-ctx.Done()
		if !errors.Is(context.Cause(ctx), ErrCanceled) {
			t.Errorf("cause: got %v, want ErrCanceled", context.Cause(ctx))
		}
		return Reject(408, "")
	})
	cancelled := make(chan struct{})
	go func() { <-started; tx.cancel(req); close(cancelled) }()
	s.handle(req, tx)
	<-cancelled
	if got := tx.codes(); len(got) != 1 || got[0] != 487 {
		t.Errorf("got %v, want [487] only", got)
	}
}
