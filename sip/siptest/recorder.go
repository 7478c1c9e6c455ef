// Package siptest is Palio's test kit: a response recorder for stage tests
// without sockets, request builders, and user agents and scripted gateways
// that place and answer real calls over loopback UDP or TCP.
package siptest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/sip"
)

// Recorder is a sip.ResponseWriter that keeps what is written to it, for
// testing stages without sockets. It applies the same rules as the
// server's writer: one final response, except repeated 2xx to an INVITE.
type Recorder struct {
	mu        sync.Mutex
	responses []*sip.Response
	status    atomic.Int32
	// Invite makes the recorder accept several 2xx (a forked INVITE).
	Invite bool
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{} }

// WriteResponse records res.
func (r *Recorder) WriteResponse(res *sip.Response) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := int(r.status.Load())
	if res.StatusCode >= 200 {
		if cur != 0 && !(r.Invite && cur < 300 && res.StatusCode < 300) {
			return sip.ErrFinalSent
		}
		if cur == 0 {
			r.status.Store(int32(res.StatusCode))
		}
	}
	r.responses = append(r.responses, res)
	return nil
}

// Status returns the first final status written, or 0.
func (r *Recorder) Status() int { return int(r.status.Load()) }

// Responses returns the responses written, in order.
func (r *Recorder) Responses() []*sip.Response {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*sip.Response(nil), r.responses...)
}

// Codes returns the status codes written, in order.
func (r *Recorder) Codes() []int {
	var c []int
	for _, res := range r.Responses() {
		c = append(c, res.StatusCode)
	}
	return c
}

// NewRequest builds a well-formed initial request for stage tests, as a
// phone at 127.0.0.1:5070 would send it over UDP: Via with an RFC 3261
// branch, From with a tag, To, Call-ID, CSeq, Contact and Max-Forwards 70.
// It panics on a bad URI (test code).
func NewRequest(method sip.Method, uri string) *sip.Request {
	u, err := sip.ParseURI(uri)
	if err != nil {
		panic(fmt.Sprintf("siptest: bad URI %q: %v", uri, err))
	}
	req := sipmsg.NewRequest(method, u)
	req.AppendHeader(&sipmsg.ViaHeader{
		ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: "127.0.0.1", Port: 5070,
		Params: sipmsg.HeaderParams{{K: "branch", V: sipmsg.GenerateBranch()}},
	})
	mf := sipmsg.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	from := &sipmsg.FromHeader{Address: sip.URI{Scheme: "sip", User: "5001", Host: "127.0.0.1"}}
	from.Params.Add("tag", sipmsg.GenerateTagN(10))
	req.AppendHeader(from)
	req.AppendHeader(&sipmsg.ToHeader{Address: sip.URI{Scheme: "sip", User: u.User, Host: u.Host, Port: u.Port}})
	cid := sipmsg.CallIDHeader(sipmsg.GenerateTagN(20))
	req.AppendHeader(&cid)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: 1, MethodName: method})
	req.AppendHeader(&sipmsg.ContactHeader{Address: sip.URI{Scheme: "sip", User: "5001", Host: "127.0.0.1", Port: 5070}})
	req.SetBody(nil)
	req.SetTransport("UDP")
	req.SetSource("127.0.0.1:5070")
	return req
}

// Serve runs h on r with a fresh Recorder and returns the recorder and
// h's outcome: the usual shape of a stage test.
func Serve(ctx context.Context, h sip.Handler, r *sip.Request) (*Recorder, error) {
	rec := NewRecorder()
	rec.Invite = r.IsInvite()
	err := h.ServeSIP(ctx, rec, r)
	return rec, err
}

// Code returns the SIP status an outcome stands for, as the server's edge
// would answer: the recorder's final status when err is nil, else
// sip.StatusOf(err).
func Code(rec *Recorder, err error) int {
	if err == nil {
		return rec.Status()
	}
	return sip.StatusOf(err)
}
